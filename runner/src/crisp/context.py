"""The run context of a phase: what a notebook records for the runner (I/O lineage, QA results,
headline metrics, and what the run's summary card shows: `record_summary`, `record_figure`).

The runner sets `CRISP_RUN_DIR` (reports/<run-id>/) and `CRISP_PHASE` (e.g. `03_modelling`) for each
phase's kernel. Without them (interactive JupyterLab) every function here does nothing.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Literal

from . import project
from .files import (
    atomic_write_bytes,
    atomic_write_text,
    read_json,
    readable,
    sha256_file,
    to_json,
    to_jsonable,
)

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


def run_record() -> dict[str, Any] | None:
    """The running pipeline's run.json (run id, git state, parameters, ...), read-only; None
    outside a run or when the record cannot be read."""
    if not active():
        return None
    try:
        record = read_json(Path(os.environ[RUN_DIR_ENV_VAR].strip()) / "run.json", None)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def log_io(op: Literal["read", "write"], path: Path) -> None:
    """Append `{"op", "path", "sha256"}` for `path` to the phase's io.jsonl (the content the
    phase sees: its staged copy when it wrote one)."""
    if op not in ("read", "write"):
        raise ValueError(f"op must be 'read' or 'write', not {op!r}")
    target = phase_dir()
    if target is None:
        return
    line = json.dumps(
        {"op": op, "path": project.relative(path), "sha256": sha256_file(readable(path))}
    )
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


SUMMARY_FILE = "summary.json"
TONES = ("good", "warning", "bad", "neutral")
# The colour of common decisions; any other word is neutral unless `tone` says otherwise.
DECISION_TONES = {
    "promote": "good",
    "promoted": "good",
    "ok": "good",
    "keep": "warning",
    "kept": "warning",
    "warning": "warning",
    "reject": "bad",
    "rejected": "bad",
    "alert": "bad",
}
METRIC_KEYS = ("name", "value", "target", "op", "production", "baseline", "status", "passed")
OPS = (">=", "<=", ">", "<", "==")


def _checked_metric(row: Any) -> dict[str, Any]:
    """A headline metric row, checked: `name` and `value`, and known keys only."""
    if not isinstance(row, dict) or "name" not in row or "value" not in row:
        raise ValueError(f"each metric is a dict with at least 'name' and 'value', not {row!r:.80}")
    unknown = sorted(set(row) - set(METRIC_KEYS))
    if unknown:
        raise ValueError(
            f"metric {row['name']!r}: unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(METRIC_KEYS)}"
        )
    if row.get("op") is not None and row["op"] not in OPS:
        raise ValueError(f"metric {row['name']!r}: op {row['op']!r} is not one of {OPS}")
    return {key: row[key] for key in METRIC_KEYS if key in row}


def _merge_named(old: list[dict[str, Any]], new: list[dict[str, Any]], key: str) -> list[Any]:
    """`old` with entries of the same `key` replaced by `new` ones, new ones appended."""
    names = {entry[key] for entry in new}
    return [entry for entry in old if entry.get(key) not in names] + new


def _update_summary(target: Path, changes: dict[str, Any]) -> None:
    summary = read_json(target / SUMMARY_FILE, {})
    summary = summary if isinstance(summary, dict) else {}
    for key, value in changes.items():
        if key in ("metrics", "figures"):
            name = "name" if key == "metrics" else "title"
            summary[key] = _merge_named(summary.get(key) or [], value, name)
        elif key in ("facts", "links"):
            summary[key] = {**(summary.get(key) or {}), **value}
        else:
            summary[key] = value
    atomic_write_text(target / SUMMARY_FILE, to_json(summary))


def record_summary(
    *,
    decision: str | None = None,
    reason: str | None = None,
    tone: str | None = None,
    metrics: list[dict[str, Any]] | None = None,
    facts: dict[str, Any] | None = None,
    links: dict[str, str | Path] | None = None,
) -> None:
    """Put what a reader should see first on the run's summary card (the top of its index.html).

    - `decision`: the verdict in a word or two ("promote", "keep", "reject", "alert"), `reason`
      one sentence why; `tone` (good, warning, bad, neutral) colours it, by default from the word.
    - `metrics`: headline figures, each `{"name", "value"}` with optional `"target"` and `"op"`
      (the success criterion, e.g. `">="`), `"production"` and `"baseline"` values to compare with,
      `"status"` (a word) or `"passed"` (bool); drawn as bars against each other.
    - `facts`: `{label: value}`, e.g. `{"registry version": "v0003"}`.
    - `links`: `{label: path}` to files of the project (a model card, a registry version).
    Later calls add to earlier ones (a metric, fact or link of the same name is replaced).
    Arguments are checked in and outside a run; outside one nothing is written.
    """
    if tone is not None and tone not in TONES:
        raise ValueError(f"tone {tone!r} is not one of {', '.join(TONES)}")
    changes: dict[str, Any] = {}
    if decision is not None:
        word = str(decision)
        changes["decision"] = {
            "value": word,
            "reason": None if reason is None else str(reason),
            "tone": tone or DECISION_TONES.get(word.strip().lower(), "neutral"),
        }
    if metrics is not None:
        changes["metrics"] = to_jsonable([_checked_metric(row) for row in metrics])
    if facts is not None:
        changes["facts"] = to_jsonable(dict(facts))
    target = phase_dir()
    if links is not None and target is not None:
        changes["links"] = {str(label): project.relative(path) for label, path in links.items()}
    if target is None or not changes:
        return
    _update_summary(target, changes)


def _png(figure: Any) -> bytes:
    """PNG bytes of a matplotlib figure, of PNG bytes, or of a PNG file."""
    if hasattr(figure, "savefig"):
        import io

        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
        return buffer.getvalue()
    data = figure if isinstance(figure, bytes) else Path(figure).read_bytes()
    if not data.startswith(b"\x89PNG"):
        raise ValueError("record_figure takes a matplotlib figure, PNG bytes or a PNG file")
    return data


def record_figure(figure: Any, *, title: str, caption: str | None = None) -> None:
    """Show `figure` (a matplotlib figure, PNG bytes or a PNG file) on the run's summary card.

    A pyplot figure is closed afterwards, so the cell does not show it once more; outside a run
    nothing is saved.
    """
    if not str(title).strip():
        raise ValueError("record_figure needs a title")
    try:
        target = phase_dir()
        if target is None:
            return
        name = "".join(c if c.isalnum() else "-" for c in str(title).lower()).strip("-")[:60]
        file = f"summary/{name or 'figure'}.png"
        atomic_write_bytes(target / file, _png(figure))
        _update_summary(target, {"figures": [{"title": title, "caption": caption, "file": file}]})
    finally:
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None and hasattr(figure, "savefig"):
            pyplot.close(figure)
