"""Schema inference and validation, target checks and the data-quality report.

Kinds: bool, object, string and category columns are categorical; other numeric columns are
numeric, even with only two distinct values (0/1 flags scale fine). Date/time columns are refused:
derive numeric features from them or drop them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .data import DataError, check_problem_type

MAX_LISTED = 10  # values shown in a message before it is cut


def _listing(values: Sequence[Any]) -> str:
    shown = ", ".join(str(v) for v in list(values)[:MAX_LISTED])
    return shown + (f", ... ({len(values)} in all)" if len(values) > MAX_LISTED else "")


def _python(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _key(value: Any) -> str:
    """Comparable form of a category: 1, 1.0 and "1" are the same category."""
    value = _python(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer():
        return str(int(value))
    return str(value)


def column_kind(series: pd.Series) -> str:
    """'numeric' or 'categorical' (see the module docstring)."""
    if pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_timedelta64_dtype(series):
        raise DataError(
            f"column '{series.name}' holds dates/times ({series.dtype}): derive numeric features "
            "from it or add it to data_preparation.drop_columns"
        )
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return "categorical"
    return "numeric"


def check_target(df: pd.DataFrame, target: str, problem_type: str) -> None:
    """Raise DataError unless `target` is a usable target for `problem_type`."""
    check_problem_type(problem_type)
    if target not in df.columns:
        raise DataError(
            f"target column '{target}' is not in the data; available columns: "
            f"{_listing(list(df.columns))}; set shared.target in params.yaml"
        )
    y = df[target]
    if y.isna().all():
        raise DataError(f"target column '{target}' is entirely missing: check the data export")
    if problem_type == "classification":
        classes = y.dropna().unique()
        if len(classes) < 2:
            raise DataError(
                f"target '{target}' has a single class ({_python(classes[0])!r}): classification "
                "needs at least two; check the data or the target column"
            )
        if pd.api.types.is_float_dtype(y) and not np.all(np.mod(y.dropna(), 1) == 0):
            raise DataError(
                f"target '{target}' holds fractional numbers, not classes: "
                "set shared.problem_type to regression, or use a class column"
            )
    elif pd.api.types.is_bool_dtype(y) or not pd.api.types.is_numeric_dtype(y):
        raise DataError(
            f"target '{target}' is not numeric (dtype {y.dtype}): regression needs numbers; "
            "convert it, or set shared.problem_type to classification"
        )


def entirely_missing(df: pd.DataFrame) -> list[str]:
    """Columns without a single value, in column order (none when `df` has no rows)."""
    if df.empty:
        return []
    return [str(column) for column, empty in df.isna().all().items() if empty]


def entirely_missing_detail(columns: Sequence[str]) -> str:
    """Detail for the QA check of entirely missing columns: which ones and the fix ("" if none)."""
    if not columns:
        return ""
    names = _listing([f"'{name}'" for name in columns])
    return (
        f"no values in {names}: drop such a column from the data file, "
        "or export it again with its values"
    )


def _feature_info(series: pd.Series) -> dict[str, Any]:
    kind = column_kind(series)
    present = series.dropna()
    info: dict[str, Any] = {
        "kind": kind,
        "dtype": str(series.dtype),
        "min": None,
        "max": None,
        "missing_share": round(float(series.isna().mean()), 6),
        "n_unique": int(present.nunique()),
    }
    if kind == "numeric":
        if len(present):
            info["min"], info["max"] = float(present.min()), float(present.max())
    else:
        info["categories"] = sorted((_python(v) for v in present.unique()), key=str)
    return info


def infer_schema(
    df: pd.DataFrame, target: str, problem_type: str, drop_columns: Sequence[str] = ()
) -> dict[str, Any]:
    """Schema of `df`: every column except the target and `drop_columns` is a feature."""
    check_target(df, target, problem_type)
    unknown = [c for c in drop_columns if c not in df.columns]
    if unknown:
        raise DataError(
            f"drop_columns names columns not in the data: {_listing(unknown)}; "
            f"available columns: {_listing(list(df.columns))}"
        )
    dropped = [c for c in df.columns if c in set(drop_columns) and c != target]
    features = {
        str(c): _feature_info(df[c]) for c in df.columns if c != target and c not in dropped
    }
    y = df[target].dropna()
    if problem_type == "classification":
        counts = y.value_counts().sort_index()
        target_info = {
            "kind": "categorical",
            "dtype": str(df[target].dtype),
            "classes": [_python(v) for v in counts.index],
            "class_counts": {str(k): int(v) for k, v in counts.items()},
        }
    else:
        target_info = {
            "kind": "numeric",
            "dtype": str(df[target].dtype),
            "min": float(y.min()),
            "max": float(y.max()),
            "mean": float(y.mean()),
        }
    target_info["missing_share"] = round(float(df[target].isna().mean()), 6)
    return {
        "target": target,
        "problem_type": problem_type,
        "features": features,
        "target_info": target_info,
        "dropped": [str(c) for c in dropped],
    }


def schema_columns(schema: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(numeric, categorical) feature names, in schema order."""
    features = schema["features"]
    numeric = [name for name, info in features.items() if info["kind"] == "numeric"]
    categorical = [name for name, info in features.items() if info["kind"] == "categorical"]
    return numeric, categorical


