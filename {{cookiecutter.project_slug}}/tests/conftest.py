"""Shared fixtures: small demo frames and an isolated project root."""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package_name }} import data

DEMO_ROWS = 400
PROJECT = Path(__file__).resolve().parents[1]


@cache
def _demo(problem_type: str) -> pd.DataFrame:
    return data.make_demo_data(problem_type, DEMO_ROWS, seed=0)


@pytest.fixture
def demo_frame_classification() -> pd.DataFrame:
    """400 rows of demo churn data (target `churned`, id `customer_id`); a fresh copy per test."""
    return _demo("classification").copy()


@pytest.fixture
def demo_frame_regression() -> pd.DataFrame:
    """400 rows of demo house prices (target `price`, id `listing_id`); a fresh copy per test."""
    return _demo("regression").copy()


@pytest.fixture
def tmp_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary project root (CRISP_PROJECT_ROOT), outside any run: artifacts go there.

    It has this project's pyproject.toml (the runner's settings), not its code.
    """
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy2(PROJECT / "pyproject.toml", root / "pyproject.toml")
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
