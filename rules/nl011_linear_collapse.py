from __future__ import annotations

from collections.abc import Iterator

from netlint.findings import Finding, Rule, Severity
from netlint.graph.ir import DROPOUT_OPS, Graph, Node, Op, format_count, per_dim
from netlint.source import shown_path

from ._common import layer_name, prod


def _pointwise_conv(node: Node) -> bool:
    """A 1x1 convolution with stride 1, no padding and one group: a Linear applied at every position."""
    p = node.params
    dims = p.get("dims")
    if node.op != Op.CONV or p.get("transposed") or not isinstance(dims, int) or p.get("groups", 1) != 1:
        return False
    padding = p.get("padding", 0)
    no_padding = padding == "valid" or per_dim(padding, dims) == (0,) * dims
    return (
        per_dim(p.get("kernel_size"), dims) == (1,) * dims
        and per_dim(p.get("stride"), dims) == (1,) * dims
        and (no_padding or padding == "same")
    )


def _feature_axis(layer: Node) -> int | None:
    """Where a linear layer's features are: the last axis of a Linear, axis 1 of a conv."""
    shape = layer.shape
    if shape is None or len(shape) < 2:
        return None
    if layer.op == Op.LINEAR and layer.type_name != "Bilinear":
        return len(shape) - 1
    return 1 if _pointwise_conv(layer) else None


def _reshaped_axis(before: tuple[int, ...], after: tuple[int, ...], axis: int) -> int | None:
    """The feature axis after a reshape that keeps every feature vector whole and in place, or None."""
    outer, inner = prod(before[:axis]), prod(before[axis + 1 :])
    for i in range(len(after) - 1, -1, -1):
        if after[i] == before[axis] and prod(after[:i]) == outer and prod(after[i + 1 :]) == inner:
            return i
    return None


def _through(node: Node, source: Node, axis: int) -> int | None:
    """The feature axis after ``node`` when it is linear per feature vector (identity at inference, an
    affine BatchNorm over the features, a reshape keeping the features); None otherwise."""
    if node.data_inputs != [source] or node.shape is None or source.shape is None:
        return None
    if node.op in DROPOUT_OPS or node.op == Op.IDENTITY:
        return axis if node.shape == source.shape and node.target != "detach" else None
    if node.op == Op.BATCHNORM:
        return axis if axis == 1 and node.shape == source.shape else None
    if node.op == Op.RESHAPE:
        return _reshaped_axis(source.shape, node.shape, axis)
    return None


def _widths(layer: Node) -> tuple[int | None, int | None]:
    p = layer.params
    if layer.op == Op.LINEAR:
        return p.get("in_features"), p.get("out_features")
    return p.get("in_channels"), p.get("out_channels")


def _describe(layer: Node, width_in: int, width_out: int) -> str:
    name = layer.params.get("layer_type") or layer.type_name
    if layer.op == Op.CONV:
        return f"{name}({width_in} -> {width_out}, 1x1)"
    return f"{name}({width_in} -> {width_out})"


class LinearCollapse(Rule):
    """
    ## What it does
    Finds two `Linear` layers (or two 1x1 convolutions with stride 1, no padding and one group,
    or one of each) in a row with no nonlinearity between them: only reshapes that keep the
    feature axis, `clone`/`contiguous`/dtype casts, dropout, `nn.Identity` or a BatchNorm over the
    features (affine at inference) sit in between, and the first layer's output is read by the
    second alone. A hidden width below min(input, output) is a deliberate low-rank bottleneck
    (LoRA, factorised heads) and is not reported. `module` is the first layer, `related` the
    second.

    ## Why is this bad?
    The composition of two linear maps is one linear map: `W2 (W1 x + b1) + b2 = (W2 W1) x +
    (W2 b1 + b2)`. The pair has exactly the expressive power of a single layer from the input
    width to the output width, but costs the hidden layer's parameters, FLOPs and activation
    memory, and usually signals a missing activation (`nn.Sequential(nn.Linear(a, b),
    nn.Linear(b, c))`). A product of two activations (attention's `q @ k.T`, a gate `a *
    sigmoid(b)`) is a nonlinearity and is not reported; a first layer whose output is also read
    elsewhere (a residual, a returned embedding) cannot be merged away and is not reported either.

    ## Example
    ```python
    self.head = nn.Sequential(
        nn.Linear(512, 256),   # NL011: no activation before the next Linear
        nn.Dropout(0.5),
        nn.Linear(256, 10),
    )
    ```

    ## How to fix
    Add the activation that was meant to be there (`nn.ReLU()`, `nn.GELU()`) between the layers,
    or replace both by the single equivalent layer the message gives (`nn.Linear(512, 10)`).

    ## References
    - I. Goodfellow, Y. Bengio, A. Courville. "Deep Learning", MIT Press 2016, section 6.1
      (without a nonlinearity, stacked linear layers compute a linear function).
      https://www.deeplearningbook.org/contents/mlp.html
    - E. Hu et al. "LoRA: Low-Rank Adaptation of Large Language Models", ICLR 2022 (a narrower
      hidden width is a deliberate low-rank factorisation). https://arxiv.org/abs/2106.09685
    """

    code = "NL011"
    name = "linear-collapse"
    severity = Severity.WARNING
    summary = "Two linear layers with no nonlinearity between them compute a single linear map."

    def check(self, graph: Graph) -> Iterator[Finding]:
        for first in graph.ops(Op.LINEAR, Op.CONV):
            axis = _feature_axis(first)
            if axis is None or len(first.data_inputs) != 1:
                continue
            node, between = first, []
            while axis is not None and len(node.users) == 1:
                user = node.users[0]
                user_axis = _feature_axis(user)
                if user_axis is not None and user.data_inputs == [node] and user_axis == axis:
                    finding = self._pair(first, user, between)
                    if finding is not None:
                        yield finding
                    break
                axis = _through(user, node, axis)
                node = user
                between.append(user)

    def _pair(self, first: Node, second: Node, between: list[Node]) -> Finding | None:
        if first.kind == second.kind == "module" and first.module == second.module:
            return None  # one layer applied twice: nothing to merge
        width_in, hidden = _widths(first)
        hidden2, width_out = _widths(second)
        if None in (width_in, hidden, width_out) or hidden2 not in (None, hidden):
            return None
        if hidden < min(width_in, width_out):
            return None  # a low-rank bottleneck, on purpose
        biased = bool(first.params.get("bias")) or bool(second.params.get("bias"))
        norm = sum(2 * hidden for n in between if n.op == Op.BATCHNORM and n.params.get("affine", True))
        cost = width_in * hidden + hidden * width_out + hidden * bool(first.params.get("bias"))
        cost += width_out * bool(second.params.get("bias")) + norm
        merged = width_in * width_out + (width_out if biased or norm else 0)
        shown = [n for n in between if n.op != Op.IDENTITY]  # casts and nn.Identity say nothing
        via = "".join(f" -> {layer_name(n)}" for n in shown)
        single = _describe(first if first.op == second.op else second, width_in, width_out)
        return self.finding(
            first,
            f"{_describe(first, width_in, hidden)} at {shown_path(first.module)}{via} -> "
            f"{_describe(second, hidden, width_out)} at {shown_path(second.module)}: no nonlinearity between "
            f"them, so the pair is one linear map, {single}; merging saves {format_count(cost - merged)} "
            f"parameters.",
            f"Add the activation that belongs between them (nn.ReLU, nn.GELU), or replace both by {single}.",
            related=[second.module],
            in_features=width_in,
            hidden_features=hidden,
            out_features=width_out,
            parameters_saved=cost - merged,
        )
