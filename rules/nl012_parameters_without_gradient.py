from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from netlint.findings import Finding, Rule, Severity
from netlint.graph.ir import Graph, Node, Op, format_count
from netlint.graph.queries import differentiable_producers, random_decisions


def _ancestors(path: str) -> list[str]:
    """``a.b.weight`` -> ``["", "a", "a.b"]``: the modules that own a parameter, outermost first."""
    parts = path.split(".")
    return ["", *(".".join(parts[:i]) for i in range(1, len(parts)))]


class ParametersWithoutGradient(Rule):
    """
    ## What it does
    Finds trainable parameters (`requires_grad=True`) that no output of the model depends on
    differentiably in training mode: a layer that forward never calls, or whose output is used only
    through `.detach()`, `.data`, `torch.no_grad()`, an integer cast, `argmax`, a comparison, or only
    for its shape. Every tensor of tuple, list and dict outputs counts (auxiliary heads returned in
    training mode train). A custom `torch.autograd.Function` is differentiable as its backward says,
    whatever its forward computes with gradients off: its outputs carry a gradient to every argument
    except those its backward always returns a literal `None` for, and except the outputs its forward
    marks non-differentiable. One finding per outermost module whose trainable parameters are all
    affected (a lone `nn.Parameter` at its own path), with the parameter count; a model whose
    outputs carry no gradient at all (it returns indices) is one finding at the root. Not reported:
    frozen parameters, buffers, a stop-gradient branch when the same parameters also reach an output
    differentiably (SimSiam, BYOL), blocks that a random draw skips in some steps (stochastic
    depth: they train whenever they run), layers that a forward calls or not as tensor values
    decide (the experts a router did not pick for the example input, in a run on real values: the
    code that calls them is gated by a `bool()`, `.item()`, `nonzero()` or one-argument `where` on
    the lines that ran, read from the source), and layers that code netlint did not run refers to,
    read from the source: a branch of the model's `forward` on a target argument netlint left at
    its default (`if labels is not None:` around an auxiliary head's loss, or a value kept for such
    a branch; a target is an argument that reaches a loss: a call named `*loss*`, `cross_entropy`,
    `criterion`), and the model's other methods (a LightningModule's `training_step` calling a
    projection head), but not methods that only `__init__` calls. A branch on another optional
    input (`bool_masked_pos`, `token_type_ids`), in `forward` or in a submodule it passes the
    argument to, is an info that names the argument: those parameters train only if training
    passes it (DINOv2's mask token in pre-training); one info per argument. A layer that no code
    refers to, or that only a flag of the instance switches on (`if self.use_aux:`), is still
    reported; a submodule's branch on its own argument is judged by the recorded call alone (a
    mask token that no caller masks is found).

    ## Why is this bad?
    These parameters never change: the optimizer keeps state for them, they are saved and loaded,
    and they may be what the author meant to train (a head wired through `.detach()` by mistake, a
    layer defined but forgotten in forward). `DistributedDataParallel` fails on them with "Expected
    to have finished reduction in the prior iteration" unless `find_unused_parameters=True`, which
    costs an extra graph traversal every step.

    ## Example
    ```python
    def __init__(self):
        self.features = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU())
        self.aux = nn.Linear(16, 10)        # NL012: never called
        self.gate = nn.Linear(16, 1)        # NL012: used only through a comparison

    def forward(self, x):
        h = self.features(x).mean((2, 3))
        keep = self.gate(h) > 0             # no gradient flows through `>`
        return self.fc(h) * keep
    ```

    ## How to fix
    Call the layer, or delete it. The info on an optional input: nothing to do if training passes
    it (silence it with `# netlint: ignore[NL012]` on the parameter's line, or check the model
    with that input through `example_inputs()`); if training never passes it, as for the warning. If it is meant to stay fixed, freeze it (`requires_grad_(False)`)
    so that optimizers and DDP skip it. If a value must not back-propagate, make sure the
    parameters still get a gradient another way; to learn a hard gate, use a straight-through
    estimator (`hard + soft - soft.detach()`) or a relaxation (Gumbel-softmax) instead of a
    comparison or `argmax`.

    ## References
    - PyTorch documentation, DistributedDataParallel, `find_unused_parameters`.
      https://pytorch.org/docs/stable/generated/torch.nn.parallel.DistributedDataParallel.html
    - PyTorch documentation, "Autograd mechanics": locally disabling gradient computation.
      https://pytorch.org/docs/stable/notes/autograd.html
    - Y. Bengio, N. Léonard, A. Courville. "Estimating or Propagating Gradients Through Stochastic
      Neurons for Conditional Computation", 2013 (the straight-through estimator).
      https://arxiv.org/abs/1308.3432
    """

    code = "NL012"
    name = "parameters-without-gradient"
    severity = Severity.WARNING
    summary = "Trainable parameters that no output depends on differentiably never train."

    def check(self, graph: Graph) -> Iterator[Finding]:
        outputs = [i for out in graph.ops(Op.OUTPUT) for i in out.inputs]
        if not outputs:
            return
        alias_of = {p.path: p.alias for p in graph.parameters}
        numel = {p.alias: p.numel for p in graph.parameters}
        under: dict[str, set[str]] = {}  # module path -> trainable parameters below it
        for p in graph.parameters:
            if p.trainable:
                for owner in _ancestors(p.path):
                    under.setdefault(owner, set()).add(p.alias)
        if not under:
            return
        reached = set()
        for node in differentiable_producers(graph):
            reached |= self._owned(node, alias_of, under)
        skipped = {a for d in random_decisions(graph) for a in under.get(d.module, ())}
        # Code the recorded forward did not run may train them (another method, experts a router did not
        # pick this time: graph/unrun.py, graph/routing.py); a branch on an argument left at its default
        # trains them only when it is passed: said at info severity, with the argument.
        elsewhere = self._covered(graph, graph.context.get("trained_elsewhere", {}))
        when = graph.context.get("trained_when_passed", {})
        optional = self._covered(graph, when)
        affected = under[""] - reached - skipped - elsewhere
        yield from self._groups(graph, affected - optional, under, alias_of, numel)
        # One finding per argument that would train them (each layer of a stack reads the same one).
        by_why: dict[str, list[Finding]] = {}
        for finding in self._groups(graph, affected & optional, under, alias_of, numel):
            by_why.setdefault(_when(finding.module, when), []).append(finding)
        for why, findings in by_why.items():
            yield _when_passed(findings, why)

    @staticmethod
    def _covered(graph: Graph, paths) -> set[str]:
        paths = tuple(paths)
        return {p.alias for p in graph.parameters if any(p.path == c or p.path.startswith(c + ".") for c in paths)}

    def _groups(self, graph, affected, under, alias_of, numel) -> Iterator[Finding]:
        """One finding per outermost module whose trainable parameters are all in ``affected``."""
        reported: set[str] = set()
        for p in graph.parameters:
            if p.path != p.alias or p.alias not in affected:
                continue
            place = next((m for m in _ancestors(p.path) if under[m] <= affected), p.path)
            if place in reported:
                continue
            reported.add(place)
            group = under.get(place, {p.alias})
            yield self._finding(graph, place, group, sum(numel[a] for a in group), alias_of, under)

    @staticmethod
    def _owned(node: Node, alias_of: dict[str, str], under: dict[str, set[str]]) -> set[str]:
        """The trainable parameters a node uses: a parameter read in forward, or those of a called layer."""
        if node.op == Op.PARAM:
            alias = alias_of.get(node.target)
            return {alias} if alias is not None else set()
        if node.kind == "module":
            return under.get(node.module, set())
        return set()

    def _finding(self, graph: Graph, place: str, group: set[str], count: int, alias_of, under) -> Finding:
        owners = [n for n in graph.nodes if self._owned(n, alias_of, under) & group]
        kind, reason, line_node = _why(graph, owners, root=place == "")
        what = "The model" if place == "" else f"{place}"
        plural = "s never get" if count != 1 else " never gets"
        message = f"{what}: {format_count(count)} trainable parameter{plural} a gradient in training mode: {reason}."
        if place == "":
            message = f"No output of the model depends differentiably on its parameters: {reason}."
            fix = "Return the values the loss needs (logits, not their argmax or a detached copy)."
        elif kind == "never used":
            fix = "Call the layer in forward, delete it, or freeze it with requires_grad_(False)."
        else:
            fix = "Let its output reach an output differentiably, or freeze it with requires_grad_(False)."
        file, line, origin = graph.locations.get(place, (None, None, None))
        if file is None and line_node is not None:
            file, line, origin = line_node.file, line_node.line, line_node.origin
        return Finding(self.code, self.name, self.severity, place, message, fix, file, line, (),
                       f"{origin[0]}:{origin[1]}" if origin else None,
                       data={"parameters": count, "reason": kind})  # fmt: skip


