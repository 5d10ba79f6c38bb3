"""One pipeline run: check parameters, run the phases in order, record and report as it goes."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from .. import paths
from ..params import ParamsError, apply_overrides, declared_parameters, load_params
from ..params import phase_parameters as select_parameters
from . import sources
from .kernels import KernelPool, KernelStartError
from .phases import Phase, PhaseError, discover, select
from .records import PhaseRecord, RunRecord, git_state, new_run_id

DEFAULT_TIMEOUT = 3600.0  # seconds per cell


@dataclass
class RunOptions:
    """What `crisp run` was asked to do."""

    overrides: list[str] = field(default_factory=list)
    timeout: float | None = DEFAULT_TIMEOUT
    start: str | None = None
    stop: str | None = None
    only: list[str] | None = None
    force: bool = False
    command: list[str] = field(default_factory=lambda: list(sys.argv))


class Progress(Protocol):
    """Receives progress as the run goes (the CLI prints it)."""

    def run_started(self, record: RunRecord) -> None: ...
    def phase_started(self, index: int, total: int, record: PhaseRecord) -> None: ...
    def phase_finished(self, index: int, total: int, record: PhaseRecord) -> None: ...
    def run_finished(self, record: RunRecord, index_html: Path) -> None: ...


@dataclass
class Plan:
    """Checked inputs of a run: the phases, their parameters and the effective params.yaml."""

    root: Path
    phases: list[Phase]
    selected: list[Phase]
    params: dict[str, dict[str, Any]]
    parameters: dict[str, dict[str, Any]]


def notebooks_dir(root: Path) -> Path:
    """Where the phase notebooks live."""
    return root / "notebooks"


def make_plan(options: RunOptions, root: Path | None = None) -> Plan:
    """Discover phases, load and override parameters, check every phase's parameters up front.

    Raises ParamsError / PhaseError (user errors) before anything is written.
    """
    root = root or paths.project_root()
    phases = discover(notebooks_dir(root)) if notebooks_dir(root).is_dir() else []
    if not phases:
        raise PhaseError(f"no phase notebooks (NN_name.ipynb) in {notebooks_dir(root)}")
    selected = select(phases, options.start, options.stop, options.only)
    params = apply_overrides(load_params(root / "params.yaml"), options.overrides)
    parameters = {
        phase.name: select_parameters(params, phase.section, declared_parameters(phase.notebook))
        for phase in selected
    }
    return Plan(root, phases, selected, params, parameters)


def phase_env(phase: Phase, run_dir: Path, root: Path) -> dict[str, str]:
    """Run context for the phase's kernel (read by runlog and paths)."""
    return {
        "CRISP_RUN_DIR": str(run_dir),
        "CRISP_PHASE": phase.name,
        "CRISP_PROJECT_ROOT": str(root),
    }


def warmup_modules(phase: Phase, root: Path) -> list[str]:
    """Modules the phase will import (its own and its helpers'): imported ahead of time."""
    try:
        return sources.dependencies(phase.notebook, root / "src")[0]
    except (OSError, ValueError):
        return []


def _kernel_request(
    phase: Phase, run_dir: Path, root: Path
) -> tuple[str, dict[str, str], list[str], Path]:
    """Arguments of KernelPool.prepare/take for `phase`: name, env, modules, kernel log."""
    log = run_dir / phase.name / "kernel.log"
    return phase.name, phase_env(phase, run_dir, root), warmup_modules(phase, root), log


def point_latest(reports: Path, run_id: str) -> None:
    """`reports/latest` -> the newest run (a symlink, or `latest.txt` where symlinks fail)."""
    link = reports / "latest"
    temp = reports / f".latest-{run_id}"
    try:
        temp.unlink(missing_ok=True)
        temp.symlink_to(run_id, target_is_directory=True)
        os.replace(temp, link)
    except OSError:
        temp.unlink(missing_ok=True)
        from ..artifacts import atomic_write_text

        atomic_write_text(reports / "latest.txt", run_id + "\n")


