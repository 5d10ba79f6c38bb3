"""What the benchmarks share: baking the template, a baked project's package name, its environment
and its interpreter.

The benchmarks run from the template's own .venv (cookiecutter, no ML stack); the project's code
runs in a virtual environment with the project's dependencies, created here with uv when the
project has none (`make setup` in the project makes the same one).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]


class ProjectEnvError(RuntimeError):
    """The project's environment cannot be found or created."""


def bake(output_dir: Path, **answers: str) -> Path:
    """The template baked into `output_dir` with its default answers (and `answers`).

    Cookiecutter leaves each hook script it renders in the temporary folder: here that is a
    folder of its own, removed after the bake.
    """
    from cookiecutter.main import cookiecutter

    output_dir.mkdir(parents=True, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="hooks-", dir=output_dir)
    saved, tempfile.tempdir = tempfile.tempdir, scratch
    try:
        return Path(
            cookiecutter(
                str(TEMPLATE), no_input=True, output_dir=str(output_dir), extra_context=answers
            )
        )
    finally:
        tempfile.tempdir = saved
        shutil.rmtree(scratch, ignore_errors=True)


def package_of(root: Path) -> str:
    """Name of the project's helper package (`[tool.crisp] package` in its pyproject.toml)."""
    try:
        config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
        return str(config["tool"]["crisp"]["package"])
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise ProjectEnvError(
            f"{root} is not a generated project: no [tool.crisp] package in its pyproject.toml "
            f"({exc})"
        ) from None


def crisp_command(python: Path) -> list[str]:
    """The `crisp` command of the project's environment (the runner, runner/ in the project)."""
    return [str(python), "-m", "crisp"]


def run_env(root: Path) -> dict[str, str]:
    """Environment for `crisp` on `root`: its package importable first, the project root set."""
    variables = {k: v for k, v in os.environ.items() if k not in ("CRISP_RUN_DIR", "CRISP_PHASE")}
    variables["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(root / "src"), variables.get("PYTHONPATH", "")])
    )
    variables["CRISP_PROJECT_ROOT"] = str(root)
    return variables


def project_python(root: Path, venv: Path | None = None) -> Path:
    """The interpreter of `venv` (default: the project's .venv), created with uv if missing.

    The runner (runner/) and the project are installed editable, the project with its dev
    extras; copies of the project run with this interpreter too, because `run_env` puts the
    copy's own src/ first on the path.
    """
    venv = venv or root / ".venv"
    python = venv / "bin" / "python"
    if (venv / ".crisp-bench-ready").exists() or (venv / "bin" / "crisp").exists():
        return python
    started = time.perf_counter()
    uv = [sys.executable, "-m", "uv"]
    for command in (
        [*uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
        [
            *uv,
            "pip",
            "install",
            "--quiet",
            "--compile-bytecode",
            "--python",
            str(python),
            "-e",
            str(root / "runner"),
            "-e",
            f"{root}[dev]",
        ],
    ):
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ProjectEnvError(
                f"creating the project's environment failed: {' '.join(command)}\n{result.stderr}"
            )
    (venv / ".crisp-bench-ready").touch()
    print(f"project environment ready in {time.perf_counter() - started:.1f} s: {venv}")
    return python
