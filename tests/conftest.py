from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXAMPLES = ROOT / "examples"
RULE_EXAMPLES = ROOT / "rules" / "examples"


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch):
    """Paths in reports are relative to the working directory: keep it fixed."""
    monkeypatch.chdir(ROOT)


def run_netlint(*args: str, cwd: Path | str = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real command line in a fresh process, as a user or CI would."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "netlint", *args], cwd=cwd, capture_output=True, text=True, env=full_env, timeout=300
    )


@pytest.fixture(scope="session")
def examples_json_pair() -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    """Two identical probed JSON runs over examples/ and a model with random blocks.

    Shared by the byte-identity test (formats) and the determinism test (state): one pair of the
    most expensive CLI runs serves both (with pytest-xdist, once per worker that needs it).
    """
    probe = ("--probe", "--probe-budget", "0")  # no time budget: it may cut the batch on a loaded machine
    args = ("check", str(EXAMPLES), str(FIXTURES / "active_blocks.py"), *probe, "--format", "json")
    return run_netlint(*args), run_netlint(*args)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
