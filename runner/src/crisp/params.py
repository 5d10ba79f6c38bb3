"""Parameter values: read params.yaml strictly, apply `--set` overrides, pick one phase's values.

`params.yaml` holds a `shared` section plus one section per phase (named after the notebook without
its number). A phase's notebook receives the `shared` keys its parameters cell declares and all keys
of its own section. What a parameter is (type, default, help, allowed values) is declared once, in
the parameters cells (declarations.py); checks that relate several parameters, or need the data, are
the project's (`[tool.crisp] checks`).

The file is read strictly, since a misread file runs the pipeline on values nobody chose: a key
given twice, an unknown section or key, an empty file, YAML anchors and aliases (`&a`, `*a`: a
small file can expand to gigabytes) are errors, each one line naming the place and the fix.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .declarations import (
    FIX,
    Declaration,
    ParamsError,
    check_constraint,
    check_type,
    constraint,
    declared_parameters,
    help_without_constraint,
    hint,
)

__all__ = [
    "FIX",
    "SHARED",
    "Params",
    "ParamsError",
    "apply_overrides",
    "check_names",
    "constraint",
    "declared_parameters",
    "help_without_constraint",
    "load_params",
    "phase_parameters",
]

SHARED = "shared"
PARAMS_FILE = "params.yaml"


class Params(dict):
    """`{section: {key: value}}` as read from a file; `lines` says where each section and key
    is (`(section, None)` for a section), for messages."""

    def __init__(self, *args: Any, path: Path | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.path = path
        self.lines: dict[tuple[str, str | None], int] = {}

    def where(self, section: str, key: str | None = None) -> str:
        """`params.yaml line 12: ` for a section or key read from the file, else ``."""
        line = self.lines.get((section, key))
        if line is None or self.path is None:
            return ""
        return f"{self.path.name} line {line}: "


# ---------------------------------------------------------------------- reading the file


class _Refused(yaml.MarkedYAMLError):
    """YAML this runner does not accept (duplicate keys, anchors and aliases)."""


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses anchors, aliases and keys given twice."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(
                problem="YAML anchors and aliases (&name, *name) are not accepted; write the "
                "value out",
                problem_mark=event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.setdefault(key, line)
            except TypeError:  # an unhashable key: PyYAML names it below
                continue
            if first != line:
                raise _Refused(
                    problem=f"'{key}' is given twice (lines {first} and {line}); keep one",
                    problem_mark=key_node.start_mark,
                )
        return super().construct_mapping(node, deep)


def strict_yaml(text: str) -> tuple[Any, Any]:
    """(value, node) of one YAML document read with the strict loader (None, None if empty)."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        return (loader.construct_document(node) if node is not None else None), node
    finally:
        loader.dispose()