def _relative(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def run(options: RunOptions, progress: Progress, root: Path | None = None) -> RunRecord:
    """Run the selected phases in order; stop at the first failure. Returns the run record."""
    plan = make_plan(options, root)
    root = plan.root
    run_id = new_run_id()
    run_dir = root / "reports" / run_id
    run_dir.mkdir(parents=True)
    record = RunRecord(
        run_id=run_id,
        run_dir=run_dir,
        command=options.command,
        parameters=plan.params,
        overrides=list(options.overrides),
        phases=[
            PhaseRecord(name=p.name, parameters=plan.parameters[p.name]) for p in plan.selected
        ],
        git=git_state(root),
    )
    record.save()
    progress.run_started(record)
    started = time.perf_counter()
    to_run = plan.selected
    pool = KernelPool(cwd=notebooks_dir(root))
    try:
        if to_run:
            first = to_run[0]
            pool.prepare(*_kernel_request(first, run_dir, root))
        _run_phases(to_run, plan, record, pool, options, progress)
    except KeyboardInterrupt:
        record.status = "interrupted"
        for phase in record.phases:
            if phase.status == "running":
                phase.status = "interrupted"
        raise
    finally:
        pool.close()
        if record.status == "running":
            failed = any(p.status == "failed" for p in record.phases)
            record.status = "failed" if failed else "succeeded"
        for phase in record.phases:
            if phase.status == "pending":
                phase.status = "not run"
        record.finished = datetime.now().astimezone().isoformat()
        record.duration_s = round(time.perf_counter() - started, 3)
        record.update_fingerprint()
        record.save()
        from .reports import write_index

        index = write_index(record.to_dict(), run_dir)
        point_latest(root / "reports", run_id)
        _track(record, root)  # before the last line, which names the run's report
        progress.run_finished(record, index)
    return record


def _track(record: RunRecord, root: Path) -> None:
    """Log the finished run to MLflow when the project was generated with experiment tracking."""
    try:
        from .. import tracking
    except ImportError:  # experiment_tracking = none: the module does not exist
        return
    tracking.log_run_safely(record.to_dict(), root)


def _run_phases(
    to_run: list[Phase],
    plan: Plan,
    record: RunRecord,
    pool: KernelPool,
    options: RunOptions,
    progress: Progress,
) -> None:
    # Imported here, after the first kernel started: these imports take seconds.
    from .execute import run_phase
    from .reports import export_html

    root, run_dir = plan.root, record.run_dir
    total = len(plan.selected)
    for position, phase in enumerate(to_run):
        phase_record = record.phase(phase.name)
        index = plan.selected.index(phase) + 1
        phase_record.status = "running"
        phase_record.run_id = record.run_id
        record.save()
        progress.phase_started(index, total, phase_record)
        if position + 1 < len(to_run):
            upcoming = to_run[position + 1]
            pool.prepare(*_kernel_request(upcoming, run_dir, root))
        started = time.perf_counter()
        try:
            km = pool.take(*_kernel_request(phase, run_dir, root))
        except KernelStartError as exc:
            phase_record.status = "failed"
            phase_record.error = {"cell": None, "ename": "KernelStartError", "evalue": str(exc)}
            phase_record.duration_s = round(time.perf_counter() - started, 3)
            progress.phase_finished(index, total, phase_record)
            return
        try:
            result = run_phase(phase, plan.parameters[phase.name], run_dir, km, options.timeout)
        except KeyboardInterrupt:
            notebook = run_dir / f"{phase.name}.ipynb"
            report = _export_quietly(export_html, notebook, None)
            if report is not None:
                phase_record.notebook = _relative(notebook, root)
                phase_record.report = _relative(report, root)
            phase_record.collect(run_dir / phase.name)
            raise
        finally:
            pool.release(km)
        phase_record.notebook = _relative(result.notebook, root)
        report = _export_quietly(export_html, result.notebook, result.nb)
        phase_record.report = _relative(report, root) if report else None
        phase_record.status = result.status
        phase_record.duration_s = round(time.perf_counter() - started, 3)
        phase_record.error = result.error
        phase_record.collect(run_dir / phase.name)
        record.update_fingerprint()
        record.save()
        progress.phase_finished(index, total, phase_record)
        if result.status != "succeeded":
            return


def _export_quietly(export: Any, notebook: Path, nb: Any) -> Path | None:
    """HTML export that never turns a finished phase into a failure."""
    if not Path(notebook).exists():
        return None
    try:
        return export(notebook, nb)
    except Exception as exc:  # a report problem must not hide the phase's own outcome
        print(f"warning: HTML export of {notebook} failed: {exc}", file=sys.stderr)
        return None


__all__ = ["ParamsError", "PhaseError", "RunOptions", "make_plan", "run"]
