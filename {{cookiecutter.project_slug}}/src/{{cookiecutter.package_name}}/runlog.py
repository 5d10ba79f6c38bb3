"""What a phase records for the runner: I/O lineage, QA results and headline metrics.

The runner sets `CRISP_RUN_DIR` (reports/<run-id>/) and `CRISP_PHASE` (e.g. `03_modelling`) for each
phase's kernel. Without them (interactive JupyterLab) every function here does nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

from . import paths

RUN_DIR_ENV_VAR = "CRISP_RUN_DIR"
PHASE_ENV_VAR = "CRISP_PHASE"


def active() -> bool:
    """True when running under the runner (both run-context variables are set)."""
    return bool(os.environ.get(RUN_DIR_ENV_VAR, "").strip()) and bool(
        os.environ.get(PHASE_ENV_VAR, "").strip()
    )


def phase_dir() -> Path | None:
    """`<run_dir>/<phase>/`, or None outside a run."""
    if not active():
        return None
    return Path(os.environ[RUN_DIR_ENV_VAR].strip()) / os.environ[PHASE_ENV_VAR].strip()


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def log_io(op: Literal["read", "write"], path: Path) -> None:
    """Append `{"op", "path", "sha256"}` for `path` to the phase's io.jsonl."""
    if op not in ("read", "write"):
        raise ValueError(f"op must be 'read' or 'write', not {op!r}")
    target = phase_dir()
    if target is None:
        return
    line = json.dumps({"op": op, "path": paths.relative(path), "sha256": sha256_file(path)})
    target.mkdir(parents=True, exist_ok=True)
    # One write() of a short line on an O_APPEND file: lines never interleave or tear.
    fd = os.open(target / "io.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_json(path: Path, default: Any) -> Any:
    if not path.exists():
        return default
    return json.loads(path.read_text(encoding="utf-8"))


def _write_json(path: Path, obj: Any) -> None:
    # Imported here: artifacts logs its I/O through this module.
    from .artifacts import atomic_write_text, to_json

    atomic_write_text(path, to_json(obj))


def record_quality(results: list[dict[str, Any]]) -> None:
    """Write the phase's QA results to quality.json, replacing earlier results of the same name."""
    target = phase_dir()
    if target is None:
        return
    new_names = {result["name"] for result in results}
    kept = [r for r in _read_json(target / "quality.json", []) if r.get("name") not in new_names]
    _write_json(target / "quality.json", kept + list(results))


def record_metrics(metrics: dict[str, float | str]) -> None:
    """Merge headline figures into the phase's metrics.json."""
    target = phase_dir()
    if target is None:
        return
    merged = _read_json(target / "metrics.json", {})
    merged.update(metrics)
    _write_json(target / "metrics.json", merged)
