"""One pipeline run: plan it, run the outdated phases in order, record and report it.

`run()` makes the plan (plan.py), takes the project's run lock (lock.py) and hands the phases that
must run to a `Run`: it executes them one by one in kernels from the pool (kernels/), commits
each successful phase's outputs (staging.py), and keeps the run record, the state and the reports
in step. Nothing heavy (papermill, nbconvert, pandas) is imported until a phase actually has to
run, so a run with nothing to do finishes in well under a second.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from . import records, staging
from .declarations import lighter_notebook_imports
from .interrupts import Interrupts, Terminated, handled
from .kernels import (
    DEFAULT_MODE,
    KernelPool,
    KernelStartError,
    import_jupyter_client,
    loaded_modules,
)
from .kernels import figures as kernel_figures
from .lock import RunBusyError, RunLock, abandoned_run
from .phases import Phase, PhaseError
from .plan import Plan, make_plan, status_lines
from .project import Project
from .project import load as load_project
from .records import PhaseRecord, RunRecord, git_state, new_run_id, read_io_log
from .state import State

__all__ = ["RunBusyError", "RunOptions", "Run", "run", "status", "settle_abandoned_run"]

DEFAULT_TIMEOUT = 3600.0  # seconds per cell
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
FIGURES = ("background", "inline")
FIGURES_ENV_VAR = "CRISP_FIGURES"  # `inline`: as `crisp run --figures inline`


def default_figures() -> str:
    """`background` unless `$CRISP_FIGURES` says `inline` (figures rendered in the kernel)."""
    chosen = os.environ.get(FIGURES_ENV_VAR, "").strip().lower()
    return chosen if chosen in FIGURES else "background"


@dataclass
class RunOptions:
    """What `crisp run` (or `crisp status`) was asked to do."""

    overrides: list[str] = field(default_factory=list)
    timeout: float | None = DEFAULT_TIMEOUT
    start: str | None = None
    stop: str | None = None
    only: list[str] | None = None
    force: bool = False
    kernel_start: str = DEFAULT_MODE
    figures: str = field(default_factory=default_figures)
    command: list[str] = field(default_factory=lambda: list(sys.argv))
    history: str | None = None  # a history of its own (`monitoring`): reports/<history>/
    run_id: str | None = None  # continue (or start) this run instead of a new one


class Progress(Protocol):
    """Receives progress as the run goes (the CLI prints it)."""

    def run_started(self, record: RunRecord) -> None: ...
    def phase_started(self, index: int, total: int, record: PhaseRecord) -> None: ...
    def phase_finished(self, index: int, total: int, record: PhaseRecord) -> None: ...
    def run_finished(self, record: RunRecord, index_html: Path) -> None: ...

    # Optional: `phase_output(text)` receives what the running phase's cells print.


def _plan(
    options: RunOptions, project: Project, state: State, pool: KernelPool | None = None
) -> Plan:
    return make_plan(
        project,
        state,
        overrides=options.overrides,
        start=options.start,
        stop=options.stop,
        only=options.only,
        force=options.force,
        on_imports=pool.prefetch_for if pool is not None else None,
    )


def status(options: RunOptions, project: Project | None = None) -> list[tuple[str, str, str]]:
    """`(phase, "up to date" | "outdated", why)` for every phase, as `crisp run` would decide."""
    project = project or load_project()
    state = State.load(project.root)
    return status_lines(_plan(options, project, state), state)


def run(options: RunOptions, progress: Progress, project: Project | None = None) -> RunRecord:
    """Run the outdated selected phases in order; stop at the first failure. Returns the record.

    An interrupted run is recorded and reported, then its KeyboardInterrupt (or `Terminated`)
    is raised again for the caller to exit with.
    """
    started = time.perf_counter()
    project = project or load_project()
    root = project.root
    with handled() as interrupts:
        state = State.load(root)
        # A first or forced run starts the fork server at once, so it imports the libraries
        # while the plan is made (a first run reads every notebook's parameters cell through
        # papermill: about a second); on a user error it is stopped unused. Otherwise the plan,
        # from cached parameters cells, takes milliseconds and may well find nothing to run:
        # the server starts after it.
        early = options.force or not state.phases
        pool = _kernel_pool(project, options.kernel_start) if early else None
        try:
            with interrupts.interruptible():
                plan = _plan(options, project, state, pool)  # user errors: nothing written
            with RunLock(root) as lock:
                settle_abandoned_run(root, lock)
                if state.stamp != State.stamp_of(root):  # another run finished meanwhile
                    state = State.load(root)
                    with interrupts.interruptible():
                        plan = _plan(options, project, state)
                if plan.blocked:
                    raise PhaseError(next(iter(plan.blocked.values())))
                if not plan.to_run:
                    return _nothing_to_do(options, progress, state, plan)
                if pool is None:
                    pool = _kernel_pool(project, options.kernel_start)
                    pool.prefetch_for([plan.imports[p.name] for p in plan.to_run])
                current = Run(plan, state, options, progress, pool, started)
                return current.execute(lock, interrupts)
        finally:
            if pool is not None:
                pool.close()


class Run:
    """One execution of a plan's outdated phases: its record, its kernels, its reports."""

    def __init__(
        self,
        plan: Plan,
        state: State,
        options: RunOptions,
        progress: Progress,
        pool: KernelPool,
        started: float,
    ) -> None:
        self.plan = plan
        self.state = state
        self.options = options
        self.progress = progress
        self.pool = pool
        self.started = started
        self.run_id = options.run_id or new_run_id()
        self.runs = records.runs_dir(plan.root, options.history)
        self.run_dir = self.runs / self.run_id
        self.record = RunRecord(
            run_id=self.run_id,
            run_dir=self.run_dir,
            command=options.command,
            parameters=plan.params,
            overrides=list(options.overrides),
            phases=[
                self._planned_record(phase)
                if phase in plan.to_run
                else _skipped_record(phase, plan, state)
                for phase in plan.selected
            ],
            git=git_state(plan.root),
            history=options.history,
        )
        _recall_records(self.record, plan, state, joined=options.run_id is not None)
        self.exports: Any = None  # reports.BackgroundExports, once the first phase runs

    @property
    def root(self) -> Path:
        """The project's root folder."""
        return self.plan.root

    def _planned_record(self, phase: Phase) -> PhaseRecord:
        return PhaseRecord(
            name=phase.name,
            parameters=self.plan.parameters[phase.name],
            code=self.plan.fingerprints[phase.name].code,
            reason="; ".join(self.plan.reasons[phase.name]),
        )

    # ------------------------------------------------------------------ the run

    def execute(self, lock: RunLock, interrupts: Interrupts) -> RunRecord:
        """Run the phases; whatever happens, finish the record, its index and the state.

        Re-raises an interrupt (after finishing) and an error of the runner itself.
        """
        self.run_dir.mkdir(parents=True, exist_ok=self.options.run_id is not None)
        lock.claim(self.run_dir.relative_to(self.root).as_posix())
        self.record.save(durable=False)
        self.progress.run_started(self.record)
        total = len(self.plan.selected)
        for index, phase in enumerate(self.plan.selected, start=1):
            if phase not in self.plan.to_run:
                self.progress.phase_started(index, total, self.record.phase(phase.name))
                self.progress.phase_finished(index, total, self.record.phase(phase.name))
        error: BaseException | None = None
        try:
            self._run_phases(interrupts)
        except KeyboardInterrupt:
            self.record.status = "interrupted"
        except BaseException as exc:  # an error of the runner itself, not of a cell
            self.record.status = "failed"
            error = exc
        interrupts.finishing()  # from here on the outcome is decided: it is recorded as it is
        self._close(error)
        lock.release_claim()
        if self.record.status == "interrupted":
            raise Terminated() if interrupts.terminated else KeyboardInterrupt()
        if error is not None:
            raise error
        return self.record

    def _run_phases(self, interrupts: Interrupts) -> None:
        """Run the outdated phases in order until one fails."""
        to_run = self.plan.to_run
        self.pool.prepare(*self._kernel_request(to_run[0]))
        # Imported here, after the first kernel started: these imports take seconds.
        import_jupyter_client()  # not beside the pool's thread (see kernels.pool)
        lighter_notebook_imports()
        from .reports import BackgroundExports

        self.exports = BackgroundExports()
        for position, phase in enumerate(to_run):
            for upcoming in to_run[position + 1 : position + 1 + self.pool.ahead]:
                self.pool.prepare(*self._kernel_request(upcoming))
            if not self._run_phase(phase, interrupts):
                return

    def _run_phase(self, phase: Phase, interrupts: Interrupts) -> bool:
        """Run one phase, commit its outputs, record it in run.json and the state.

        True when it succeeded. Only waiting for the kernel and executing the notebook can be
        interrupted; recording the outcome cannot.
        """
        from .execute import run_phase

        phase_record = self.record.phase(phase.name)
        index, total = self.plan.position(phase)
        phase_record.status = "running"
        phase_record.run_id = self.run_id
        self.record.save(durable=False)
        self.progress.phase_started(index, total, phase_record)
        started = time.perf_counter()
        try:
            with interrupts.interruptible():
                km = self.pool.take(*self._kernel_request(phase))
        except KernelStartError as exc:
            phase_record.duration_s = round(time.perf_counter() - started, 3)
            self._failed(phase, phase_record, _error_of(exc))
            return False
        waited = time.perf_counter() - started
        output = getattr(self.progress, "phase_output", None)  # what its cells print, as they do
        try:
            with interrupts.interruptible():
                result = run_phase(
                    phase,
                    self.plan.parameters[phase.name],
                    self.run_dir,
                    km,
                    self.options.timeout,
                    output,
                )
        except BaseException:
            self.pool.release(km)  # with it, the figures it was still rendering
            self._keep_partial_report(phase, phase_record)
            raise
        modules: list[str] = []
        if result.status == "succeeded" and self.pool.mode == "fork":
            modules = loaded_modules(km)
            self.pool.prefetch(modules)  # what libraries imported lazily, later phases may need
        # The kernel lives on until the figures it renders in the background are in the notebook.
        phase_record.notebook = _relative(result.notebook, self.root)
        report = self.exports.submit(
            result.notebook,
            result.nb,
            self._figures_dir(phase),
            release=lambda: self.pool.release(km),
        )
        phase_record.report = _relative(report, self.root)
        phase_record.duration_s = round(time.perf_counter() - started, 3)
        phase_record.timings = {"kernel_wait_s": round(waited, 3), "execute_s": result.duration_s}
        phase_record.collect(self.run_dir / phase.name)
        if result.status != "succeeded":
            self._keep_on_failure(phase)
            self._failed(phase, phase_record, result.error)
            return False
        try:
            staging.commit(self.run_dir / phase.name, self.root)
        except staging.CommitError as exc:
            self._failed(phase, phase_record, _error_of(exc))
            return False
        phase_record.status = "succeeded"
        details = {
            "report": phase_record.report,
            "notebook_path": phase_record.notebook,
            "quality": phase_record.quality,
            "metrics": phase_record.metrics,
            "duration_s": phase_record.duration_s,
            # With what was imported for it because it imported them in earlier runs: its
            # kernel found those and could not import them itself (kept, they would be
            # prefetched every other run only).
            "kernel_modules": sorted({*modules, *self.plan.imports[phase.name].earlier_runs}),
        }
        io_log = read_io_log(self.run_dir / phase.name / "io.jsonl")
        fingerprint = self.plan.fingerprints[phase.name]
        self.state.record_success(phase.name, self.run_id, fingerprint, io_log, details)
        self.state.save()
        self.record.update_fingerprint()
        self.record.save(durable=False)
        self.progress.phase_finished(index, total, phase_record)
        return True

    def _keep_on_failure(self, phase: Phase) -> None:
        """A failed phase's reports of its own checks (per the catalog) are put in place."""
        kept = self.plan.catalog.kept_on_failure(phase.name) if self.plan.catalog else []
        if kept:
            with contextlib.suppress(staging.CommitError):  # the failure is reported anyway
                staging.commit(
                    self.run_dir / phase.name,
                    self.root,
                    only=lambda path: any(entry.holds(path) for entry in kept),
                )

    def _failed(
        self, phase: Phase, phase_record: PhaseRecord, error: dict[str, Any] | None
    ) -> None:
        """The phase failed: its staged outputs are dropped, the state and record say so."""
        staging.discard(self.run_dir / phase.name)
        phase_record.status = "failed"
        phase_record.error = error
        self.state.record_failure(phase.name, self.run_id, error)
        self.state.save()
        self.record.update_fingerprint()
        self.record.save(durable=False)
        self.progress.phase_finished(*self.plan.position(phase), phase_record)

    def _keep_partial_report(self, phase: Phase, phase_record: PhaseRecord) -> None:
        """Interrupted (or the runner failed) in the middle of a phase: its partly executed
        notebook becomes its report, with the figures rendered so far."""
        notebook = self.run_dir / f"{phase.name}.ipynb"
        if notebook.exists() and self.exports is not None:
            phase_record.notebook = _relative(notebook, self.root)
            report = self.exports.submit(
                notebook, figures=self._figures_dir(phase), wait_for_figures=False
            )
            phase_record.report = _relative(report, self.root)
        phase_record.collect(self.run_dir / phase.name)

    # ------------------------------------------------------------------ the end of the run

    def _close(self, error: BaseException | None) -> None:
        """Finish the record, the state, the reports and the index; runs whatever happened.

        The place to add what a finished run writes (the run's index page and the `latest`
        pointer today): it runs after every phase is settled and before the last line printed.
        """
        for phase_record in self.record.phases:
            if phase_record.status == "running":  # interrupted, or the runner failed
                phase_record.status = self.record.status
                phase_record.error = None if error is None else _error_of(error)
                staging.discard(self.run_dir / phase_record.name)
                self.state.record_failure(phase_record.name, self.run_id, phase_record.error)
        self.state.save()
        if self.exports is not None:  # each report waits for its figures, then frees its kernel
            for notebook, failure in self.exports.wait().items():
                print(f"warning: HTML export of {notebook} failed: {failure}", file=sys.stderr)
                for phase_record in self.record.phases:
                    if phase_record.notebook == _relative(notebook, self.root):
                        phase_record.report = None
        self.pool.close(log_to=self.run_dir / "kernels.log")
        _finish(self.record, self.started)
        index = _write_index(self.record.to_dict(), self.run_dir)
        point_latest(self.runs, self.run_id)
        _after_run(self.record, self.plan.project)  # before the last line: it names the report
        self.progress.run_finished(self.record, index)

    # ------------------------------------------------------------------ kernels

    def _figures_dir(self, phase: Phase) -> Path | None:
        """Where the phase's kernel renders its figures, None when they render inline."""
        if self.options.figures != "background":
            return None
        return self.run_dir / phase.name / "figures"

    def _kernel_request(self, phase: Phase) -> tuple[str, dict[str, str], Any, Path, bool]:
        """Arguments of KernelPool.prepare/take for `phase`: name, env, imports, kernel log, and
        whether it is the run's last kernel."""
        env = {
            "CRISP_RUN_DIR": str(self.run_dir),
            "CRISP_PHASE": phase.name,
            **project_env(self.root),
        }
        figures = self._figures_dir(phase)
        if figures is not None:
            env[kernel_figures.ENV_VAR] = str(figures)
        return (
            phase.name,
            env,
            self.plan.imports[phase.name],
            self.run_dir / phase.name / "kernel.log",
            phase == self.plan.to_run[-1],
        )


