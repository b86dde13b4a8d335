from __future__ import annotations

from collections.abc import Iterator

from netlint.findings import Finding, Rule, Severity
from netlint.graph.ir import Graph, Node, Op, format_count, per_dim, shape_str
from netlint.source import shown_path

from ._common import layer_name, prod

Window = tuple[int, int, int, int, int]  # input size, kernel, stride, padding before, padding after (dilation apart)


def _conv_input(conv: Node, dims: int) -> Node | None:
    """The activation a convolution reads (a functional conv's weight may be computed too)."""
    channels = conv.params.get("in_channels")
    for producer in conv.inputs:
        shape = producer.shape
        fits = shape is not None and len(shape) == dims + 2 and (channels is None or shape[1] == channels)
        if producer.op != Op.PARAM and fits:
            return producer
    return None


def _explicit_zero_pad(x: Node, dims: int) -> tuple[Node, list[list[int]]] | None:
    """``(the pad's input, [[before, after] per spatial dim])`` when ``x`` is a constant-zero pad."""
    pad = x.params.get("pad")
    if x.op != Op.PAD or x.params.get("mode") != "constant" or x.params.get("value") not in (0, 0.0) or not pad:
        return None
    if any(p < 0 for p in pad) or len(pad) > 2 * dims or len(x.data_inputs) != 1:
        return None  # a crop, or padding of the channel or batch dimension
    source = x.data_inputs[0]
    if source.shape is None or len(source.shape) != dims + 2:
        return None
    extra = [[0, 0] for _ in range(dims)]
    for i in range(len(pad) // 2):  # F.pad's order: last dimension first
        extra[dims - 1 - i] = [pad[2 * i], pad[2 * i + 1]]
    return source, extra


def conv_windows(conv: Node) -> tuple[list[Window], tuple[int, ...]] | None:
    """Per spatial dimension (input size, kernel, stride, zero padding before, after), the dilations.

    Zero padding of an ``F.pad`` / ``nn.ZeroPad2d`` that feeds the conv counts as the conv's own;
    padding that carries data (reflect, replicate, circular) is part of the input.
    """
    p = conv.params
    dims = p.get("dims")
    if not isinstance(dims, int) or dims < 1 or p.get("transposed"):
        return None
    kernel, stride, dilation = (per_dim(p.get(k), dims) for k in ("kernel_size", "stride", "dilation"))
    x = _conv_input(conv, dims)
    if kernel is None or stride is None or dilation is None or x is None:
        return None
    padding = p.get("padding")
    if padding == "same":
        pads = [[d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2] for k, d in zip(kernel, dilation)]
    elif padding == "valid":
        pads = [[0, 0] for _ in kernel]
    elif (sym := per_dim(padding, dims)) is not None:
        pads = [[q, q] for q in sym]
    else:
        return None
    sizes = list(x.shape[2:])
    if p.get("padding_mode", "zeros") != "zeros":  # reflected or replicated rows are data
        sizes = [n + a + b for n, (a, b) in zip(sizes, pads)]
        pads = [[0, 0] for _ in pads]
    while (explicit := _explicit_zero_pad(x, dims)) is not None:
        x, extra = explicit
        sizes = [n - a - b for n, (a, b) in zip(sizes, extra)]
        pads = [[q[0] + a, q[1] + b] for q, (a, b) in zip(pads, extra)]
    windows = [(n, k, s, a, b) for n, k, s, (a, b) in zip(sizes, kernel, stride, pads)]
    return windows, dilation


def taps_seeing_data(window: Window, dilation: int) -> int:
    """How many of the kernel's taps along one dimension fall inside the input at some output position."""
    n, k, s, before, after = window
    outputs = (n + before + after - dilation * (k - 1) - 1) // s + 1
    used = 0
    for j in range(k):
        # Output o puts tap j at padded position o*s + j*d: data when before <= that < before + n.
        low = max(0, -(-(before - j * dilation) // s))
        high = min(outputs - 1, (before + n - 1 - j * dilation) // s)
        used += low <= high
    return used


class KernelSeesPadding(Rule):
    """
    ## What it does
    Finds a convolution (`Conv1d/2d/3d`, a functional `F.conv*d`, or a conv subclass such as a
    weight-standardised conv) at whose input size some kernel positions multiply only zero padding
    at every output position: a 3x3 conv with `padding=1` on a 1x1 map uses 1 of its 9 taps.
    The count is exact per dimension from the input size, kernel, stride, padding (`"same"`
    resolved as PyTorch does) and dilation; explicit zero padding in front of the conv (`F.pad`
    with value 0, `nn.ZeroPad2d`, `nn.ConstantPad2d(..., 0)`, as in TensorFlow-style "same"
    convs) counts as its padding. Reflect, replicate and circular padding carry data and do not
    count; transposed convolutions are not checked. A conv called at several sizes is reported
    only when it wastes taps at every call. The finding depends on the input size that the
    report names.

    ## Why is this bad?
    A weight that only ever multiplies zeros never affects the output and never receives a
    gradient: the layer has the parameters, memory and FLOPs of a large kernel and the capacity
    of a small one. It is the typical result of feeding CIFAR-sized images (32x32) into a network
    designed for 224x224 ImageNet inputs, whose last stages then run 3x3 kernels on 1x1 or 2x2
    maps, or of a "same"-padded kernel larger than the map it sees.

    ## Example
    ```python
    # ResNet-50 on 32x32 images: layer4 runs on a 1x1 map.
    model = torchvision.models.resnet50(num_classes=10)
    model(torch.randn(8, 3, 32, 32))   # NL014: layer4's 3x3 convs use 1 of 9 taps
    ```

    ## How to fix
    Match the architecture to the input size: remove a downsampling step (for CIFAR, a 3x3 stem
    with stride 1 and no max-pool, as in He et al.'s CIFAR ResNets), use a larger input, or use
    a kernel no larger than the map (a 1x1 conv on 1x1 maps). If the size in the report is not
    the size you train at, pass the right one with `--input-shape`.

    ## References
    - K. He, X. Zhang, S. Ren, J. Sun. "Deep Residual Learning for Image Recognition", CVPR 2016,
      section 4.2 (CIFAR-10 networks built for 32x32 inputs). https://arxiv.org/abs/1512.03385
    - V. Dumoulin, F. Visin. "A guide to convolution arithmetic for deep learning", 2016
      (output size and padding arithmetic). https://arxiv.org/abs/1603.07285
    - PyTorch documentation, `torch.nn.Conv2d` (padding, "same", dilation).
      https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html
    """

    code = "NL014"
    name = "kernel-sees-padding"
    severity = Severity.WARNING
    summary = "A convolution whose kernel has taps that only ever multiply zero padding at this input size."

    def check(self, graph: Graph) -> Iterator[Finding]:
        calls: dict[tuple, list[tuple[Node, int, int, list[Window]]]] = {}
        for conv in graph.ops(Op.CONV):
            found = conv_windows(conv)
            if found is None:
                continue
            windows, dilation = found
            used = prod([taps_seeing_data(w, d) for w, d in zip(windows, dilation)])
            calls.setdefault((conv.module, conv.file, conv.line, conv.kind), []).append(
                (conv, used, prod([w[1] for w in windows]), windows)
            )
        for wasted_calls in calls.values():
            if any(used == taps for _, used, taps, _ in wasted_calls):
                continue  # some call uses every tap
            conv, used, taps, windows = max(wasted_calls, key=lambda c: c[1] / c[2])
            yield self._finding(conv, used, taps, windows)

    def _finding(self, conv: Node, used: int, taps: int, windows: list[Window]) -> Finding:
        p = conv.params
        groups = p.get("groups") or 1
        per_tap = (p.get("out_channels") or 0) * (p.get("in_channels") or 0) // groups
        wasted = (taps - used) * per_tap
        kernel = shape_str([w[1] for w in windows])
        pads = [(w[3], w[4]) for w in windows]
        padding = "x".join(str(a) if a == b else f"{a}+{b}" for a, b in pads)
        what = layer_name(conv)
        weights = (
            f": {format_count(wasted)} of its {format_count(taps * per_tap)} weights never see data" if per_tap else ""
        )
        return self.finding(
            conv,
            f"{what} at {shown_path(conv.module)} (kernel {kernel}, zero padding {padding}) at input "
            f"size {shape_str([w[0] for w in windows])}: {taps - used} of its {taps} kernel positions "
            f"({(taps - used) / taps:.0%}) multiply only padding at every output position{weights}.",
            "Match the network to the input size (fewer downsampling steps, or a larger input), or use a kernel "
            "no larger than the map; if this is not the size you train at, pass it with --input-shape.",
            wasted_fraction=round((taps - used) / taps, 4),
            wasted_positions=taps - used,
            kernel_positions=taps,
            wasted_weights=wasted,
            input_size=[w[0] for w in windows],
            padding=[list(q) for q in pads],
        )
