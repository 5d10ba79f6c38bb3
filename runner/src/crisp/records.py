"""The run record `run.json`: what ran, with which parameters and code, what it read and wrote.

It is written at the start of a run and after every phase, so an interrupted run keeps a record.
"""

from __future__ import annotations

import json
import platform
import secrets
import subprocess
import sys
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .files import atomic_write_text

VERSIONED = (
    "pandas",
    "numpy",
    "scikit-learn",
    "papermill",
    "nbclient",
    "nbconvert",
    "skops",
    "matplotlib",
)
# The phase whose reads are the pipeline's input data (its data fingerprint).
DATA_PHASE_NUMBER = 1
REPORTS = "reports"
# A history of its own (e.g. `crisp monitor`'s checks) lives in reports/<name>/, apart from the
# pipeline's runs in reports/: `crisp runs` and reports/latest stay the pipeline's.
HISTORIES = ("monitoring",)


def runs_dir(root: Path, history: str | None = None) -> Path:
    """Folder of a history's runs: reports/ for the pipeline, reports/<history>/ for another."""
    if history is not None and history not in HISTORIES:
        raise ValueError(f"unknown run history {history!r}; known: {', '.join(HISTORIES)}")
    return Path(root) / REPORTS / history if history else Path(root) / REPORTS


def find_run_dir(root: Path, run_id: str) -> Path | None:
    """The folder of run `run_id` in any history, or None when it is gone."""
    for history in (None, *HISTORIES):
        folder = runs_dir(root, history) / run_id
        if (folder / "run.json").is_file():
            return folder
    return None


def new_run_id(now: datetime | None = None) -> str:
    """`YYYYmmdd-HHMMSS-<4 hex>`: sortable by time, unique within a second."""
    now = now or datetime.now()
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def package_versions() -> dict[str, str | None]:
    """Versions of Python and the libraries that shape results."""
    from importlib import metadata

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(root: Path) -> dict[str, Any] | None:
    """`{commit, dirty}` when `root` is in a git work tree, else None."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if commit.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def platform_info() -> dict[str, str]:
    """Where the run happened."""
    return {
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "executable": sys.executable,
    }


def read_json(path: Path, default: Any) -> Any:
    """JSON content of `path`, or `default` when missing or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def read_io_log(path: Path) -> list[dict[str, Any]]:
    """Entries of a phase's io.jsonl (`{op, path, sha256}` per line), skipping torn lines."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("path") and entry.get("op") in ("read", "write"):
            entries.append(entry)
    return entries


def lineage(entries: list[dict[str, Any]]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(reads, writes): each path once with its last recorded sha256, in first-seen order."""
    reads: dict[str, str] = {}
    writes: dict[str, str] = {}
    for entry in entries:
        target = reads if entry["op"] == "read" else writes
        target.pop(entry["path"], None)
        target[entry["path"]] = entry.get("sha256", "")
    return (
        [{"path": p, "sha256": h} for p, h in reads.items()],
        [{"path": p, "sha256": h} for p, h in writes.items()],
    )


SUMMARY_KEYS = ("decision", "metrics", "facts", "links", "figures")


def read_summary(phase_dir: Path) -> dict[str, Any] | None:
    """What the phase recorded for the run's summary card (summary.json), or None."""
    summary = read_json(Path(phase_dir) / "summary.json", None)
    if not isinstance(summary, dict):
        return None
    return {key: summary[key] for key in SUMMARY_KEYS if summary.get(key)} or None


def summarize_quality(results: Any) -> dict[str, Any] | None:
    """`{passed, failed, total, failures: [message]}` from a phase's quality.json, or None."""
    if isinstance(results, dict):
        results = results.get("checks", [])
    if not isinstance(results, list) or not results:
        return None
    failed = [r for r in results if isinstance(r, dict) and not r.get("passed", False)]
    return {
        "passed": len(results) - len(failed),
        "failed": len(failed),
        "total": len(results),
        "failures": [str(r.get("message") or r.get("name", "")) for r in failed],
        "checks": results,
    }