def quality_report(df: pd.DataFrame, schema: dict[str, Any]) -> pd.DataFrame:
    """One row per column: role, kind, dtype, missing share, unique values, range, mean, top value.

    Rows are ordered target first, then features by missing share (worst first), then the rest.
    """
    roles = {schema["target"]: "target", **{c: "dropped" for c in schema.get("dropped", [])}}
    roles.update({c: "feature" for c in schema["features"]})
    rows = []
    for column in df.columns:
        series = df[column]
        role = roles.get(column, "extra")
        if role == "target":
            kind = schema["target_info"]["kind"]
        elif column in schema["features"]:
            kind = schema["features"][column]["kind"]
        elif pd.api.types.is_datetime64_any_dtype(series):
            kind = "datetime"
        else:
            kind = column_kind(series)
        row: dict[str, Any] = {
            "column": column,
            "role": role,
            "kind": kind,
            "dtype": str(series.dtype),
            "missing_share": float(series.isna().mean()),
            "n_unique": int(series.nunique()),
            "min": np.nan,
            "max": np.nan,
            "mean": np.nan,
            "top": None,
            "top_share": np.nan,
        }
        present = series.dropna()
        if kind == "numeric" and pd.api.types.is_numeric_dtype(series) and len(present):
            row.update(
                min=float(present.min()), max=float(present.max()), mean=float(present.mean())
            )
        elif len(present):
            counts = present.value_counts()
            row.update(top=str(counts.index[0]), top_share=float(counts.iloc[0] / len(series)))
        rows.append(row)
    report = pd.DataFrame(rows)
    order = {"target": 0, "feature": 1, "dropped": 2, "extra": 3}
    report["_order"] = report["role"].map(order)
    report = report.sort_values(
        ["_order", "missing_share", "column"], ascending=[True, False, True], kind="stable"
    )
    return report.drop(columns="_order").reset_index(drop=True)


def _non_numeric(series: pd.Series) -> list[Any]:
    present = series.dropna()
    if pd.api.types.is_bool_dtype(series):
        return list(present.unique()[:3])
    coerced = pd.to_numeric(present, errors="coerce")
    return list(present[coerced.isna()].unique()[:3])


def validate_frame(
    df: pd.DataFrame, schema: dict[str, Any], *, require_target: bool = False
) -> list[str]:
    """Problems that stop `df` from being used with `schema`; an empty list means valid.

    Reported: missing feature columns, entirely missing columns, non-numeric values in numeric
    features, categories not in the schema, and (with require_target) a missing or unusable target.
    Extra columns are not problems: the preprocessor ignores them.
    """
    problems: list[str] = []
    for name, info in schema["features"].items():
        if name not in df.columns:
            problems.append(f"missing column '{name}' ({info['kind']} feature)")
            continue
        series = df[name]
        if len(series) and series.isna().all():
            problems.append(f"column '{name}' is entirely missing")
            continue
        if info["kind"] == "numeric":
            bad = _non_numeric(series)
            if bad:
                problems.append(
                    f"column '{name}' should be numeric but holds values such as "
                    f"{', '.join(repr(_python(v)) for v in bad)}"
                )
        else:
            known = {_key(c) for c in info.get("categories", [])}
            values = series.dropna()
            unseen_mask = ~values.map(_key).isin(known)
            if unseen_mask.any():
                unseen = sorted({str(v) for v in values[unseen_mask].unique()})
                problems.append(
                    f"column '{name}' has categories not in the schema: {_listing(unseen)} "
                    f"({int(unseen_mask.sum())} rows)"
                )
    if require_target:
        problems.extend(_target_problems(df, schema))
    return problems


def _target_problems(df: pd.DataFrame, schema: dict[str, Any]) -> list[str]:
    target, info = schema["target"], schema["target_info"]
    if target not in df.columns:
        return [f"missing target column '{target}'"]
    y = df[target]
    if len(y) and y.isna().all():
        return [f"target column '{target}' is entirely missing"]
    if info["kind"] == "numeric":
        bad = _non_numeric(y)
        if bad:
            return [
                f"target '{target}' should be numeric but holds values such as "
                f"{', '.join(repr(_python(v)) for v in bad)}"
            ]
        return []
    known = {_key(c) for c in info.get("classes", [])}
    unseen = sorted({_key(v) for v in y.dropna().unique()} - known)
    if unseen:
        return [f"target '{target}' has classes not in the schema: {_listing(unseen)}"]
    return []
