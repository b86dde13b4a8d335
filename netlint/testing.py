"""Helpers for a user's own test suite.

from netlint.testing import assert_clean

def test_model_architecture():
    assert_clean(MyNet(), torch.randn(2, 3, 224, 224))
"""

from __future__ import annotations

import io
from typing import Any

__all__ = ["assert_clean"]


def assert_clean(model: Any, inputs: Any = None, **options: Any) -> None:
    """Fail with the rendered findings when netlint finds anything at or above ``fail_on``.

    ``options`` are those of :func:`netlint.check` (``select``, ``ignore``, ``probe``, ...), plus
    ``fail_on`` ("info", "warning" or "error"; default "warning").
    """
    from .api import check
    from .findings import Severity
    from .report import render

    fail_on = Severity(options.pop("fail_on", "warning"))
    report = check(model, inputs, **options)
    failing = [f for f in report.findings if f.severity.rank >= fail_on.rank]
    if not failing and not report.errors:
        return
    out = io.StringIO()
    render(report, "text", out, color=False)
    raise AssertionError(
        f"netlint found problems in {getattr(model, '__class__', type(model)).__name__}:\n{out.getvalue()}"
    )
