from __future__ import annotations

import math
import re
from collections.abc import Iterator

from netlint.findings import Finding, Rule, Severity
from netlint.graph.ir import Graph, Node, Op, per_dim, shape_str
from netlint.source import shown_path

from ._common import layer_name


def _dims(node: Node) -> int | None:
    if node.op == Op.CONV:
        return node.params.get("dims") if not node.params.get("transposed") else None
    match = re.search(r"(\d)d$", str(node.params.get("kind", "")))
    return int(match.group(1)) if match and "adaptive" not in node.params["kind"].lower() else None


def read_residues(kernel: int, stride: int, dilation: int, before: int) -> set[int]:
    """Input positions modulo the stride that some tap reads (position p is read when p + before = o*s + j*d)."""
    return {(j * dilation - before) % stride for j in range(kernel)}


class StrideSkipsInput(Rule):
    """
    ## What it does
    Finds a convolution or pooling (module or functional) that never reads some of its input
    positions: its stride is larger than its kernel in some dimension (a 1x1 conv with stride 2
    reads 1 of every 4 positions of a 2-D map), or its dilated taps miss some positions modulo
    the stride (kernel 3, dilation 2, stride 2 reads only even positions). Border effects (a
    `MaxPool2d(2)` dropping the last row of an odd map) and transposed convolutions are not
    findings. Not selected by default: opt in with `--extend-select NL015`.

    ## Why is this bad?
    The skipped positions never reach the output: three quarters of the activations a strided
    1x1 conv receives are computed, stored, and thrown away, and the information in them is
    lost to that path. ResNet's downsampling shortcut (1x1 conv, stride 2) does exactly this;
    He et al.'s "Bag of Tricks" replaces it with a 2x2 average pooling followed by a stride-1 1x1
    conv (ResNet-D) and measure a top-1 gain on ImageNet at almost no cost. Because it flags every
    classic ResNet, the rule is informational and opt-in.

    ## Example
    ```python
    self.downsample = nn.Sequential(
        nn.Conv2d(256, 512, kernel_size=1, stride=2, bias=False),  # NL015: reads 1 of 4 positions
        nn.BatchNorm2d(512),
    )
    ```

    ## How to fix
    Pool before the projection, so that every position contributes:
    `nn.AvgPool2d(2, stride=2, ceil_mode=True, count_include_pad=False)` followed by
    `nn.Conv2d(256, 512, kernel_size=1, stride=1)` (ResNet-D), or use a kernel at least as large
    as the stride (a 3x3 conv with stride 2), or a dilation coprime with the stride.

    ## References
    - T. He, Z. Zhang, H. Zhang, Z. Zhang, J. Xie, M. Li. "Bag of Tricks for Image Classification
      with Convolutional Neural Networks", CVPR 2019, section 4.1 (ResNet-D).
      https://arxiv.org/abs/1812.01187
    - A. Odena, V. Dumoulin, C. Olah. "Deconvolution and Checkerboard Artifacts", Distill 2016
      (uneven coverage of strided kernels). https://distill.pub/2016/deconv-checkerboard/
    """

    code = "NL015"
    name = "stride-skips-input"
    severity = Severity.INFO
    summary = "A strided conv or pooling whose kernel never reads some input positions."
    default = False

    def check(self, graph: Graph) -> Iterator[Finding]:
        for node in graph.ops(Op.CONV, Op.POOL):
            dims = _dims(node)
            x = node.in_shape
            if not isinstance(dims, int) or dims < 1 or x is None or len(x) < dims:
                continue
            p = node.params
            kernel, stride = per_dim(p.get("kernel_size"), dims), per_dim(p.get("stride"), dims)
            dilation = per_dim(p.get("dilation", 1), dims)
            padding = per_dim(p.get("padding", 0), dims) or (0,) * dims  # "same"/"valid" shift nothing here
            if kernel is None or stride is None or dilation is None:
                continue
            sizes = x[-dims:]
            read = []
            for n, k, s, d, before in zip(sizes, kernel, stride, dilation, padding):
                residues = read_residues(k, s, d, before)
                # Only positions that exist count: a size-1 dimension has nothing to skip.
                missed = any(q % s not in residues for q in range(min(n, s)))
                read.append(len(residues) / s if missed else 1.0)
            fraction = math.prod(read)
            if fraction >= 1.0:
                continue
            yield self._finding(node, kernel, stride, dilation, sizes, fraction)

    def _finding(self, node, kernel, stride, dilation, sizes, fraction: float) -> Finding:
        what = layer_name(node)
        dil = f", dilation {shape_str(dilation)}" if any(d != 1 for d in dilation) else ""
        return self.finding(
            node,
            f"{what} at {shown_path(node.module)} (kernel {shape_str(kernel)}, stride {shape_str(stride)}{dil}) "
            f"reads only {fraction:.0%} of its input positions (input size {shape_str(sizes)}): the rest never "
            f"reach the output.",
            "Average-pool first and then apply the layer with stride 1 (ResNet-D: AvgPool2d(2, 2) + 1x1 conv), "
            "or use a kernel at least as large as the stride.",
            read_fraction=round(fraction, 4),
            kernel_size=list(kernel),
            stride=list(stride),
            dilation=list(dilation),
        )
