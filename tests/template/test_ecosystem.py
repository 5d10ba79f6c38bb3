"""The ecosystem around a generated project: template updates through cruft, the uv and pip
environment managers, notebooks in git (nbdime, nbstripout, pre-commit, `make diff`), and the CI
workflow.

The full `make test` of a uv project set up from scratch is the job of
tests/integration/test_project_setup.py (uv is the default); here a uv project is set up once for
the lock and git-integration tests, and a pip project is set up from scratch, imports everything
and runs its parameter tests through `make test`. A third environment holds every
dependency at the lowest version the project and its runner allow, and runs the fast tests there.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version
from uv import find_uv_bin

from conftest import (
    CHOICES,
    PROJECT_TEMPLATE,
    Bake,
    bake_to,
    clean_env,
    default_answers,
    explain,
    git_commit_all,
)

ENVIRONMENT_MANAGERS = CHOICES["environment_manager"]
IMPORT_EVERYTHING = Path(__file__).resolve().parents[1] / "import_everything.py"
# A set-up from scratch waits on the package index: pip with a cold cache took 214 s, 614 s and
# more than 900 s in three runs on the same machine (its own group: no other test waits for it).
SETUP_TIMEOUT = 2400
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
GIT_IDENTITY = ["-c", "user.name=Template Tests", "-c", "user.email=tests@example.invalid"]
# Prints {name: installed version} of the distributions named on its command line.
INSTALLED_VERSIONS = """\
import json, sys
from importlib.metadata import version
print(json.dumps({name: version(name) for name in sys.argv[1:]}))"""


@functools.cache
def uv_only_dir() -> Path:
    """A folder holding nothing but a link to the template's own uv (removed at exit)."""
    folder = Path(tempfile.mkdtemp(prefix="uv-only-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    (folder / "uv").symlink_to(find_uv_bin())
    return folder


def tool_env(with_uv: bool) -> dict[str, str]:
    """A clean environment; with `with_uv`, uv (and only uv) comes first on PATH, as a user's
    installed uv would (the uv cache stays the user's, shared between tests)."""
    env = clean_env()
    # A UV variable would override the Makefile's own lookup of uv.
    env.pop("UV", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # see make_setup
    if with_uv:
        env["PATH"] = f"{uv_only_dir()}{os.pathsep}{env.get('PATH', '')}"
    return env


def sh(
    args: list[str | Path], cwd: Path, with_uv: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run a command in `cwd` with `tool_env`, capturing text output; never raises on failure."""
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=tool_env(with_uv),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def git(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A git command in `project` with a fixed identity."""
    return sh(["git", *GIT_IDENTITY, *args], cwd=project)


def make_setup(project: Path, with_uv: bool) -> subprocess.CompletedProcess[str]:
    """`make setup` (from scratch or again) with this interpreter as the base Python. It leaves
    out byte-compiling the whole environment (tested on the project `make test` set up): the few
    commands run here write the .pyc files of what they import (`tool_env`)."""
    no_compile = ["UV_COMPILE_BYTECODE=0"] if with_uv else ["PIP_NO_COMPILE=0"]  # pip: "0" = off
    setup = sh(
        ["env", *no_compile, "make", "setup", f"PYTHON={sys.executable}"],
        project,
        with_uv,
        timeout=SETUP_TIMEOUT,
    )
    assert setup.returncode == 0, explain(setup)
    return setup


# --- environment managers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def uv_project(
    template: Path, cookiecutter_config: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """A uv project in its own git repository, set up with `make setup`, all files committed."""
    project = bake_to(
        template, cookiecutter_config, tmp_path_factory.mktemp("uv"), environment_manager="uv"
    )
    assert git(project, "init", "-q", "-b", "main").returncode == 0
    make_setup(project, with_uv=True)
    committed = git(project, "add", "-A")
    assert committed.returncode == 0, explain(committed)
    committed = git(project, "commit", "-q", "--no-verify", "-m", "Baked and set up")
    assert committed.returncode == 0, explain(committed)
    yield project


@pytest.fixture
def project(uv_project: Path) -> Iterator[Path]:
    """The shared uv project, put back to its committed state after the test."""
    yield uv_project
    # Refresh the index first, so that reset rewrites only files whose content changed: a rewritten
    # pyproject.toml would make the next `make` target set up the environment again.
    git(uv_project, "update-index", "-q", "--refresh")
    git(uv_project, "reset", "-q", "--hard")
    git(uv_project, "clean", "-q", "-fd")


@pytest.mark.slow
def test_uv_setup_writes_the_lock_and_setup_reuses_it(project: Path) -> None:
    lock = project / "uv.lock"
    assert lock.is_file(), "make setup with uv must write uv.lock"
    slug = default_answers()["project_slug"]
    assert f'name = "{slug}"' in lock.read_text()
    assert "uv.lock" in git(project, "ls-files").stdout.split(), "uv.lock is ignored by git"
    python = project / ".venv" / "bin" / "python"
    imported = sh([python, "-c", f"import {default_answers()['package_name']}"], project)
    assert imported.returncode == 0, explain(imported)

    # A changed pyproject.toml makes setup run again; the lock stays as it was (same answers).
    before = lock.read_bytes()
    (project / "pyproject.toml").touch()
    again = make_setup(project, with_uv=True)
    assert "uv sync" in again.stdout
    assert lock.read_bytes() == before


@pytest.mark.slow
def test_pip_setup_from_scratch_then_make_test(
    template: Path, cookiecutter_config: Path, tmp_path: Path
) -> None:
    project = bake_to(template, cookiecutter_config, tmp_path, environment_manager="pip")
    make_setup(project, with_uv=False)
    assert not (project / "uv.lock").exists()
    assert (project / ".venv" / "bin" / "pip").is_file(), "pip's .venv should hold pip"
    assert (project / ".venv" / "bin" / "crisp").is_file()
    package = default_answers()["package_name"]
    imports = sh(
        [project / ".venv" / "bin" / "python", IMPORT_EVERYTHING, package, "crisp"], project
    )
    assert imports.returncode == 0, explain(imports)
    assert json.loads(imports.stdout.strip().splitlines()[-1]) == {}, imports.stdout
    # The whole suite runs once, in test_project_setup.py; here `make test` runs the parameter
    # checks in the pip set-up. (The API's tests need a trained project, a pipeline run: they run
    # in that whole suite. The API's module, with FastAPI and pydantic as pip resolved them, is
    # imported above.)
    tests = sh(
        ["make", "test", "PYTEST_ARGS=tests/test_checks.py"],
        project,
        with_uv=False,
        timeout=SETUP_TIMEOUT,
    )
    assert tests.returncode == 0, explain(tests)
    assert " passed" in tests.stdout


def floors(pyproject: Path, extras: tuple[str, ...] = ()) -> dict[str, str]:
    """Each requirement of `pyproject` (and of its `extras`) with a lower bound (`name>=X`):
    name -> X."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    found = {}
    for requirement in map(Requirement, requirements):
        match list(requirement.specifier):
            case [bound] if bound.operator == ">=" and requirement.marker is None:
                found[requirement.name.lower()] = bound.version
    return found


@pytest.mark.slow
def test_the_project_works_at_the_lowest_versions_it_allows(
    template: Path, cookiecutter_config: Path, tmp_path: Path
) -> None:
    """Every dependency of the project and of its runner at the lowest version their
    pyproject.toml files allow (what they need in turn at the newest, as a resolver picks it):
    the project's fast tests pass. A lower bound that does not work fails here."""
    project = bake_to(template, cookiecutter_config, tmp_path)
    uv = [find_uv_bin(), "--quiet"]
    python = project / ".venv" / "bin" / "python"
    steps = [
        [*uv, "venv", "--python", sys.executable, project / ".venv"],
        # The runner's requirements listed too: lowest-direct lowers direct requirements only.
        [*uv, "pip", "install", "--python", python, "--resolution", "lowest-direct"]
        + ["-r", "pyproject.toml", "-r", "runner/pyproject.toml", "--extra", "dev"],
        [*uv, "pip", "install", "--python", python, "--no-deps", "-e", "runner", "-e", "."],
    ]
    for step in steps:
        done = sh(step, project, timeout=SETUP_TIMEOUT)
        assert done.returncode == 0, explain(done)
    wanted = {
        **floors(project / "runner" / "pyproject.toml"),
        **floors(project / "pyproject.toml", extras=("dev",)),
    }
    assert {"pandas", "scikit-learn", "skops", "skrub", "nbconvert", "dask"} <= set(wanted)
    versions = sh([python, "-c", INSTALLED_VERSIONS, *wanted], project)
    assert versions.returncode == 0, explain(versions)
    installed = json.loads(versions.stdout)
    # The floor's release series (7.16.5, 1.11, 8): a series' first release may not install here.
    above = {
        name: version
        for name, version in installed.items()
        if Version(version).release[: len(Version(wanted[name]).release)]
        != Version(wanted[name]).release
    }
    assert not above, f"not at the lowest allowed version: {above} (allowed: {wanted})"
    # `make test` would set the environment up again at the newest versions: pytest runs as is.
    tests = sh(
        [python, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "not slow"],
        project,
        timeout=SETUP_TIMEOUT,
    )
    assert tests.returncode == 0, explain(tests)
    assert " passed" in tests.stdout


# --- notebooks in git ----------------------------------------------------------------------------


@pytest.mark.slow
def test_setup_enables_nbdime_so_git_diff_is_a_notebook_diff(project: Path) -> None:
    driver = git(project, "config", "--local", "diff.jupyternotebook.command").stdout.split()
    assert Path(driver[0]) == project / ".venv" / "bin" / "git-nbdiffdriver"
    assert "diff=jupyternotebook" in (project / ".gitattributes").read_text()
    assert "pre-commit" in (project / ".git" / "hooks" / "pre-commit").read_text()

    notebook = project / "notebooks" / "04_evaluation.ipynb"
    nb = nbformat.read(notebook, as_version=nbformat.NO_CONVERT)
    nb.cells[0].source += "\n\nA sentence added in review."
    nbformat.write(nb, notebook)
    diff = git(project, "diff", "--no-color", "--", str(notebook.relative_to(project)))
    assert diff.returncode == 0, explain(diff)
    text = ANSI_ESCAPE.sub("", diff.stdout)  # nbdime colours its output even in a pipe
    assert "## modified /cells/0/source:" in text
    assert "+A sentence added in review." in text


@pytest.mark.slow
def test_pre_commit_passes_on_the_fresh_project(project: Path) -> None:
    hooks = sh([project / ".venv" / "bin" / "pre-commit", "run", "--all-files"], project)
    assert hooks.returncode == 0, explain(hooks)
    for hook in ("strip outputs", "ruff check", "ruff format", "YAML", "large files"):
        assert re.search(rf"{hook}.*Passed", hooks.stdout), f"hook {hook!r} did not run:\n{hooks}"


@pytest.mark.slow
def test_pre_commit_strips_outputs_from_source_notebooks(project: Path) -> None:
    notebook = project / "notebooks" / "02_data_preparation.ipynb"
    nb = nbformat.read(notebook, as_version=nbformat.NO_CONVERT)
    code = next(cell for cell in nb.cells if cell.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="42 rows\n")]
    code.execution_count = 7
    nbformat.write(nb, notebook)
    git(project, "add", str(notebook))

    commit = git(project, "commit", "-m", "Notebook with outputs")
    assert commit.returncode != 0, "the pre-commit hook let a notebook with outputs through"
    assert re.search(r"strip outputs.*Failed", commit.stdout + commit.stderr), explain(commit)
    stripped = nbformat.read(notebook, as_version=nbformat.NO_CONVERT)
    assert all(not c.get("outputs") for c in stripped.cells if c.cell_type == "code")
    assert all(c.get("execution_count") is None for c in stripped.cells if c.cell_type == "code")
    # Stripped, the notebook is exactly the committed one again.
    assert git(project, "diff", "--quiet", "HEAD", "--", "notebooks/").returncode == 0


def fake_run(project: Path, run_id: str, auc: float) -> None:
    """A run folder holding an executed evaluation notebook that reports `auc`."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(test_metrics)", execution_count=1, id="metrics")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"roc_auc {auc}\n")]
    nb.cells = [nbformat.v4.new_markdown_cell("# Evaluation", id="intro"), cell]
    (project / "reports" / run_id).mkdir(parents=True)
    nbformat.write(nb, project / "reports" / run_id / "04_evaluation.ipynb")
    started = f"{run_id[:4]}-{run_id[4:6]}-{run_id[6:8]}T{run_id[9:11]}:00:00+00:00"
    record = {"run_id": run_id, "started": started, "status": "succeeded", "phases": []}
    (project / "reports" / run_id / "run.json").write_text(json.dumps(record))


@pytest.mark.slow
def test_make_diff_shows_how_a_phase_changed_between_two_runs(project: Path) -> None:
    fake_run(project, "20250101-090000", 0.81)
    fake_run(project, "20250102-090000", 0.86)
    diff = sh(["make", "diff", "A=20250101-090000", "B=20250102-090000"], project)
    assert diff.returncode == 0, explain(diff)
    text = ANSI_ESCAPE.sub("", diff.stdout)  # nbdime colours its output even in a pipe
    assert "## modified /cells/1/outputs/0/text:" in text, text
    assert "-roc_auc 0.81" in text and "+roc_auc 0.86" in text, text
    assert "/id:" not in text, "same source notebook, so the cell ids must match"

    # Runs are named as for `crisp compare`: a unique beginning of an id, or latest.
    short = sh(["make", "diff", "A=20250101", "B=latest"], project)
    assert short.returncode == 0, explain(short)
    assert "+roc_auc 0.86" in ANSI_ESCAPE.sub("", short.stdout)

    missing = sh(["make", "diff", "A=20250101-090000", "B=yesterday"], project)
    assert missing.returncode != 0
    assert "error: no run 'yesterday' under reports/" in missing.stderr
    assert "20250102-090000" in missing.stderr, "the error should list the runs there are"

    no_phase = sh(["make", "diff", "A=20250101-090000", "B=20250102-090000", "PHASE=03_x"], project)
    assert no_phase.returncode != 0
    assert "has no notebook for phase 03_x" in no_phase.stderr

    unnamed = sh(["make", "diff", "A=20250101-090000"], project)
    assert unnamed.returncode != 0
    assert "make diff A=<run> B=<run>" in unnamed.stderr


# --- the CI workflow -----------------------------------------------------------------------------


def makefile_targets(project: Path) -> set[str]:
    """Targets the project's Makefile defines by name."""
    text = (project / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", text, flags=re.MULTILINE))


@pytest.mark.parametrize("manager", ENVIRONMENT_MANAGERS)
def test_ci_workflow_runs_the_makefile_targets(bake: Bake, manager: str) -> None:
    project = bake(environment_manager=manager)
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    # YAML 1.1 reads the key `on` as True.
    assert "push" in workflow.get("on", workflow.get(True))
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    uses = [step.get("uses", "") for step in steps]
    commands = [shlex.split(step["run"]) for step in steps if "run" in step]

    python = next(step for step in steps if step.get("uses", "").startswith("actions/setup-py"))
    assert python["with"]["python-version"] == default_answers()["python_version"]
    make_calls = [c for c in commands if c[0] == "make"]
    assert [c[1] for c in make_calls] == ["setup", "test", "pipeline"]
    assert set(c[1] for c in make_calls) <= makefile_targets(project)
    for call in make_calls:
        dry = sh([*call, "-n"], project, with_uv=False)
        assert dry.returncode == 0, explain(dry)
    assert "--set data_understanding.demo_rows=800" in make_calls[2][2]

    installs_uv = ["python", "-m", "pip", "install", "uv"] in commands
    assert installs_uv == (manager == "uv")
    setup_dry = sh(["make", "-n", "setup", "UV=uv"], project, with_uv=False).stdout
    if manager == "uv":
        assert "uv sync --extra dev" in setup_dry
    else:
        assert "-m venv .venv" in setup_dry and "-m pip install" in setup_dry
        assert "uv" not in setup_dry

    upload = steps[uses.index(next(u for u in uses if u.startswith("actions/upload-artifact")))]
    assert upload["with"]["path"].rstrip("/") == "reports"
    assert upload["if"] == "always()"


# --- template updates through cruft --------------------------------------------------------------


def cruft(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The cruft command line."""
    return sh([sys.executable, "-m", "cruft", *args], cwd=cwd, with_uv=False)


def test_cruft_update_brings_template_changes_and_keeps_user_edits(
    template: Path, cookiecutter_config: Path, tmp_path: Path
) -> None:
    upstream = tmp_path / "upstream"
    subprocess.run(["git", "clone", "-q", str(template), str(upstream)], check=True)
    created = cruft(
        *("create", "--no-input", "--extra-context", json.dumps({"environment_manager": "pip"})),
        *("--config-file", str(cookiecutter_config), "--output-dir", str(tmp_path / "out")),
        str(upstream),
        cwd=tmp_path,
    )
    assert created.returncode == 0, explain(created)
    (project,) = (tmp_path / "out").iterdir()
    assert git(project, "init", "-q", "-b", "main").returncode == 0
    git_commit_all(project, "Project as created")

    # The template moves on: a new file and a changed one.
    source = upstream / PROJECT_TEMPLATE
    (source / "docs").mkdir(exist_ok=True)
    (source / "docs" / "howto.md").write_text("# How to work on {{ cookiecutter.project_name }}\n")
    makefile = source / "Makefile"
    lines = makefile.read_text().splitlines(keepends=True)
    lines.insert(1, "# Changed by a template update.\n")
    makefile.write_text("".join(lines))
    new_commit = git_commit_all(upstream, "Template update")

    # Meanwhile the user edits the same Makefile (far from the template's change) and the README.
    project_makefile = project / "Makefile"
    user_makefile = project_makefile.read_text() + "\n# A user's own note.\n"
    project_makefile.write_text(user_makefile)
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\nOur team's notes.\n")
    git_commit_all(project, "User edits")

    assert cruft("check", cwd=project).returncode != 0, "cruft check missed the template update"
    updated = cruft("update", "-y", cwd=project)
    assert updated.returncode == 0, explain(updated)

    name = default_answers()["project_name"]
    assert (project / "docs" / "howto.md").read_text() == f"# How to work on {name}\n"
    merged = project_makefile.read_text()
    assert "# Changed by a template update.\n" in merged
    assert merged.endswith("\n# A user's own note.\n"), "the user's Makefile edit was lost"
    assert "pip install" in merged, "the project's answers (pip) were not kept"
    assert readme.read_text().endswith("\nOur team's notes.\n")
    assert json.loads((project / ".cruft.json").read_text())["commit"] == new_commit
    checked = cruft("check", cwd=project)
    assert checked.returncode == 0, explain(checked)
