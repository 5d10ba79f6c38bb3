"""Parameters: load params.yaml, apply `--set` overrides, pick and check one phase's parameters.

`params.yaml` holds a `shared` section plus one section per phase (named after the notebook without
its number). A phase's notebook receives the `shared` keys its parameters cell declares and all keys
of its own section. The parameters cell is where each parameter is declared, once:

    cv_folds: int = 5  # folds of cross-validation [2, inf)
    test_size: float = 0.2  # share of rows held out for the final test (0, 0.9)
    problem_type: str = "classification"  # kind of target {classification, regression}

type, default, help and, at the end of the help, an optional constraint: an interval (`[0, 1]`,
`(0, 0.9)`, `[2, inf)`; a bracket includes its end, a parenthesis excludes it) or a set of allowed
values (`{a, b}`; for a list parameter, the allowed items). No `=` in a help text: papermill reads
a line with two as no parameter. Checks that relate several parameters, or need the data, are the
project's (`[tool.crisp] checks`).
"""

from __future__ import annotations

import ast
import copy
import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

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

UNBOUNDED = math.inf


def _number(value: float) -> str:
    """2, 0.9, 4294967295 (whole numbers without exponent or `.0`)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Bound:
    """Allowed range of a numeric parameter; `low_open`/`high_open` exclude that end."""

    low: float = -UNBOUNDED
    high: float = UNBOUNDED
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def describe(self) -> str:
        """`>= 2`, `> 0`, `in [0, 1]`, `in (0, 0.9)`."""
        low, high = _number(self.low), _number(self.high)
        if self.high == UNBOUNDED:
            return f"{'>' if self.low_open else '>='} {low}"
        if self.low == -UNBOUNDED:
            return f"{'<' if self.high_open else '<='} {high}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"in {left}{low}, {high}{right}"


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf"
_INTERVAL = re.compile(rf"([\[(])\s*({_NUMBER})\s*,\s*({_NUMBER})\s*([\])])\s*$")
_CHOICES = re.compile(r"\{([^{}]+)\}\s*$")


@dataclass(frozen=True)
class Choices:
    """The values a parameter (or each item of a list parameter) may take."""

    values: tuple[str, ...]

    def __contains__(self, value: object) -> bool:
        return str(value) in self.values

    def describe(self) -> str:
        """`one of: a, b`."""
        return f"one of: {', '.join(self.values)}"


Constraint = Bound | Choices


def constraint(help_text: str) -> Constraint | None:
    """The constraint at the end of a parameter's help text, or None (see the module's doc)."""
    text = (help_text or "").strip()
    if match := _INTERVAL.search(text):
        left, low, high, right = match.groups()
        return Bound(float(low), float(high), low_open=left == "(", high_open=right == ")")
    if match := _CHOICES.search(text):
        values = tuple(v.strip().strip("'\"") for v in match.group(1).split(","))
        return Choices(tuple(v for v in values if v))
    return None


def help_without_constraint(help_text: str) -> str:
    """The help text without its trailing constraint."""
    text = (help_text or "").strip()
    for pattern in (_INTERVAL, _CHOICES):
        if match := pattern.search(text):
            return text[: match.start()].rstrip(" ;,")
    return text


_FIX = "fix it in params.yaml or with --set"


class ParamsError(ValueError):
    """A parameter file, override or value the user must fix (the message says how)."""


def load_params(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """Read params.yaml (default: `<project root>/params.yaml`) into `{section: {key: value}}`."""
    path = Path(path) if path is not None else Path.cwd() / PARAMS_FILE
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


def check_constraint(name: str, value: Any, declaration: Mapping[str, Any]) -> None:
    """Raise ParamsError when `value` breaks the constraint declared in its help text."""
    rule = constraint(str(declaration.get("help", "")))
    if rule is None:
        return
    if isinstance(rule, Choices):
        items = value if isinstance(value, list) else [value]
        wrong = [item for item in items if item not in rule]
        if wrong:
            close = difflib.get_close_matches(str(wrong[0]), list(rule.values), n=1, cutoff=0.6)
            guess = f" (did you mean {close[0]}?)" if close else ""
            raise ParamsError(
                f"{name}={value!r}: {wrong[0]!r} is not allowed{guess}; must be "
                f"{rule.describe()}; {_FIX}"
            )
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        return  # the type check names it
    if value not in rule:
        raise ParamsError(f"{name}={value!r} is out of range: must be {rule.describe()}; {_FIX}")


def phase_parameters(
    params: Mapping[str, Mapping[str, Any]],
    section: str,
    declared: Mapping[str, Mapping[str, Any]],
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
            valid = sorted(declared)
            raise ParamsError(
                f"parameter {section}.{key} is not declared in the notebook's parameters cell"
                f"{_hint(key, valid)}; add it to the parameters cell or remove it from params.yaml"
            )
        chosen[key] = value
    qualified = {f"{SHARED if key not in own else section}.{key}": key for key in chosen}
    for name, key in qualified.items():
        _check_type(name, chosen[key], declared[key])
    for name, key in qualified.items():
        check_constraint(name, chosen[key], declared[key])
    return chosen
