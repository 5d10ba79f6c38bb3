"""Fixtures of the runner's tests: a tiny three-phase project (test_runner.py builds it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_runner import build_project, use_project


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh three-phase project, never run."""
    return use_project(build_project(tmp_path / "project"), monkeypatch)
