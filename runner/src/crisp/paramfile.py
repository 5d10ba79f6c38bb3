"""`crisp params`: params.yaml checked against the parameters cells, or written from them.

The parameters cells declare each parameter once (declarations.py); params.yaml holds the values.
`check` lists every disagreement (a key no notebook declares, a declared key missing from the file,
a shared key declared differently in two notebooks, a cell line papermill does not read, a value of
the wrong type or out of range); `render` writes the file from the cells, keeping the values (as
written) of the keys it already has: a new parameter needs one edit, in its notebook's cell.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .declarations import (
    ParamsError,
    declared_parameters,
    default_value,
    parameters_cell,
    repeated_lines,
    same_declaration,
    unread_lines,
)
from .params import SHARED, Params, check_names, load_params, phase_parameters, strict_yaml
from .phases import Phase, discover
from .project import Project

HEADER = """\
# The pipeline's parameters: `crisp run` injects `shared` plus each phase's own section into that
# phase's notebook (papermill parameters); override a value for one run with
# `crisp run --set section.key=value`. Each parameter is declared once, in its notebook's
# `parameters` cell (type, default, help, allowed values): `crisp params` checks this file against
# the cells, `crisp params --write` rewrites it from them, keeping the values set here.
"""
COMMENT_COLUMN = 32  # where the help comments start, as far as the values allow


@dataclass
class Cells:
    """What the phase notebooks declare."""

    phases: list[Phase]
    declared: dict[str, dict[str, dict[str, Any]]]  # section -> name -> declaration
    unread: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # phase -> lines
    repeated: dict[str, list[tuple[int, str, int]]] = field(default_factory=dict)  # phase -> lines

    def shared(self, params: dict[str, dict[str, Any]] | None = None) -> list[str]:
        """The shared keys: declared by two or more notebooks, or kept in `shared` by the user,
        in the order the notebooks first declare them."""
        counts: dict[str, int] = {}
        for names in self.declared.values():
            for name in names:
                counts[name] = counts.get(name, 0) + 1
        kept = set((params or {}).get(SHARED, {}))
        return [name for name, count in counts.items() if count > 1 or name in kept]

    def where(self, section: str) -> str:
        """`notebooks/03_modelling.ipynb` for a section."""
        phase = next(p for p in self.phases if p.section == section)
        return f"{phase.notebook.parent.name}/{phase.notebook.name}"


def read_cells(project: Project) -> Cells:
    """Every phase notebook's parameters cell."""
    phases = discover(project.notebooks_dir) if project.notebooks_dir.is_dir() else []
    declared: dict[str, dict[str, dict[str, Any]]] = {}
    unread: dict[str, list[tuple[int, str]]] = {}
    repeated: dict[str, list[tuple[int, str, int]]] = {}
    for phase in phases:
        declared[phase.section] = declared_parameters(phase.notebook)
        source = parameters_cell(phase.notebook)
        if source is not None:
            unread[phase.name] = unread_lines(source, declared[phase.section])
            repeated[phase.name] = repeated_lines(source)
    return Cells(phases=phases, declared=declared, unread=unread, repeated=repeated)


def check(project: Project) -> list[str]:
    """Every disagreement between params.yaml and the parameters cells, one line each."""
    cells = read_cells(project)
    problems: list[str] = []
    for phase in cells.phases:
        for line, name in cells.unread.get(phase.name, []):
            problems.append(
                f"{cells.where(phase.section)}: line {line} of the parameters cell ({name}) is "
                "not read by papermill: a second '=' on the line, in its help text perhaps"
            )
        for line, name, first in cells.repeated.get(phase.name, []):
            problems.append(
                f"{cells.where(phase.section)}: line {line} of the parameters cell declares "
                f"{name} again (first on line {first}); keep one declaration"
            )
    params = load_params(project.params_file)  # a file that cannot be read: one ParamsError
    problems += _unknown(params, cells)
    shared = cells.shared(params)
    for name in shared:
        declaring = [s for s, names in cells.declared.items() if name in names]
        first = cells.declared[declaring[0]][name]
        for other in declaring[1:]:
            if not same_declaration(first, cells.declared[other][name]):
                problems.append(
                    f"shared parameter {name} is declared differently in "
                    f"{cells.where(declaring[0])} and {cells.where(other)}; declare it the same "
                    "way (type, default, help) in every notebook"
                )
                break
        if name not in params.get(SHARED, {}) and not all(
            name in params.get(s, {}) for s in declaring
        ):
            problems.append(f"{SHARED}.{name} is missing from params.yaml{_add_hint()}")
    for section, names in cells.declared.items():
        for name in names:
            if name in shared or name in params.get(section, {}):
                continue
            problems.append(
                f"{section}.{name} (declared in {cells.where(section)}) is missing from "
                f"params.yaml{_add_hint()}"
            )
    if not problems:
        for section, names in cells.declared.items():
            try:
                phase_parameters(params, section, names)
            except ParamsError as exc:
                problems.append(str(exc))
        check_hook = project.hook("checks")
        if check_hook is not None and not problems:
            try:
                check_hook(params, project.root)
            except ParamsError as exc:
                problems.append(str(exc))
    return problems


