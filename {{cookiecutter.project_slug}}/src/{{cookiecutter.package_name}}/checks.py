"""Checks of params.yaml that need this project's knowledge, run by `crisp` before any phase.

Each parameter's type, default, help and range are declared once, in its notebook's parameters
cell (the runner checks those). Here: rules that relate several parameters. `[tool.crisp] checks`
in pyproject.toml names `check_parameters`; it must stay cheap to import (no pandas, no sklearn).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crisp.params import ParamsError

# Parameters whose sum must stay below a limit (rows must remain to train on).
SUM_BELOW: dict[tuple[str, ...], float] = {
    ("data_preparation.test_size", "data_preparation.valid_size"): 0.9,
}
# (smaller, larger): the first must not exceed the second (ordered bands).
ORDERED: tuple[tuple[str, str], ...] = (("monitoring.psi_warning", "monitoring.psi_alert"),)
_FIX = "fix it in params.yaml or with --set"


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def _value(params: Mapping[str, Mapping[str, Any]], name: str) -> Any:
    section, _, key = name.partition(".")
    return params.get(section, {}).get(key)


def check_parameters(params: Mapping[str, Mapping[str, Any]], root: Path) -> None:
    """Raise ParamsError (one line naming the keys and the fix) when parameters contradict."""
    for names, limit in SUM_BELOW.items():
        parts = [_number(_value(params, name)) for name in names]
        if all(part is not None for part in parts) and not sum(parts) < limit:  # type: ignore[arg-type]
            total = sum(parts)  # type: ignore[arg-type]
            raise ParamsError(
                f"{' + '.join(names)}={total:g} is out of range: must be < {limit:g}; {_FIX}"
            )
    for smaller, larger in ORDERED:
        low, high = _number(_value(params, smaller)), _number(_value(params, larger))
        if low is not None and high is not None and low > high:
            raise ParamsError(
                f"{smaller}={_value(params, smaller)!r} is out of range: must be <= {larger} "
                f"({_value(params, larger)!r}); {_FIX}"
            )
