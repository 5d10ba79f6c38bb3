"""The project these tests run in: a default bake of the template, set up once (`make test`
names it in CRISP_TEST_PROJECT and runs these tests with its environment's Python).

Helpers to run `crisp` on copies of it (the real notebooks and package), to train a copy once
per session, and to find the processes a run left behind.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
import yaml

PROJECT = Path(os.environ.get("CRISP_TEST_PROJECT", "")).resolve()
PACKAGE: str = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["crisp"]["package"]
COPIED = ("params.yaml", "pyproject.toml", "notebooks", "src")
PARAMS = yaml.safe_load((PROJECT / "params.yaml").read_text(encoding="utf-8"))
PROBLEM_TYPE: str = PARAMS["shared"]["problem_type"]
TARGET: str = PARAMS["shared"]["target"]
KEY_COLUMNS: list[str] = list(PARAMS["data_preparation"]["drop_columns"])
# Small and quick, but the real notebooks: one candidate model, few folds and search steps, in
# one process (the suite runs two pipelines at a time on two cores; parallel fits are tested in
# the project's test_parallel.py).
SMALL_RUN = [
    "--set=shared.n_jobs=1",
    "--set=data_understanding.demo_rows=800",
    "--set=modelling.cv_folds=3",
    "--set=modelling.cv_repeats=1",
    "--set=modelling.search_iterations=2",
    f"--set=modelling.candidates=[{PARAMS['modelling']['candidates'][0]}]",
]

_trained: Path | None = None


def env(root: Path) -> dict[str, str]:
    """Environment of a `crisp` subprocess on the project copy at `root`: its own helper package
    (`root/src`) comes before the one installed in the environment."""
    variables = {k: v for k, v in os.environ.items() if k not in ("CRISP_RUN_DIR", "CRISP_PHASE")}
    paths = [str(root / "src"), *filter(None, variables.get("PYTHONPATH", "").split(os.pathsep))]
    variables["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve()) for p in paths)
    variables["CRISP_PROJECT_ROOT"] = str(root)
    return variables


def crisp_command(*args: str) -> list[str]:
    """The `crisp` command line run by this interpreter."""
    return [sys.executable, "-m", "crisp", *args]


def crisp(
    root: Path,
    *args: str,
    timeout: float = 600,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `crisp ARGS` on the project at `root` (`preexec_fn` runs in the child before it
    starts); returns the finished process."""
    return subprocess.run(
        crisp_command(*args),
        cwd=root,
        env=env(root),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=preexec_fn,
    )


@dataclass
class Started:
    """A `crisp` process running in the background (output goes to temporary files)."""

    process: subprocess.Popen[str]
    stdout: IO[str]
    stderr: IO[str]


def start(root: Path, *args: str) -> Started:
    """Start `crisp ARGS` on `root` in the background; finish it with `wait`."""
    # Files, not pipes: a full pipe would block the process while nobody reads it.
    stdout = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by wait()
    stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by wait()
    process = subprocess.Popen(
        crisp_command(*args), cwd=root, env=env(root), stdout=stdout, stderr=stderr, text=True
    )
    return Started(process, stdout, stderr)


def wait(started: Started, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Wait for a process from `start`: its exit code and output (killed after `timeout`)."""
    try:
        started.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        started.process.kill()
        started.process.wait()
    outputs = []
    for stream in (started.stdout, started.stderr):
        stream.seek(0)
        outputs.append(stream.read())
        stream.close()
    return subprocess.CompletedProcess(started.process.args, started.process.returncode, *outputs)


def trained(factory: pytest.TempPathFactory) -> Path:
    """Root of a project copy on which the pipeline ran up to deployment (v0001 promoted).

    Trained once per test session: under pytest-xdist the first worker that needs it trains it,
    the others wait for it (a lock file) and share it. Treat it as read-only (copy_of_trained)."""
    global _trained
    if _trained is None:
        shared = factory.getbasetemp()
        if os.environ.get("PYTEST_XDIST_WORKER"):
            shared = shared.parent  # the session's folder, above each worker's own
        folder, done = shared / "trained", shared / "trained.done"
        with (shared / "trained.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            if not done.is_file():
                shutil.rmtree(folder, ignore_errors=True)  # a worker's failed attempt
                _train(folder / "project")
                done.touch()
        _trained = folder / "project"
    return _trained


def _train(root: Path) -> None:
    root.mkdir(parents=True)
    for name in COPIED:
        source = PROJECT / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints")
            shutil.copytree(source, root / name, ignore=ignore)
        else:
            shutil.copy2(source, root / name)
    result = crisp(root, "run", *SMALL_RUN, "--to", "05_deployment")
    assert result.returncode == 0, result.stdout + result.stderr


def copy_of_trained(factory: pytest.TempPathFactory, name: str) -> Path:
    """A private copy of the trained project, for tests that change its models."""
    root = factory.mktemp(name) / "project"
    shutil.copytree(trained(factory), root, symlinks=True)
    return root


def kernel_pids(root: Path) -> list[int]:
    """Live processes started for the project at `root` (their environment names it)."""
    marker = f"CRISP_PROJECT_ROOT={root}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in environ.split(b"\0") and state != "Z":
            pids.append(int(entry.name))
    return pids


def wait_until_gone(root: Path, seconds: float = 10.0) -> list[int]:
    """Processes of the project at `root` still alive after up to `seconds`."""
    deadline = time.monotonic() + seconds
    while (pids := kernel_pids(root)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return pids
