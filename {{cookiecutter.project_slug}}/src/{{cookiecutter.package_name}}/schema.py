"""Schema inference and validation, target checks and the data-quality report.

A schema (phase 01's `schema`, phase 02's `feature_schema`) is a JSON object:

- `target`, `problem_type`, `target_info` (kind, dtype, classes and class_counts or min/max/mean,
  missing_share);
- `features`: {column: info}, the model's input columns in order. Every info has `kind`
  (`numeric` or `categorical`: what a value is at prediction time), `dtype`, `min`, `max`,
  `missing_share`, `n_unique`, and `encoding`, how the preprocessor turns it into model inputs:
  `numeric` (median imputation, scaling), `onehot` (categories and booleans up to
  max_onehot_levels distinct values), `text` (more distinct values: skrub's StringEncoder) or
  `datetime` (dates and date-like text: skrub's DatetimeEncoder; kind `categorical`, min/max as
  ISO text). Categorical infos list `categories` (the MAX_CATEGORIES most frequent for `text`).
  A numeric feature read from text with a few words in it has `text_values: "missing"`;
- `dropped`: columns the user dropped (data_preparation.drop_columns);
- `excluded`: {column: reason} left out automatically: `identifier` (a distinct value in every
  row), `index` (a row counter, such as pandas' `Unnamed: 0`), `constant` (one value, never
  missing), `empty` (no value at all). data_preparation.keep_columns overrides this;
- `conversions`: {column: "numeric" | "datetime"} applied to raw values before use (numbers with
  a few words, handled as data_understanding.mixed_columns says; date-like text), with the
  datetime `formats` and the `mixed` columns' odd values;
- `rows` (rows seen) and `sample_rows` (rows the kinds and distinct values were judged on).

Older schemas without `encoding`, `excluded` or `conversions` still work: a missing encoding
means `numeric` or `onehot` by kind.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .data import ColumnStats, DataError, check_problem_type, column_stats

MAX_LISTED = 10  # values shown in a message before it is cut
MAX_CATEGORIES = 1000  # categories stored for a text-encoded column (the most frequent)
MAX_ONEHOT_LEVELS = 40  # default: more distinct values -> text encoding (skrub's threshold)
MIXED_NUMBER_SHARE = 0.9  # a text column whose values are mostly (>= this) numbers is "mixed"
MIXED_HANDLING = ("missing", "text", "fail")
ENCODINGS = ("numeric", "onehot", "text", "datetime")
EXAMPLES = 3
_ID_TOKENS = {"id", "ids", "uuid", "guid", "key", "index", "idx"}
_INDEX_NAME = re.compile(r"^(unnamed: ?\d+|index|level_\d+)?$", re.IGNORECASE)
_TOKENS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


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


def keys(values: pd.Series) -> pd.Series:
    """`_key` of every value, missing values left missing (NaN); object dtype.

    Computed once per distinct value: a million rows of a few hundred categories cost a few
    hundred calls. A column mixing kinds of Python objects is keyed value by value (True and 1
    are equal as objects, not as keys)."""
    values = pd.Series(values)
    mixed = values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in (
        "mixed",
        "mixed-integer",
    )
    if mixed:
        return values.map(_key, na_action="ignore").astype(object)
    codes, uniques = pd.factorize(values)
    mapped = np.array([_key(v) for v in uniques] + [np.nan], dtype=object)
    return pd.Series(mapped[codes], index=values.index, name=values.name, dtype=object)


def label(value: Any) -> str:
    """A class label or category as people write it: 1.0 -> '1', True -> 'True'."""
    return _key(value)


def _is_datetime(series: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(series)


def _is_text(series: pd.Series) -> bool:
    """Strings (object, str or category of strings), not numbers, booleans or dates."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return not pd.api.types.is_numeric_dtype(series.cat.categories)
    return pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)


def column_kind(series: pd.Series) -> str:
    """'numeric' or 'categorical': bool, text, category and date columns are categorical."""
    if pd.api.types.is_timedelta64_dtype(series):
        raise DataError(
            f"column '{series.name}' holds durations ({series.dtype}): convert it to a number "
            "(e.g. seconds) or add it to data_preparation.drop_columns"
        )
    if isinstance(series.dtype, pd.CategoricalDtype):
        return "categorical"
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
                "needs at least two; check the data or the target column (shared.target)"
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


