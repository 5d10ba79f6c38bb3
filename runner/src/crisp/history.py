"""`crisp runs` and `crisp compare A B`: the run history kept in `reports/<run-id>/run.json`.

Every run writes run.json at its start and after each phase, so failed and interrupted runs are
part of the history too. `crisp monitor`'s checks keep a history of their own in
`reports/monitoring/` (`--monitoring`). Exit codes: 0 done, 2 an unknown run id (the message lists
the newest). Output cut short by its reader (`crisp runs | head`) ends quietly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from .records import runs_dir

COMMANDS = ("runs", "compare")
EXIT_USAGE = 2
LATEST = "latest"
DEFAULT_LIMIT = 20
NEWEST_SHOWN = 5  # run ids named in the message for an unknown id
MISSING = "-"


class RunNotFoundError(LookupError):
    """A run id on the command line that matches no run (or more than one) under reports/."""


def add_commands(commands: Any) -> dict[str, Any]:
    """Add `runs` and `compare` to the `crisp` subparsers; returns their handlers."""
    runs = commands.add_parser(
        "runs",
        help="list past runs, newest first: status, duration, overrides, headline metrics",
        description="List the runs recorded under reports/ (failed and interrupted ones too), "
        "newest first.",
    )
    runs.add_argument(
        "-n",
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help="show the newest N runs; 0 shows all (default: %(default)s)",
    )
    runs.add_argument(
        "--path",
        metavar="RUN",
        help="print only the folder of RUN (id, unique prefix or latest), for scripts",
    )
    _add_monitoring(runs)
    compare = commands.add_parser(
        "compare",
        help="show the parameter and metric differences between two runs",
        description="Compare two runs phase by phase: the effective parameters that differ, and "
        "every metric with its change from A to B. RUN is a run id, a unique prefix of one, "
        "or `latest`.",
    )
    compare.add_argument("run_a", metavar="A", help="the earlier run (id, prefix or latest)")
    compare.add_argument("run_b", metavar="B", help="the later run (id, prefix or latest)")
    _add_monitoring(compare)
    return dict.fromkeys(COMMANDS, dispatch)


def _add_monitoring(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--monitoring",
        dest="history",
        action="store_const",
        const="monitoring",
        default=None,
        help="the checks of `crisp monitor` (reports/monitoring/) instead of the pipeline's runs",
    )


def dispatch(args: argparse.Namespace, argv: list[str], root: Path) -> int:
    """Run `crisp runs` or `crisp compare`; an unknown run id is one line on stderr, exit 2."""
    runs = load_runs(root, args.history)
    try:
        if args.command == "compare":
            lines = format_compare(
                find_any(root, runs, args.run_a, args.history),
                find_any(root, runs, args.run_b, args.history),
            )
        elif args.path is not None:
            lines = [shown(Path(find_any(root, runs, args.path, args.history)["_dir"]))]
        else:
            lines = format_runs(runs, args.limit, args.history)
    except RunNotFoundError as exc:
        print(f"crisp {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return emit(lines)


def shown(path: Path) -> str:
    """`path` relative to the working directory when inside it, else absolute."""
    cwd = Path.cwd().resolve()
    path = Path(path).resolve()
    return str(path.relative_to(cwd)) if path.is_relative_to(cwd) else str(path)


def emit(lines: list[str]) -> int:
    """Print `lines`; a reader that stops early (`| head`) is no error: the rest is dropped."""
    try:
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # Python would report the failed flush again at exit: point stdout at /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return 0


def started_at(run: dict[str, Any]) -> float:
    """Start of a run as a POSIX timestamp (0 when unreadable)."""
    try:
        return datetime.fromisoformat(str(run.get("started"))).timestamp()
    except ValueError:
        return 0.0


def load_runs(root: Path, history: str | None = None) -> list[dict[str, Any]]:
    """Every readable run.json of a history (default: the pipeline's, `reports/*/run.json`) of
    the project at `root`, newest first; each with its folder as `_dir`."""
    runs = []
    for path in runs_dir(root, history).glob("*/run.json"):
        if path.parent.is_symlink():  # reports/latest points at a run listed anyway
            continue
        try:
            run = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a torn or foreign file is not a run
        if isinstance(run, dict) and isinstance(run.get("phases"), list):
            run.setdefault("run_id", path.parent.name)
            run["_dir"] = str(path.parent)
            runs.append(run)
    return sorted(runs, key=lambda run: (started_at(run), str(run["run_id"])), reverse=True)


def find_any(
    root: Path, runs: list[dict[str, Any]], run_id: str, history: str | None
) -> dict[str, Any]:
    """`find_run` in `runs`; a pipeline run id not found there may name a monitoring check."""
    try:
        return find_run(runs, run_id, history)
    except RunNotFoundError:
        if history is not None or run_id == LATEST:
            raise
        try:
            return find_run(load_runs(root, "monitoring"), run_id, "monitoring")
        except RunNotFoundError:
            pass
        raise


def _where(history: str | None) -> str:
    return f"reports/{history}/" if history else "reports/"


def find_run(runs: list[dict[str, Any]], run_id: str, history: str | None = None) -> dict[str, Any]:
    """The run named by `run_id`: an exact id, `latest`, or a unique prefix of an id."""
    if not runs:
        make = "`crisp monitor DATA`" if history else "`crisp run`"
        raise RunNotFoundError(f"no runs recorded under {_where(history)} yet; {make} makes one")
    if run_id == LATEST:
        return runs[0]
    exact = [run for run in runs if run["run_id"] == run_id]
    matches = exact or [run for run in runs if str(run["run_id"]).startswith(run_id)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        ids = ", ".join(str(run["run_id"]) for run in matches[:NEWEST_SHOWN])
        raise RunNotFoundError(f"run id {run_id!r} matches {len(matches)} runs ({ids}); give more")
    newest = ", ".join(str(run["run_id"]) for run in runs[:NEWEST_SHOWN])
    listing = "`crisp runs --monitoring`" if history else "`crisp runs`"
    raise RunNotFoundError(
        f"no run {run_id!r} under {_where(history)}; newest: {newest} ({listing} lists them all)"
    )


def duration(run: dict[str, Any]) -> float | None:
    """Wall time of the run; for a run that never finished, the sum of its phases so far."""
    if run.get("duration_s") is not None:
        return float(run["duration_s"])
    phases = [p.get("duration_s") for p in run["phases"] if p.get("duration_s") is not None]
    return float(sum(phases)) if phases else None


def status(run: dict[str, Any]) -> str:
    """The run's status, naming the phase that failed or was interrupted."""
    state = str(run.get("status", "unknown"))
    stopped = next(
        (p["name"] for p in run["phases"] if p.get("status") in ("failed", "interrupted")), None
    )
    return f"{state} in {stopped}" if stopped and state in ("failed", "interrupted") else state


def overrides(run: dict[str, Any]) -> str:
    """The key parameters of a run: its `--set` overrides, or `defaults`."""
    return " ".join(str(o) for o in run.get("overrides") or []) or "defaults"


def metrics(run: dict[str, Any]) -> dict[str, Any]:
    """All phase metrics of a run in phase order (keys are unique across phases)."""
    merged: dict[str, Any] = {}
    for phase in run["phases"]:
        merged.update(phase.get("metrics") or {})
    return merged


def headline(run: dict[str, Any]) -> dict[str, Any]:
    """What a reader scans first: test and CV score on the primary metric, decision, drift."""
    primary = (run.get("parameters") or {}).get("business_understanding", {}).get("primary_metric")
    found = metrics(run)
    if primary:
        keys = [f"test_{primary}", f"cv_{primary}"]
    else:
        keys = [key for key in found if key.startswith("test_")]
    keys += ["decision", "drift_status", "drifted_share"]
    return {key: found[key] for key in keys if key in found}


def show(value: Any) -> str:
    """A value as one short cell of a table."""
    if value is None:
        return MISSING
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _seconds(value: float | None) -> str:
    return f"{value:.1f}s" if value is not None else MISSING


def table(header: list[str], rows: list[list[str]], indent: str = "") -> list[str]:
    """Left-aligned columns; the last column is not padded."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append((indent + "  ".join([*cells, row[-1]])).rstrip())
    return lines


def format_runs(
    runs: list[dict[str, Any]], limit: int = DEFAULT_LIMIT, history: str | None = None
) -> list[str]:
    """`crisp runs`: one line per run, newest first."""
    if not runs:
        make = "`crisp monitor DATA`" if history else "`crisp run`"
        return [f"no runs yet under {_where(history)}; {make} makes one"]
    shown = runs[:limit] if limit > 0 else runs
    rows = [
        [
            str(run["run_id"]),
            status(run),
            _seconds(duration(run)),
            overrides(run),
            " ".join(f"{key}={show(value)}" for key, value in headline(run).items()),
        ]
        for run in shown
    ]
    lines = table(["run", "status", "duration", "parameters", "headline metrics"], rows)
    if len(shown) < len(runs):
        flag = " --monitoring" if history else ""
        lines.append(
            f"... {len(runs) - len(shown)} older runs (crisp runs{flag} --limit 0 shows all)"
        )
    return lines


def _phases(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    names = [p["name"] for p in a["phases"]]
    return sorted({*names, *(p["name"] for p in b["phases"])})


def _phase(run: dict[str, Any], name: str) -> dict[str, Any]:
    return next((p for p in run["phases"] if p["name"] == name), {})


def parameter_changes(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str, Any, Any]]:
    """`(phase, parameter, value in A, value in B)` for each effective phase parameter that differs.

    A parameter a run does not have (phase not selected) is None.
    """
    changes = []
    for name in _phases(a, b):
        params_a = _phase(a, name).get("parameters") or {}
        params_b = _phase(b, name).get("parameters") or {}
        for key in sorted({*params_a, *params_b}):
            if params_a.get(key) != params_b.get(key) or (key in params_a) != (key in params_b):
                changes.append((name, key, params_a.get(key), params_b.get(key)))
    return changes


def change(value_a: Any, value_b: Any) -> str:
    """B minus A for numbers, `changed` for other values that differ, empty when equal."""

    def number(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    if number(value_a) and number(value_b):
        delta = value_b - value_a
        return "" if delta == 0 else f"{delta:+.4g}"
    same = value_a == value_b and type(value_a) is type(value_b)
    return "" if same else "changed"


def metric_changes(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str, Any, Any, str]]:
    """`(phase, metric, value in A, value in B, change)` for every metric of either run."""
    rows = []
    for name in _phases(a, b):
        metrics_a = _phase(a, name).get("metrics") or {}
        metrics_b = _phase(b, name).get("metrics") or {}
        keys = [*metrics_a, *(key for key in metrics_b if key not in metrics_a)]
        for key in keys:
            value_a, value_b = metrics_a.get(key), metrics_b.get(key)
            rows.append((name, key, value_a, value_b, change(value_a, value_b)))
    return rows


def data_changes(
    a: dict[str, Any], b: dict[str, Any], labels: tuple[str, str] = ("A", "B")
) -> list[str]:
    """How the input data of B differs from A's, one line each; empty when it is the same.

    A run without a recorded fingerprint (an older record) cannot be compared: said so.
    """
    data_a, data_b = a.get("data_fingerprint"), b.get("data_fingerprint")
    if not data_a or not data_b:
        missing = " and ".join(
            label for label, data in zip(labels, (data_a, data_b), strict=True) if not data
        )
        return [f"input data: no fingerprint recorded in {missing}; cannot tell whether it differs"]
    lines = []
    for path in sorted({*data_a, *data_b}):
        before, after = data_a.get(path), data_b.get(path)
        if before != after:
            lines.append(
                f"input data differs: {path} "
                f"({show(before and before[:12])} -> {show(after and after[:12])})"
            )
    return lines


def _context(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Differences besides parameters: input data and code version."""
    lines = data_changes(a, b) or ["input data: the same"]
    commit_a = (a.get("git") or {}).get("commit")
    commit_b = (b.get("git") or {}).get("commit")
    if commit_a != commit_b:
        lines.append(f"git commit: {show(commit_a)[:12]} -> {show(commit_b)[:12]}")
    return lines


def format_compare(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """`crisp compare A B`: both runs, differing parameters, then every metric with its change."""
    lines = table(
        ["", "run", "status", "duration", "parameters"],
        [
            [label, str(run["run_id"]), status(run), _seconds(duration(run)), overrides(run)]
            for label, run in (("A", a), ("B", b))
        ],
    )
    lines += _context(a, b)
    params = parameter_changes(a, b)
    lines.append("")
    if params:
        lines.append("parameters that differ:")
        rows = [[phase, key, show(va), show(vb)] for phase, key, va, vb in params]
        lines += table(["phase", "parameter", "A", "B"], rows, indent="  ")
    else:
        lines.append("parameters: identical in every phase")
    rows = [
        [phase, key, show(va), show(vb), delta]
        for phase, key, va, vb, delta in metric_changes(a, b)
    ]
    lines.append("")
    if rows:
        lines.append("metrics:")
        lines += table(["phase", "metric", "A", "B", "change"], rows, indent="  ")
    else:
        lines.append("metrics: none recorded")
    return lines
