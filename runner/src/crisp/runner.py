"""One pipeline run: check parameters, decide what is outdated, run it in order, record and report.

Nothing heavy (papermill, nbconvert, pandas) is imported until a phase actually has to run, so a
run with nothing to do finishes in well under a second.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from . import records, sources
from .kernels import DEFAULT_MODE, KernelPool, KernelStartError, loaded_modules
from .kernels import figures as kernel_figures
from .params import apply_overrides, declared_parameters, load_params
from .params import phase_parameters as select_parameters
from .phases import Phase, PhaseError, discover, select
from .project import Project
from .project import load as load_project
from .records import PhaseRecord, RunRecord, git_state, new_run_id, read_io_log
from .state import Fingerprint, State

DEFAULT_TIMEOUT = 3600.0  # seconds per cell
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


class RunBusyError(RuntimeError):
    """Another run holds the project's lock."""


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


@dataclass
class Plan:
    """Checked inputs of a run and the decision, per selected phase, whether it must run and why."""

    project: Project
    phases: list[Phase]
    selected: list[Phase]
    params: dict[str, dict[str, Any]]
    parameters: dict[str, dict[str, Any]]
    fingerprints: dict[str, Fingerprint]
    modules: dict[str, list[str]]  # imported when the notebook's imports run
    imports: dict[str, list[str]]  # imported anywhere in the notebook and its helpers
    reasons: dict[str, list[str]]
    loaded: dict[str, list[str]]  # sys.modules at the end of each phase's last run

    @property
    def root(self) -> Path:
        """The project's root folder."""
        return self.project.root

    @property
    def to_run(self) -> list[Phase]:
        """Selected phases that run, in order."""
        return [phase for phase in self.selected if self.reasons[phase.name]]

    def import_order(self) -> list[str]:
        """What the phases that run will import, in the order they need it (`import_order`)."""
        names = [phase.name for phase in self.to_run]
        return import_order(names, self.modules, self.imports, self.loaded)


def _lighter_notebook_imports() -> None:
    """Skip an optional import nbformat's validator pulls in, which costs seconds and is unused.

    jsonschema imports `rfc3987_syntax` when installed, to check "iri" string formats, and that
    builds a grammar at import time (1-3 s). nbformat never checks string formats, so in the
    runner process the module is marked as absent before papermill or nbconvert is imported.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def _declared(phase: Phase, digest: str, cache: dict[str, Any]) -> dict[str, Any]:
    """The notebook's parameters cell, cached by notebook content (papermill is slow to import)."""
    if digest not in cache:
        _lighter_notebook_imports()
        cache[digest] = declared_parameters(phase.notebook)
    return cache[digest]


def make_plan(
    options: RunOptions,
    project: Project,
    state: State,
    prefetch: Callable[[list[str]], None] | None = None,
) -> Plan:
    """Discover phases, apply overrides, check every selected phase's parameters, decide what runs.

    `prefetch` is given, as soon as the notebooks' imports are known (before their parameters
    cells are read, which is slower), what the selected phases will import, in `import_order`.
    Raises ParamsError / PhaseError (user errors) before anything is written.
    """
    notebooks = project.notebooks_dir
    phases = discover(notebooks) if notebooks.is_dir() else []
    if not phases:
        raise PhaseError(f"no phase notebooks (NN_name.ipynb) in {notebooks}")
    selected = select(phases, options.start, options.stop, options.only)
    params = apply_overrides(load_params(project.params_file), options.overrides)
    parameters: dict[str, dict[str, Any]] = {}
    fingerprints: dict[str, Fingerprint] = {}
    modules: dict[str, list[str]] = {}
    imports: dict[str, list[str]] = {}
    reasons: dict[str, list[str]] = {}
    reruns: list[str] = []
    whole = len(selected) == len(phases)
    declared_cache = state.cache("declared", whole)
    import_cache = state.cache("imports", whole)
    found = {phase.name: _dependencies(phase, project, import_cache) for phase in selected}
    loaded = {name: entry.get("kernel_modules", []) for name, entry in state.phases.items()}
    for phase in selected:
        modules[phase.name] = found[phase.name].modules
        imports[phase.name] = found[phase.name].imports
    if prefetch is not None:
        prefetch(import_order([p.name for p in selected], modules, imports, loaded))
    for phase in selected:
        declaration = _declared(phase, found[phase.name].notebook_sha256, declared_cache)
        parameters[phase.name] = select_parameters(params, phase.section, declaration)
        fingerprint = state.fingerprint(found[phase.name], parameters[phase.name])
        fingerprints[phase.name] = fingerprint
        upstream = [p.name for p in phases if p.number < phase.number]
        if options.force:
            why = ["forced (--force)"]
        else:
            why = state.reasons(phase.name, fingerprint, upstream)
            why += [f"upstream {name} runs again" for name in reruns[:1]]
        reasons[phase.name] = why
        if why:
            reruns.append(phase.name)
    check = project.hook("checks")
    if check is not None:
        check(params, project.root)
    return Plan(
        project,
        phases,
        selected,
        params,
        parameters,
        fingerprints,
        modules,
        imports,
        reasons,
        loaded,
    )


