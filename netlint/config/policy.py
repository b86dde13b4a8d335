"""What the user decided about rules and findings: which rules run, severity overrides, inline
suppressions, configured ignores, and NL900 for suppressions that suppress nothing (applied after
every model is checked)."""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..findings import Finding, Rule
from .suppress import Suppression, suppressions_in

if TYPE_CHECKING:
    from ..options import Options
    from ..results import Report


def apply_policy(report: Report, options: Options, whole_files: set[str]) -> None:
    root = os.path.abspath(options.config_root or os.getcwd())  # per-file globs are relative to it
    used: dict[tuple, set[str]] = defaultdict(set)  # suppression (file, place) -> codes it suppressed
    for model in report.models:
        kept: list[Finding] = []
        for f in model.findings:
            if f.code in options.severity:
                f = dataclasses.replace(f, severity=options.severity[f.code])
            suppression = _suppression_for(f)
            if suppression is not None:
                used[(suppression.file, suppression.place)].add(f.code)
                report.suppressed += 1
                continue
            if _ignored(f, model.file, options, root):
                report.suppressed += 1
                continue
            kept.append(f)
        model.findings = kept
    if any(r.code == "NL900" for r in report.rules):
        _unused_suppressions(report, options, whole_files, used, root)


def _suppression_for(f: Finding) -> Suppression | None:
    if not f.file or not f.line:
        return None
    for s in suppressions_in(os.path.abspath(f.file)):
        if s.place == (f.line, f.cell, f.cell_line) and s.covers(f.code):
            return s
    return None


def _ignored(f: Finding, model_file: str | None, options: Options, root: str) -> bool:
    for glob, codes in options.per_module_ignores.items():
        if matches_code(f.code, f.name, codes) and fnmatch.fnmatchcase(f.module, glob):
            return True
    files = [p for p in (f.file, model_file) if p]
    for glob, codes in options.per_file_ignores.items():
        if not matches_code(f.code, f.name, codes):
            continue
        for path in files:
            relative = os.path.relpath(os.path.abspath(path), root)
            if fnmatch.fnmatch(relative, glob) or fnmatch.fnmatch(os.path.basename(path), glob):
                return True
    return False


def _unused_suppressions(report: Report, options: Options, whole_files: set[str], used, root: str) -> None:
    """NL900 for every malformed suppression in a checked file, and for every suppression in a fully
    checked file that suppressed nothing of what ran."""
    from ..rules import ALL_RULES, UnusedSuppression
    from ..source import relpath

    ran = {r.code for r in report.rules}
    # A blanket suppression can only be judged when every default rule ran.
    judge_blanket = all(r.code in ran for r in ALL_RULES if r.default)
    rule = UnusedSuppression()
    severity = options.severity.get(rule.code, rule.severity)
    first_model = {}
    for model in report.models:
        if model.file:
            first_model.setdefault(os.path.abspath(model.file), model)
    for path in sorted(first_model):
        model = first_model[path]
        whole = path in whole_files
        for s in suppressions_in(path):
            message = _nl900_message(s, used.get((s.file, s.place), set()), ran, judge_blanket, whole)
            if message is None:
                continue
            finding = Finding(
                rule.code, rule.name, severity, "", message,
                "Remove the comment, or the codes in it that no longer suppress anything."
                if not s.problem else "Write it as `# netlint: ignore[NL002]` (codes or rule names, comma-separated).",
                relpath(path), s.line, model=model.name, cell=s.cell, cell_line=s.cell_line,
            )  # fmt: skip
            if _ignored(finding, model.file, options, root):
                continue
            model.findings.append(finding)


def _nl900_message(s: Suppression, hit: set[str], ran: set[str], judge_blanket: bool, whole: bool) -> str | None:
    """Why a suppression is reported, or None. Malformed ones always are; unused ones only in whole files."""
    if s.problem:
        return f"`{s.text}` is malformed and suppresses nothing: {s.problem}."
    if s.codes is None:
        if hit or not judge_blanket or not whole:
            return None
        return f"`{s.text}` suppresses nothing: no finding points at this line."
    stale = sorted(c for c in s.codes if c in ran and c not in hit) if whole else []  # unknown names: always
    if not s.unknown and not stale:
        return None
    parts = []
    if stale:
        parts.append(f"no {', '.join(stale)} finding points at this line")
    if s.unknown:
        parts.append(f"{', '.join(s.unknown)} {'is not a rule' if len(s.unknown) == 1 else 'are not rules'}")
    return f"`{s.text}` suppresses nothing: {'; '.join(parts)}."


def matches_code(code: str, name: str, patterns: Iterable[str]) -> bool:
    """A rule code matches a pattern that is its code, a prefix of it (``NL00``) or its name."""
    return any(code.startswith(p.upper()) or name == p.lower() for p in patterns)


def selected_rules(
    select: Sequence[str] | None = None, ignore: Sequence[str] = (), extend_select: Sequence[str] = ()
) -> list[Rule]:
    """Rules chosen by code prefix (``NL00``) or name; the default set when ``select`` is None."""
    from ..rules import ALL_RULES

    chosen = [
        r for r in ALL_RULES
        if (r.default if select is None else matches_code(r.code, r.name, select))
        or matches_code(r.code, r.name, extend_select)
    ]  # fmt: skip
    return [r() for r in chosen if not matches_code(r.code, r.name, ignore)]
