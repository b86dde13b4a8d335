from __future__ import annotations

from collections.abc import Iterator

from netlint.findings import Finding, Rule, Severity
from netlint.graph.ir import Graph, Node, Op, format_count
from netlint.source import shown_path

from ._common import listing


def _norm_behind(user: Node) -> Node:
    """Look through ``nn.Identity``: it changes nothing between the layer and its norm."""
    while user.op == Op.IDENTITY and user.kind == "module" and len(user.users) == 1:
        user = user.users[0]
    return user


def cancels_bias(norm: Node, layer: Node) -> bool:
    """Whether ``norm`` subtracts a mean per channel of ``layer``'s bias, making the bias a no-op."""
    if norm.op in (Op.BATCHNORM, Op.INSTANCENORM):
        cancelling = True
    elif norm.op == Op.GROUPNORM:
        groups, channels = norm.params.get("num_groups"), norm.params.get("num_channels")
        cancelling = groups is not None and groups == channels  # one channel per group
    else:
        return False
    if not cancelling:
        return False
    # The norm's channels are dim 1; the bias of a conv sits on dim 1, a Linear's on the last dim.
    shape = layer.shape
    if shape is None:
        return False
    if layer.op == Op.LINEAR:
        return len(shape) == 2
    return len(shape) >= 2


class BiasBeforeBatchNorm(Rule):
    """
    ## What it does
    Finds a convolution (`Conv1d/2d/3d`, `ConvTranspose*d`, `F.conv*`) or `Linear` with a bias
    whose output goes only into a normalisation layer that subtracts a per-channel mean:
    BatchNorm, InstanceNorm, or GroupNorm with one channel per group. Not reported when anything
    else also reads the output (a skip connection, an activation first, the model's output).

    ## Why is this bad?
    The norm subtracts the mean of each channel, and a constant added to every value of a channel
    shifts that mean by exactly the same constant: the bias is cancelled and never affects the
    output. It still costs parameters, optimiser state, memory traffic and a gradient that is
    always zero in effect. The norm's own affine shift (beta) already provides the offset.

    ## Example
    ```python
    self.conv = nn.Conv2d(64, 128, 3, padding=1)   # NL002: bias=True by default
    self.bn = nn.BatchNorm2d(128)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))
    ```

    ## How to fix
    Create the layer with `bias=False` (for a functional call, pass `bias=None`). Checkpoints saved
    with the bias will then need `strict=False`, or the bias entries dropped, when loaded.

    ## References
    - S. Ioffe, C. Szegedy. "Batch Normalization: Accelerating Deep Network Training by Reducing
      Internal Covariate Shift", ICML 2015, section 3.2. https://arxiv.org/abs/1502.03167
    - K. He et al. "Deep Residual Learning for Image Recognition", CVPR 2016 (convolutions
      before BatchNorm carry no bias). https://arxiv.org/abs/1512.03385
    """

    code = "NL002"
    name = "bias-before-batchnorm"
    severity = Severity.WARNING
    summary = "A conv/linear bias right before a BatchNorm is cancelled by its mean subtraction."

    def check(self, graph: Graph) -> Iterator[Finding]:
        for layer in graph.ops(Op.CONV, Op.LINEAR):
            if not layer.params.get("bias") or not layer.users:
                continue
            norms = [_norm_behind(u) for u in layer.users]
            if not all(cancels_bias(n, layer) for n in norms):
                continue
            channels = layer.params.get("out_channels") or layer.params.get("out_features")
            if channels is None and layer.shape is not None:
                channels = layer.shape[1] if layer.op == Op.CONV else layer.shape[-1]
            names = sorted({n.module for n in norms})
            norm_type = norms[0].params.get("layer_type") or (
                norms[0].type_name if norms[0].kind == "module" else "the norm"
            )
            is_layer = layer.kind == "module" or "layer_type" in layer.params
            what = layer.params.get("layer_type", layer.type_name) if is_layer else f"{layer.type_name}()"
            fix = "Create the layer with bias=False." if is_layer else "Pass bias=None to this call."
            yield self.finding(
                layer,
                f"{what} at {shown_path(layer.module)} adds a bias that {listing(names, norm_type)} cancels by "
                f"subtracting the per-channel mean: {format_count(channels or 0)} parameters that never affect "
                f"the output.",
                fix,
                related=names,
                wasted_parameters=channels,
            )
