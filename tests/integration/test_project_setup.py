"""The project `make test` set up with the README's own command (`make setup`), as a new user
would: everything imports, and the project's own tests pass (among them, `make lab` starts
JupyterLab).

A dependency the generated pyproject.toml forgets to declare fails here: the environment holds only
what `make setup` installs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sklearn

from shared_project import PACKAGE, PROJECT

pytestmark = pytest.mark.slow
IMPORT_EVERYTHING = Path(__file__).resolve().parents[1] / "import_everything.py"


def _run(args: list[str | Path], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args], cwd=PROJECT, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (
        f"{args} exited {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result


def test_setup_installed_the_runner_and_every_module_imports() -> None:
    assert (PROJECT / ".venv" / "bin" / "crisp").is_file()
    # Set up byte-compiled: a module nobody imports has its .pyc all the same.
    unused = Path(sklearn.__file__).parent / "experimental" / "enable_halving_search_cv.py"
    assert Path(importlib.util.cache_from_source(str(unused))).is_file(), "not byte-compiled"
    result = _run([sys.executable, IMPORT_EVERYTHING, PACKAGE, "crisp"])
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {}


def test_the_projects_own_tests_pass() -> None:
    result = _run(["make", "test", "PYTEST_ARGS=-p no:cacheprovider"], timeout=1200)
    assert " passed" in result.stdout and " failed" not in result.stdout


def test_a_copied_project_says_whose_environment_it_has_until_make_setup_rebuilds_it(
    tmp_path: Path,
) -> None:
    """`cp -a` of a set-up project: crisp in the copy stops with one line (the environment belongs
    to another folder, run `make setup`); `make setup` builds it again, then crisp works there."""
    copy = tmp_path / "copy"
    copy.mkdir()
    for entry in PROJECT.iterdir():  # cp -a; the environment's files hard-linked (no disk cost)
        flags = "-al" if entry.name == ".venv" else "-a"
        subprocess.run(["cp", flags, str(entry), str(copy / entry.name)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRISP_")}
    # Only `crisp status` runs in the rebuilt environment: byte-compiling it all is not needed.
    env["UV_COMPILE_BYTECODE"] = "0"
    crisp = [str(copy / ".venv" / "bin" / "crisp"), "status"]
    stopped = subprocess.run(crisp, cwd=copy, env=env, capture_output=True, text=True, check=False)
    assert stopped.returncode == 2, stopped.stdout + stopped.stderr
    assert stopped.stderr.count("\n") == 1, stopped.stderr
    assert "the environment belongs to another folder" in stopped.stderr
    assert f"not from this project ({copy})" in stopped.stderr
    assert "run `make setup` here" in stopped.stderr
    setup = subprocess.run(
        ["make", "setup"], cwd=copy, env=env, capture_output=True, text=True, timeout=1200
    )
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    assert f".venv was built for {PROJECT} (this project was copied or moved)" in setup.stdout
    works = subprocess.run(crisp, cwd=copy, env=env, capture_output=True, text=True, check=False)
    assert works.returncode == 0, works.stdout + works.stderr
    again = subprocess.run(["make", "setup"], cwd=copy, env=env, capture_output=True, text=True)
    assert "building it again" not in again.stdout, "rebuilt although it is the copy's own now"
