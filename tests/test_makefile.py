"""The Makefile a newcomer types: `make help` lists the targets, `make run`
installs the runtime only (with progress), `make test` the dev tools on top.

The recipes are read with `make -n` (print, do not run) against a virtual
environment that does not exist, so every install step shows."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def make(*args: str) -> str:
    done = subprocess.run(  # noqa: S603 - fixed arguments
        ["make", "--no-print-directory", *args],  # noqa: S607 - make from PATH
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout


def test_make_without_a_target_lists_every_target_with_its_purpose():
    listed = make()
    assert listed == make("help")
    for target in ("run", "demo", "test", "lint", "newman", "bench", "lock", "clean"):
        line = next((x for x in listed.splitlines() if f"make {target} " in x), None)
        assert line is not None, f"make help does not list {target}"
        assert len(line.split(None, 2)[2]) > 10, f"{target} has no description"


def test_make_run_installs_the_runtime_lock_only_and_shows_progress(tmp_path):
    recipe = make("-n", f"VENV={tmp_path / 'venv'}", "run")
    installs = [line for line in recipe.splitlines() if "pip install" in line]
    assert len(installs) == 1, recipe
    assert "--require-hashes -r requirements.lock" in installs[0]
    assert "--progress-bar on" in installs[0]
    assert "requirements-dev" not in recipe
    assert "run.py" in recipe.splitlines()[-1]


def test_make_test_adds_the_dev_lock_and_runs_the_suite_in_parallel(tmp_path):
    recipe = make("-n", f"VENV={tmp_path / 'venv'}", "test")
    installs = [line for line in recipe.splitlines() if "pip install" in line]
    assert [x.split()[-1] for x in installs] == [
        "requirements.lock", "requirements-dev.lock"
    ]  # fmt: skip
    assert "ruff check ." in recipe
    assert recipe.splitlines()[-1].endswith("-m pytest -n 2 --dist loadfile")
