from __future__ import annotations

from collections.abc import Iterator

from netlint.findings import Finding, Rule, Severity
from netlint.graph.ir import DROPOUT_OPS, NORM_OPS, WEIGHT_OPS, Graph, Node, Op, format_count, shape_str, walk
from netlint.graph.queries import has_spatial_extent, keeps_channel_axis
from netlint.source import shown_path

from ._common import prod

# Element-wise ops that may sit between the flatten and the Linear (AlexNet: flatten, Dropout, Linear).
_ELEMENTWISE = frozenset({Op.ACTIVATION, Op.IDENTITY, Op.MATH} | DROPOUT_OPS)
# What makes a tensor a spatial feature map: the output of a conv-net layer.
_MAP_PRODUCERS = frozenset(
    {Op.CONV, Op.POOL, Op.ACTIVATION, Op.IDENTITY, Op.ADD, Op.MUL, Op.CAT, Op.DROP_PATH, Op.MATH}
    | NORM_OPS
    | DROPOUT_OPS
)


def _is_map(node: Node) -> bool:
    return node.op in _MAP_PRODUCERS or keeps_channel_axis(node)


def _convolutional(source: Node) -> bool:
    """Whether the nearest weight layers upstream of ``source`` are all convolutions over positions.

    An (N, C, L) tensor is a 1-D conv feature map only when convolutions made it: the same rank
    holds token sequences (N, L, D) that Linear layers and attention produce. A convolution over
    such tokens as they are (timm's CoaT aggregates 3 class tokens with a Conv1d) slides along the
    features, not along positions: its output is no map either.
    """
    found = [source] if source.op in WEIGHT_OPS else []
    if not found:
        found, open_end = walk(source, stop=lambda n: n.op in WEIGHT_OPS, through=_is_map, upstream=True)
        if not found or open_end:
            return False
    return all(n.op == Op.CONV and not _reads_tokens(n) for n in found)


# Layers whose output keeps its features on the last dimension: (N, L, D) tokens.
_FEATURES_LAST = frozenset({Op.LINEAR, Op.EMBEDDING, Op.ATTENTION, Op.MATMUL, Op.RNN})


def _reads_tokens(conv: Node) -> bool:
    """A 1-D convolution whose input still has the features of Linear layers (or attention, embeddings)
    on its last dimension: nothing moved them to the channel axis (a transpose, or a reshape that
    lays them out anew), so its "length" is features, not positions."""
    if conv.params.get("dims") != 1:
        return False

    def relayout(n: Node) -> bool:
        before = n.in_shape
        return n.op == Op.PERMUTE or (
            n.op == Op.RESHAPE and (before is None or n.shape is None or before[-1:] != n.shape[-1:])
        )

    found, _ = walk(
        conv,
        stop=lambda n: n.op in WEIGHT_OPS or n.op == Op.INPUT or relayout(n),
        through=lambda n: n.op not in WEIGHT_OPS,
        upstream=True,
        follow=lambda n: n.shape is None or len(n.shape) < 3 or has_spatial_extent(n),  # not a gate (N, C, 1)
    )
    return any(n.op in _FEATURES_LAST for n in found)


def _flatten_behind(linear: Node) -> Node | None:
    """The reshape that feeds ``linear`` through element-wise ops only, if any; a flatten of what is already
    flat (``nn.Flatten()`` after ``torch.flatten(x, 1)``) is passed through to the one that flattened the map."""
    inputs = linear.data_inputs
    node = inputs[0] if inputs else None
    while node is not None and len(node.data_inputs) == 1 and (node.op in _ELEMENTWISE or _unchanged(node)):
        node = node.data_inputs[0]
    return node if node is not None and node.op == Op.RESHAPE else None


def _unchanged(node: Node) -> bool:
    return node.op == Op.RESHAPE and node.shape is not None and node.shape == node.in_shape


def _decoded_or_sampled(linear: Node) -> bool:
    """Whether the Linear's output is a code whose positions matter: it is sampled as a latent
    (``mu + eps * exp(logvar / 2)`` with a Gaussian draw) or, through more Linear layers, laid out
    again as a map (a view into (N, C, H, W), a transposed convolution, a resampling grid).
    A VAE's fc_mu and fc_logvar, a spatial transformer's localisation head."""
    through = _ELEMENTWISE | {Op.ADD, Op.MUL, Op.LINEAR, Op.RESHAPE, Op.SPLIT, Op.GETITEM}
    seen = {linear.index}
    frontier = list(linear.users)
    while frontier:
        node = frontier.pop()
        if node.index in seen or not node.is_tensor:
            continue
        seen.add(node.index)
        if any(_gaussian(i) for i in node.inputs if i.index not in seen):
            return True
        if _laid_out_as_map(node):
            return True
        if (node.op == Op.CONV and node.params.get("transposed")) or node.op == Op.RESAMPLE:
            return True
        if node.op in through:
            frontier.extend(node.users)
    return False


def _laid_out_as_map(node: Node) -> bool:
    """A reshape that spreads a vector over several axes (``z.view(n, 64, 7, 7)``); ``unsqueeze(1)`` does not."""
    before, after = node.in_shape, node.shape
    if node.op != Op.RESHAPE or before is None or after is None or len(after) < 3:
        return False
    return after[-1] != before[-1] and prod(after[1:]) == prod(before[1:]) and has_spatial_extent(node)


