"""Parameters: load params.yaml, apply `--set` overrides, pick and check one phase's parameters.

`params.yaml` holds a `shared` section plus one section per phase (named after the notebook without
its number). A phase's notebook receives the `shared` keys its parameters cell declares and all keys
of its own section; the parameters cell (`name: type = default  # help`) is the schema.
"""

from __future__ import annotations

import ast
import copy
import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from . import paths

SHARED = "shared"
PARAMS_FILE = "params.yaml"

# Annotation names the parameters cells use -> accepted Python types (bool is not an int here).
_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float, int),
    "str": (str,),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}


class ParamsError(ValueError):
    """A parameter file, override or value the user must fix (the message says how)."""


def load_params(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """Read params.yaml (default: `<project root>/params.yaml`) into `{section: {key: value}}`."""
    path = Path(path) if path is not None else paths.project_root() / PARAMS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(
            f"parameter file {path} not found; create it (sections `shared` and one per phase)"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ParamsError(
            f"{path}{where}: invalid YAML ({problem}); fix the syntax there"
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ParamsError(
            f"{path}: the top level must be a mapping of sections (shared:, modelling:, ...), "
            f"not a {type(data).__name__}"
        )
    params: dict[str, dict[str, Any]] = {}
    for section, values in data.items():
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise ParamsError(
                f"{path}: section '{section}' must be a mapping of `key: value` lines, "
                f"not a {type(values).__name__}"
            )
        params[str(section)] = dict(values)
    return params


def _hint(name: str, valid: Sequence[str]) -> str:
    """`; did you mean X? valid: a, b` (the suggestion only when a valid name is close)."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    suggestion = f"; did you mean {close[0]}?" if close else ";"
    return f"{suggestion} valid: {', '.join(valid) or '(none)'}"


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
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise ParamsError(
            f"override '{override}': the value is not valid YAML; quote strings "
            "and write lists as [a, b]"
        ) from None
    return section, key, value


def apply_overrides(
    params: Mapping[str, Mapping[str, Any]], overrides: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Copy of `params` with each `section.key=value` applied (value parsed as YAML)."""
    result = {section: dict(values) for section, values in copy.deepcopy(dict(params)).items()}
    for override in overrides:
        section, key, value = _parse_override(override)
        if section not in result:
            valid = sorted(result)
            raise ParamsError(f"unknown section {section} in '{override}'{_hint(section, valid)}")
        if key not in result[section]:
            valid = sorted(result[section])
            raise ParamsError(f"unknown parameter {section}.{key}{_hint(key, valid)}")
        result[section][key] = value
    return result


def declared_parameters(notebook: Path) -> dict[str, dict[str, Any]]:
    """The notebook's parameters cell: `name -> {inferred_type_name, default, help}`."""
    import papermill  # heavy: imported only when a notebook has to be inspected

    inspected = papermill.inspect_notebook(str(notebook))
    return {
        name: {
            "inferred_type_name": info.get("inferred_type_name", "None"),
            "default": info.get("default"),
            "help": info.get("help", ""),
        }
        for name, info in inspected.items()
    }


def _expected_type(declaration: Mapping[str, Any]) -> str | None:
    """Base type of a declaration (`list[str]` -> `list`); from the default when unannotated."""
    name = str(declaration.get("inferred_type_name") or "None")
    base = name.split("[", 1)[0].strip().lower()
    if base in _TYPES:
        return base
    if base in ("none", "") and declaration.get("default") is not None:
        try:
            default = ast.literal_eval(str(declaration["default"]))
        except (ValueError, SyntaxError):
            return None
        inferred = type(default).__name__
        return inferred if inferred in _TYPES else None
    return None


def _check_type(name: str, value: Any, declaration: Mapping[str, Any]) -> None:
    expected = _expected_type(declaration)
    if expected is None:
        return
    ok = isinstance(value, _TYPES[expected]) and not (
        expected in ("int", "float") and isinstance(value, bool)
    )
    if ok:
        return
    hint = " (quote it in YAML: 'x.y=\"yes\"')" if expected == "str" else ""
    raise ParamsError(
        f"parameter {name} = {value!r} is a {type(value).__name__}, expected {expected}{hint}; "
        "fix it in params.yaml or in --set"
    )


def phase_parameters(
    params: Mapping[str, Mapping[str, Any]],
    section: str,
    declared: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """Parameters for one phase: the `shared` keys it declares plus all keys of its section.

    Raises ParamsError when the section has a key the notebook does not declare, or a value's type
    does not match the notebook's annotation.
    """
    chosen: dict[str, Any] = {}
    for key, value in params.get(SHARED, {}).items():
        if key in declared:
            chosen[key] = value
    own = params.get(section, {})
    for key, value in own.items():
        if key not in declared:
            valid = sorted(declared)
            raise ParamsError(
                f"parameter {section}.{key} is not declared in the notebook's parameters cell"
                f"{_hint(key, valid)}; add it to the parameters cell or remove it from params.yaml"
            )
        chosen[key] = value
    for key, value in chosen.items():
        _check_type(f"{SHARED if key not in own else section}.{key}", value, declared[key])
    return chosen
