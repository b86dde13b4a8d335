"""Targets into results: plain files settled here from their syntax trees, the rest in one worker per target, the report assembled in target order."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Sequence

from ..errors import NetlintError
from ..findings import Rule
from ..load.targets import display_target, is_source_file, target_path
from ..options import Options
from ..results import Report, TargetResult
from .pipeline import check_target


def check_targets(targets: Sequence[str], options: Options | None = None) -> Report:
    """Check every model of every target; bad input becomes an error entry, not an exception.

    With ``options.isolate`` (the default) user code runs only in worker processes, one per
    target (``netlint.run.worker``); the report is assembled here in target order, so its bytes do
    not depend on ``options.jobs``.
    """
    from ..config.policy import selected_rules
    from ..load.losses import losses_in_sight, target_files

    options = options or Options()
    # NL013: the losses the checked files use, read from their syntax trees here, once, for every worker.
    options = dataclasses.replace(options, losses=options.losses | losses_in_sight(target_files(targets)))
    rules = selected_rules(options.select, options.ignore, options.extend_select)
    report = Report(rules=rules, fail_on=options.fail_on)
    device = _device_error(options)
    if device is not None:  # bad input, said once; the static checks still run
        report.errors.append(device)
        options = dataclasses.replace(options, probe=False)
    if options.isolate:
        results = _isolated(targets, options, rules, report)
    else:
        results = [check_target(t, options, rules) for t in targets]
    whole_files: set[str] = set()  # files all of whose models were checked: their suppressions are judged
    for result in results:
        report.files += result.files
        report.notes.extend(n for n in result.notes if n not in report.notes)  # a note once per file
        report.errors.extend(result.errors)
        report.models.extend(result.models)
        whole_files.update(result.whole_files)
    from ..config.policy import apply_policy

    apply_policy(report, options, whole_files)
    return report


def _device_error(options: Options) -> NetlintError | None:
    """A ``--device`` this machine lacks (cuda, cuda:N, mps), found before any work; None when fine.

    Imports torch only for such a device (plain files stay torch-free) and never initialises CUDA:
    the workers are forked afterwards.
    """
    if options.probe is False or str(options.device) in ("auto", "cpu"):
        return None
    from ..probing.shift import device_problem
    from .pipeline import DEVICE_HINT

    problem = device_problem(options.device)
    return (
        NetlintError(f"--device {options.device}", f"{problem}; the probe did not run.", DEVICE_HINT)
        if problem
        else None
    )


def _isolated(targets: Sequence[str], options: Options, rules: Sequence[Rule], report: Report) -> list[TargetResult]:
    """Targets that need no user code are settled here; every other one gets its own worker."""
    from . import worker

    fresh = "torch" not in sys.modules if options.fresh_torch is None else options.fresh_torch
    slots: list[TargetResult | None] = []
    units: list[tuple[int, worker.Unit]] = []
    for target in targets:
        for unit, settled in _units(target, options, rules):
            slots.append(settled)
            if settled is None:
                units.append((len(slots) - 1, unit))
    if units:
        # Shared work pays off only when several workers share it; one worker (a pre-commit run on
        # one file) imports torch itself and leaves the parent torch-free.
        if worker.start_method() == "fork" and len(units) > 1:
            with contextlib.suppress(Exception):  # no torch here: each worker reports that for its target
                worker.prepare_parent()
        cores = os.cpu_count() or 1
        jobs = min(options.jobs or cores, len(units))
        # A parent that ran torch operations before forking has a thread pool that a forked child
        # cannot use: such children compute with one thread. Otherwise the cores are shared among the
        # targets, never among the jobs: float sums depend on the thread count, and the report's bytes
        # must not depend on --jobs.
        threads = 1 if not fresh else max(1, cores // min(len(units), cores))

        def error(unit: worker.Unit, what: str, where: worker.Where, why: str = "", hint: str = "") -> TargetResult:
            if what.startswith("did not finish"):
                hint = (
                    "Look for an endless loop or a very large input there; raise the limit with --timeout "
                    f"(or [tool.netlint] timeout), now {options.timeout:g} s."
                )
            message = f"{what} {where.describe()}" + (f": {why}" if why else "") + "."
            return TargetResult(errors=[NetlintError(display_target(unit.target), message, hint)],
                                files=is_source_file(unit.target))  # fmt: skip

        progress = None
        if options.progress and len(units) > 1:  # one bar for the whole run; none per probe in the workers
            from ..progress import Progress

            counted = "files" if all(is_source_file(u.target) for _, u in units) else "targets"
            progress = Progress("checking", counted, options.progress)
            options = dataclasses.replace(options, progress=None)
        try:
            run = worker.run_units([u for _, u in units], check_target, options, rules, jobs=jobs, timeout=options.timeout,
                                   threads=threads, error=error, progress=progress)  # fmt: skip
        finally:
            if progress is not None:
                progress.close()
        for (slot, unit), result in zip(units, run.results):
            if result is None:
                result = TargetResult(
                    errors=[NetlintError(display_target(unit.target), "not checked: interrupted (Ctrl-C).")],
                    files=is_source_file(unit.target),
                )
            slots[slot] = result
        report.interrupted = run.interrupted
    return [s for s in slots if s is not None]


def _units(target: str, options: Options, rules: Sequence[Rule]):
    """Each unit of a target with its result when that needs no user code (else None).

    A directory becomes one unit per file, so that same-named modules of two folders never meet
    in one process (unless it holds only plain files); a file or a package target is one unit.
    """
    from ..load.targets import package_root, walk_python_files
    from .worker import Unit

    path, is_module = target_path(target)
    if is_module:
        return [(Unit(target, options.strict), None)]
    if os.path.isdir(path):
        root = os.path.abspath(path)
        whole = Unit(target, options.strict, (root,))
        settled = _without_user_code(whole, options, rules)
        if settled is not None:
            return [(whole, settled)]  # a folder of plain files: settled at once, by the loader's own rules
        walk = walk_python_files(path)
        units = [Unit(f, False, (root, package_root(f)[0])) for f in walk.files]
        # What the walk could not use is named first, as the folder's own notes.
        skipped = [(whole, TargetResult(notes=list(walk.skipped)))] if walk.skipped else []
        return skipped + [(unit, _without_user_code(unit, options, rules)) for unit in units]
    else:
        folder = os.path.dirname(os.path.abspath(path))
        units = [Unit(target, options.strict, (folder, package_root(path)[0]))]
    return [(unit, _without_user_code(unit, options, rules)) for unit in units]


def _without_user_code(unit, options: Options, rules) -> TargetResult | None:
    """The unit's result if it can be had without importing user code (a plain file), else None."""
    from ..load.models import ImportForbidden, user_imports_forbidden

    if target_path(unit.target)[1]:
        return None
    try:
        with user_imports_forbidden():
            return check_target(unit.target, options, rules, strict=unit.strict)
    except ImportForbidden:
        return None
