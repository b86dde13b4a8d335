from __future__ import annotations

from collections.abc import Iterator

from netlint.findings import Finding, Rule, Severity
from netlint.graph.ir import Graph


class UnusedSuppression(Rule):
    """
    ## What it does
    Reports a `# netlint: ignore[...]` (or blanket `# netlint: ignore`) comment that suppresses
    nothing: no finding of the named codes points at its line. Only codes that ran are judged
    (`--select NL001` does not make an `ignore[NL002]` look unused), an unknown code is always
    unused, and only files whose every model was checked are looked at. A malformed comment
    (`# netlint:ignore [NL002]`, `ignore NL002`, `ignore[]`) suppresses nothing, never everything,
    and is always reported with the reason.

    ## Why is this bad?
    Suppressions outlive the code they were written for: after a layer is fixed or moved, the
    comment stays and would silently hide a future finding on that line. Like ruff's RUF100, this
    keeps them honest.

    ## Example
    ```python
    self.conv = nn.Conv2d(64, 64, 3, bias=False)  # netlint: ignore[NL002]
    ```

    ## How to fix
    Remove the comment, or the codes in it that no longer suppress anything.

    ## References
    - ruff, RUF100 unused-noqa: https://docs.astral.sh/ruff/rules/unused-noqa/
    """

    code = "NL900"
    name = "unused-suppression"
    severity = Severity.INFO
    summary = "A `# netlint: ignore` comment that suppresses nothing."

    def check(self, graph: Graph) -> Iterator[Finding]:
        return iter(())  # findings come from the engine, which sees every suppression and finding
