from __future__ import annotations

from collections.abc import Iterator

from netlint.findings import Finding, Rule, Severity
from netlint.graph.ir import DROPOUT_OPS, NORM_OPS, WEIGHT_OPS, Graph, Node, Op, data_path, shape_str, walk
from netlint.graph.queries import has_spatial_extent, is_active_dropout, keeps_channel_axis
from netlint.source import shown_path

from ._common import path_steps, prod

# Ops a feature map passes through unchanged in kind: the "nearest weight layer" lies beyond them.
_THROUGH = frozenset(
    {Op.ACTIVATION, Op.POOL, Op.IDENTITY, Op.ADD, Op.MUL, Op.CAT, Op.DROP_PATH, Op.MATH} | NORM_OPS | DROPOUT_OPS
)


def _through(node: Node) -> bool:
    """Element-wise and pooling ops, and layout ops that keep the channel axis (pad, crop, view)."""
    return node.op in _THROUGH or keeps_channel_axis(node)


def _part_of_the_map(node: Node) -> bool:
    """Operands without spatial extent (a per-channel bias, an (N, C, 1, 1) time embedding) and
    tensors created in forward neither feed the map's content nor veto the finding."""
    return has_spatial_extent(node) and node.op != Op.CONSTANT


def _weight(node: Node) -> bool:
    return node.op in WEIGHT_OPS


class DropoutBetweenConvolutions(Rule):
    """
    ## What it does
    Finds element-wise dropout (`nn.Dropout`, `F.dropout`, `nn.AlphaDropout`) with `p > 0` on a
    feature map with a spatial extent greater than one, when the nearest weight layers upstream
    (through activations, norms, pooling, additions, concatenations, element-wise arithmetic, and
    padding, cropping, resampling, views and permutes that keep the channel axis, or move it and
    bring it back, as a 1-D shortcut that pads channels between two transposes does) are all
    convolutions and a convolution also reads the result. Operands without spatial extent (a
    per-channel bias, a time or class embedding broadcast as N x C x 1 x 1) are not part of the
    feature map and do not change the verdict. Channel dropout (`Dropout2d`), DropBlock and drop-path are
    not reported, nor dropout in front of a fully-connected head.

    ## Why is this bad?
    Neighbouring activations of a convolutional feature map are strongly correlated, so the
    information in a dropped unit survives in its neighbours and the next convolution, with its
    spatial kernel, recovers it: element-wise dropout barely regularises there, while it still
    adds noise and slows training. Tompson et al. introduced channel dropout (SpatialDropout) for
    exactly this reason, and Ghiasi et al. DropBlock, which drops contiguous regions.

    ## Example
    ```python
    self.features = nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(),
        nn.Dropout(0.25),                            # NL003: element-wise, between convolutions
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
    )
    ```

    ## How to fix
    Use `nn.Dropout2d` (drops whole channels) or DropBlock between convolutions, or rely on
    BatchNorm alone. Keep element-wise dropout for fully-connected layers.

    ## References
    - J. Tompson, R. Goroshin, A. Jain, Y. LeCun, C. Bregler. "Efficient Object Localization Using
      Convolutional Networks", CVPR 2015 (SpatialDropout). https://arxiv.org/abs/1411.4280
    - G. Ghiasi, T.-Y. Lin, Q. V. Le. "DropBlock: A regularization method for convolutional
      networks", NeurIPS 2018. https://arxiv.org/abs/1810.12890
    """

    code = "NL003"
    name = "dropout-between-convolutions"
    severity = Severity.WARNING
    summary = "Element-wise dropout on a conv feature map between convolutions barely regularises."

    def check(self, graph: Graph) -> Iterator[Finding]:
        for node in graph.ops(Op.DROPOUT):
            if not is_active_dropout(node):
                continue
            shape = node.in_shape
            if shape is None or len(shape) < 3 or prod(shape[2:]) <= 1:
                continue
            upstream, open_end = walk(node, stop=_weight, through=_through, upstream=True, follow=_part_of_the_map)
            if open_end or not upstream or any(n.op != Op.CONV for n in upstream):
                continue
            downstream, _ = walk(node, stop=_weight, through=_through)
            convs = [n for n in downstream if n.op == Op.CONV]
            if not convs:
                continue
            p = node.params["p"]
            before = data_path(node, upstream[-1], through=_through, upstream=True, follow=_part_of_the_map)
            after = data_path(node, convs[0], through=_through)
            yield self.finding(
                node,
                f"Element-wise {node.type_name}(p={p:g}) at {shown_path(node.module)} acts on a "
                f"{shape_str(shape[1:])} feature map between convolutions ({upstream[-1].module} -> "
                f"{convs[0].module}): neighbouring activations are correlated, so dropping single units "
                f"barely regularises.",
                "Use nn.Dropout2d (drops whole channels) or DropBlock here, or rely on BatchNorm; keep "
                "element-wise dropout for fully-connected layers.",
                related=[upstream[-1].module, convs[0].module],
                p=p,
                path=path_steps(before[::-1] + after[1:]),
            )