def _when(place: str, when: dict[str, str]) -> str:
    return next(
        w for k, w in sorted(when.items()) if k == place or k.startswith(place + ".") or place.startswith(k + ".")
    )


def _when_passed(findings: list[Finding], why: str) -> Finding:
    """Parameters that forward uses only when an argument left at its default is passed: one info."""
    first, others = findings[0], tuple(f.module for f in findings[1:])
    count = sum(f.data["parameters"] for f in findings)
    what = first.module + (f" and {len(others)} more like it" if others else "")
    plural = "s are" if count != 1 else " is"
    message = (
        f"{what}: {format_count(count)} trainable parameter{plural} not used with the inputs checked; "
        f"{why.replace(' uses it when ', ' uses them only when ')}, so they train only if training passes it."
    )
    fix = "Nothing to do if training passes that argument; otherwise delete the layer or freeze it."
    data = {**first.data, "parameters": count, "reason": "optional input"}
    return dataclasses.replace(
        first, severity=Severity.INFO, message=message, fix=fix, related=first.related + others, data=data
    )


def _why(graph: Graph, owners: list[Node], root: bool) -> tuple[str, str, Node | None]:
    """``(kind, explanation, a node to point at)`` for parameters whose uses reach no output differentiably."""
    if not owners:
        return "never used", "forward never calls or reads them", None
    live = [n for n in owners if n.grad is not False]
    if not live:
        return "no_grad", f"used only where gradients are off ({owners[0].label}, torch.no_grad())", owners[0]
    seen = {n.index for n in live}
    frontier = [u for n in live for u in n.users]
    cuts: list[Node] = []
    while frontier:
        node = frontier.pop()
        if node.index in seen or not node.is_tensor:
            continue
        seen.add(node.index)
        if node.grad is False:
            cuts.append(node)
            continue
        frontier.extend(node.users)
    if cuts:
        first = min(cuts, key=lambda n: n.index)
        return "cut", f"every use passes {_describe(first)}, which carries no gradient", first
    if root:
        return "no output", "the outputs carry no gradient", None
    return "dead end", "its output reaches no model output (only discarded values, control flow or shapes)", live[0]


def _describe(node: Node) -> str:
    """``detach()``, ``.data``, ``argmax()``, ``gt()`` (a comparison)..."""
    if node.params.get("autograd_function"):
        return f"{node.params['autograd_function']}.apply() ({node.params['why']})"
    if node.kind == "function" and node.type_name == "getattr" and len(node.args) > 1:
        return f".{node.args[1]}"
    if node.kind in ("function", "method"):
        return f"{node.type_name.strip('_')}()"
    return node.label
