"""Fixtures for the template's tests: a clean git copy of the template, an isolated cookiecutter
configuration, and projects baked once per combination of answers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cookiecutter.generate import generate_context
from cookiecutter.main import cookiecutter
from cookiecutter.prompt import prompt_for_config

TEMPLATE_ROOT = Path(__file__).resolve().parents[2]
PROJECT_TEMPLATE = "{{cookiecutter.project_slug}}"
COOKIECUTTER_JSON: dict = json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text())
CHOICES: dict[str, list[str]] = {
    key: value for key, value in COOKIECUTTER_JSON.items() if isinstance(value, list)
}
PROBLEM_TYPES = CHOICES["problem_type"]
LICENSES = CHOICES["open_source_license"]
# Files cookiecutter copies verbatim: they are Jinja templates of the generated project itself.
COPY_WITHOUT_RENDER: list[str] = COOKIECUTTER_JSON.get("_copy_without_render", [])
# Variables that would let the caller's environment leak into a generated project's processes.
LEAKY_ENV = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST")

Bake = Callable[..., Path]


def run(
    args: list[str | Path],
    cwd: Path | None = None,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command with a clean environment (plus `env`), capturing text output; never raises
    on failure."""
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env={**clean_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def clean_env() -> dict[str, str]:
    """This process's environment without the variables that tie a child to this test run."""
    return {key: value for key, value in os.environ.items() if key not in LEAKY_ENV}


def explain(result: subprocess.CompletedProcess[str]) -> str:
    """A failed command's arguments and the tail of its output, for assertion messages."""
    args = " ".join(str(arg) for arg in result.args)
    return f"`{args}` exited {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"


def tracked_files(root: Path) -> list[str]:
    """Files (and symbolic links) git would commit in `root`: tracked or untracked but not
    ignored, still present."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.decode()
    present = (name for name in listed.split("\0") if name)
    return sorted({n for n in present if (root / n).is_file() or (root / n).is_symlink()})


def git_commit_all(repo: Path, message: str) -> str:
    """Stage everything in `repo`, commit it, and return the commit's hash."""
    identity = ["-c", "user.name=Template Tests", "-c", "user.email=tests@example.invalid"]
    for args in (["add", "-A"], [*identity, "commit", "-q", "--no-verify", "-m", message]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True)
    return head.stdout.decode().strip()


def default_answers() -> dict[str, str]:
    """The answers `--no-input` gives: cookiecutter.json's defaults, derived ones rendered."""
    context = generate_context(context_file=str(TEMPLATE_ROOT / "cookiecutter.json"))
    answers = prompt_for_config(context, no_input=True)
    return {key: value for key, value in answers.items() if not key.startswith("_")}


def project_files(project: Path) -> set[str]:
    """Project-relative POSIX paths of every file under `project`."""
    return {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}


def bake_to(template: Path, config: Path, output: Path, **answers: str) -> Path:
    """Bake `template` into `output` with cookiecutter's API, `--no-input` and `answers`."""
    project = cookiecutter(
        str(template),
        no_input=True,
        extra_context=answers,
        output_dir=str(output),
        config_file=str(config),
    )
    return Path(project)


def shared_python() -> Path:
    """Python of the project `make test` set up once (CRISP_TEST_PROJECT): a baked project with the
    same package name runs in it with its own `src` first on PYTHONPATH (`in_shared_env`)."""
    project = os.environ.get("CRISP_TEST_PROJECT", "")
    python = Path(project) / ".venv" / "bin" / "python"
    if not project or not python.is_file():
        pytest.fail("needs the set-up test project: run with `make test` (CRISP_TEST_PROJECT)")
    return python


def in_shared_env(project: Path) -> dict[str, str]:
    """Environment variables that run `project` (baked with the default package name) in the
    shared environment: its own helper package and project root, not the shared project's."""
    return {"PYTHONPATH": str(project / "src"), "CRISP_PROJECT_ROOT": str(project)}


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository holding the template as the working tree has it (tracked + new files).

    Baking from this copy keeps caches and other ignored files out of the projects, and gives cruft
    the committed repository it needs even while the working tree is dirty.
    """
    repo = tmp_path_factory.mktemp("template") / "crisp-ml-template"
    for name in tracked_files(TEMPLATE_ROOT):
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TEMPLATE_ROOT / name, target, follow_symlinks=False)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    git_commit_all(repo, "Template under test")
    return repo


@pytest.fixture(scope="session")
def cookiecutter_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cookiecutter user config that ignores ~/.cookiecutterrc and keeps replays out of $HOME."""
    home = tmp_path_factory.mktemp("cookiecutter-home")
    config = home / "config.yaml"
    config.write_text(
        f"cookiecutters_dir: {json.dumps(str(home / 'cookiecutters'))}\n"
        f"replay_dir: {json.dumps(str(home / 'replay'))}\n"
        "default_context: {}\n"
        "abbreviations: {}\n"
    )
    return config


@pytest.fixture(scope="session")
def bake(
    template: Path, cookiecutter_config: Path, tmp_path_factory: pytest.TempPathFactory
) -> Bake:
    """Bake with cookiecutter's API and `--no-input`; each combination of answers is baked once.

    Callers share the baked project: treat it as read-only.
    """
    baked: dict[tuple[tuple[str, str], ...], Path] = {}

    def _bake(**answers: str) -> Path:
        key = tuple(sorted(answers.items()))
        if key not in baked:
            output = tmp_path_factory.mktemp("bake")
            baked[key] = bake_to(template, cookiecutter_config, output, **answers)
        return baked[key]

    return _bake
