"""Tests that run in the environment of one baked project (`make test` bakes and sets it up once,
then runs them with its Python and names it in CRISP_TEST_PROJECT)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    project = os.environ.get("CRISP_TEST_PROJECT", "")
    if not project or not (Path(project) / "pyproject.toml").is_file():
        raise pytest.UsageError(
            "CRISP_TEST_PROJECT must name a baked, set-up project: run these tests with `make test`"
        )


@pytest.fixture
def tmp_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary project root (CRISP_PROJECT_ROOT), outside any run."""
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.setenv("CRISP_PROJECT_ROOT", str(root))
    monkeypatch.delenv("CRISP_RUN_DIR", raising=False)
    monkeypatch.delenv("CRISP_PHASE", raising=False)
    return root


@pytest.fixture
def run_phase_dir(tmp_project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Inside tmp_project, pretend the runner runs phase 01_data_understanding; its record dir."""
    run_dir = tmp_project / "reports" / "test-run"
    monkeypatch.setenv("CRISP_RUN_DIR", str(run_dir))
    monkeypatch.setenv("CRISP_PHASE", "01_data_understanding")
    return run_dir / "01_data_understanding"


# The integration group's longest test scopes (a module, or a class of the real-table tests), as
# `make test --durations` measured them: started first, so that two xdist workers end together
# rather than one running the longest scope alone at the end. tests/run.py turns off xdist's own
# reordering (by number of tests) so that this order holds.
LONGEST_FIRST = (
    "test_project_setup.py",
    "runner/test_reliability.py",
    "runner/test_kernel_figures.py",
    "tables/test_real_tables.py",
    "runner/test_jupyter_server.py",
    "runner/test_reports_in_browser.py",
    "runner/test_airflow_export.py",
    "runner/test_runner.py",
    "tables/test_switch_data.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest scopes first (LONGEST_FIRST), the others after them in their usual order."""

    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        listed = (i for i, name in enumerate(LONGEST_FIRST) if path.endswith(name))
        return next(listed, len(LONGEST_FIRST))  # unlisted: after the listed ones

    items.sort(key=rank)  # stable: within a rank, collection order
