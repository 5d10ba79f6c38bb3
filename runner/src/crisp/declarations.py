"""What the notebooks declare: each phase's parameters cell, the one place a parameter is defined.

    cv_folds: int = 5  # folds of cross-validation [2, inf)
    test_size: float = 0.2  # share of rows held out for the final test (0, 0.9)
    problem_type: str = "classification"  # kind of target {classification, regression}

type, default, help and, at the end of the help, an optional constraint: an interval (`[0, 1]`,
`(0, 0.9)`, `[2, inf)`; a bracket includes its end, a parenthesis excludes it) or a set of allowed
values (`{a, b}`; for a list parameter, the allowed items). No `=` in a help text: papermill reads
a line with two as no parameter (`unread_lines` finds such lines).
"""

from __future__ import annotations

import ast
import difflib
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Annotation names the parameters cells use -> accepted Python types (bool is not an int here).
TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float, int),
    "str": (str,),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}
UNBOUNDED = math.inf
FIX = "fix it in params.yaml or with --set"

Declaration = Mapping[str, Any]  # {"inferred_type_name", "default", "help"} as papermill reads it


class ParamsError(ValueError):
    """A parameter file, override or value the user must fix (the message says how)."""


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

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf"
_INTERVAL = re.compile(rf"([\[(])\s*({_NUMBER})\s*,\s*({_NUMBER})\s*([\])])\s*$")
_CHOICES = re.compile(r"\{([^{}]+)\}\s*$")


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


def hint(name: str, valid: list[str] | tuple[str, ...]) -> str:
    """`; did you mean X? valid: a, b` (the suggestion only when a valid name is close)."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    suggestion = f"; did you mean {close[0]}?" if close else ";"
    return f"{suggestion} valid: {', '.join(valid) or '(none)'}"


# ---------------------------------------------------------------------- reading the cells


def lighter_notebook_imports() -> None:
    """Skip an optional import nbformat's validator pulls in, which costs seconds and is unused.

    jsonschema imports `rfc3987_syntax` when installed, to check "iri" string formats, and that
    builds a grammar at import time (1-3 s). nbformat never checks string formats, so in the
    runner process the module is marked as absent before papermill or nbconvert is imported.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def declared_parameters(notebook: Path) -> dict[str, dict[str, Any]]:
    """The notebook's parameters cell: `name -> {inferred_type_name, default, help}`."""
    lighter_notebook_imports()
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


def parameters_cell(notebook: Path) -> str | None:
    """Source of the notebook's cell tagged `parameters`, or None when it has none."""
    import json

    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get(
            "tags", []
        ):
            source = cell.get("source", "")
            return "".join(source) if isinstance(source, list) else source
    return None


def unread_lines(source: str, declared: Mapping[str, Any]) -> list[tuple[int, str]]:
    """`(line, name)` of assignments in a parameters cell that papermill did not read as
    parameters (a line with a second `=`, in its help text for instance)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    missed = []
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id not in declared:
            missed.append((node.lineno, target.id))
    return missed


def repeated_lines(source: str) -> list[tuple[int, str, int]]:
    """`(line, name, first line)` of each assignment in a parameters cell to a name that an
    earlier line of the cell assigned already (papermill keeps the last, silently)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    first: dict[str, int] = {}
    repeated = []
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name):
            if target.id in first:
                repeated.append((node.lineno, target.id, first[target.id]))
            else:
                first[target.id] = node.lineno
    return repeated


def default_value(declaration: Declaration) -> Any:
    """The declared default as a Python value (None when it is not a literal)."""
    try:
        return ast.literal_eval(str(declaration.get("default")))
    except (ValueError, SyntaxError):
        return None


def same_declaration(a: Declaration, b: Declaration) -> bool:
    """Whether two notebooks declare a (shared) parameter the same: type, default and help."""
    return (
        str(a.get("inferred_type_name")) == str(b.get("inferred_type_name"))
        and default_value(a) == default_value(b)
        and str(a.get("help", "")).strip() == str(b.get("help", "")).strip()
    )


# ---------------------------------------------------------------------- checking values


def expected_type(declaration: Declaration) -> str | None:
    """Base type of a declaration (`list[str]` -> `list`); from the default when unannotated."""
    name = str(declaration.get("inferred_type_name") or "None")
    base = name.split("[", 1)[0].strip().lower()
    if base in TYPES:
        return base
    if base in ("none", "") and declaration.get("default") is not None:
        try:
            default = ast.literal_eval(str(declaration["default"]))
        except (ValueError, SyntaxError):
            return None
        inferred = type(default).__name__
        return inferred if inferred in TYPES else None
    return None


def check_type(name: str, value: Any, declaration: Declaration) -> None:
    """Raise ParamsError when `value` is not of the declared type (int for float is fine)."""
    expected = expected_type(declaration)
    if expected is None:
        return
    ok = isinstance(value, TYPES[expected]) and not (
        expected in ("int", "float") and isinstance(value, bool)
    )
    if ok:
        return
    hint_text = " (quote it in YAML: 'x.y=\"yes\"')" if expected == "str" else ""
    raise ParamsError(
        f"parameter {name} = {value!r} is a {type(value).__name__}, expected {expected}"
        f"{hint_text}; fix it in params.yaml or in --set"
    )


def check_constraint(name: str, value: Any, declaration: Declaration) -> None:
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
                f"{rule.describe()}; {FIX}"
            )
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        return  # the type check names it
    if value not in rule:
        raise ParamsError(f"{name}={value!r} is out of range: must be {rule.describe()}; {FIX}")
