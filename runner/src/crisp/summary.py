"""What the top of a run's index shows: the summary card, built from what the phases recorded with
`record_summary` / `record_figure` (context.py), the run's status and the previous run; and the
trend page of a history of its own (`crisp monitor`'s checks over time).
"""

from __future__ import annotations

import base64
import operator
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from . import history
from .context import DECISION_TONES
from .records import find_run_dir, runs_dir

_COMPARE = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}
SERIES = (("value", "this run"), ("production", "production"), ("baseline", "baseline"))
CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 640, 150, 24


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _relative(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def passed(row: dict[str, Any]) -> bool | None:
    """Whether a metric row meets its target: `passed` when given, else `value op target`."""
    if isinstance(row.get("passed"), bool):
        return row["passed"]
    value, target, op = row.get("value"), row.get("target"), row.get("op")
    if _is_number(value) and _is_number(target) and op in _COMPARE:
        return bool(_COMPARE[op](value, target))
    return None


def tone_of(row: dict[str, Any]) -> str:
    """Colour of a metric row: its target met or not, else its status word."""
    met = passed(row)
    if met is not None:
        return "good" if met else "bad"
    return DECISION_TONES.get(str(row.get("status", "")).strip().lower(), "neutral")


def metric_view(row: dict[str, Any], phase: str) -> dict[str, Any]:
    """A headline metric as the card shows it: the row, its tone, and bars on one scale."""
    numbers = {key: row[key] for key, _ in SERIES if _is_number(row.get(key))}
    target = row.get("target") if _is_number(row.get("target")) else None
    scale = [*numbers.values(), *([target] if target is not None else [])]
    bars: list[dict[str, Any]] = []
    marker = None
    if len(scale) > 1 or (numbers and target is not None):
        low = min(0.0, *scale)
        high = max(scale) * 1.05 if max(scale) > 0 else max(scale) + 1
        span = (high - low) or 1.0
        bars = [
            {"label": label, "value": numbers[key], "width": 100 * (numbers[key] - low) / span}
            for key, label in SERIES
            if key in numbers
        ]
        if target is not None:
            marker = 100 * (target - low) / span
    return {
        **row,
        "phase": phase,
        "tone": tone_of(row),
        "passed": passed(row),
        "bars": bars,
        "marker": marker,
    }


def _image(root: Path, phase: dict[str, Any], figure: dict[str, Any]) -> str | None:
    """The figure as a data URI (the index stays one file), from the run that recorded it."""
    run_dir = find_run_dir(root, str(phase.get("run_id"))) if phase.get("run_id") else None
    if run_dir is None or not figure.get("file"):
        return None
    try:
        data = (run_dir / phase["name"] / figure["file"]).read_bytes()
    except OSError:
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def error_line(error: dict[str, Any] | None) -> str:
    """A phase's error in one line: `ename: first line` ("N checks failed:" joined to its cause)."""
    if not error:
        return ""
    lines = [line.strip() for line in str(error.get("evalue") or "").strip().splitlines()]
    if len(lines) > 1 and lines[0].endswith(":"):
        lines[:2] = [f"{lines[0]} {lines[1].lstrip('- ')}"]
    return f"{error.get('ename')}: {lines[0]}" if lines and lines[0] else str(error.get("ename"))


def verdict(record: dict[str, Any], decisions: list[dict[str, Any]]) -> dict[str, Any]:
    """The banner: the first phase's decision; a failed or interrupted run says so, as the banner
    unless the phase that stopped it recorded a decision (a rejected challenger, a drift alert):
    then that decision is the banner and the failure its footnote."""
    status = str(record.get("status", "unknown"))
    if status in ("failed", "interrupted"):
        stopped = next(
            (p for p in record.get("phases", []) if p.get("status") in ("failed", "interrupted")),
            None,
        )
        failure = f"the run was {status}"
        if stopped is not None:
            error = error_line(stopped.get("error"))
            failure = f"{stopped['name']} {stopped['status']}" + (f": {error}" if error else "")
            own = next((d for d in decisions if d["phase"] == stopped["name"]), None)
            if own is not None:
                return {**own, "failure": failure}
        return {"value": status, "tone": "bad", "reason": failure, "phase": None}
    if decisions:
        return decisions[0]
    return {
        "value": status,
        "tone": "good" if status == "succeeded" else "neutral",
        "reason": "no phase of this run recorded a decision",
        "phase": None,
    }


def previous_run(root: Path, record: dict[str, Any]) -> dict[str, Any] | None:
    """The run of the same history before this one (by start time), or None."""
    started = history.started_at(record)
    for run in history.load_runs(root, record.get("history")):
        if run["run_id"] != record.get("run_id") and history.started_at(run) < started:
            return run
    return None


def changes(previous: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """What differs from the previous run: data, code version, parameters, metrics."""
    commit_a = (previous.get("git") or {}).get("commit")
    commit_b = (record.get("git") or {}).get("commit")
    return {
        "data": history.data_changes(previous, record, ("the previous run", "this run")),
        "commit": (commit_a, commit_b) if commit_a != commit_b else None,
        "parameters": history.parameter_changes(previous, record),
        "metrics": [row for row in history.metric_changes(previous, record) if row[4]],
    }


def card(record: dict[str, Any], run_dir: Path, root: Path) -> dict[str, Any]:
    """Everything the summary card shows, from the run record (its phases' `summary` entries)."""
    decisions: list[dict[str, Any]] = []
    metrics: list[dict[str, Any]] = []
    facts: dict[str, Any] = {}
    links: list[dict[str, Any]] = []
    figures: list[dict[str, Any]] = []
    for phase in record.get("phases", []):
        summary = phase.get("summary") or {}
        earlier = phase.get("run_id") if phase.get("run_id") != record.get("run_id") else None
        if summary.get("decision"):
            decisions.append({**summary["decision"], "phase": phase["name"], "from_run": earlier})
        metrics += [metric_view(row, phase["name"]) for row in summary.get("metrics", [])]
        facts.update(summary.get("facts") or {})
        for label, path in (summary.get("links") or {}).items():
            target = root / path
            links.append(
                {"label": label, "href": _relative(target, run_dir), "exists": target.exists()}
            )
        for figure in summary.get("figures", []):
            source = _image(root, phase, figure)
            if source is not None:
                figures.append({**figure, "src": source, "phase": phase["name"]})
    previous = previous_run(root, record)
    compared = None
    if previous is not None:
        compared = {
            "run_id": previous["run_id"],
            "href": _relative(Path(previous["_dir"]) / "index.html", run_dir),
            "status": history.status(previous),
            **changes(previous, record),
        }
    banner = verdict(record, decisions)
    return {
        "verdict": banner,
        "decisions": [d for d in decisions if d is not banner],
        "metrics": metrics,
        "facts": facts,
        "links": links,
        "figures": figures,
        "previous": compared,
    }


def _chart(points: list[tuple[str, float, str]], target: float | None) -> dict[str, Any]:
    """An SVG line chart of `points` (label, value, tone; oldest first), the target dashed."""
    values = [value for _, value, _ in points] + ([target] if target is not None else [])
    low, high = min(0.0, *values), max(values) or 1.0
    high += (high - low) * 0.1
    inner_w, inner_h = CHART_WIDTH - 2 * CHART_PAD, CHART_HEIGHT - 2 * CHART_PAD
    step = inner_w / max(len(points) - 1, 1)

    def y(value: float) -> float:
        return CHART_PAD + inner_h * (1 - (value - low) / ((high - low) or 1.0))

    coords = [(CHART_PAD + i * step, y(value)) for i, (_, value, _) in enumerate(points)]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "line": " ".join(f"{x:.1f},{yy:.1f}" for x, yy in coords),
        "dots": [
            {"x": x, "y": yy, "label": label, "value": value, "tone": tone}
            for (x, yy), (label, value, tone) in zip(coords, points, strict=True)
        ],
        "target_y": None if target is None else y(target),
        "target": target,
        "low": low,
        "high": high,
        "x0": CHART_PAD,
        "x1": CHART_WIDTH - CHART_PAD,
        "y_low": y(low),
        "y_high": y(high),
    }


def _when(run: dict[str, Any]) -> str:
    try:
        return f"{datetime.fromisoformat(str(run.get('started'))):%Y-%m-%d %H:%M}"
    except ValueError:
        return str(run.get("started", ""))


def trend(root: Path, name: str) -> dict[str, Any]:
    """A history's runs, newest first, with their decisions and metrics, and a chart per metric."""
    folder = runs_dir(root, name)
    rows = []
    series: dict[str, list[tuple[str, float, str]]] = {}
    targets: dict[str, float] = {}
    for run in history.load_runs(root, name):
        decision = None
        metrics: dict[str, dict[str, Any]] = {}
        for phase in run["phases"]:
            summary = phase.get("summary") or {}
            decision = decision or summary.get("decision")
            for row in summary.get("metrics", []):
                metrics[row["name"]] = {**row, "tone": tone_of(row), "passed": passed(row)}
        report = next((p.get("report") for p in run["phases"] if p.get("report")), None)
        rows.append(
            {
                "run_id": run["run_id"],
                "when": _when(run),
                "status": history.status(run),
                "overrides": history.overrides(run),
                "decision": decision,
                "metrics": metrics,
                "href": _relative(Path(run["_dir"]) / "index.html", folder),
                "report_href": _relative(root / report, folder) if report else None,
            }
        )
    names = list(dict.fromkeys(name for row in rows for name in row["metrics"]))
    for row in reversed(rows):  # oldest first
        for metric, view in row["metrics"].items():
            if _is_number(view.get("value")):
                point = (row["when"], float(view["value"]), view["tone"])
                series.setdefault(metric, []).append(point)
                if _is_number(view.get("target")):
                    targets[metric] = float(view["target"])
    charts = [
        {"name": metric, **_chart(points, targets.get(metric))}
        for metric, points in series.items()
        if points
    ]
    return {"rows": rows, "metric_names": names, "charts": charts}