def project_env(root: Path) -> dict[str, str]:
    """What every kernel of the project gets: its root, and PYTHONPATH with absolute entries.

    Relative PYTHONPATH entries are made absolute: the kernel runs in notebooks/, not here.
    """
    env = {"CRISP_PROJECT_ROOT": str(root)}
    pythonpath = os.environ.get("PYTHONPATH")
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(
            os.path.abspath(entry) if entry else entry for entry in pythonpath.split(os.pathsep)
        )
    return env


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
        from .files import atomic_write_text

        atomic_write_text(reports / "latest.txt", run_id + "\n")


def _write_index(record: dict[str, Any], run_dir: Path) -> Path:
    from .reports import write_index

    return write_index(record, run_dir)


def _relative(path: Path | str, root: Path) -> str:
    return Path(path).resolve().relative_to(root.resolve()).as_posix()


def _skipped_record(phase: Phase, plan: Plan, state: State) -> PhaseRecord:
    """An up-to-date phase in the run record: its last run's parameters, reports and lineage."""
    entry = state.phases[phase.name]
    reads, writes = [], []
    for op, target in (("reads", reads), ("writes", writes)):
        target.extend({"path": p, "sha256": h} for p, h in entry.get(op, {}).items())
    record = PhaseRecord(
        name=phase.name,
        status="up to date",
        parameters=plan.parameters[phase.name],
        quality=entry.get("quality"),
        metrics=entry.get("metrics", {}),
        reads=reads,
        writes=writes,
        code=entry.get("code", {}),
        notebook=entry.get("notebook_path"),
        report=entry.get("report"),
        run_id=entry.get("run_id"),
        reason=f"unchanged since run {entry.get('run_id')}",
    )
    record.recall(plan.root)  # its lineage and summary as its last run recorded them
    return record