def _add_hint() -> str:
    return "; add it there (its default is used meanwhile) or run `crisp params --write`"


def _unknown(params: Params, cells: Cells) -> list[str]:
    """check_names' errors, all of them rather than the first."""
    problems = []
    for section in params:
        for key in [None, *params[section]]:
            probe = Params({section: {} if key is None else {key: params[section][key]}})
            probe.path, probe.lines = params.path, params.lines
            try:
                check_names(probe, cells.declared)
            except ParamsError as exc:
                problems.append(str(exc))
                if key is None:
                    break
    return problems


# ---------------------------------------------------------------------- writing the file


def _flow(value: Any) -> str:
    """A value as one line of YAML."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**9)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _raw_values(path: Path) -> dict[tuple[str, str], str]:
    """The values of params.yaml as written (`0.30` stays `0.30`), where each is one line."""
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8-sig")
    _, node = strict_yaml(text)
    raw: dict[tuple[str, str], str] = {}
    if not isinstance(node, yaml.MappingNode):
        return raw
    for section_node, values_node in node.value:
        if not isinstance(values_node, yaml.MappingNode):
            continue
        for key_node, value_node in values_node.value:
            written = text[value_node.start_mark.index : value_node.end_mark.index].strip()
            if written and "\n" not in written:
                raw[(str(section_node.value), str(key_node.value))] = written
    return raw


def render(project: Project) -> tuple[str, list[str]]:
    """(params.yaml written from the cells, the `section.key`s of the old file it drops).

    Values already in the file are kept as written; new keys get their notebook's default.
    """
    cells = read_cells(project)
    path = project.params_file
    exists = path.is_file() and path.stat().st_size > 0
    params = load_params(path) if exists else Params()
    raw = _raw_values(path) if exists else {}
    shared = cells.shared(params)
    first_declared = {
        name: names[name]
        for names in reversed(list(cells.declared.values()))
        for name in names
        if name in shared
    }
    blocks = [(SHARED, [(name, first_declared[name]) for name in shared])] if shared else []
    for phase in cells.phases:
        names = cells.declared[phase.section]
        own = [
            (n, d)
            for n, d in names.items()
            if n not in shared or n in params.get(phase.section, {})
        ]
        if own:
            blocks.append((phase.section, own))
    kept: set[tuple[str, str]] = set()
    lines = [HEADER.rstrip("\n")]
    for section, entries in blocks:
        lines += ["", f"{section}:"]
        rows = []
        for name, declaration in entries:
            if (section, name) in raw:
                value = raw[(section, name)]
            elif name in params.get(section, {}):
                value = _flow(params[section][name])
            else:
                value = _flow(default_value(declaration))
            kept.add((section, name))
            rows.append((f"  {name}: {value}", str(declaration.get("help", "")).strip()))
        width = max([COMMENT_COLUMN - 2, *(len(text) for text, _ in rows if len(text) < 60)])
        for text, help_text in rows:
            lines.append(f"{text:<{width}}  # {help_text}" if help_text else text)
    dropped = [
        f"{section}.{key}"
        for section, values in params.items()
        for key in values
        if (section, key) not in kept
    ]
    return "\n".join(lines) + "\n", dropped


def write(project: Project, echo: Callable[[str], None] = print) -> Path:
    """Write params.yaml from the cells (atomically); says what it dropped."""
    from .files import atomic_write_text

    text, dropped = render(project)
    atomic_write_text(project.params_file, text)
    for name in dropped:
        echo(f"dropped {name}: no notebook declares it")
    return project.params_file
