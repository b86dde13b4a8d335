"""Graph questions that a rule and the dynamic probe both ask (no torch here)."""

from __future__ import annotations

from .ir import NORM_OPS, STOCHASTIC_OPS, Graph, Node, Op, walk


def is_active_dropout(node: Node) -> bool:
    """A dropout-family op that drops something in training: p > 0 and not switched off."""
    p = node.params.get("p")
    return isinstance(p, (int, float)) and p > 0 and node.params.get("training") is not False


def uses_running_stats(node: Node) -> bool:
    """A norm that normalises with running statistics at inference (BatchNorm by default)."""
    return node.op in (Op.BATCHNORM, Op.INSTANCENORM) and bool(node.params.get("track_running_stats"))


def batchnorms_reached(dropout: Node) -> list[Node]:
    """The running-statistics norms that ``dropout``'s output reaches, stopping at the first norm per path."""
    reached, _ = walk(dropout, stop=lambda n: n.op in NORM_OPS)
    return [n for n in reached if uses_running_stats(n)]


def dropout_sources(graph: Graph) -> dict[str, list[Node]]:
    """For every BatchNorm path, the active dropout and drop-path ops upstream of it, through other norms too.

    A shift does not stop at the first BatchNorm: the noise dropout adds survives normalisation
    and reaches every later layer, so the probe measures (and explains) shifts at all of them.
    """
    sources: dict[str, list[Node]] = {}
    for node in graph.ops(*STOCHASTIC_OPS):
        if is_active_dropout(node):
            for bn in downstream(node):
                if uses_running_stats(bn):
                    sources.setdefault(bn.module, []).append(node)
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


def has_probe_targets(graph: Graph) -> bool:
    """Whether the probe runs by default: an active dropout-family op and a running-stats BatchNorm."""
    return any(is_active_dropout(n) for n in graph.ops(*STOCHASTIC_OPS)) and any(
        uses_running_stats(n) for n in graph.ops(Op.BATCHNORM)
    )
