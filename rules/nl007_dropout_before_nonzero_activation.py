from __future__ import annotations

from collections.abc import Iterator

from netlint.findings import Finding, Rule, Severity
from netlint.graph.ir import DROPOUT_OPS, LAYOUT_OPS, Graph, Node, Op
from netlint.graph.queries import is_active_dropout
from netlint.source import shown_path

from ._common import activation_name


def _next_ops(node: Node) -> list[Node]:
    """The users of ``node``, looking through ops that only move values (``nn.Identity``, ``view``,
    ``permute``, indexing): a dropped zero is still a zero behind them."""
    out = []
    for user in node.users:
        out.extend(_next_ops(user) if user.op in _MOVES_VALUES else [user])
    return out


_MOVES_VALUES = LAYOUT_OPS - {Op.PAD, Op.RESAMPLE}  # padding adds zeros of its own, resampling mixes values


class DropoutBeforeNonzeroActivation(Rule):
    """
    ## What it does
    Finds dropout (`nn.Dropout`, `Dropout1d/2d/3d`, DropBlock, `F.dropout*`) with `p > 0` directly
    followed (through reshapes, permutes and indexing) by an activation that does not map 0 to 0: Sigmoid (0.5), Hardsigmoid (0.5), Softplus
    (log 2), LogSigmoid (-log 2), a Threshold with a non-zero value. ReLU, GELU, SiLU, Tanh, ELU,
    Mish, Hardswish and the other zero-preserving activations are fine, and so is `AlphaDropout`,
    which sets dropped units to the SELU saturation value on purpose.

    ## Why is this bad?
    Dropout zeroes a unit so that the next layer does not see it. An activation with f(0) != 0
    turns the zero back into a constant (a sigmoid outputs 0.5), so the "dropped" units still send
    a signal, biased by that constant, and the rescaling by 1/(1-p) of the kept units no longer
    preserves the expected value after the activation. The dropout does not do what it says.

    ## Example
    ```python
    self.gate = nn.Sequential(
        nn.Linear(64, 64),
        nn.Dropout(0.3),
        nn.Sigmoid(),  # NL007: dropped units become 0.5
    )
    ```

    ## How to fix
    Apply the dropout after the activation (`Linear -> Sigmoid -> Dropout`), or use an activation
    with f(0) = 0 before it.

    ## References
    - N. Srivastava et al. "Dropout: A Simple Way to Prevent Neural Networks from Overfitting",
      JMLR 2014 (a dropped unit contributes nothing downstream). https://jmlr.org/papers/v15/srivastava14a.html
    - G. Klambauer et al. "Self-Normalizing Neural Networks", NeurIPS 2017 (alpha dropout: why
      the dropped value must match the activation). https://arxiv.org/abs/1706.02515
    """

    code = "NL007"
    name = "dropout-before-nonzero-activation"
    severity = Severity.INFO
    summary = "Dropout followed by an activation with f(0) != 0: dropped units are not silenced."

    def check(self, graph: Graph) -> Iterator[Finding]:
        for node in graph.ops(*DROPOUT_OPS):
            if not is_active_dropout(node) or node.params.get("alpha"):
                continue
            for act in _next_ops(node):
                at_zero = act.params.get("at_zero") if act.op == Op.ACTIVATION else None
                if at_zero is None or abs(at_zero) < 1e-12:
                    continue
                name = activation_name(act)
                yield self.finding(
                    node,
                    f"{node.type_name}(p={node.params['p']:g}) at {shown_path(node.module)} feeds {name} at "
                    f"{shown_path(act.module)}, which maps 0 to {at_zero:.3g}: the dropped units are not silenced.",
                    f"Apply the dropout after {name}, or use an activation with f(0) = 0 before it.",
                    related=[act.module],
                    at_zero=at_zero,
                )
                break
