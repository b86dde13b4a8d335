"""Layers that code the recorded forward did not run may train (netlint/graph/unrun.py, NL012)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

import netlint
from netlint.graph.static import static_graph


def nl012(model, *inputs, severity="warning"):
    findings = netlint.check(model, *inputs).findings
    return sorted(f.module for f in findings if f.code == "NL012" and f.severity.value == severity)


class Embeddings(nn.Module):
    """DINOv2-like: a mask token used only when a mask is passed to this submodule."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.mask_token = nn.Parameter(torch.zeros(8))

    def forward(self, x, mask=None):
        h = self.proj(x)
        if mask is not None:
            h = torch.where(mask.unsqueeze(-1), self.mask_token, h)
        return h


class Backbone(nn.Module):
    """Never passes a mask: the token cannot train through this model."""

    def __init__(self):
        super().__init__()
        self.embeddings = Embeddings()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(self.embeddings(x))


class Pretraining(nn.Module):
    """Passes the mask it is given: the token trains when the caller masks."""

    def __init__(self):
        super().__init__()
        self.embeddings = Embeddings()
        self.mask_token = nn.Parameter(torch.zeros(8))
        self.fc = nn.Linear(8, 4)

    def forward(self, x, mask=None):
        h = self.embeddings(x)
        if mask is not None:
            h = torch.where(mask.unsqueeze(-1), self.mask_token, h)
        return self.fc(h)


def test_a_submodule_branch_that_no_caller_takes_is_still_found():
    assert nl012(Backbone(), torch.randn(2, 8)) == ["embeddings.mask_token"]


def test_a_root_branch_on_an_argument_left_at_its_default_is_not():
    graph, _ = static_graph(Pretraining(), torch.randn(2, 8))
    assert graph.context["trained_when_passed"] == {"mask_token": "Pretraining.forward uses it when `mask` is passed"}
    # The submodule's own token: the root passes no mask to it, whatever its caller does.
    assert nl012(Pretraining(), torch.randn(2, 8)) == ["embeddings.mask_token"]
    # The root's: not dead, but not used with the inputs checked either (DINOv2's mask token trains
    # only in pre-training, with a mask): said as an info that names the argument.
    [info] = [f for f in netlint.check(Pretraining(), torch.randn(2, 8)).findings if f.severity.value == "info"]
    assert (info.code, info.module, info.data["reason"]) == ("NL012", "mask_token", "optional input")
    assert "only when `mask` is passed" in info.message


def test_an_argument_that_was_given_decides_nothing():
    class Given(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 4)
            self.aux = nn.Linear(8, 4)

        def forward(self, x, labels):
            if labels is None:  # netlint passes both inputs: this branch was recorded as it runs
                return self.fc(x)
            return self.fc(x), F.mse_loss(self.aux(x), labels)

    graph, _ = static_graph(Given(), (torch.randn(2, 8), torch.randn(2, 4)))
    assert graph.context["trained_elsewhere"] == graph.context["trained_when_passed"] == {}


def test_methods_reached_from_init_do_not_count():
    class InitOnly(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 4)
            self.spare = nn.Linear(8, 4)
            self.apply(self._init)
            self.reset()

        def _init(self, m):
            pass

        def reset(self):
            nn.init.zeros_(self.spare.weight)

        def forward(self, x):
            return self.fc(x)

    assert nl012(InitOnly(), torch.randn(2, 8)) == ["spare"]


def test_a_helper_called_with_the_argument_reads_it_as_its_own():
    class Helper(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 4)
            self.aux = nn.Linear(8, 4)
            self.never = nn.Linear(8, 4)

        def forward(self, x, target=None):
            return self.head(x, target, False)

        def head(self, x, target, verbose):
            if verbose:
                x = self.never(x)
            if target is not None:
                return F.mse_loss(self.aux(x), target)
            return self.fc(x)

    graph, _ = static_graph(Helper(), torch.randn(2, 8))
    # A target (it reaches a loss) is how the model trains: not even an info.
    assert graph.context["trained_elsewhere"] == {"aux": "Helper.head uses it when `target` is passed"}
    assert graph.context["trained_when_passed"] == {}


