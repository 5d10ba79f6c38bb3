"""The project `make test` set up with the README's own command (`make setup`), as a new user
would: everything imports, JupyterLab starts, and the project's own tests pass.

A dependency the generated pyproject.toml forgets to declare fails here: the environment holds only
what `make setup` installs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
    result = _run([sys.executable, IMPORT_EVERYTHING, PACKAGE, "crisp"])
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {}


def test_jupyterlab_is_installed() -> None:
    _run([PROJECT / ".venv" / "bin" / "jupyter", "lab", "--version"])


def test_the_projects_own_tests_pass() -> None:
    result = _run(["make", "test", "PYTEST_ARGS=-p no:cacheprovider"], timeout=1200)
    assert " passed" in result.stdout and " failed" not in result.stdout
