"""The run context of a phase: what a notebook records for the runner (I/O lineage, QA results,
headline metrics).

The runner sets `CRISP_RUN_DIR` (reports/<run-id>/) and `CRISP_PHASE` (e.g. `03_modelling`) for each
phase's kernel. Without them (interactive JupyterLab) every function here does nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from . import project
from .files import atomic_write_text, read_json, sha256_file, to_json

RUN_DIR_ENV_VAR = "CRISP_RUN_DIR"
PHASE_ENV_VAR = "CRISP_PHASE"


def active() -> bool:
    """True when running under the runner (both run-context variables are set)."""
    return bool(os.environ.get(RUN_DIR_ENV_VAR, "").strip()) and bool(
        os.environ.get(PHASE_ENV_VAR, "").strip()
    )


def phase() -> str | None:
    """The running phase's name (`03_modelling`), or None outside a run."""
    return os.environ[PHASE_ENV_VAR].strip() if active() else None


def phase_dir() -> Path | None:
    """`<run_dir>/<phase>/`, or None outside a run."""
    if not active():
        return None
    return Path(os.environ[RUN_DIR_ENV_VAR].strip()) / os.environ[PHASE_ENV_VAR].strip()


def log_io(op: Literal["read", "write"], path: Path) -> None:
    """Append `{"op", "path", "sha256"}` for `path` to the phase's io.jsonl."""
    if op not in ("read", "write"):
        raise ValueError(f"op must be 'read' or 'write', not {op!r}")
    target = phase_dir()
    if target is None:
        return
    line = json.dumps({"op": op, "path": project.relative(path), "sha256": sha256_file(path)})
    target.mkdir(parents=True, exist_ok=True)
    # One write() of a short line on an O_APPEND file: lines never interleave or tear.
    fd = os.open(target / "io.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def record_quality(results: list[dict[str, Any]]) -> None:
    """Write the phase's QA results to quality.json, replacing earlier results of the same name."""
    target = phase_dir()
    if target is None:
        return
    new_names = {result["name"] for result in results}
    kept = [r for r in read_json(target / "quality.json", []) if r.get("name") not in new_names]
    atomic_write_text(target / "quality.json", to_json(kept + list(results)))


def record_metrics(metrics: dict[str, Any]) -> None:
    """Merge headline figures into the phase's metrics.json."""
    target = phase_dir()
    if target is None:
        return
    merged = read_json(target / "metrics.json", {})
    merged.update(metrics)
    atomic_write_text(target / "metrics.json", to_json(merged))
