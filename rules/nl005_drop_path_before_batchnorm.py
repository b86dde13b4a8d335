from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from netlint.findings import Finding, Rule, Severity
from netlint.graph.ir import Graph, Node
from netlint.graph.queries import batchnorms_reached, gating_sites, path_to_norm
from netlint.source import shown_path

from ._common import listing, path_steps, with_measured_shift


class DropPathBeforeBatchNorm(Rule):
    """
    ## What it does
    Finds stochastic depth / drop-path whose output reaches a BatchNorm that keeps running
    statistics: `torchvision.ops.StochasticDepth`, timm's `DropPath`, the functional
    `stochastic_depth` / `drop_path`, and hand-written residual gating, recognised from its
    structure: a random draw that multiplies a branch through a per-sample mask of shape
    (N, 1, ..., 1), or a random draw on which `forward` decides whether a block runs
    (`if self.training and torch.rand(()) < p`). Paths stop at the first normalisation layer. When
    the dynamic probe ran, the finding carries the measured variance-shift ratio and is raised to
    a warning when the ratio's 95 % interval lies wholly outside [0.9, 1.1] (a measurement that
    cannot tell, at a small batch, says so and leaves it informational).

    ## Why is this bad?
    Dropping a residual branch for some samples in training, and keeping it (scaled, or always) at
    inference, changes the variance of the sum that the next BatchNorm normalises, just as dropout
    does (Li et al., CVPR 2019): the running statistics are learned under one distribution and
    applied to another. The shift is usually smaller than dropout's, because a whole branch is
    dropped and the identity path always passes, which is why this is informational until the
    probe shows it is large.

    ## Example
    ```python
    class Block(nn.Module):
        def forward(self, x):
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return x + self.drop_path(out)  # NL005: the sum reaches the next block's BatchNorm
    ```

    ## How to fix
    Usually nothing: drop-path with BatchNorm trains well at moderate rates (EfficientNet). When
    the probe measures a large shift, lower the drop-path rate, or recalibrate the BatchNorm
    running statistics after training with drop-path switched off (one pass over training data in
    train mode without gradients), or use GroupNorm/LayerNorm in the blocks.

    ## References
    - G. Huang, Y. Sun, Z. Liu, D. Sedra, K. Weinberger. "Deep Networks with Stochastic Depth",
      ECCV 2016. https://arxiv.org/abs/1603.09382
    - X. Li, S. Chen, X. Hu, J. Yang. "Understanding the Disharmony between Dropout and Batch
      Normalization by Variance Shift", CVPR 2019. https://arxiv.org/abs/1801.05134
    - M. Tan, Q. V. Le. "EfficientNet: Rethinking Model Scaling for Convolutional Neural
      Networks", ICML 2019. https://arxiv.org/abs/1905.11946
    """

    code = "NL005"
    name = "drop-path-before-batchnorm"
    severity = Severity.INFO
    summary = "Stochastic depth / drop-path feeds a BatchNorm: a smaller cousin of dropout's variance shift."

    def check(self, graph: Graph) -> Iterator[Finding]:
        seen: set[tuple[str, int | None]] = set()
        for node, gated, what in gating_sites(graph):
            key = (node.module, node.line)
            if key in seen:
                continue
            affected: list[Node] = []
            path: list[Node] = []
            for start in gated:
                reached = batchnorms_reached(start)
                if reached and not path:  # to the first BatchNorm, from the site (a decision, then its block's exit)
                    path = ([node] if start is not node else []) + path_to_norm(start, reached[0])
                affected.extend(bn for bn in reached if bn not in affected)
            if not affected:
                continue
            seen.add(key)
            paths = sorted({n.module for n in affected}, key=[n.module for n in affected].index)
            where = shown_path(node.module)
            yield self.finding(
                node,
                f"Drop-path at {where} ({what}) feeds {listing(paths, 'BatchNorm')}: in training this shifts the "
                f"variance the BatchNorm learns its running statistics from.",
                "Usually fine at moderate rates; if the probe measures a large shift, lower the drop-path rate or "
                "recalibrate the BatchNorm statistics after training with drop-path off.",
                related=paths,
                path=path_steps(path),
            )

    def with_probe(self, finding: Finding, probe: Any) -> Finding:
        """Attach the measured ratios; a shift whose interval lies outside [0.9, 1.1] makes the finding a warning."""
        updated, shifted = with_measured_shift(finding, probe)
        return dataclasses.replace(updated, severity=Severity.WARNING) if shifted else updated
