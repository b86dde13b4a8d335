from __future__ import annotations

from collections.abc import Iterator

from netlint.findings import Finding, Rule, Severity
from netlint.graph.batch import BatchFlow, reaches_output, returned_statistic
from netlint.graph.ir import Graph, Op, data_path

from ._common import path_steps


class BatchMixing(Rule):
    """
    ## What it does
    Finds the ops that mix the samples of a batch, so that some output element depends on input
    elements of more than one sample. The batch is dimension 0 of every input; netlint follows the
    dimension that carries it through every op (`B`, `B*heads`, `B*H*W` after reshapes, dimension 1
    after a transpose) and reports every op that reduces, normalises or mixes along it (below one
    that keeps its input's layout, the batch is followed as if it were fixed, so two layers with the
    same mistake are two findings): `softmax`/`log_softmax`/`normalize` over the batch dimension, `F.softmax(x)` without `dim`
    where PyTorch's implicit choice is dimension 0 (3-D inputs), `sum`/`mean`/`max`/`std` over the
    batch or over every dimension (`h / h.sum()`), a loss functional or `nn.*Loss` module with a
    reduction other than `'none'` (`F.mse_loss`, `nn.CrossEntropyLoss()`: one value over the
    batch), a softmax over a merged `B*heads` dimension, a
    recurrent layer or `nn.MultiheadAttention` whose `batch_first` does not match the layout, an
    outer product of samples (`x @ x.T`), and an op that mixes within rows after a reshape whose
    rows straddle samples (`x.view(x.size(1), -1)`, `x.view(-1, k)` where k does not divide one
    sample). Only values that reach an output count: a batch statistic used for control flow or
    written into a buffer is not reported, nor a reduction over the batch whose value leaves the
    model only as a statistic returned beside a per-sample output, combined with no per-sample value
    on the way (a VQ-VAE's commitment loss, a VAE's batch-mean KL term: a loss, not a prediction; a
    prediction centred on the same mean is reported); a loss functional or module whose value leaves
    the model that way is not reported even when it is the only output (a wrapper whose forward
    returns the training loss). BatchNorm in training mode mixes by design and is not
    reported; a reshape that flattens whole per-sample blocks into rows (`logits.view(-1, vocab)`)
    mixes nothing.

    ## Why is this bad?
    A sample's prediction then depends on which other samples share its batch, and on the batch
    size: the model trains on one function and is evaluated on another (batch size 1 in
    production), and results change with the batch size or the shuffling. Nothing fails; the loss
    usually still goes down, which makes the bug hard to find. A real instance: the scalar-q/k/v
    attention of timm's `csatv2` unbinds `(B, N, 3)` into `(B, N)` tensors, so `q @ k.transpose(-1, -2)`
    is a `(B, B)` matrix: its "attention" runs across the batch, not across positions.

    ## Example
    ```python
    def forward(self, x):                   # x: (N, L, D)
        weights = F.softmax(self.score(x))  # NL009: implicit dim is 0 for a 3-D tensor
        return (weights * x).sum(1)
    ```

    ## How to fix
    Give the dimension explicitly (`F.softmax(scores, dim=1)` over the positions of one sample),
    reduce over per-sample dimensions only (`x.sum(dim=1, keepdim=True)`), keep the batch dimension
    first in reshapes (`x.view(x.size(0), -1)`, `x.reshape(B * heads, L, d)` from a `(B, heads, L, d)`
    tensor), and create recurrent and attention layers with `batch_first=True` for batch-first
    tensors.

    ## References
    - PyTorch documentation, `torch.nn.functional.softmax` (the implicit-dim deprecation).
      https://pytorch.org/docs/stable/generated/torch.nn.functional.softmax.html
    - PyTorch documentation, `torch.nn.LSTM` (`batch_first`).
      https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html
    - A. Karpathy. "A Recipe for Training Neural Networks", 2019 (use backprop to chart dependencies:
      a sample's gradient must not depend on other samples). https://karpathy.github.io/2019/04/25/recipe/
    """

    code = "NL009"
    name = "batch-mixing"
    severity = Severity.ERROR
    summary = "An op mixes the samples of a batch: a prediction depends on the other samples."

    def check(self, graph: Graph) -> Iterator[Finding]:
        flow = BatchFlow(graph)
        for mix in flow.mixing:
            node = mix.node
            if not reaches_output(node) or returned_statistic(node, flow.states):
                continue
            what = node.label if node.kind == "module" else f"{node.type_name}()"
            batch = f" (batch of {mix.batch})" if mix.batch else ""
            yield self.finding(
                node,
                f"{what} {mix.how}{batch}: each sample's output depends on the other samples in the batch and on "
                f"the batch size.",
                "Reduce or normalise over a per-sample dimension (pass dim= explicitly), keep the batch dimension "
                "first in reshapes, and use batch_first=True for batch-first recurrent and attention layers.",
                batch_dim=mix.dim,
                batch_size=mix.batch or None,
                op=node.type_name,
                path=path_steps(
                    data_path(node, lambda n: n.op == Op.INPUT, upstream=True)[::-1]
                ),  # how the batch got here
            )
