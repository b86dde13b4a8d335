"""Graph questions that a rule and the dynamic probe both ask (no torch here)."""

from __future__ import annotations

from collections.abc import Iterator

from .batch import permutation
from .ir import DROPOUT_OPS, LAYOUT_OPS, NORM_OPS, WEIGHT_OPS, Graph, Node, Op, data_path, walk


def is_active_dropout(node: Node) -> bool:
    """A dropout-family op that drops something in training: p > 0 and not switched off."""
    p = node.params.get("p")
    return isinstance(p, (int, float)) and p > 0 and node.params.get("training") is not False


def uses_running_stats(node: Node) -> bool:
    """A norm that normalises with running statistics at inference (BatchNorm by default)."""
    return node.op in (Op.BATCHNORM, Op.INSTANCENORM) and bool(node.params.get("track_running_stats"))


def batchnorms_reached(dropout: Node) -> list[Node]:
    """The running-statistics norms that ``dropout``'s output reaches, stopping at the first norm per path.

    Paths into attention weights (a softmax, or a fused attention op) are not followed: there the
    dropout reshapes a distribution that softmax renormalises (MaxViT's relative-position MLP
    feeds an attention bias) rather than rescaling features by 1/(1-p).
    """
    reached, _ = walk(dropout, stop=lambda n: n.op in NORM_OPS, through=lambda n: n.op not in _RENORMALISING)
    return [n for n in reached if uses_running_stats(n)]


_RENORMALISING = frozenset({Op.SOFTMAX, Op.ATTENTION})


def path_to_norm(start: Node, norm: Node) -> list[Node]:
    """The shortest path ``batchnorms_reached`` follows from ``start`` to ``norm`` (both included)."""
    return data_path(start, norm, through=lambda n: n.op not in NORM_OPS | _RENORMALISING)


def dropout_sources(graph: Graph) -> dict[str, list[Node]]:
    """For every BatchNorm path, the active dropout and drop-path ops upstream of it, through other norms too.

    A shift does not stop at the first BatchNorm: the noise dropout adds survives normalisation
    and reaches every later layer, so the probe measures (and explains) shifts at all of them.
    """
    sources: dict[str, list[Node]] = {}
    starts = [(n, [n]) for n in graph.ops(*DROPOUT_OPS) if is_active_dropout(n)]
    starts += [(site, gated) for site, gated, _ in gating_sites(graph)]
    for site, gated in starts:
        reached = {bn.index: bn for start in gated for bn in downstream(start) if uses_running_stats(bn)}
        for bn in reached.values():
            if site not in sources.setdefault(bn.module, []):
                sources[bn.module].append(site)
    return sources


def downstream(start: Node) -> list[Node]:
    """Every node that ``start``'s output reaches along data edges, in graph order."""
    seen = {start.index}
    frontier = list(start.users)
    out = []
    while frontier:
        node = frontier.pop()
        if node.index in seen or not node.is_tensor or node.op == Op.SHAPE:
            continue
        seen.add(node.index)
        out.append(node)
        frontier.extend(node.users)
    return sorted(out, key=lambda n: n.index)


def active_at_inference(node: Node) -> str | None:
    """Why a functional dropout keeps dropping after ``model.eval()``: "omitted", "literal True" or None.

    ``F.dropout`` and ``F.dropout1d/2d/3d`` default to ``training=True``; a module's dropout, a
    call given ``training=self.training`` and a call that only runs under ``if self.training:``
    follow ``eval()``.
    """
    if node.kind != "function" or node.op not in (Op.DROPOUT, Op.CHANNEL_DROPOUT) or node.params.get("alpha"):
        return None
    p = node.params.get("p")
    if not isinstance(p, (int, float)) or p <= 0 or node.params.get("only_in_training"):
        return None  # ``if self.training: x = F.dropout(x, p)`` never runs after eval()
    source = node.params.get("training_source", "unknown")
    if source == "unknown":  # no readable source: only the recorded arguments
        source = "omitted" if not node.params.get("training_given") else "expression"
    if source == "omitted":
        return "omitted" if node.params.get("training") is True else None
    return "literal True" if source == "literal True" else None


def random_decisions(graph: Graph) -> list[Node]:
    """Decisions forward took on a random draw (``if torch.rand(()) < p``): recorded CONTROL nodes."""
    return [node for node in graph.ops(Op.CONTROL) if random_ancestry(node)]


def random_ancestry(node: Node) -> bool:
    """Whether ``node`` depends on a random draw through operations without weights."""
    found, _ = walk(node, stop=lambda n: n.op == Op.RANDOM, through=lambda n: n.op not in WEIGHT_OPS, upstream=True)
    return bool(found)


def _per_sample_mask(shape) -> bool:
    """(N, 1, ..., 1): one draw per sample, which keeps or drops a whole branch (not dropout's per unit)."""
    return shape is not None and len(shape) >= 2 and all(d == 1 for d in shape[1:])


def _block_exits(graph: Graph, module: str) -> list[Node]:
    """Nodes computed inside ``module`` whose output is used outside it: what the block returns."""
    inside = [n for n in graph.nodes if n.module == module or n.module.startswith(module + ".")] if module else []
    return [n for n in inside if any(not (u.module == module or u.module.startswith(module + ".")) for u in n.users)]


