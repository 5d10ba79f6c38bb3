"""The plan of a run: the phases, their checked parameters, their fingerprints, and per phase
whether it must run and why (`crisp status` shows it; `crisp run` carries it out).

Everything a user can get wrong (parameters, phase names, a phase whose inputs no phase of this
run will write) is found here, before anything is written or any kernel runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import sources
from .declarations import declared_parameters
from .kernels import PhaseImports
from .params import Params, apply_overrides, check_names, load_params, phase_parameters
from .phases import Phase, PhaseError, discover, select
from .project import Project, ProjectError
from .state import Fingerprint, State


@dataclass
class Plan:
    """Checked inputs of a run and the decision, per selected phase, whether it must run and why."""

    project: Project
    phases: list[Phase]  # every phase of the project, in order
    selected: list[Phase]  # the phases asked for (all unless --from/--to/--only)
    params: Params  # params.yaml with the overrides applied
    parameters: dict[str, dict[str, Any]]  # per selected phase: what its notebook receives
    fingerprints: dict[str, Fingerprint]
    reasons: dict[str, list[str]]  # per selected phase: why it runs (empty: up to date)
    imports: dict[str, PhaseImports]  # per selected phase: for the kernel pool's preloading
    blocked: dict[str, str] = field(default_factory=dict)  # phase -> an input it cannot find
    catalog: Any = None  # the project's artifact catalog (crisp.catalog.Catalog), if it has one

    @property
    def root(self) -> Path:
        """The project's root folder."""
        return self.project.root

    @property
    def to_run(self) -> list[Phase]:
        """Selected phases that run, in order."""
        return [phase for phase in self.selected if self.reasons[phase.name]]

    def position(self, phase: Phase) -> tuple[int, int]:
        """(1-based index, count) of `phase` among the selected ones, for progress lines."""
        return self.selected.index(phase) + 1, len(self.selected)


def _declared(notebook: Path, digest: str, cache: dict[str, Any]) -> dict[str, Any]:
    """The notebook's parameters cell, cached by notebook content (papermill is slow to import)."""
    if digest not in cache:
        cache[digest] = declared_parameters(notebook)
    return cache[digest]


def _notebook_sha256(phase: Phase, project: Project) -> str:
    from .files import sha256_file

    try:
        return sha256_file(phase.notebook)
    except OSError as exc:
        raise _unreadable(phase, project, exc) from None


def _unreadable(phase: Phase, project: Project, exc: Exception) -> PhaseError:
    return PhaseError(
        f"cannot read {phase.notebook.relative_to(project.root)} ({exc}); "
        "fix the notebook or restore it from version control"
    )


def _dependencies(phase: Phase, project: Project, cache: dict[str, Any]) -> sources.Dependencies:
    """The notebook's helper sources and imports; a PhaseError when it cannot be read."""
    try:
        return sources.dependencies(phase.notebook, project.source_dir, cache)
    except (OSError, ValueError) as exc:
        raise _unreadable(phase, project, exc) from None


def make_plan(
    project: Project,
    state: State,
    *,
    overrides: list[str] | None = None,
    start: str | None = None,
    stop: str | None = None,
    only: list[str] | None = None,
    force: bool = False,
    on_imports: Callable[[list[PhaseImports]], None] | None = None,
) -> Plan:
    """Discover phases, apply overrides, check the parameters of every phase, decide what runs.

    `on_imports` is given, as soon as the notebooks' imports are known (before their parameters
    cells are read, which is slower), what the selected phases will import, in run order.
    Raises ParamsError / PhaseError (user errors) before anything is written.
    """
    notebooks = project.notebooks_dir
    phases = discover(notebooks) if notebooks.is_dir() else []
    if not phases:
        raise PhaseError(f"no phase notebooks (NN_name.ipynb) in {notebooks}")
    selected = select(phases, start, stop, only)
    in_file = load_params(project.params_file)
    whole = len(selected) == len(phases)
    declared_cache = state.cache("declared", whole)
    import_cache = state.cache("imports", whole)
    found = {p.name: _dependencies(p, project, import_cache) for p in selected}
    imports = {
        p.name: PhaseImports(
            eager=found[p.name].modules,
            anywhere=found[p.name].imports,
            earlier_runs=state.phases.get(p.name, {}).get("kernel_modules", []),
        )
        for p in selected
    }
    if on_imports is not None:
        on_imports([imports[p.name] for p in selected])
    digests = {
        p.name: found[p.name].notebook_sha256 if p.name in found else _notebook_sha256(p, project)
        for p in phases
    }
    declared = {p.section: _declared(p.notebook, digests[p.name], declared_cache) for p in phases}
    check_names(in_file, declared)  # the file's own mistakes first, then the overrides'
    params = apply_overrides(in_file, overrides or [])
    check_names(params, declared)
    parameters = {p.name: phase_parameters(params, p.section, declared[p.section]) for p in phases}
    check = project.hook("checks")
    if check is not None:
        check(params, project.root)
    fingerprints: dict[str, Fingerprint] = {}
    reasons: dict[str, list[str]] = {}
    reruns: list[str] = []
    for phase in selected:
        fingerprint = state.fingerprint(found[phase.name], parameters[phase.name])
        fingerprints[phase.name] = fingerprint
        upstream = [p.name for p in phases if p.number < phase.number]
        if force:
            why = ["forced (--force)"]
        else:
            why = state.reasons(phase.name, fingerprint, upstream)
            why += [f"upstream {name} runs again" for name in reruns[:1]]
        reasons[phase.name] = why
        if why:
            reruns.append(phase.name)
    to_run = [p for p in selected if reasons[p.name]]
    catalog = _catalog(project, phases) if to_run else None
    blocked = _blocked(catalog, project, to_run)
    return Plan(
        project=project,
        phases=phases,
        selected=selected,
        params=params,
        parameters={p.name: parameters[p.name] for p in selected},
        fingerprints=fingerprints,
        reasons=reasons,
        imports=imports,
        blocked=blocked,
        catalog=catalog,
    )


def _catalog(project: Project, phases: list[Phase]) -> Any:
    """The project's artifact catalog (`[tool.crisp] catalog`), checked against its phases."""
    from .catalog import CatalogError

    catalog = project.hook("catalog")
    if catalog is None:
        return None
    try:
        catalog.check_phases([phase.name for phase in phases])
    except CatalogError as exc:
        raise ProjectError(f"[tool.crisp] catalog = {project.catalog!r}: {exc}") from None
    return catalog


def _blocked(catalog: Any, project: Project, to_run: list[Phase]) -> dict[str, str]:
    """Phases to run whose inputs (per the artifact catalog) neither exist nor are written by a
    phase that runs before them: `{phase: "... run phase X first"}`."""
    if catalog is None:
        return {}
    blocked = {}
    for position, phase in enumerate(to_run):
        before = [p.name for p in to_run[:position]]
        missing = catalog.missing_inputs(phase.name, project.root, before)
        if missing:
            blocked[phase.name] = missing[0][1]
    return blocked


def status_lines(plan: Plan, state: State) -> list[tuple[str, str, str]]:
    """`(phase, "up to date" | "outdated", why)` for every selected phase."""
    lines = []
    for phase in plan.selected:
        why = plan.reasons[phase.name]
        if phase.name in plan.blocked:
            lines.append((phase.name, "blocked", plan.blocked[phase.name]))
        elif why:
            lines.append((phase.name, "outdated", "; ".join(why)))
        else:
            entry = state.phases[phase.name]
            lines.append((phase.name, "up to date", f"last run {entry.get('run_id')}"))
    return lines