def _read_text(path: Path) -> str:
    """The file's text, or a ParamsError saying in one line why it cannot be read."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ParamsError(
            f"parameter file {path} not found; create it (sections `shared` and one per "
            "phase), e.g. with `crisp params --write`"
        ) from None
    except IsADirectoryError:
        raise ParamsError(
            f"{path} is a directory; the parameters must be a file (sections `shared` and one "
            "per phase): remove the directory, then `crisp params --write`"
        ) from None
    except OSError as exc:
        raise ParamsError(f"cannot read {path} ({exc.strerror}); check the file") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ParamsError(
            f"{path} line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file "
            "as UTF-8"
        ) from None


def load_params(path: Path | None = None) -> Params:
    """Read params.yaml (default: `./params.yaml`) into `{section: {key: value}}`."""
    path = Path(path) if path is not None else Path.cwd() / PARAMS_FILE
    text = _read_text(path)
    try:
        data, node = strict_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        kind = "" if isinstance(exc, _Refused) else "invalid YAML: "
        raise ParamsError(f"{path}{where}: {kind}{problem}; fix it there") from None
    if data is None:
        raise ParamsError(
            f"{path} is empty; it must hold the parameters (sections `shared` and one per "
            "phase): restore it from version control or write it with `crisp params --write`"
        )
    if not isinstance(data, dict):
        raise ParamsError(
            f"{path}: the top level must be a mapping of sections (shared:, modelling:, ...), "
            f"not a {type(data).__name__}"
        )
    params = Params(path=path)
    for section_node, values_node in node.value:
        section = str(section_node.value)
        params.lines[(section, None)] = section_node.start_mark.line + 1
        if isinstance(values_node, yaml.MappingNode):
            for key_node, _ in values_node.value:
                params.lines[(section, str(key_node.value))] = key_node.start_mark.line + 1
    for section, values in data.items():
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise ParamsError(
                f"{path}: section '{section}' must be a mapping of `key: value` lines, "
                f"not a {type(values).__name__}"
            )
        params[str(section)] = {str(key): value for key, value in values.items()}
    return params


# ---------------------------------------------------------------------- overrides


def _parse_override(override: str) -> tuple[str, str, Any]:
    section_key, sep, raw = override.partition("=")
    section, dot, key = section_key.strip().partition(".")
    if not sep or not dot or not section or not key:
        raise ParamsError(
            f"malformed override '{override}'; expected SECTION.KEY=VALUE, "
            "e.g. --set modelling.cv_folds=3"
        )
    raw = raw.strip()
    if not raw:
        return section, key, ""
    try:
        value, _ = strict_yaml(raw)
    except yaml.YAMLError:
        raise ParamsError(
            f"override '{override}': the value is not valid YAML; quote strings "
            "and write lists as [a, b]"
        ) from None
    return section, key, value


def apply_overrides(params: Mapping[str, Mapping[str, Any]], overrides: Sequence[str]) -> Params:
    """Copy of `params` with each `section.key=value` applied (value parsed as YAML)."""
    result = Params(
        {section: dict(values) for section, values in copy.deepcopy(dict(params)).items()},
        path=getattr(params, "path", None),
    )
    result.lines = dict(getattr(params, "lines", {}))
    for override in overrides:
        section, key, value = _parse_override(override)
        if section not in result:
            valid = sorted(result)
            raise ParamsError(f"unknown section {section} in '{override}'{hint(section, valid)}")
        if key not in result[section]:
            valid = sorted(result[section])
            raise ParamsError(f"unknown parameter {section}.{key}{hint(key, valid)}")
        result[section][key] = value
        result.lines.pop((section, key), None)  # no longer the file's value
    return result


# ---------------------------------------------------------------------- checking


def check_names(
    params: Mapping[str, Mapping[str, Any]],
    declared: Mapping[str, Mapping[str, Declaration]],
) -> None:
    """Raise ParamsError for a section, or a key, that no notebook declares.

    `declared` maps each phase's section to its notebook's parameters cell (every phase of the
    project, not only those that run: a misspelt key is an error wherever it is).
    """
    where = params.where if isinstance(params, Params) else (lambda *_: "")
    sections = [SHARED, *declared]
    for section in params:
        if section not in sections:
            raise ParamsError(
                f"{where(section)}unknown section '{section}'{hint(section, sections)} (one "
                "per phase notebook); fix it in params.yaml"
            )
    anywhere = sorted(set().union(*map(set, declared.values())) if declared else set())
    for key in params.get(SHARED, {}):
        if key not in anywhere:
            raise ParamsError(
                f"{where(SHARED, key)}parameter {SHARED}.{key} is not declared in any notebook's "
                f"parameters cell{hint(key, anywhere)}; fix it in params.yaml"
            )
    for section, names in declared.items():
        for key in params.get(section, {}):
            if key not in names:
                raise ParamsError(
                    f"{where(section, key)}parameter {section}.{key} is not declared in the "
                    f"notebook's parameters cell{hint(key, sorted(names))}; add it to the "
                    "parameters cell or remove it from params.yaml"
                )


def phase_parameters(
    params: Mapping[str, Mapping[str, Any]],
    section: str,
    declared: Mapping[str, Declaration],
) -> dict[str, Any]:
    """Parameters for one phase: the `shared` keys it declares plus all keys of its section.

    Raises ParamsError when the section has a key the notebook does not declare, a value's type
    does not match the notebook's annotation, or a value breaks its declared constraint.
    """
    chosen: dict[str, Any] = {}
    for key, value in params.get(SHARED, {}).items():
        if key in declared:
            chosen[key] = value
    own = params.get(section, {})
    for key, value in own.items():
        if key not in declared:
            raise ParamsError(
                f"parameter {section}.{key} is not declared in the notebook's parameters cell"
                f"{hint(key, sorted(declared))}; add it to the parameters cell or remove it from "
                "params.yaml"
            )
        chosen[key] = value
    qualified = {f"{SHARED if key not in own else section}.{key}": key for key in chosen}
    for name, key in qualified.items():
        check_type(name, chosen[key], declared[key])
    for name, key in qualified.items():
        check_constraint(name, chosen[key], declared[key])
    return chosen