def _gaussian(node: Node) -> bool:
    """A Gaussian draw, or an element-wise function of one (``eps * std``)."""
    if node.op == Op.RANDOM:
        return node.type_name.rstrip("_") in ("randn", "randn_like", "normal")
    return node.op in (Op.MUL, Op.MATH) and any(_gaussian(i) for i in node.inputs)


class FcHeadInsteadOfGap(Rule):
    """
    ## What it does
    Finds a `Linear` whose input is a spatial feature map (N, C, H, W) with H*W > 1, produced by a
    convolution, pooling, normalisation or activation and flattened by `view`, `reshape`,
    `flatten` or `nn.Flatten` into (N, C*H*W). 1-D maps (N, C, L) of ECG and audio networks and
    3-D maps (N, C, D, H, W) of video networks are found the same way; an (N, C, L) tensor counts
    as a map only when the nearest weight layers upstream are convolutions (the same rank holds
    token sequences), and not when a Conv1d made it out of tokens as they are (timm's CoaT: the
    convolution slides along the tokens' features). A flatten of what is already flat
    (`nn.Flatten()` after `torch.flatten(x, 1)`) is seen through. Token reshapes inside attention
    are not heads and are not reported; neither is a map already pooled to a single position, a map
    with a single channel (pooling would leave one input feature), nor a Linear whose output is a
    code where positions are the point: sampled as a latent (`mu + eps * exp(logvar / 2)`, a VAE's
    fc_mu and fc_logvar) or laid out again as a map (a decoder's view into (N, C, H, W), a
    transposed convolution, a spatial transformer's sampling grid).

    ## Why is this bad?
    The Linear gets a separate weight for every channel at every position: C*H*W*out parameters.
    VGG16's first classifier layer reads a flattened 512x7x7 map and holds 102.8 M of the
    network's 138 M parameters. Global average pooling first costs C*out (2.1 M there), over-fits
    less, since the head can no longer memorise positions, and lets the network accept other input
    sizes (Lin et al. 2014; every ResNet since).

    ## Example
    ```python
    def forward(self, x):
        x = self.features(x)             # (N, 512, 7, 7)
        x = torch.flatten(x, 1)          # (N, 25088)
        return self.classifier(x)        # NL004: nn.Linear(25088, 4096)
    ```

    ## How to fix
    Pool globally before flattening and shrink the Linear to the channel count:
    `nn.AdaptiveAvgPool2d(1)`, then `torch.flatten(x, 1)`, then `nn.Linear(512, 4096)`. Pretrained
    weights of the large Linear cannot be reused as they are.

    When the positions are the point and the structure does not show it, keep the head and
    suppress the finding on the Linear's line (`# netlint: ignore[NL004]`): the Nature-DQN head's
    Q-values depend on where things are on the screen, and a regressor that reads coordinates or
    a landmark's offset from the flattened map (MONAI's `Regressor`) needs the positions the
    pooling would average away. A classifier or a discriminator with the same head (MONAI's
    `Classifier`, `Discriminator`, VGG's) is what the rule is for. A known limitation, since that
    is an argument about the task, not the graph.

    ## References
    - M. Lin, Q. Chen, S. Yan. "Network In Network", ICLR 2014 (global average pooling).
      https://arxiv.org/abs/1312.4400
    - K. Simonyan, A. Zisserman. "Very Deep Convolutional Networks for Large-Scale Image
      Recognition", ICLR 2015 (the parameter count of the FC head). https://arxiv.org/abs/1409.1556
    - K. He et al. "Deep Residual Learning for Image Recognition", CVPR 2016.
      https://arxiv.org/abs/1512.03385
    """

    code = "NL004"
    name = "fc-head-instead-of-gap"
    severity = Severity.WARNING
    summary = "A Linear on a flattened spatial feature map, where global average pooling belongs."

    def check(self, graph: Graph) -> Iterator[Finding]:
        for linear in graph.ops(Op.LINEAR):
            flatten = _flatten_behind(linear)
            if flatten is None or not flatten.data_inputs:
                continue
            source = flatten.data_inputs[0]
            fmap, flat = source.shape, flatten.shape
            if fmap is None or flat is None or len(fmap) not in (3, 4, 5) or not _is_map(source):
                continue
            if len(fmap) == 3 and not _convolutional(source):
                continue
            channels, spatial = fmap[1], prod(fmap[2:])
            # One channel: pooling would leave a Linear with a single input feature, never the fix.
            if spatial <= 1 or channels <= 1 or flat != (fmap[0], channels * spatial):
                continue
            if _decoded_or_sampled(linear):
                continue
            in_features = linear.params.get("in_features") or channels * spatial
            out_features = linear.params.get("out_features")
            if in_features != channels * spatial or out_features is None:
                continue
            bias = out_features if linear.params.get("bias") else 0
            now = in_features * out_features + bias
            pooled = channels * out_features + bias
            yield self.finding(
                linear,
                f"Linear({in_features}->{out_features}) at {shown_path(linear.module)} reads a flattened "
                f"{shape_str(fmap[1:])} feature map: {format_count(now)} parameters. Global average pooling "
                f"first would make it Linear({channels}->{out_features}): {format_count(pooled)}.",
                f"Pool globally before flattening (nn.AdaptiveAvgPool{len(fmap) - 2}d(1)) and build the Linear "
                f"with in_features={channels}.",
                related=[source.module] if source.module != linear.module else [],
                parameters=now,
                parameters_with_gap=pooled,
            )