def _dependencies(phase: Phase, project: Project, cache: dict[str, Any]) -> sources.Dependencies:
    """The notebook's helper sources and imports; a PhaseError when it cannot be read."""
    try:
        return sources.dependencies(phase.notebook, project.source_dir, cache)
    except (OSError, ValueError) as exc:
        raise PhaseError(
            f"cannot read {phase.notebook.relative_to(project.root)} ({exc}); "
            "fix the notebook or restore it from version control"
        ) from None


def startup_modules(
    phase: str, modules: Mapping[str, list[str]], loaded: Mapping[str, list[str]]
) -> list[str]:
    """What a forked kernel for `phase` should find imported when it starts.

    The notebook's imports, and what the phase imported itself in its last run (what libraries
    import lazily). Function-level imports of the helpers are not waited for: they are prefetched.
    """
    return sorted({*modules[phase], *loaded.get(phase, [])})


def import_order(
    phases: list[str],
    modules: Mapping[str, list[str]],
    imports: Mapping[str, list[str]],
    loaded: Mapping[str, list[str]],
) -> list[str]:
    """Every module `phases` may import, in the order the run needs them: each phase's
    `startup_modules` in phase order, then the helpers' function-level imports."""
    order: dict[str, None] = {}
    for phase in phases:
        order.update(dict.fromkeys(startup_modules(phase, modules, loaded)))
    for phase in phases:
        order.update(dict.fromkeys(sorted(imports[phase])))
    return list(order)


def status(options: RunOptions, project: Project | None = None) -> list[tuple[str, str, str]]:
    """`(phase, "up to date" | "outdated", why)` for every phase, as `crisp run` would decide."""
    project = project or load_project()
    state = State.load(project.root)
    plan = make_plan(options, project, state)
    lines = []
    for phase in plan.selected:
        why = plan.reasons[phase.name]
        if why:
            lines.append((phase.name, "outdated", "; ".join(why)))
        else:
            entry = state.phases[phase.name]
            lines.append((phase.name, "up to date", f"last run {entry.get('run_id')}"))
    return lines


def phase_env(phase: Phase, run_dir: Path, root: Path) -> dict[str, str]:
    """Run context for the phase's kernel (read by runlog and paths), and where its figures render.

    Relative PYTHONPATH entries are made absolute: the kernel runs in notebooks/, not here.
    """
    return {
        "CRISP_RUN_DIR": str(run_dir),
        "CRISP_PHASE": phase.name,
        kernel_figures.ENV_VAR: str(figures_dir(run_dir, phase)),
        **project_env(root),
    }


def figures_dir(run_dir: Path, phase: Phase) -> Path:
    """Where the phase's kernel renders its figures (emptied once they are in the notebook)."""
    return run_dir / phase.name / "figures"


def project_env(root: Path) -> dict[str, str]:
    """What every kernel of the project gets: its root, and PYTHONPATH with absolute entries."""
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