def _recall_records(record: RunRecord, plan: Plan, state: State, joined: bool) -> None:
    """What the record takes from earlier runs: the data fingerprint when the data phase does not
    take part, and (`joined`, `--run-id`) the start and phases of the run it continues."""
    data = next((p.name for p in plan.phases if records.is_data_phase(p.name)), None)
    record.recall_data(plan.root, data, state.phases.get(data or "", {}).get("run_id"))
    if joined:
        record.join()


def _error_of(exc: BaseException) -> dict[str, Any]:
    """The run record's error entry for an exception raised outside the notebook's cells."""
    return {"cell": None, "ename": type(exc).__name__, "evalue": str(exc)}


def _nothing_to_do(options: RunOptions, progress: Progress, state: State, plan: Plan) -> RunRecord:
    """Every selected phase is up to date: say so and point at the last report; no new run.

    Stays fast (no kernels, no report rendering) and keeps the run history free of empty runs.
    """
    if state.cache_changed:
        state.save()  # keeps the caches of parameters cells and imports
    phases = [_skipped_record(phase, plan, state) for phase in plan.selected]
    last = max(str(p.run_id) for p in phases)
    record = RunRecord(
        run_id=last,
        run_dir=plan.root / "reports" / last,
        command=options.command,
        parameters=plan.params,
        overrides=list(options.overrides),
        phases=phases,
        status="succeeded",
        versions={},
        platform={},
    )
    total = len(phases)
    for index, phase_record in enumerate(phases, start=1):
        progress.phase_started(index, total, phase_record)
        progress.phase_finished(index, total, phase_record)
    progress.run_finished(record, record.run_dir / "index.html")
    return record


