from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from netlint.findings import Finding, Rule, Severity
from netlint.graph.ir import DROPOUT_OPS, Graph
from netlint.graph.queries import active_at_inference, batchnorms_reached, is_active_dropout, path_to_norm
from netlint.source import shown_path

from ._common import listing, path_steps, with_measured_shift


class DropoutBeforeBatchNorm(Rule):
    """
    ## What it does
    Finds dropout (`nn.Dropout`, `Dropout1d/2d/3d`, `AlphaDropout`, `FeatureAlphaDropout`,
    `F.dropout*`, DropBlock) with `p > 0` whose output reaches a BatchNorm that tracks running
    statistics, along any data path (through convolutions, linear layers, activations, additions,
    concatenations, pooling), stopping at the first normalisation layer on each path. One finding
    per dropout site, naming the BatchNorm layers it reaches. A functional dropout that also drops
    at inference (NL006) is reported with that said: there the fix is to remove or move it.

    ## Why is this bad?
    In training, dropout with drop rate p scales the kept units by 1/(1-p). For a unit with mean m
    and variance v, the BatchNorm behind it sees the variance (v + m^2)/(1-p) - m^2 in training,
    but v at inference. Its running variance is learned from the first and applied to the second,
    so every layer after it receives a shifted distribution at test time: the "variance shift" of
    Li et al. (CVPR 2019), which costs accuracy and grows with p.

    Not reported: a BatchNorm with `track_running_stats=False` (it normalises with the batch's own
    statistics at inference too), paths that meet a LayerNorm, GroupNorm or InstanceNorm first
    (they renormalise every sample), paths that only enter attention weights (a softmax or a fused
    attention op renormalises them: MaxViT's relative-position MLP), and stochastic depth /
    drop-path (NL005's subject).

    ## Example
    ```python
    self.block = nn.Sequential(
        nn.Conv2d(64, 64, 3, padding=1, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.Dropout(0.3),                               # NL001: reaches the BatchNorm below
        nn.Conv2d(64, 64, 3, padding=1, bias=False),
        nn.BatchNorm2d(64),
    )
    ```

    ## How to fix
    Apply dropout only after the last BatchNorm, typically in the fully-connected head. If the
    block needs regularisation, rely on BatchNorm's own noise, use a smaller p, or a variance-stable
    variant (Li et al. propose "Uout", uniform noise whose variance shift is small).

    ## References
    - X. Li, S. Chen, X. Hu, J. Yang. "Understanding the Disharmony between Dropout and Batch
      Normalization by Variance Shift", CVPR 2019. https://arxiv.org/abs/1801.05134
    - S. Ioffe, C. Szegedy. "Batch Normalization", ICML 2015. https://arxiv.org/abs/1502.03167
    """

    code = "NL001"
    name = "dropout-before-batchnorm"
    severity = Severity.WARNING
    summary = "Dropout feeds a BatchNorm: its running statistics are learned under a variance shift."

    def check(self, graph: Graph) -> Iterator[Finding]:
        for node in graph.ops(*DROPOUT_OPS):
            if not is_active_dropout(node):
                continue
            affected = batchnorms_reached(node)
            if not affected:
                continue
            paths = sorted({n.module for n in affected}, key=[n.module for n in affected].index)
            p = node.params["p"]
            path = path_steps(path_to_norm(node, affected[0]))
            where = f"{node.type_name}(p={p:g}) at {shown_path(node.module)} feeds {listing(paths, 'BatchNorm')}"
            if active_at_inference(node):
                # It drops at inference too (NL006): no train/inference shift yet, but random predictions.
                yield self.finding(
                    node,
                    f"{where}, and it stays active at inference (NL006): training and inference both drop units "
                    f"before the BatchNorm, so predictions are random. Once the dropout follows model.eval(), the "
                    f"BatchNorm learns running statistics that do not hold at inference (variance shift).",
                    "Remove the dropout here or move it after the last BatchNorm: passing training=self.training "
                    "alone (NL006's fix) leaves the variance shift.",
                    related=paths,
                    p=p,
                    active_at_inference=True,
                    path=path,
                )
                continue
            yield self.finding(
                node,
                f"{where}: in training the kept units are scaled by 1/(1-p), so the BatchNorm learns running "
                f"statistics that do not hold at inference (variance shift).",
                "Move the dropout after the last BatchNorm (into the classifier head) or remove it here.",
                related=paths,
                p=p,
                path=path,
            )

    def with_probe(self, finding: Finding, probe: Any) -> Finding:
        """Attach the measured ratio of every BatchNorm the dropout reaches; name the worst shifted one."""
        return with_measured_shift(finding, probe)[0]