def _relative(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def _skipped_record(phase: Phase, plan: Plan, state: State) -> PhaseRecord:
    """A phase that is up to date: its last successful run stands in for it."""
    entry = state.phases[phase.name]
    record = PhaseRecord(
        name=phase.name,
        status="up to date",
        parameters=plan.parameters[phase.name],
        quality=entry.get("quality"),
        metrics=entry.get("metrics", {}),
        reads=[{"path": p, "sha256": h} for p, h in entry.get("reads", {}).items()],
        writes=[{"path": p, "sha256": h} for p, h in entry.get("writes", {}).items()],
        code=entry.get("code", {}),
        notebook=entry.get("notebook_path"),
        report=entry.get("report"),
        run_id=entry.get("run_id"),
        reason=f"unchanged since run {entry.get('run_id')}",
    )
    record.recall(plan.root)  # its lineage and summary as its last run recorded them
    return record


def run(options: RunOptions, progress: Progress, project: Project | None = None) -> RunRecord:
    """Run the outdated selected phases in order; stop at the first failure. Returns the record."""
    started = time.perf_counter()
    project = project or load_project()
    root = project.root
    state = State.load(root)
    # A first or forced run starts the fork server at once, so it imports the libraries while the
    # plan is made (a first run reads every notebook's parameters cell through papermill: about a
    # second); on a user error it is stopped unused. Otherwise the plan, from cached parameters
    # cells, takes milliseconds and may well find nothing to run: the server starts after it.
    early = options.force or not state.phases
    pool = _kernel_pool(project, options.kernel_start) if early else None
    try:
        # User errors come out before anything is written. The fork server starts importing
        # what the phases need while the parameters cells are read.
        plan = make_plan(options, project, state, pool.prefetch if pool else None)
        with _one_run_at_a_time(root):
            if state.stamp != State.stamp_of(root):  # another run finished meanwhile: decide again
                state = State.load(root)
                plan = make_plan(options, project, state)
            if pool is None and plan.to_run:
                pool = _kernel_pool(project, options.kernel_start)
                pool.prefetch(plan.import_order())
            return _run(options, progress, root, state, plan, started, pool)
    finally:
        if pool is not None:
            pool.close()


@contextmanager
def _one_run_at_a_time(root: Path) -> Iterator[None]:
    """Hold `reports/.lock` for the run: two runs on one project would mix their artifacts."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: no lock
        yield
        return
    lock = root / "reports" / ".lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunBusyError(
                "another `crisp run` is using this project; wait for it to finish or stop it"
            ) from None
        yield


def _run(
    options: RunOptions,
    progress: Progress,
    root: Path,
    state: State,
    plan: Plan,
    started: float,
    pool: KernelPool | None,
) -> RunRecord:
    to_run = plan.to_run
    if not to_run:
        return _nothing_to_do(options, progress, root, state, plan)
    assert pool is not None, "run() starts the kernel pool when phases are to run"
    run_id = options.run_id or new_run_id()
    runs = records.runs_dir(root, options.history)
    run_dir = runs / run_id
    run_dir.mkdir(parents=True, exist_ok=options.run_id is not None)
    record = RunRecord(
        run_id=run_id,
        run_dir=run_dir,
        command=options.command,
        parameters=plan.params,
        overrides=list(options.overrides),
        phases=[
            PhaseRecord(
                name=p.name,
                parameters=plan.parameters[p.name],
                code=plan.fingerprints[p.name].code,
                reason="; ".join(plan.reasons[p.name]),
            )
            if p in to_run
            else _skipped_record(p, plan, state)
            for p in plan.selected
        ],
        git=git_state(root),
        history=options.history,
    )
    _recall_records(record, plan, state, joined=options.run_id is not None)
    record.save(durable=False)
    progress.run_started(record)
    total = len(plan.selected)
    for index, phase in enumerate(plan.selected, start=1):
        if phase not in to_run:
            progress.phase_started(index, total, record.phase(phase.name))
            progress.phase_finished(index, total, record.phase(phase.name))
    try:
        pool.prepare(*_kernel_request(to_run[0], plan, run_dir, pool.mode))
        _run_phases(to_run, plan, record, state, pool, options, progress)
    except BaseException as exc:  # interrupted, or an error of the runner itself
        interrupted = isinstance(exc, KeyboardInterrupt)
        record.status = "interrupted" if interrupted else "failed"
        for phase_record in record.phases:
            if phase_record.status == "running":
                phase_record.status = record.status
                phase_record.error = None if interrupted else _error_of(exc)
                state.record_failure(phase_record.name, run_id, phase_record.error)
        state.save()
        raise
    finally:
        pool.close(log_to=run_dir / "kernels.log")
        _finish(record, started)
        from .reports import write_index

        index = write_index(record.to_dict(), run_dir)
        point_latest(runs, run_id)
        _after_run(record, plan.project)  # before the last line, which names the run's report
        progress.run_finished(record, index)
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


def _nothing_to_do(
    options: RunOptions, progress: Progress, root: Path, state: State, plan: Plan
) -> RunRecord:
    """Every selected phase is up to date: say so and point at the last report; no new run.

    Stays fast (no kernels, no report rendering) and keeps the run history free of empty runs.
    """
    if state.cache_changed:
        state.save()  # keeps the caches of parameters cells and imports
    phases = [_skipped_record(phase, plan, state) for phase in plan.selected]
    last = max(str(p.run_id) for p in phases)
    record = RunRecord(
        run_id=last,
        run_dir=root / "reports" / last,
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


def _kernel_request(
    phase: Phase, plan: Plan, run_dir: Path, mode: str
) -> tuple[str, dict[str, str], list[str], Path]:
    """Arguments of KernelPool.prepare/take for `phase`: name, env, modules, kernel log.

    A spawned kernel pre-imports what the notebook's imports import. The fork server imports
    before the fork what the phase needs when it starts (`startup_modules`); the rest it was
    asked to prefetch it imports while it has nothing else to do.
    """
    env = phase_env(phase, run_dir, plan.root)
    if mode == "fork":
        modules = startup_modules(phase.name, plan.modules, plan.loaded)
    else:
        modules = plan.modules[phase.name]
    return phase.name, env, modules, run_dir / phase.name / "kernel.log"


def _run_phases(
    to_run: list[Phase],
    plan: Plan,
    record: RunRecord,
    state: State,
    pool: KernelPool,
    options: RunOptions,
    progress: Progress,
) -> None:
    """Run `to_run` in order until one fails; HTML reports are written in the background."""
    # Imported here, after the first kernel started: these imports take seconds.
    _lighter_notebook_imports()
    from .reports import BackgroundExports

    exports = BackgroundExports()
    try:
        for position, phase in enumerate(to_run):
            for upcoming in to_run[position + 1 : position + 1 + pool.ahead]:
                pool.prepare(*_kernel_request(upcoming, plan, record.run_dir, pool.mode))
            if not _run_one(phase, plan, record, state, pool, options, progress, exports):
                return
    finally:
        for notebook, error in exports.wait().items():
            print(f"warning: HTML export of {notebook} failed: {error}", file=sys.stderr)
            for phase_record in record.phases:
                if phase_record.notebook == _relative(notebook, plan.root):
                    phase_record.report = None


def _run_one(
    phase: Phase,
    plan: Plan,
    record: RunRecord,
    state: State,
    pool: KernelPool,
    options: RunOptions,
    progress: Progress,
    exports: Any,
) -> bool:
    """Run one phase, record it in run.json and the state; True when it succeeded."""
    from .execute import run_phase

    root, run_dir = plan.root, record.run_dir
    phase_record = record.phase(phase.name)
    index, total = plan.selected.index(phase) + 1, len(plan.selected)
    phase_record.status = "running"
    phase_record.run_id = record.run_id
    record.save(durable=False)
    progress.phase_started(index, total, phase_record)
    started = time.perf_counter()
    try:
        km = pool.take(*_kernel_request(phase, plan, run_dir, pool.mode))
    except KernelStartError as exc:
        phase_record.status = "failed"
        phase_record.error = _error_of(exc)
        phase_record.duration_s = round(time.perf_counter() - started, 3)
        state.record_failure(phase.name, record.run_id, phase_record.error)
        state.save()
        progress.phase_finished(index, total, phase_record)
        return False
    waited = time.perf_counter() - started
    modules: list[str] = []
    figures = figures_dir(run_dir, phase)
    try:
        output = getattr(progress, "phase_output", None)  # what its cells print, as they do
        result = run_phase(phase, plan.parameters[phase.name], run_dir, km, options.timeout, output)
        if result.status == "succeeded" and pool.mode == "fork":
            modules = loaded_modules(km)
            pool.prefetch(modules)  # what libraries imported lazily, later phases may need too
    except BaseException as exc:
        pool.release(km)  # with it, the figures it was still rendering
        if isinstance(exc, KeyboardInterrupt):
            notebook = run_dir / f"{phase.name}.ipynb"
            if notebook.exists():
                phase_record.notebook = _relative(notebook, root)
                report = exports.submit(notebook, figures=figures, wait_for_figures=False)
                phase_record.report = _relative(report, root)
            phase_record.collect(run_dir / phase.name)
        raise
    # The kernel lives on until the figures it renders in the background are in the notebook.
    phase_record.notebook = _relative(result.notebook, root)
    report = exports.submit(result.notebook, result.nb, figures, release=lambda: pool.release(km))
    phase_record.report = _relative(report, root)
    phase_record.status = result.status
    phase_record.duration_s = round(time.perf_counter() - started, 3)
    phase_record.timings = {"kernel_wait_s": round(waited, 3), "execute_s": result.duration_s}
    phase_record.error = result.error
    phase_record.collect(run_dir / phase.name)
    if result.status == "succeeded":
        details = {
            "report": phase_record.report,
            "notebook_path": phase_record.notebook,
            "quality": phase_record.quality,
            "metrics": phase_record.metrics,
            "duration_s": phase_record.duration_s,
            "kernel_modules": modules,
        }
        io_log = read_io_log(run_dir / phase.name / "io.jsonl")
        state.record_success(
            phase.name, record.run_id, plan.fingerprints[phase.name], io_log, details
        )
    else:
        state.record_failure(phase.name, record.run_id, result.error)
    state.save()
    record.update_fingerprint()
    record.save(durable=False)
    progress.phase_finished(index, total, phase_record)
    return result.status == "succeeded"