def test_a_branch_the_recorded_call_took_or_a_raise_it_did_not_hides_nothing():
    """Tests are evaluated with the defaults: ``if not return_aux: return`` was taken, so what follows
    did not run; ``if labels is not None: raise`` was not, so what follows did."""

    class Branches(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 4)
            self.aux = nn.Linear(8, 4)
            self.spare = nn.Linear(8, 4)

        def forward(self, x, labels=None, return_aux=False):
            if labels is not None and labels.dim() != 2:
                raise ValueError("labels must be (N, 4)")
            out = self.fc(x)
            unused = self.spare(x)  # a dead end on the path the recording took  # noqa: F841
            if not return_aux:
                return out
            return out, self.aux(x)

    graph, _ = static_graph(Branches(), torch.randn(2, 8))
    assert graph.context["trained_when_passed"] == {
        "aux": "Branches.forward uses it when `return_aux` is passed"  # the argument that decides it
    }
    assert nl012(Branches(), torch.randn(2, 8)) == ["spare"]


class SegmentLayer(nn.Module):
    """XLNet-like: segment parameters used only when the caller passes a segment matrix."""

    def __init__(self):
        super().__init__()
        self.q = nn.Linear(8, 8)
        self.seg_embed = nn.Parameter(torch.zeros(2, 8))
        self.r_s_bias = nn.Parameter(torch.zeros(8))

    def forward(self, h, seg_mat=None):
        out = self.q(h)
        if seg_mat is not None:
            ef = torch.einsum("bid,sd->bis", out + self.r_s_bias, self.seg_embed)
            out = out + (ef.unsqueeze(2) * seg_mat.unsqueeze(-2)).sum((-1, -2)).unsqueeze(-1)
        return out


class SegmentModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 8)
        self.layers = nn.ModuleList(SegmentLayer() for _ in range(2))
        self.last = SegmentLayer()  # called without the segments: its own are dead in this model

    def forward(self, ids, token_type_ids=None):
        h = self.embed(ids)
        if token_type_ids is not None:
            seg_mat = F.one_hot((token_type_ids[:, :, None] != token_type_ids[:, None, :]).long(), 2).float()
        else:
            seg_mat = None
        for layer in self.layers:
            h = layer(h, seg_mat=seg_mat)
        return self.last(h)


def test_a_default_argument_passed_down_decides_the_submodules_branches():
    graph, _ = static_graph(SegmentModel(), torch.randint(0, 10, (2, 5)))
    assert graph.context["trained_when_passed"] == {
        f"layers.{i}.{p}": "SegmentLayer.forward uses it when `seg_mat` is passed"
        for i in (0, 1)
        for p in ("r_s_bias", "seg_embed")
    }  # not ``h``: the activation a layer returns decides nothing about the next one's branches
    assert nl012(SegmentModel(), torch.randint(0, 10, (2, 5))) == ["last.r_s_bias", "last.seg_embed"]


def test_a_default_argument_passed_through_a_helper_method_to_a_submodule():
    """diffusers' AsymmetricAutoencoderKL: ``forward(sample, mask=None)`` -> ``self.decode(z, sample,
    mask)`` -> ``self.decoder(z, image=image, mask=mask)``, whose condition encoder needs both."""

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.up = nn.Linear(4, 8)
            self.condition_encoder = nn.Linear(9, 8)

        def forward(self, z, image=None, mask=None):
            h = self.up(z)
            if image is not None and mask is not None:
                h = h + self.condition_encoder(torch.cat([(1 - mask) * image, mask], -1))
            return h

    class Autoencoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Linear(8, 4)
            self.decoder = Decoder()

        def decode(self, z, image=None, mask=None):
            return self.decoder(z, image=image, mask=mask)

        def forward(self, sample, mask=None):
            return self.decode(self.encoder(sample), sample, mask)

    graph, _ = static_graph(Autoencoder(), torch.randn(2, 8))
    assert graph.context["trained_when_passed"] == {
        "decoder.condition_encoder": "Decoder.forward uses it when `mask` is passed"
    }
    assert nl012(Autoencoder(), torch.randn(2, 8)) == []
    assert nl012(Autoencoder(), torch.randn(2, 8), severity="info") == ["decoder.condition_encoder"]


def test_a_mask_passed_down_to_the_embeddings_makes_their_token_an_info():
    """DINOv2: ``forward(pixel_values, bool_masked_pos=None)`` passes the mask to its embeddings."""

    class Masked(nn.Module):
        def __init__(self):
            super().__init__()
            self.embeddings = Embeddings()
            self.fc = nn.Linear(8, 4)

        def forward(self, x, bool_masked_pos=None):
            return self.fc(self.embeddings(x, mask=bool_masked_pos))

    assert nl012(Masked(), torch.randn(2, 3, 8)) == []
    assert nl012(Masked(), torch.randn(2, 3, 8), severity="info") == ["embeddings.mask_token"]


