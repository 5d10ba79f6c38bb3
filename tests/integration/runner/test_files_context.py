"""crisp.files and crisp.context: atomic writes, hashing, and what a phase records for its run."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from crisp import context, files


def test_context_does_nothing_outside_a_run(tmp_project):
    assert not context.active() and context.phase() is None
    context.record_quality([{"name": "x", "passed": True}])
    context.record_metrics({"auc": 0.9})
    assert not (tmp_project / "reports").exists()


def test_context_records_io_quality_and_metrics(run_phase_dir, tmp_project):
    assert context.phase() == "01_data_understanding"
    target = tmp_project / "data" / "x.txt"
    files.atomic_write_text(target, "abc")
    context.log_io("write", target)
    lines = [json.loads(x) for x in (run_phase_dir / "io.jsonl").read_text().splitlines()]
    digest = hashlib.sha256(b"abc").hexdigest()
    assert lines == [{"op": "write", "path": "data/x.txt", "sha256": digest}]
    context.record_quality([{"name": "rows", "passed": False}, {"name": "target", "passed": True}])
    context.record_quality([{"name": "rows", "passed": True}])
    quality = json.loads((run_phase_dir / "quality.json").read_text())
    assert quality == [{"name": "target", "passed": True}, {"name": "rows", "passed": True}]
    context.record_metrics({"rows": 3, "auc": 0.8})
    context.record_metrics({"auc": 0.85, "model": "ridge"})
    metrics = json.loads((run_phase_dir / "metrics.json").read_text())
    assert metrics == {"rows": 3, "auc": 0.85, "model": "ridge"}


def test_log_io_rejects_unknown_op(run_phase_dir, tmp_project):
    with pytest.raises(ValueError, match="'read' or 'write'"):
        context.log_io("delete", tmp_project)


def test_sha256_file(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"abc" * 1000)
    assert files.sha256_file(target) == hashlib.sha256(b"abc" * 1000).hexdigest()


def test_failed_replace_leaves_the_old_file_and_no_temp_file(tmp_project, monkeypatch):
    target = tmp_project / "a" / "b" / "file.txt"
    files.atomic_write_text(target, "old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        files.atomic_write_bytes(target, b"new")
    assert target.read_text() == "old"
    assert os.listdir(target.parent) == ["file.txt"]


def test_atomic_write_creates_parents_with_normal_permissions(tmp_project):
    target = tmp_project / "deep" / "er" / "f.txt"
    files.atomic_write_text(target, "héllo")
    assert target.read_text(encoding="utf-8") == "héllo"
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_json_of_numpy_and_pandas_values_and_nan():
    import numpy as np
    import pandas as pd

    text = files.to_json({"n": np.int64(3), "x": float("nan"), "t": pd.Timestamp("2024-01-02")})
    assert json.loads(text) == {"n": 3, "x": None, "t": "2024-01-02T00:00:00"}
