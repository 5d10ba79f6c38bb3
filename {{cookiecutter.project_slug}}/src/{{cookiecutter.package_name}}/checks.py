"""Checks of params.yaml that need this project's knowledge, run by `crisp` before any phase.

Each parameter's type, default, help and range are declared once, in its notebook's parameters
cell (the runner checks those). Here: rules that relate several parameters; names that must exist
in one of the project's registries (candidate models, metrics: kept here as plain lists, which
tests/test_checks.py checks against the registries); and every parameter that names a column
(COLUMN_KEYS) checked against the data's header (read without its rows: the csv module or the
Parquet footer). `[tool.crisp] checks` in pyproject.toml names `check_parameters`; it must stay
cheap to import (no pandas, no sklearn).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from crisp.params import ParamsError

from . import sources

# Parameters whose sum must stay below a limit (rows must remain to train on).
SUM_BELOW: dict[tuple[str, ...], float] = {
    ("data_preparation.test_size", "data_preparation.valid_size"): 0.9,
}
# (smaller, larger): the first must not exceed the second (ordered bands).
ORDERED: tuple[tuple[str, str], ...] = (("monitoring.psi_warning", "monitoring.psi_alert"),)
_FIX = "fix it in params.yaml or with --set"
# Parameters naming one column (a string, empty = none) or several (a list) of shared.data_path.
COLUMN_KEYS: tuple[str, ...] = (
    "shared.target",
    "data_preparation.drop_columns",
    "data_preparation.keep_columns",
    "data_preparation.time_column",
    "evaluation.slice_column",
)

# The names of metrics.METRICS and modelling.CANDIDATES, per problem type (metrics.PROBLEM_TYPES).
METRIC_NAMES: dict[str, tuple[str, ...]] = {
    "classification": (
        "roc_auc",
        "average_precision",
        "f1",
        "f1_macro",
        "accuracy",
        "balanced_accuracy",
        "log_loss",
    ),
    "regression": ("rmse", "mae", "r2"),
}
CANDIDATE_NAMES: dict[str, tuple[str, ...]] = {
    "classification": ("logistic_regression", "random_forest", "hist_gradient_boosting"),
    "regression": ("ridge", "random_forest", "hist_gradient_boosting"),
}
# The names of business.BUSINESS_MEASURES per problem type; a share measure's target is a share.
MEASURE_NAMES: dict[str, tuple[str, ...]] = {
    "classification": ("lift", "cumulative_gain", "none"),
    "regression": ("within_tolerance", "none"),
}
SHARE_MEASURES: tuple[str, ...] = ("cumulative_gain", "within_tolerance")


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def _value(params: Mapping[str, Mapping[str, Any]], name: str) -> Any:
    section, _, key = name.partition(".")
    return params.get(section, {}).get(key)


def _unknown_name(key: str, value: Any, valid: Sequence[str], what: str) -> ParamsError:
    close = difflib.get_close_matches(str(value), list(valid), n=1, cutoff=0.6)
    guess = f" (did you mean {close[0]}?)" if close else ""
    return ParamsError(
        f"{key}={value!r} is not {what}{guess}; must be one of: {', '.join(valid)}; {_FIX}"
    )


def check_registry_names(params: Mapping[str, Mapping[str, Any]]) -> None:
    """Raise ParamsError when the primary metric or a candidate model is not in the registry of
    the chosen problem type (which the notebooks' declaration already restricts)."""
    problem_type = _value(params, "shared.problem_type")
    if problem_type not in METRIC_NAMES:
        return  # declared in the parameters cells as {classification, regression}: named there
    metric = _value(params, "business_understanding.primary_metric")
    if metric is not None and metric not in METRIC_NAMES[problem_type]:
        raise _unknown_name(
            "business_understanding.primary_metric",
            metric,
            METRIC_NAMES[problem_type],
            f"a {problem_type} metric",
        )
    candidates = _value(params, "modelling.candidates")
    for candidate in candidates if isinstance(candidates, list) else []:
        if candidate not in CANDIDATE_NAMES[problem_type]:
            raise _unknown_name(
                "modelling.candidates",
                candidate,
                CANDIDATE_NAMES[problem_type],
                f"a {problem_type} candidate model",
            )
    check_business_measure(params, problem_type)


def check_business_measure(params: Mapping[str, Mapping[str, Any]], problem_type: str) -> None:
    """Raise ParamsError when the business measure does not fit the problem type (lift after a
    switch to regression) or its target cannot be reached (a share above 1)."""
    measure = _value(params, "business_understanding.business_measure")
    if measure is None:
        return
    if measure not in MEASURE_NAMES[problem_type]:
        raise _unknown_name(
            "business_understanding.business_measure",
            measure,
            MEASURE_NAMES[problem_type],
            f"a {problem_type} business measure",
        )
    target = _number(_value(params, "business_understanding.business_target"))
    if measure in SHARE_MEASURES and target is not None and not 0 < target <= 1:
        raise ParamsError(
            f"business_understanding.business_target={target:g} is out of range for {measure} "
            f"(a share of the test rows): must be in (0, 1]; {_FIX}"
        )


def check_parameters(params: Mapping[str, Mapping[str, Any]], root: Path) -> None:
    """Raise ParamsError (one line naming the keys and the fix) when parameters contradict."""
    check_registry_names(params)
    n_jobs = _value(params, "shared.n_jobs")
    if n_jobs == 0 and not isinstance(n_jobs, bool):  # [-1, inf) in its declaration, but not 0
        raise ParamsError(
            f"shared.n_jobs=0 is out of range: -1 for every core, or 1 or more jobs; {_FIX}"
        )
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
    check_columns(params, root)


def _close(name: str, columns: list[str]) -> str:
    """'; close matches: a, b' for `name` among `columns` (case and spacing ignored), or ''."""
    folded = {column.casefold().replace(" ", "_"): column for column in columns}
    found = difflib.get_close_matches(name.casefold().replace(" ", "_"), list(folded), n=3)
    return f"; close matches: {', '.join(repr(folded[f]) for f in found)}" if found else ""


def data_header(params: Mapping[str, Mapping[str, Any]], root: Path) -> tuple[str, list[str]]:
    """(what the data is, its column names): shared.data_path's header, or the demo's columns."""
    shared = params.get("shared", {})
    data_path = str(shared.get("data_path") or "").strip()
    if not data_path:
        problem_type = str(shared.get("problem_type", "classification"))
        return "the demo data", list(sources.DEMO_COLUMNS.get(problem_type, []))
    target = Path(data_path).expanduser()
    if not target.is_absolute():
        target = Path(os.path.normpath(root / target))
        if not target.is_relative_to(root):
            raise ParamsError(
                f"shared.data_path={data_path!r} escapes the project directory: put the file in "
                f"data/raw/, or give an absolute path if you mean it; {_FIX}"
            )
    try:
        return data_path, sources.header(target)
    except sources.DataError as error:
        raise ParamsError(f"shared.data_path={data_path!r}: {error}") from None
    except OSError as error:
        raise ParamsError(f"shared.data_path={data_path!r} cannot be read: {error}") from None


def check_columns(params: Mapping[str, Mapping[str, Any]], root: Path) -> None:
    """Raise ParamsError when a parameter in COLUMN_KEYS names a column the data lacks, or the
    split settings contradict (a time split without a time column)."""
    preparation = params.get("data_preparation", {})
    if preparation.get("split") == "time" and not preparation.get("time_column"):
        raise ParamsError(
            "data_preparation.split is 'time' but data_preparation.time_column is empty: name the "
            f"column holding each row's date; {_FIX}"
        )
    named = {key: _value(params, key) for key in COLUMN_KEYS}
    if not any(named.values()):
        return
    label, columns = data_header(params, root)
    if not columns:
        return
    for key, value in named.items():
        values = value if isinstance(value, list) else [value]
        for name in values:
            if name in (None, "") or str(name) in columns:
                continue
            raise ParamsError(
                f"{key}={name!r} is not a column of {label}{_close(str(name), columns)}; {_FIX}"
            )
    target = named["shared.target"]
    dropped = named["data_preparation.drop_columns"] or []
    if target and isinstance(dropped, list) and target in dropped:
        raise ParamsError(
            f"data_preparation.drop_columns contains the target {target!r} (shared.target); {_FIX}"
        )
