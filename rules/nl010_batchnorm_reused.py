from __future__ import annotations

import os
from collections.abc import Iterator

from netlint.cells import is_notebook
from netlint.findings import Finding, Rule, Severity
from netlint.graph.ir import Graph, Op
from netlint.source import location, shown_path


def batchnorm_calls(graph: Graph) -> dict[str, list[int]]:
    """Keys in ``graph.calls`` of every call of every BatchNorm layer, by layer path, in call order.

    A BatchNorm subclass that calls ``F.batch_norm`` itself (timm's BatchNormAct2d) counts by its
    own calls, as a torch BatchNorm does.
    """
    out: dict[str, list[int]] = {}
    for node in graph.ops(Op.BATCHNORM):
        call = graph.calls.get(node.call) if node.call is not None else None
        own = node.kind == "module" or (node.params.get("layer_type") and call is not None)
        if not own or call is None or call.module != node.module:
            continue
        keys = out.setdefault(node.module, [])
        if node.call not in keys:
            keys.append(node.call)
    return out


class BatchNormReused(Rule):
    """
    ## What it does
    Finds a BatchNorm module called more than once per call of the module that owns it: the
    nearest ancestor that is actually called (a BatchNorm in a `ModuleList` is owned by the module
    that iterates it). Calls are counted as they happen, so a BatchNorm in both arms of an `if`
    is called once. One BatchNorm object registered in two blocks (`block_a.bn is block_b.bn`)
    and called by both is reported too. A whole block or backbone called several times (Siamese
    towers, weight-shared recurrent blocks) calls each of its BatchNorms once per call of its
    owner: not reported.

    ## Why is this bad?
    A BatchNorm is not a stateless function: in training it updates running mean and variance
    with every call, and at inference it normalises with them. Called on the outputs of two
    different layers (`x = self.bn(self.conv1(x)); x = self.bn(self.conv2(x))`), its running
    statistics average two different distributions and fit neither, so the model behaves
    differently in `eval()` than in training; its affine scale and shift are also shared by two
    layers that would each learn their own. The usual cause is a copy-paste that forgot to create
    the second layer.

    ## Example
    ```python
    def forward(self, x):
        x = F.relu(self.bn(self.conv1(x)))
        x = F.relu(self.bn(self.conv2(x)))   # NL010: self.bn again
        return x
    ```

    ## How to fix
    Give each call its own layer (`self.bn1`, `self.bn2`; one BatchNorm per conv in a loop, kept in
    an `nn.ModuleList`). If the sharing is intended (a shared block), share the whole block, so
    that each of its calls normalises the same kind of features.

    ## References
    - S. Ioffe, C. Szegedy. "Batch Normalization: Accelerating Deep Network Training by Reducing
      Internal Covariate Shift", ICML 2015, section 3.1 (statistics per activation, fixed at
      inference). https://arxiv.org/abs/1502.03167
    - PyTorch documentation, `torch.nn.BatchNorm2d` (running statistics updated on every call in
      training mode). https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html
    """

    code = "NL010"
    name = "batchnorm-reused"
    severity = Severity.WARNING
    summary = "One BatchNorm module called more than once per call of the module that owns it."

    def check(self, graph: Graph) -> Iterator[Finding]:
        first = {}
        for node in graph.ops(Op.BATCHNORM):
            first.setdefault(node.module, node)
        for path, keys in batchnorm_calls(graph).items():
            calls = [graph.calls[k] for k in keys]
            parents = [c.parent for c in calls]
            owners = sorted({graph.calls[p].module for p in parents if p in graph.calls})
            per_owner_call = max(parents.count(p) for p in parents)
            if per_owner_call < 2 and len(owners) < 2:
                continue
            node = first[path]
            lines = []
            for c in calls:
                if c.file is not None and is_notebook(c.file):  # "nb.ipynb:cell 3:7"
                    where = os.path.basename(location(c.file, c.line))
                elif c.file == node.file or c.file is None:
                    where = str(c.line)
                else:
                    where = f"{os.path.basename(c.file)}:{c.line}"
                if where not in lines:
                    lines.append(where)
            owner_text = ", ".join(shown_path(o) for o in owners)
            if per_owner_call >= 2:
                how = f"is called {per_owner_call} times per call of {owner_text}"
            else:
                how = f"is shared by {len(owners)} modules that each call it ({owner_text})"
            kind = node.params.get("layer_type") or node.type_name
            yield self.finding(
                node,
                f"{kind} {shown_path(path)} {how}, at line{'s' if len(lines) > 1 else ''} {', '.join(lines)}: "
                f"its running statistics average the distributions of different layers and fit none of them, and "
                f"its affine parameters are shared.",
                "Give each call its own BatchNorm (e.g. bn1 and bn2, or one per iteration in an nn.ModuleList).",
                related=owners,
                calls=len(calls),
                calls_per_owner_call=per_owner_call,
                lines=lines,
            )