def gating_sites(graph: Graph) -> Iterator[tuple[Node, list[Node], str]]:
    """``(node to report, nodes whose output is gated, description)`` per drop-path site.

    Library layers and functions (StochasticDepth, DropPath, drop_path), and hand-written gating:
    a per-sample random mask that multiplies a branch, or a random draw that decides whether a
    block runs.
    """
    for node in graph.ops(Op.DROP_PATH):
        if is_active_dropout(node):
            yield node, [node], f"{node.type_name}(p={node.params['p']:g}) drops the branch for some samples"
    for node in graph.ops(Op.MUL):
        gates = [i for i in node.data_inputs if _per_sample_mask(i.shape) and random_ancestry(i)]
        others = [i for i in node.data_inputs if i not in gates and i.shape is not None and len(i.shape) >= 2]
        if gates and others and others[0].shape[0] == gates[0].shape[0]:
            yield node, [node], "a per-sample Bernoulli mask drops the branch for some samples"
    for node in random_decisions(graph):
        yield node, _block_exits(graph, node.module), "a random draw skips the block in some training steps"


def _first_shape(node: Node):
    return node.shape if node.shape is not None else (node.shapes[0] if node.shapes else None)


def keeps_channel_axis(node: Node) -> bool:
    """A layout op (view, permute, pad, indexing, interpolate...) whose output is still the same
    (N, C, ...) feature map: batch and channel stay on dims 0 and 1 and nothing mixes channels.

    Padding, resampling, copies and casts always keep them. A reshape or permute keeps them when
    the first two sizes are unchanged (``x.view(n, c, h * w)``, ``x.permute(0, 1, 3, 2)``,
    ``x.unsqueeze(2)``, ``x.expand(...)`` of a broadcast map); indexing and splits when the rank
    and the batch size are (a crop, or a slice of channels).
    """
    if node.op not in LAYOUT_OPS:
        return False
    if node.op in (Op.PAD, Op.RESAMPLE, Op.IDENTITY):
        return True
    sources = [s for s in (_first_shape(i) for i in node.data_inputs) if s is not None]
    if not sources:
        return False
    before = sources[0]
    afters = [node.shape] if node.shape is not None else list(node.shapes)
    if not afters or len(before) < 3:
        return False
    if node.op in (Op.GETITEM, Op.SPLIT):
        return all(len(a) == len(before) and a[0] == before[0] for a in afters)
    return all(len(a) >= 3 and a[:2] == before[:2] for a in afters) or _round_trip(node)


# What may sit between a permute and the one that undoes it: padding, crops, copies.
_BETWEEN_PERMUTES = frozenset({Op.PAD, Op.GETITEM, Op.IDENTITY})


def _round_trip(node: Node) -> bool:
    """A permute that another undoes, with only padding, crops or copies between them: the map comes back.

    ``x.transpose(1, 2)``, ``F.pad`` on the last (now channel) axis, ``transpose(1, 2)``: a shortcut
    that pads channels in a 1-D ResNet is the same feature map with more channels.
    """
    shape = node.in_shape
    if node.op != Op.PERMUTE or shape is None or node.shape is None or len(node.shape) != len(shape):
        return False
    mine = permutation(node, len(shape))
    if mine is None:
        return False
    for step in (lambda n: n.users, lambda n: n.data_inputs):
        partner, nxt = None, step(node)
        while len(nxt) == 1:
            n = nxt[0]
            if n.op == Op.PERMUTE:
                partner = n
                break
            if n.op not in _BETWEEN_PERMUTES or n.shape is None or len(n.shape) != len(shape):
                break
            nxt = step(n)
        theirs = permutation(partner, len(shape)) if partner is not None else None
        if theirs is not None and len(theirs) == len(mine) and all(mine[t] == i for i, t in enumerate(theirs)):
            return True
    return False


def has_spatial_extent(node: Node) -> bool:
    """An (N, C, positions...) tensor with more than one position: a feature map, not a per-channel
    operand such as a bias or a time embedding broadcast as (N, C, 1, 1)."""
    shape = _first_shape(node)
    if shape is None or len(shape) < 3:
        return False
    positions = 1
    for d in shape[2:]:
        positions *= d
    return positions > 1


def differentiable_producers(graph: Graph) -> list[Node]:
    """Nodes with a path of differentiable values (autograd's ``requires_grad``) to a model output."""
    frontier = [i for out in graph.ops(Op.OUTPUT) for i in out.inputs if i.grad is not False]
    seen: dict[int, Node] = {}
    while frontier:
        node = frontier.pop()
        if node.index in seen:
            continue
        seen[node.index] = node
        frontier.extend(i for i in node.inputs if i.grad is not False and i.is_tensor)
    return list(seen.values())


def trained_parameters(graph: Graph) -> set[str]:
    """Paths of the parameters some output depends on differentiably (tied copies of one tensor together)."""
    return used_parameters(graph, differentiable_producers(graph))


def used_parameters(graph: Graph, nodes: list[Node] | None = None) -> set[str]:
    """Paths of the parameters ``nodes`` (default: the whole graph) read in forward or hold as called layers;
    tied copies of one tensor together."""
    under: dict[str, list[str]] = {}  # module path -> the parameter paths below it
    for p in graph.parameters:
        parts = p.path.split(".")
        for i in range(len(parts)):
            under.setdefault(".".join(parts[:i]), []).append(p.path)
    used = set()
    for node in graph.nodes if nodes is None else nodes:
        if node.op == Op.PARAM:
            used.add(node.target)
        elif node.kind == "module":
            used.update(under.get(node.module, ()))
    aliases = {p.alias for p in graph.parameters if p.path in used}
    return {p.path for p in graph.parameters if p.alias in aliases}