# ---------------------------------------------------------------- column roles


def _tokens(name: str) -> set[str]:
    return {token.lower() for token in _TOKENS.findall(name)}


def _integer_like(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return False
    present = series.dropna()
    return bool(pd.api.types.is_integer_dtype(series) or np.all(np.mod(present, 1) == 0))


def exclusion_reason(series: pd.Series, stats: ColumnStats | None = None) -> str | None:
    """Why a column should not be a feature ('identifier', 'index', 'constant', 'empty'), or None.

    `series` is the column (or a random sample of its rows, in file order); `stats` counts all
    its rows (computed from `series` when not given).
    """
    stats = stats or column_stats([series.to_frame()])[str(series.name)]
    if stats.rows and stats.missing == stats.rows:
        return "empty"
    present = series.dropna()
    n_unique = present.nunique()
    if n_unique == 1 and stats.missing == 0:
        return "constant"
    name = str(series.name)
    if len(present) < 20 or n_unique < len(present) or stats.missing > 0.05 * stats.rows:
        return (
            "index" if _INDEX_NAME.match(name) and _integer_like(series) and n_unique > 1 else None
        )
    if _integer_like(series):
        if (
            _INDEX_NAME.match(name)
            or present.is_monotonic_increasing
            or present.is_monotonic_decreasing
        ):
            return "index"
        return "identifier" if _tokens(name) & _ID_TOKENS else None
    if _is_text(series):
        return "identifier"
    return None


def _odd_values(series: pd.Series) -> pd.Series | None:
    """Counts of the odd (non-number) values, most frequent first, when a text column holds
    mostly numbers; else None. Each distinct value is parsed once."""
    if not _is_text(series):
        return None
    counts = series.value_counts()
    counts = counts[counts > 0]  # a categorical's unused categories
    values = pd.Index(counts.index.astype(str)).str.strip()
    counts = counts.groupby(values, sort=False).sum()
    counts = counts[counts.index != ""]
    if counts.empty:
        return None
    numbers = pd.to_numeric(pd.Series(counts.index), errors="coerce").notna().to_numpy()
    share = counts[numbers].sum() / counts.sum()
    if share < MIXED_NUMBER_SHARE or share == 1.0:
        return None
    return counts[~numbers].sort_values(ascending=False, kind="stable")


def _date_format(series: pd.Series) -> str | None:
    """The datetime format of a text column whose every value is a date (skrub's guess)."""
    if not _is_text(series):
        return None
    present = series.dropna().astype(str)
    distinct = pd.Series(present.unique())  # each distinct value parsed once
    if present.empty or pd.to_numeric(distinct, errors="coerce").notna().all():
        return None  # numbers (years such as 2020) stay numbers
    if not distinct.str.contains(r"\d").all():
        return None  # a date has digits: words are not dates (and skrub is not imported)
    from skrub import ToDatetime

    try:
        converter = ToDatetime()
        converter.fit_transform(present.rename(str(series.name)).astype(object))
    except Exception:  # skrub's RejectColumn and parse errors: not a date column
        return None
    return str(converter.format_) if converter.format_ else None


def plan_columns(
    sample: pd.DataFrame,
    target: str,
    *,
    stats: Mapping[str, ColumnStats] | None = None,
    keep_columns: Sequence[str] = (),
    mixed_columns: str = "missing",
) -> dict[str, Any]:
    """What to do with each raw column: {"excluded": {column: reason}, "conversions": {column:
    "numeric" | "datetime"}, "formats": {column: datetime format}, "mixed": {column: {"examples",
    "rows", "handling"}}}. The target is never excluded or converted."""
    if mixed_columns not in MIXED_HANDLING:
        raise DataError(
            f"data_understanding.mixed_columns={mixed_columns!r} must be one of "
            f"{', '.join(MIXED_HANDLING)}"
        )
    stats = stats or column_stats([sample])
    plan: dict[str, Any] = {"excluded": {}, "conversions": {}, "formats": {}, "mixed": {}}
    for column in sample.columns:
        if column == target:
            continue
        series = sample[column]
        if column not in keep_columns:
            reason = exclusion_reason(series, stats.get(column))
            if reason:
                plan["excluded"][column] = reason
                continue
        odd = _odd_values(series)
        if odd is not None:
            plan["mixed"][column] = {
                "examples": [str(v) for v in odd.index[:EXAMPLES]],
                "rows": int(odd.sum()),
                "handling": mixed_columns,
            }
            if mixed_columns == "missing":
                plan["conversions"][column] = "numeric"
            continue
        date_format = _date_format(series)
        if date_format:
            plan["conversions"][column] = "datetime"
            plan["formats"][column] = date_format
    return plan


def conform(df: pd.DataFrame, schema: Mapping[str, Any]) -> pd.DataFrame:
    """Apply the schema's `conversions` to raw data: text with a few words -> numbers (the
    words missing), date-like text -> datetimes (unparseable values missing)."""
    conversions = schema.get("conversions", {})
    formats = schema.get("formats", {})
    changed = {}
    for column, to in conversions.items():
        if column not in df.columns:
            continue
        series = df[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        if to == "numeric" and not pd.api.types.is_numeric_dtype(series):
            changed[column] = pd.to_numeric(
                series.astype("string").str.strip(), errors="coerce"
            ).astype("float64")
        elif to == "datetime" and not _is_datetime(series):
            changed[column] = pd.to_datetime(
                series.astype("string"), format=formats.get(column), errors="coerce"
            )
    return df.assign(**changed) if changed else df


# ---------------------------------------------------------------- schema


def excluded_detail(schema: Mapping[str, Any]) -> str:
    """Detail for the QA check of columns left out: which, why, and the key that keeps one."""
    excluded = schema.get("excluded", {})
    if not excluded:
        return ""
    listed = _listing([f"'{c}' ({reason})" for c, reason in excluded.items()])
    return f"{listed}; data_preparation.keep_columns keeps one as a feature"


def mixed_detail(schema: Mapping[str, Any]) -> str:
    """Detail for the QA check of numbers mixed with text: columns, odd values, the key."""
    mixed = schema.get("mixed", {})
    if not mixed:
        return ""
    parts = [
        f"'{c}': {m['rows']} text values such as {', '.join(repr(v) for v in m['examples'])}"
        for c, m in mixed.items()
    ]
    handling = next(iter(mixed.values()))["handling"]
    done = {"missing": "read as missing", "text": "column kept as text", "fail": "stopped"}[
        handling
    ]
    return f"{'; '.join(parts)} ({done}); data_understanding.mixed_columns: missing, text or fail"


def column_decisions(schema: Mapping[str, Any]) -> pd.DataFrame:
    """One row per column left out or converted: column, decision, reason."""
    rows = [(c, "left out", reason) for c, reason in schema.get("excluded", {}).items()]
    formats = schema.get("formats", {})
    for column, to in schema.get("conversions", {}).items():
        if to == "datetime":
            rows.append((column, "read as dates", f"date-like text ({formats.get(column)})"))
        else:
            odd = schema.get("mixed", {}).get(column, {})
            examples = ", ".join(repr(v) for v in odd.get("examples", []))
            rows.append((column, "read as numbers", f"text values {examples} become missing"))
    for column, odd in schema.get("mixed", {}).items():
        if odd["handling"] == "text":
            rows.append((column, "kept as text", "numbers mixed with text"))
    return pd.DataFrame(rows, columns=["column", "decision", "reason"])


def _encoding(series: pd.Series, kind: str, n_unique: int, max_onehot_levels: int) -> str:
    if _is_datetime(series):
        return "datetime"
    if kind == "numeric":
        return "numeric"
    return "onehot" if n_unique <= max_onehot_levels else "text"


def _feature_info(
    series: pd.Series, stats: ColumnStats | None, max_onehot_levels: int
) -> dict[str, Any]:
    kind = column_kind(series)
    present = series.dropna()
    n_unique = int(present.nunique())
    summary = (stats or column_stats([series.to_frame()])[str(series.name)]).summary()
    encoding = _encoding(series, kind, n_unique, max_onehot_levels)
    info: dict[str, Any] = {
        "kind": kind,
        "encoding": encoding,
        "dtype": str(series.dtype),
        "min": None,
        "max": None,
        "missing_share": round(float(summary["missing_share"]), 6),
        "n_unique": n_unique,
    }
    if encoding == "datetime":
        if len(present):
            info["min"], info["max"] = present.min().isoformat(), present.max().isoformat()
    elif kind == "numeric":
        if summary["min"] is not None:
            info["min"], info["max"] = float(summary["min"]), float(summary["max"])
    else:
        values = (
            present.astype(object) if isinstance(series.dtype, pd.CategoricalDtype) else present
        )
        if encoding == "text":
            top = values.value_counts().index[:MAX_CATEGORIES]
            info["categories"] = sorted((_python(v) for v in top), key=str)
        else:
            info["categories"] = sorted((_python(v) for v in values.unique()), key=str)
    return info


def infer_schema(
    df: pd.DataFrame,
    target: str,
    problem_type: str,
    drop_columns: Sequence[str] = (),
    *,
    stats: Mapping[str, ColumnStats] | None = None,
    rows: int | None = None,
    keep_columns: Sequence[str] = (),
    mixed_columns: str = "missing",
    max_onehot_levels: int = MAX_ONEHOT_LEVELS,
    plan: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Schema of `df` (all rows, or a sample of them with `stats` and `rows` counting all rows).

    Every column except the target, `drop_columns` and the excluded columns is a feature; what is
    excluded or converted is decided by plan_columns, or taken from `plan` (an earlier schema:
    phase 02 keeps phase 01's decisions). Conversions are applied before features are described.
    """
    check_target(df, target, problem_type)
    unknown = [c for c in [*drop_columns, *keep_columns] if c not in df.columns]
    if unknown:
        raise DataError(
            f"drop_columns names columns not in the data: {_listing(unknown)}; "
            f"available columns: {_listing(list(df.columns))}"
        )
    stats = stats or column_stats([df])
    dropped = [c for c in df.columns if c in set(drop_columns) and c != target]
    kept = df.drop(columns=dropped)
    if plan is None:
        plan = plan_columns(
            kept, target, stats=stats, keep_columns=keep_columns, mixed_columns=mixed_columns
        )
    else:
        plan = {
            "excluded": {
                c: r for c, r in plan.get("excluded", {}).items() if c not in keep_columns
            },
            "conversions": dict(plan.get("conversions", {})),
            "formats": dict(plan.get("formats", {})),
            "mixed": dict(plan.get("mixed", {})),
        }
    converted = conform(kept, plan)
    features = {
        str(c): _feature_info(
            converted[c], None if c in plan["conversions"] else stats.get(c), max_onehot_levels
        )
        for c in converted.columns
        if c != target and c not in plan["excluded"]
    }
    for column in plan["mixed"]:
        if column in features and plan["conversions"].get(column) == "numeric":
            features[column]["text_values"] = "missing"
    return {
        "target": target,
        "problem_type": problem_type,
        "features": features,
        "target_info": _target_info(df[target], problem_type, stats.get(target)),
        "dropped": [str(c) for c in dropped],
        **plan,
        "rows": int(rows if rows is not None else len(df)),
        "sample_rows": int(len(df)),
    }


def _target_info(y_all: pd.Series, problem_type: str, stats: ColumnStats | None) -> dict[str, Any]:
    y = y_all.dropna()
    if isinstance(y.dtype, pd.CategoricalDtype):
        y = y.astype(object)
    if problem_type == "classification":
        if pd.api.types.is_float_dtype(y):
            y = y.astype("int64")
        counts = y.value_counts().sort_index()
        info = {
            "kind": "categorical",
            "dtype": str(y_all.dtype),
            "classes": [_python(v) for v in counts.index],
            "class_counts": {str(_python(k)): int(v) for k, v in counts.items()},
        }
    else:
        info = {
            "kind": "numeric",
            "dtype": str(y_all.dtype),
            "min": float(y.min()),
            "max": float(y.max()),
            "mean": float(y.mean()),
        }
    missing = stats.summary()["missing_share"] if stats else float(y_all.isna().mean())
    info["missing_share"] = round(float(missing), 6)
    return info


def schema_columns(schema: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(numeric, categorical) feature names, in schema order."""
    features = schema["features"]
    numeric = [name for name, info in features.items() if info["kind"] == "numeric"]
    categorical = [name for name, info in features.items() if info["kind"] == "categorical"]
    return numeric, categorical


def feature_encoding(info: Mapping[str, Any]) -> str:
    """A feature's encoding; schemas without one: numeric or onehot by kind."""
    return str(info.get("encoding") or ("numeric" if info["kind"] == "numeric" else "onehot"))


def encoded_columns(schema: Mapping[str, Any]) -> dict[str, list[str]]:
    """{encoding: feature names in schema order} for every encoding in ENCODINGS."""
    groups: dict[str, list[str]] = {encoding: [] for encoding in ENCODINGS}
    for name, info in schema["features"].items():
        groups.setdefault(feature_encoding(info), []).append(name)
    return groups


def quality_report(
    df: pd.DataFrame, schema: dict[str, Any], stats: Mapping[str, ColumnStats] | None = None
) -> pd.DataFrame:
    """One row per column: role, kind, encoding, dtype, missing share, unique values, range, mean,
    top value, note (why a column is excluded, odd values in numbers, dates read from text).

    `df` holds all rows or a sample of them; with `stats` (over all rows) missing share, range
    and mean count every row, distinct and top values the sample. Rows: target first, then
    features by missing share (worst first), then the rest.
    """
    stats = stats or column_stats([df])
    roles = {schema["target"]: "target", **{c: "dropped" for c in schema.get("dropped", [])}}
    roles.update({c: "excluded" for c in schema.get("excluded", {})})
    roles.update({c: "feature" for c in schema["features"]})
    notes = {c: f"left out: {reason}" for c, reason in schema.get("excluded", {}).items()}
    for column, odd in schema.get("mixed", {}).items():
        examples = ", ".join(repr(v) for v in odd["examples"])
        notes[column] = f"numbers with {odd['rows']} text values ({examples}): {odd['handling']}"
    for column, to in schema.get("conversions", {}).items():
        if to == "datetime":
            notes[column] = f"dates read from text ({schema.get('formats', {}).get(column)})"
    rows = []
    for column in df.columns:
        series = df[column]
        role = roles.get(column, "extra")
        info = schema["features"].get(column)
        if role == "target":
            kind, encoding = schema["target_info"]["kind"], ""
        elif info is not None:
            kind, encoding = info["kind"], feature_encoding(info)
        else:
            kind = "datetime" if _is_datetime(series) else column_kind(series)
            encoding = ""
        summary = stats[column].summary() if column in stats else {}
        present = series.dropna()
        row: dict[str, Any] = {
            "column": column,
            "role": role,
            "kind": kind,
            "encoding": encoding,
            "dtype": str(series.dtype),
            "missing_share": float(summary.get("missing_share", series.isna().mean())),
            "n_unique": int(present.nunique()),
            "min": np.nan,
            "max": np.nan,
            "mean": np.nan,
            "top": None,
            "top_share": np.nan,
            "note": notes.get(column, ""),
        }
        if kind == "numeric" and summary.get("min") is not None:
            row.update(min=summary["min"], max=summary["max"], mean=summary["mean"])
        elif len(present):
            counts = present.value_counts()
            row.update(top=str(counts.index[0]), top_share=float(counts.iloc[0] / len(series)))
        rows.append(row)
    report = pd.DataFrame(rows)
    order = {"target": 0, "feature": 1, "excluded": 2, "dropped": 3, "extra": 4}
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
        encoding = feature_encoding(info)
        if info["kind"] == "numeric":
            bad = [] if info.get("text_values") == "missing" else _non_numeric(series)
            if bad:
                problems.append(
                    f"column '{name}' should be numeric but holds values such as "
                    f"{', '.join(repr(_python(v)) for v in bad)}"
                )
        elif encoding == "onehot":  # text and dates: unseen values are expected
            known = {_key(c) for c in info.get("categories", [])}
            values = series.dropna()
            unseen_mask = ~keys(values).isin(known)
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