def _after_run(record: RunRecord, project: Project) -> None:
    """The project's `after_run` hook (e.g. experiment tracking) gets the finished run's record."""
    hook = project.hook("after_run")
    if hook is not None:
        hook(record.to_dict(), project.root)


def _finish(record: RunRecord, started: float) -> None:
    """Final statuses, end time and duration; saved to run.json."""
    if record.status == "running":
        failed = any(p.status == "failed" for p in record.phases)
        record.status = "failed" if failed else "succeeded"
    for phase in record.phases:
        if phase.status in ("pending", "running"):
            phase.status = "not run"
    record.finish_timing(time.perf_counter() - started)
    record.update_fingerprint()
    record.save()


def _kernel_pool(project: Project, mode: str) -> KernelPool:
    """Kernels for this run's phases (in fork mode, the fork server starts now)."""
    env = project_env(project.root)
    # As ipykernel does: inline figures unless the user chose a backend.
    env.setdefault("MPLBACKEND", os.environ.get("MPLBACKEND", INLINE_BACKEND))
    return KernelPool(cwd=project.notebooks_dir, mode=mode, server_env=env)


# ---------------------------------------------------------------------- runs that died


KILLED = "killed"


def settle_abandoned_run(root: Path, lock: RunLock | None = None) -> str | None:
    """Mark the run a dead process left behind (`kill -9`, a crash) as killed.

    Its run.json said `running` for ever; now it says `killed` (its running phase too), gets its
    index.html, and a commit of staged outputs cut short is completed (staging.py). Called with
    the run lock held (`lock`), or takes it when free. Returns the settled run's id, if any.
    """
    if lock is not None:
        run_id = lock.abandoned()
        held = None
    else:
        found = abandoned_run(root)
        if found is None:
            return None
        held, run_id = found
    try:
        if run_id is None:
            return None
        _mark_killed(root, run_id)
        if lock is not None:
            lock.release_claim()
        elif held is not None:
            held.release_claim()
        return run_id
    finally:
        if held is not None:
            held.__exit__()


