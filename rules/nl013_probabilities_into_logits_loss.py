from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from netlint.findings import Finding, Rule, Severity
from netlint.graph.ir import Graph, Node, Op
from netlint.loss_names import LOG_PROBABILITY_LOSSES, LOGITS_LOSSES, PROBABILITY_LOSSES
from netlint.source import shown_path

from ._common import activation_name

# Ops that only move or re-type values: the model's "last op" is the one before them.
_TRAILING = frozenset({Op.RESHAPE, Op.PERMUTE, Op.IDENTITY, Op.GETITEM})


def final_activation(graph: Graph) -> tuple[Node, str] | None:
    """``(node, "softmax" | "sigmoid")`` when the model's single tensor output ends with one."""
    outputs = list(graph.ops(Op.OUTPUT))
    if len(outputs) != 1 or outputs[0].shape is None or len(outputs[0].data_inputs) != 1:
        return None  # a tuple, list or dict output: which element meets the loss is unknown
    node = outputs[0].data_inputs[0]
    while node.op in _TRAILING and len(node.data_inputs) == 1:
        node = node.data_inputs[0]
    if node.op == Op.SOFTMAX and node.type_name.lower() == "softmax":
        return node, "softmax"
    if node.op == Op.ACTIVATION and node.params.get("fn") == "sigmoid":
        return node, "sigmoid"
    return None


class ProbabilitiesIntoLogitsLoss(Rule):
    """
    ## What it does
    Finds a model whose output passes a `Softmax` or `Sigmoid` (module, function or tensor
    method) as its last op that changes values (trailing `view`, `squeeze`, indexing and casts do
    not count), when a file among the checked targets, or the model's own file, uses a loss that
    expects raw logits (`nn.CrossEntropyLoss`, `F.cross_entropy`, `nn.BCEWithLogitsLoss`,
    `F.binary_cross_entropy_with_logits`), or uses `nn.NLLLoss` / `F.nll_loss` with a `Softmax`
    output. Without such a loss in sight it is an info. Not reported: `LogSoftmax` (the right
    input of `NLLLoss`), a `Sigmoid` with `nn.BCELoss` / `F.binary_cross_entropy` in sight, a
    softmax used inside the model (attention weights), and tuple, list or dict outputs. Losses
    are read from the files' syntax trees (names resolved through imports; strings and comments
    do not count); no file is imported for this.

    ## Why is this bad?
    `CrossEntropyLoss` applies `log_softmax` itself and `BCEWithLogitsLoss` applies the sigmoid
    itself. Given probabilities, the activation is applied twice: the loss sees inputs squeezed
    into [0, 1], cannot become small even for confident correct predictions, and its gradient
    through the extra softmax or sigmoid flattens, so training slows or stalls without an error.
    `NLLLoss` expects log-probabilities: given probabilities, it maximises the probability
    instead of its logarithm, with the wrong gradients.

    ## Example
    ```python
    class Classifier(nn.Module):
        def forward(self, x):
            return F.softmax(self.fc(x), dim=1)      # NL013

    loss = nn.CrossEntropyLoss()(model(x), y)       # applies log_softmax again
    ```

    ## How to fix
    Return logits and let the loss apply the activation (`CrossEntropyLoss`,
    `BCEWithLogitsLoss`, which are also numerically stabler); apply `softmax` / `sigmoid` only
    where probabilities are needed, at inference. With `NLLLoss`, end the model with
    `LogSoftmax`.

    The info (no loss in sight) is only a reminder: when the training code, out of the checked
    files, uses `nn.BCELoss` with a `Sigmoid` output (a GAN discriminator, MONAI's
    `Discriminator`) or a loss on probabilities, nothing is wrong. Check the training script
    along with the model (`netlint check model.py train.py`) so that the loss is in sight, or
    suppress the info on the output's line (`# netlint: ignore[NL013]`).

    ## References
    - PyTorch documentation, `torch.nn.CrossEntropyLoss` ("The input is expected to contain the
      unnormalized logits for each class").
      https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html
    - PyTorch documentation, `torch.nn.BCEWithLogitsLoss` (combines a Sigmoid layer and BCELoss;
      numerically more stable). https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html
    - PyTorch documentation, `torch.nn.NLLLoss` (expects log-probabilities, e.g. from LogSoftmax).
      https://pytorch.org/docs/stable/generated/torch.nn.NLLLoss.html
    """

    code = "NL013"
    name = "probabilities-into-logits-loss"
    severity = Severity.WARNING
    summary = "The model returns softmax/sigmoid probabilities where its loss expects logits."

    def check(self, graph: Graph) -> Iterator[Finding]:
        found = final_activation(graph)
        if found is None:
            return
        node, kind = found
        losses = set(graph.context.get("losses", ()))
        if kind == "sigmoid" and losses & set(PROBABILITY_LOSSES.values()):
            return  # Sigmoid + BCELoss: the intended pair
        logits = sorted(losses & set(LOGITS_LOSSES.values()))
        log_probs = sorted(losses & set(LOG_PROBABILITY_LOSSES.values())) if kind == "softmax" else []
        what = (
            f"{activation_name(node)} at {shown_path(node.module)}"
            if node.kind == "module"
            else (f"{activation_name(node)} in {shown_path(node.module)}")
        )
        fix = (
            "Return the logits (drop the final activation; apply it only at inference), or end the model with "
            "LogSoftmax for NLLLoss."
        )
        if logits or log_probs:
            expects = f"{', '.join(logits)} expect{'s' if len(logits) == 1 else ''} raw logits" if logits else ""
            if log_probs:
                expects += ("; " if expects else "") + f"{', '.join(log_probs)} expects log-probabilities"
            yield self.finding(
                node,
                f"The model's output ends with {what}, and the checked code uses {', '.join(logits + log_probs)}: "
                f"{expects}, so the activation is applied twice, gradients flatten and training slows or stalls.",
                fix,
                activation=kind,
                losses=logits + log_probs,
            )
            return
        seen = f" (the losses in sight, {', '.join(sorted(losses))}, do not pair with it)" if losses else ""
        finding = self.finding(
            node,
            f"The model's output ends with {what}: it returns probabilities{seen}; PyTorch's classification "
            f"losses (nn.CrossEntropyLoss, nn.BCEWithLogitsLoss) expect logits.",
            fix,
            activation=kind,
            losses=sorted(losses),
        )
        yield dataclasses.replace(finding, severity=Severity.INFO)