@dataclass
class PhaseRecord:
    """One phase in the run record."""

    name: str
    status: str = "pending"  # pending | running | succeeded | failed | interrupted | up to date
    duration_s: float | None = None
    timings: dict[str, float] = field(default_factory=dict)  # kernel wait, execution, export
    parameters: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    reads: list[dict[str, str]] = field(default_factory=list)
    writes: list[dict[str, str]] = field(default_factory=list)
    code: dict[str, str] = field(default_factory=dict)  # helper source file -> sha256
    error: dict[str, Any] | None = None
    notebook: str | None = None  # project-relative path of the executed notebook
    report: str | None = None  # project-relative path of its HTML report
    run_id: str | None = None  # the run that produced notebook and report (older when skipped)
    reason: str | None = None  # why it ran, or why not
    summary: dict[str, Any] | None = None  # what the phase put on the run's summary card

    def collect(self, phase_dir: Path) -> None:
        """Read what the phase recorded under `<run_dir>/<phase>/` (QA, metrics, I/O, summary)."""
        self.quality = summarize_quality(read_json(phase_dir / "quality.json", None))
        metrics = read_json(phase_dir / "metrics.json", {})
        self.metrics = metrics if isinstance(metrics, dict) else {}
        self.reads, self.writes = lineage(read_io_log(phase_dir / "io.jsonl"))
        self.summary = read_summary(phase_dir)

    def recall(self, root: Path) -> None:
        """For a phase that is up to date: the lineage and summary its last run recorded.

        Read from that run's folder, so an up-to-date phase carries the same fingerprints of what
        it read and wrote as when it ran (a file it wrote and then read is one of its inputs too);
        when the folder is gone, what the caller filled in stays.
        """
        run_dir = find_run_dir(root, self.run_id) if self.run_id else None
        if run_dir is None:
            return
        phase_dir = run_dir / self.name
        if (phase_dir / "io.jsonl").is_file():
            self.reads, self.writes = lineage(read_io_log(phase_dir / "io.jsonl"))
        self.summary = read_summary(phase_dir) or self.summary


@dataclass
class RunRecord:
    """The whole run; `save()` writes `<run_dir>/run.json` atomically."""

    run_id: str
    run_dir: Path
    command: list[str]
    parameters: dict[str, Any]
    overrides: list[str]
    phases: list[PhaseRecord]
    status: str = "running"  # running | succeeded | failed | interrupted
    started: str = field(default_factory=lambda: datetime.now().astimezone().isoformat())
    finished: str | None = None
    duration_s: float | None = None
    data_fingerprint: dict[str, str] | None = None
    versions: dict[str, str | None] = field(default_factory=package_versions)
    git: dict[str, Any] | None = None
    platform: dict[str, str] = field(default_factory=platform_info)
    history: str | None = None  # None: a pipeline run; else the history it belongs to

    def phase(self, name: str) -> PhaseRecord:
        """The record of phase `name`."""
        return next(p for p in self.phases if p.name == name)

    def update_fingerprint(self) -> None:
        """Input data fingerprint: sha256 of the files the data-understanding phase read.

        A run without that phase keeps the fingerprint `recall_data` found.
        """
        for record in self.phases:
            if is_data_phase(record.name) and record.reads:
                self.data_fingerprint = {r["path"]: r["sha256"] for r in record.reads}

    def recall_data(self, root: Path, phase: str | None, run_id: str | None) -> None:
        """Fingerprint of the data the current artifacts come from, for a run without the data
        phase (`--from 03`, `crisp monitor`): what `phase` read in its last run `run_id`."""
        if phase is None or any(p.name == phase for p in self.phases):
            return
        earlier = PhaseRecord(name=phase, run_id=run_id)
        earlier.recall(root)
        if earlier.reads:
            self.data_fingerprint = {r["path"]: r["sha256"] for r in earlier.reads}

    def join(self) -> None:
        """Continue the run already recorded in run_dir (one run made of several invocations,
        e.g. one Airflow task per phase): keep its start, and phases that ran in it earlier
        count as run here, not as up to date."""
        earlier = read_json(self.run_dir / "run.json", None)
        if isinstance(earlier, dict) and earlier.get("started"):
            self.started = str(earlier["started"])
            self._earlier_s = float(earlier.get("duration_s") or 0.0)
        ran = {}
        if isinstance(earlier, dict):
            ran = {p.get("name"): p for p in earlier.get("phases") or [] if isinstance(p, dict)}
        for phase in self.phases:
            if phase.status == "up to date" and phase.run_id == self.run_id:
                phase.status = "succeeded"
                phase.reason = ran.get(phase.name, {}).get("reason") or "ran in this run"
                phase.duration_s = ran.get(phase.name, {}).get("duration_s")
                phase.timings = ran.get(phase.name, {}).get("timings") or {}

    def finish_timing(self, seconds: float) -> None:
        """End time now, and the duration: `seconds` of this invocation plus earlier ones'."""
        self.finished = datetime.now().astimezone().isoformat()
        self.duration_s = round(seconds + getattr(self, "_earlier_s", 0.0), 3)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["run_dir"] = str(self.run_dir)
        return data

    def save(self, durable: bool = True) -> Path:
        """Write run.json atomically (`durable=False`: a progress note, not synced to disk)."""
        target = self.run_dir / "run.json"
        # The same JSON as to_dict() gives, without its deep copy (saved twice per phase).
        text = json.dumps(self, indent=2, default=_json_value) + "\n"
        atomic_write_text(target, text, durable)
        return target


def is_data_phase(name: str) -> bool:
    """Whether phase `name` is the one whose reads are the input data (`01_...`)."""
    return name.startswith(f"{DATA_PHASE_NUMBER:02d}_")


def _json_value(value: Any) -> Any:
    """JSON form of what json cannot encode: dataclasses as dicts of their fields, else str."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in fields(value)}
    return str(value)