def _mark_killed(root: Path, claimed: str) -> None:
    import json

    from .files import atomic_write_text

    run_dir = root / claimed  # the run's folder (reports/<run-id>/, or a history's)
    try:
        record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    for phase in record.get("phases", []):
        staging.recover(run_dir / str(phase.get("name")), root)
    if record.get("status") != "running":
        return
    record["status"] = KILLED
    for phase in record.get("phases", []):
        if phase.get("status") == "running":
            phase["status"] = KILLED
            phase["error"] = {
                "cell": None,
                "ename": "Killed",
                "evalue": "the run's process ended without finishing (killed or crashed)",
            }
        elif phase.get("status") == "pending":
            phase["status"] = "not run"
    state = State.load(root)
    for phase in record.get("phases", []):
        if phase.get("status") == KILLED:
            state.record_failure(str(phase["name"]), run_dir.name, phase.get("error"))
    state.save()
    last_seen = datetime.fromtimestamp((run_dir / "run.json").stat().st_mtime).astimezone()
    record["finished"] = last_seen.isoformat()
    try:
        began = datetime.fromisoformat(str(record.get("started")))
        record["duration_s"] = round((last_seen - began).total_seconds(), 3)
    except ValueError:
        pass
    atomic_write_text(run_dir / "run.json", json.dumps(record, indent=2, default=str) + "\n")
    _write_index(record, run_dir)
