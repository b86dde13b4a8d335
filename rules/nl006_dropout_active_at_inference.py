from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from netlint.findings import Finding, Rule, Severity
from netlint.graph.ir import DROPOUT_OPS, Graph
from netlint.graph.queries import active_at_inference
from netlint.source import shown_path


class DropoutActiveAtInference(Rule):
    """
    ## What it does
    Finds a functional dropout (`F.dropout`, `F.dropout1d/2d/3d`, `torch.dropout`) with `p > 0`
    whose `training` argument is omitted (`F.dropout` defaults to `training=True`) or a literal
    `True`, unless the call only runs in training (`if self.training:`, `... if self.training else
    x`, after `if not self.training: return ...`). Found statically from the call; when the dynamic
    probe runs, it is confirmed by two eval-mode forwards of the same batch that differ, and a
    finding the probe does not confirm becomes informational. Modules (`nn.Dropout`) and calls given
    `training=self.training` follow `model.eval()` and are not reported; neither is
    `F.alpha_dropout`, whose default is `training=False`.

    ## Why is this bad?
    `model.eval()` switches modules to inference behaviour, but a functional call does not know
    about it: it keeps dropping units at inference. Predictions become random (two runs on the
    same input differ), validation accuracy is lower than it should be and noisy, and exported or
    deployed models misbehave. It is one of the most common PyTorch bugs because nothing fails.

    ## Example
    ```python
    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.dropout(x, 0.5)  # NL006: training defaults to True, also after model.eval()
        return self.fc2(x)
    ```

    ## How to fix
    Pass `training=self.training` (`F.dropout(x, 0.5, training=self.training)`), or use an
    `nn.Dropout(0.5)` module created in `__init__`, which follows `train()` and `eval()`.

    ## References
    - PyTorch documentation, `torch.nn.functional.dropout` (`training: bool = True`).
      https://pytorch.org/docs/stable/generated/torch.nn.functional.dropout.html
    - N. Srivastava et al. "Dropout: A Simple Way to Prevent Neural Networks from Overfitting",
      JMLR 2014 (dropout is a training-time operation). https://jmlr.org/papers/v15/srivastava14a.html
    """

    code = "NL006"
    name = "dropout-active-at-inference"
    severity = Severity.ERROR
    summary = "A functional dropout without training=self.training keeps dropping after model.eval()."

    def check(self, graph: Graph) -> Iterator[Finding]:
        for node in graph.ops(*DROPOUT_OPS):
            why = active_at_inference(node)
            if why is None:
                continue
            call = node.target.replace("torch.nn.functional.", "F.")
            how = "omits training (it defaults to True)" if why == "omitted" else "passes training=True"
            yield self.finding(
                node,
                f"{call}(p={node.params['p']:g}) in {shown_path(node.module)} {how}: it keeps dropping after "
                f"model.eval(), so inference is random.",
                f"Pass training=self.training to {call}, or use an nn.{'Dropout' if 'dropout' in call else 'Dropout2d'} "
                "module created in __init__.",
                why=why,
            )

    def with_probe(self, finding: Finding, probe: Any) -> Finding:
        difference = getattr(probe, "eval_difference", None)
        if difference is None:
            return finding
        data = {**finding.data, "eval_difference": difference}
        if difference > 0:
            note = f" Confirmed by the probe: two eval-mode forwards of the same batch differ (max |diff| {difference:.3g})."
            return dataclasses.replace(finding, message=finding.message + note, data=data)
        # Its own confirmation measured nothing: not an error (a guard netlint could not read, or the
        # dropout does not reach the output). Kept as a note so that the call can be looked at.
        note = (
            " Not confirmed: the probe saw two identical eval-mode forwards of the same batch, so this call does "
            "not make inference random here."
        )
        return dataclasses.replace(finding, severity=Severity.INFO, message=finding.message + note, data=data)