def test_one_info_per_argument_for_a_stack_of_layers():
    [info] = [
        f for f in netlint.check(SegmentModel(), torch.randint(0, 10, (2, 5))).findings if f.severity.value == "info"
    ]
    assert info.module == "layers.0.seg_embed"  # in the order the parameters are declared
    assert info.related == ("layers.0.r_s_bias", "layers.1.seg_embed", "layers.1.r_s_bias")
    assert info.data["parameters"] == 2 * (8 + 16)


def test_kwargs_passed_down_taint_only_what_the_call_does_not_name():
    """``self.body(x, **kwargs)``: the root's kwargs were empty, so the body's other parameters kept
    their defaults; ``x`` was given, and a branch on it ran as recorded."""

    class Body(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)
            self.bias = nn.Parameter(torch.zeros(8))
            self.scale = nn.Parameter(torch.ones(8))

        def forward(self, x, extra=None):
            h = self.fc(x)
            if x is None:
                h = h * self.scale
            if extra is not None:
                h = h + self.bias
            return h

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = Body()

        def forward(self, x, **kwargs):
            return self.body(x, **kwargs)

    graph, _ = static_graph(Root(), torch.randn(2, 8))
    assert graph.context["trained_when_passed"] == {"body.bias": "Body.forward uses it when `extra` is passed"}
    assert nl012(Root(), torch.randn(2, 8)) == ["body.scale"]


def test_kwargs_given_to_the_loss_too_are_not_a_target():
    """transformers' heads pass ``**kwargs`` both to the backbone (a mask) and to the loss: the mask
    token is an info, the auxiliary head that only the labels switch on is silent."""

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.embeddings = Embeddings()
            self.fc = nn.Linear(8, 4)
            self.aux = nn.Linear(8, 4)

        def forward(self, x, labels=None, **kwargs):
            h = self.embeddings(x, **kwargs)
            logits = self.fc(h)
            if labels is None:
                return logits
            return self.loss_function(logits, labels, **kwargs) + self.loss_function(self.aux(h), labels)

        def loss_function(self, logits, labels, **kwargs):
            return F.cross_entropy(logits.flatten(0, -2), labels.flatten())

    graph, _ = static_graph(Classifier(), torch.randn(2, 3, 8))
    assert graph.context["trained_elsewhere"] == {"aux": "Classifier.forward uses it when `labels` is passed"}
    assert graph.context["trained_when_passed"] == {
        "embeddings.mask_token": "Embeddings.forward uses it when `mask` is passed"
    }


# -- what does not count: methods nothing calls, re-binding, a kept value whose layers partly trained --------
class EncoderWithExtras(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3)
        self.head = nn.Conv2d(8, 16, 1)

    def extract_features(self, x):  # nothing in the model calls it
        return self.head(self.stem(x))

    def forward(self, x):
        return self.stem(x)


class Segmenter(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = EncoderWithExtras()
        self.out = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        return self.out(self.encoder(x))


class Resettable(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(8, 8)
        self.head = nn.Linear(8, 4)  # never called

    def reset_head(self, n):
        self.head = nn.Linear(8, n)  # re-binds it: trains nothing

    def forward(self, x):
        return self.body(x)


class TwoOutputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(8, 8)
        self.pooler = nn.Linear(8, 8)

    def forward(self, x):
        h = self.body(x)
        return h, self.pooler(h)


class KeepsBackboneOutputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = TwoOutputs()
        self.classifier = nn.Linear(8, 2)

    def forward(self, x, labels=None):
        outputs = self.backbone(x)
        logits = self.classifier(outputs[0])
        if labels is not None:
            return F.cross_entropy(logits, labels), logits
        return logits


def test_a_submodules_method_that_nothing_calls_trains_nothing():
    assert nl012(Segmenter(), torch.randn(2, 3, 8, 8)) == ["encoder.head"]


def test_re_binding_a_layer_in_another_method_is_not_using_it():
    assert nl012(Resettable(), torch.randn(2, 8)) == ["head"]


def test_a_kept_value_covers_no_layer_of_a_submodule_that_partly_trained():
    assert nl012(KeepsBackboneOutputs(), torch.randn(2, 8)) == ["backbone.pooler"]
