"""Source notebooks in git: the project's pre-commit hooks undo a papermill run in place; the
runner's notebook hash ignores what a run or an editor adds; papermill's cell keeps one id."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from crisp import cli
from test_runner import build_project, use_project

from shared_project import COPIED, PROJECT, env

NOTEBOOK = "notebooks/00_business_understanding.ipynb"


def git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )


def test_a_notebook_run_in_place_by_papermill_is_committed_as_it_was(tmp_path: Path) -> None:
    """papermill run in place (injected parameters, papermill metadata, outputs, language_info),
    then `git add` and the pre-commit hooks: the notebook is byte for byte the committed one."""
    root = tmp_path / "project"
    root.mkdir()
    for name in (*COPIED, ".pre-commit-config.yaml"):
        source = PROJECT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / name)
    (root / ".venv").symlink_to(PROJECT / ".venv")  # the hooks run .venv/bin/...
    git(root, "init", "-q")
    git(root, "add", "notebooks")
    git(root, "commit", "-q", "-m", "clean notebooks")
    clean = (root / NOTEBOOK).read_bytes()

    variables = {**env(root), "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-cache")}
    papermill = [str(PROJECT / ".venv" / "bin" / "papermill"), NOTEBOOK, NOTEBOOK]
    ran = subprocess.run(
        [*papermill, "-p", "random_seed", "7", "--cwd", "notebooks"],
        cwd=root,
        env=variables,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    executed = json.loads((root / NOTEBOOK).read_text(encoding="utf-8"))
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in executed["cells"])
    assert "papermill" in executed["metadata"]

    git(root, "add", NOTEBOOK)
    hooks = [str(PROJECT / ".venv" / "bin" / "pre-commit"), "run", "--files", NOTEBOOK]
    first = subprocess.run(hooks, cwd=root, env=variables, capture_output=True, text=True)
    assert first.returncode == 1, first.stdout + first.stderr  # files changed: re-add them
    assert "removed papermill's injected-parameters cell" in first.stdout
    assert (root / NOTEBOOK).read_bytes() == clean
    git(root, "add", NOTEBOOK)
    again = subprocess.run(hooks, cwd=root, env=variables, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr
    assert git(root, "status", "--porcelain", "--", "notebooks").stdout == ""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_project(build_project(tmp_path / "project"), monkeypatch)


def status(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    assert cli.main(["status"]) == 0
    lines = [line.split(None, 2) for line in capsys.readouterr().out.splitlines()]
    return {name: f"{state} {rest}" for name, state, rest in lines}


def test_only_what_runs_makes_a_notebook_outdated(project: Path, capsys) -> None:
    assert cli.main(["run"]) == 0
    path = project / "notebooks" / "01_middle.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.metadata["language_info"] = {"name": "python", "version": "3.99.0", "mimetype": "x"}
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="old output\n")]
    nb.cells[2].execution_count = 4
    nb.cells[2].metadata["execution"] = {"iopub.status.busy": "2025-01-01T00:00:00Z"}
    nb.cells[2].id = "renamed-cell"
    injected = nbformat.v4.new_code_cell("count = 99")
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(2, injected)
    nbformat.write(nb, str(path))
    capsys.readouterr()
    assert status(capsys)["01_middle"].startswith("up to date")

    nb.cells[-1].source += "\n# a comment is a change"
    nbformat.write(nb, str(path))
    assert status(capsys)["01_middle"] == "outdated notebook changed"

    # The executed notebooks of two runs give papermill's cell the same id.
    assert cli.main(["run", "--only", "00", "--force"]) == 0
    first = (project / "reports" / "latest").resolve()
    assert cli.main(["run", "--only", "00", "--force"]) == 0
    second = (project / "reports" / "latest").resolve()
    assert first != second
    for run_dir in (first, second):
        cells = nbformat.read(str(run_dir / "00_source.ipynb"), as_version=4).cells
        injected_cells = [c for c in cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert [c.id for c in injected_cells] == ["injected-parameters"]
