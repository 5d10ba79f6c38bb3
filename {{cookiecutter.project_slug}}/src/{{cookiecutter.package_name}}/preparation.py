"""Cleaning, the train/valid/test split (random or by time, in memory or streamed), the
preprocessing ColumnTransformer and leakage checks.

`build_preprocessor(feature_schema)` returns an unfitted transformer that turns the schema's
features into model inputs by their `encoding` (see `schema`): numbers imputed and scaled,
few-valued categories and booleans one-hot encoded, many-valued text by skrub's StringEncoder
(once per distinct value), dates by skrub's DatetimeEncoder. It is fitted with the model (one saved
pipeline), on train only. `with_native_categories` adapts it to a model that splits on categories
itself (histogram gradient boosting), which also takes numbers as they are, missing ones missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from .data import DataError, check_problem_type, plain_dtypes
from .schema import _key, _listing, conform, encoded_columns, feature_encoding, keys

SPLITS = ("train", "valid", "test")
SPLIT_METHODS = ("random", "time")
TEXT_COMPONENTS = 30  # model inputs per text column (skrub StringEncoder)
NATIVE_MAX_CATEGORIES = 255  # most categories histogram gradient boosting splits on (max_bins)
DATE_PARTS = ("year", "month", "day", "hour", "minute", "second", "total_seconds", "weekday")
SHARE_TOLERANCE = 0.02  # a split's share may differ this much from the one requested
LEAKAGE_SAMPLE_ROWS = 5000  # training rows the single-feature scores are computed on


# ---------------------------------------------------------------- cleaning


def clean(
    df: pd.DataFrame,
    target: str,
    drop_columns: Sequence[str],
    *,
    schema: Mapping[str, Any] | None = None,
    problem_type: str | None = None,
    keep_columns: Sequence[str] = (),
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Drop `drop_columns` and the columns the schema excludes, apply its conversions, drop exact
    duplicate rows and rows without a target; class labels read as 1.0 become 1 again.

    Returns the cleaned frame (new index 0..n-1, plain dtypes) and a summary of what was removed.
    """
    if target not in df.columns:
        raise DataError(
            f"target column '{target}' is not in the data; available columns: "
            f"{_listing(list(map(str, df.columns)))}; set shared.target in params.yaml"
        )
    unknown = [c for c in drop_columns if c not in df.columns]
    if unknown:
        raise DataError(
            f"data_preparation.drop_columns names columns not in the data: {', '.join(unknown)}; "
            f"available columns: {_listing(list(map(str, df.columns)))}"
        )
    if target in drop_columns:
        raise DataError(
            f"data_preparation.drop_columns contains the target '{target}': remove it from the list"
        )
    excluded = [
        c
        for c in (schema or {}).get("excluded", {})
        if c in df.columns and c not in drop_columns and c not in keep_columns
    ]
    frame = df.drop(columns=[*drop_columns, *excluded])
    if schema is not None:
        frame = conform(frame, schema)
    frame = plain_dtypes(frame)
    duplicated = duplicate_rows(frame)
    frame = frame[~duplicated]
    missing_target = frame[target].isna()
    frame = frame[~missing_target].reset_index(drop=True)
    if frame.empty:
        raise DataError("no rows left after cleaning: every row lacks the target or is a duplicate")
    if problem_type == "classification":
        frame[target] = class_labels(frame[target])
    rows_in = int(len(df))
    summary = {
        "rows_in": rows_in,
        "rows_out": int(len(frame)),
        "dropped_columns": list(drop_columns),
        "excluded_columns": {c: schema["excluded"][c] for c in excluded} if schema else {},
        "duplicate_rows": int(duplicated.sum()),
        "missing_target_rows": int(missing_target.sum()),
        "missing_target_share": round(float(missing_target.sum()) / rows_in, 6),
    }
    return frame, summary


def class_labels(y: pd.Series) -> pd.Series:
    """Class labels as they were written: integral floats (1.0, read so because of a missing
    label) become integers; other labels unchanged."""
    if pd.api.types.is_float_dtype(y) and len(y) and np.all(np.mod(y.dropna(), 1) == 0):
        return y.astype("int64")
    return y


# ---------------------------------------------------------------- splits


def _check_sizes(test_size: float, valid_size: float) -> None:
    for name, value in (("test_size", test_size), ("valid_size", valid_size)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 0.9:
            raise DataError(
                f"data_preparation.{name}={value!r} must be a share between 0 and 0.9, e.g. 0.2"
            )
    if test_size + valid_size >= 0.9:
        raise DataError(
            f"data_preparation.test_size + valid_size = {test_size + valid_size:.2f} leaves too "
            "little training data; keep their sum below 0.9"
        )


def _time_order(time: pd.Series, time_column: str) -> np.ndarray:
    if time.isna().any():
        raise DataError(
            f"data_preparation.time_column '{time_column}' has {int(time.isna().sum())} rows "
            "without a time: fill them, or set data_preparation.split to random"
        )
    if not (pd.api.types.is_datetime64_any_dtype(time) or pd.api.types.is_numeric_dtype(time)):
        raise DataError(
            f"data_preparation.time_column '{time_column}' holds {time.dtype} values, not dates "
            "or numbers: choose a date or number column, or set data_preparation.split to random"
        )
    return np.argsort(time.to_numpy(), kind="stable")


def assign_splits(
    y: pd.Series,
    problem_type: str,
    test_size: float,
    valid_size: float,
    seed: int,
    *,
    time: pd.Series | None = None,
    time_column: str = "",
) -> list[np.ndarray]:
    """Row positions of train, valid and test (shares of all rows).

    Random: shuffled, stratified by class for classification. With `time`: the oldest rows train,
    then valid, the newest test (positions in time order).
    """
    check_problem_type(problem_type)
    _check_sizes(test_size, valid_size)
    n = len(y)
    positions = np.arange(n)
    if time is not None:
        order = _time_order(time.reset_index(drop=True), time_column)
        n_test, n_valid = round(n * test_size), round(n * valid_size)
        n_train = n - n_test - n_valid
        if min(n_train, n_valid, n_test) < 1:
            raise DataError(
                f"cannot split {n} rows by time into train/valid/test with "
                f"test_size={test_size} and valid_size={valid_size}: collect more rows"
            )
        return [order[:n_train], order[n_train : n_train + n_valid], order[n_train + n_valid :]]
    stratify = problem_type == "classification"
    labels = y.reset_index(drop=True)
    if stratify:
        counts = labels.value_counts()
        rare = counts[counts < 3]
        if len(rare):
            raise DataError(
                f"classes with fewer than 3 rows cannot be split into train/valid/test: "
                f"{', '.join(f'{k!r} ({v})' for k, v in rare.items())}; "
                "collect more rows or merge the rare classes"
            )
    try:
        rest, test = train_test_split(
            positions,
            test_size=test_size,
            random_state=seed,
            stratify=labels if stratify else None,
        )
        train, valid = train_test_split(
            rest,
            test_size=valid_size / (1 - test_size),
            random_state=seed,
            stratify=labels.iloc[rest] if stratify else None,
        )
    except ValueError as error:
        raise DataError(
            f"cannot split {n} rows into train/valid/test with test_size={test_size} and "
            f"valid_size={valid_size}: {error}"
        ) from error
    return [train, valid, test]


def bounded(parts: Sequence[np.ndarray], max_rows: int, seed: int) -> list[np.ndarray]:
    """Each split's row positions, or a seeded random `max_rows` of them (in the split's order)
    when it holds more and `max_rows` > 0. One generator across the splits in order, so the
    in-memory and streamed paths keep the same rows."""
    rng = np.random.default_rng(seed)
    kept = []
    for part in parts:
        if max_rows and len(part) > max_rows:
            part = part[np.sort(rng.choice(len(part), max_rows, replace=False))]
        kept.append(part)
    return kept


def split_counts(parts: Sequence[np.ndarray], kept: Sequence[np.ndarray]) -> dict[str, Any]:
    """Per split: rows assigned to it and rows written (`kept`, see `bounded`)."""
    return {
        name: {"rows": int(len(part)), "written": int(len(rows))}
        for name, part, rows in zip(SPLITS, parts, kept, strict=True)
    }


def split(
    df: pd.DataFrame,
    target: str,
    problem_type: str,
    test_size: float,
    valid_size: float,
    seed: int,
    *,
    method: str = "random",
    time_column: str = "",
) -> dict[str, pd.DataFrame]:
    """Split into train/valid/test (shares of all rows): `method` random (stratified by class for
    classification) or time (by `time_column`: oldest rows train, newest test)."""
    parts = assign_splits(
        df[target],
        problem_type,
        test_size,
        valid_size,
        seed,
        time=_time_values(df, method, time_column),
        time_column=time_column,
    )
    return {
        name: df.iloc[part].reset_index(drop=True) for name, part in zip(SPLITS, parts, strict=True)
    }


def _time_values(df: pd.DataFrame, method: str, time_column: str) -> pd.Series | None:
    if method not in SPLIT_METHODS:
        raise DataError(
            f"data_preparation.split={method!r} must be one of {', '.join(SPLIT_METHODS)}"
        )
    if method == "random":
        return None
    if not time_column:
        raise DataError(
            "data_preparation.split is time but data_preparation.time_column is empty: "
            "name the column holding each row's date"
        )
    if time_column not in df.columns:
        raise DataError(
            f"data_preparation.time_column '{time_column}' is not in the data (or was dropped); "
            f"available columns: {_listing(list(map(str, df.columns)))}"
        )
    return df[time_column]


def split_share_detail(sizes: Mapping[str, int], requested: float, name: str = "test") -> str:
    """Detail for the split-share QA check: the share reached and what was asked for."""
    total = sum(sizes.values())
    return f"{sizes[name]} of {total} rows; requested data_preparation.{name}_size={requested:g}"


# ---------------------------------------------------------------- how splits are stored

# Storage type of a column in the split files, one for every path and batch: whole numbers without
# gaps int64, other numbers float64, dates timestamp[ns], True/False bool, everything else text.
STORAGE_TYPES = ("int64", "float64", "timestamp", "bool", "string")
_WIDER = {frozenset({"int64", "float64"}): "float64", frozenset({"bool", "string"}): "string"}


def _all_bool(series: pd.Series) -> bool | None:
    """True when every present value is a boolean; None when no value is present."""
    if pd.api.types.is_bool_dtype(series):
        return True
    present = series.dropna()
    if present.empty:
        return None
    if series.dtype != object or not isinstance(present.iloc[0], bool | np.bool_):
        return False
    return bool(present.map(lambda v: isinstance(v, bool | np.bool_)).all())


def _text_type(series: pd.Series) -> str | None:
    flags = _all_bool(series)
    return None if flags is None else "bool" if flags else "string"


def _column_type(series: pd.Series, info: Mapping[str, Any] | None) -> str | None:
    """Storage type of a feature (`info` from the schema) or other kept column; None: no value
    tells (all missing)."""
    whole = pd.api.types.is_integer_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if info is None:  # a column the schema left out and keep_columns kept: by its values
        if pd.api.types.is_datetime64_any_dtype(series):
            return "timestamp"
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            return "int64" if whole else "float64"
        return _text_type(series)
    if feature_encoding(info) == "datetime":
        return "timestamp"
    if info["kind"] == "numeric":
        return "int64" if whole else "float64"
    return _text_type(series)


def storage_types(
    frame: pd.DataFrame,
    schema: Mapping[str, Any],
    earlier: Mapping[str, str | None] | None = None,
) -> dict[str, str | None]:
    """How the splits store each column of `frame` (see STORAGE_TYPES), from the values of all
    rows: the whole cleaned frame, or batch after batch (`earlier`: the types of the batches
    before; a column int64 in one batch and float64 in another is float64)."""
    types: dict[str, str | None] = {}
    for column in frame.columns:
        series = frame[column]
        if column == schema["target"]:
            labels = series.dropna()
            if schema["problem_type"] == "regression":
                kind: str | None = "float64"
            elif labels.empty:
                kind = None
            elif pd.api.types.is_integer_dtype(class_labels(labels)):
                kind = "int64"
            else:
                kind = _text_type(labels)
        else:
            kind = _column_type(series, schema["features"].get(column))
        before = (earlier or {}).get(column)
        if before is not None and kind is not None and before != kind:
            kind = _WIDER.get(frozenset({before, kind}), "string")
        types[str(column)] = kind if kind is not None else before
    return types


def _stored(series: pd.Series, kind: str | None) -> pd.Series:
    """`series` in pandas values that pyarrow writes as storage type `kind`."""
    if kind == "int64":
        return pd.to_numeric(series).astype("int64")
    if kind == "float64":
        numbers = pd.to_numeric(series, errors="coerce").astype("float64")
        return numbers.mask(np.isinf(numbers))
    if kind == "timestamp":
        return pd.to_datetime(series, errors="coerce").astype("datetime64[ns]")
    if kind == "bool":
        return series.astype(object).where(series.notna(), None)
    # Category keys as text (1.0 -> "1"), missing as NaN.
    return keys(series)


def storage_table(
    frame: pd.DataFrame, schema: Mapping[str, Any], types: Mapping[str, str | None]
) -> Any:
    """`frame` as the pyarrow Table a split file holds: every column in its storage type (`types`
    from `storage_types`), so in-memory and streamed splits have one Arrow schema."""
    import pyarrow as pa

    arrow = {
        "int64": pa.int64(),
        "float64": pa.float64(),
        "timestamp": pa.timestamp("ns"),
        "bool": pa.bool_(),
        "string": pa.string(),
    }
    columns = [str(c) for c in frame.columns]
    fields = pa.schema([(c, arrow[types.get(c) or "string"]) for c in columns])
    stored = pd.DataFrame({c: _stored(frame[c], types.get(c)) for c in columns})
    return pa.Table.from_pandas(stored.reset_index(drop=True), schema=fields, preserve_index=False)


def prepare_in_memory(
    df: pd.DataFrame,
    schema: Mapping[str, Any],
    *,
    target: str,
    problem_type: str,
    drop_columns: Sequence[str],
    keep_columns: Sequence[str] = (),
    test_size: float,
    valid_size: float,
    seed: int,
    method: str = "random",
    time_column: str = "",
    max_rows: int = 0,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Clean and split data read whole: ({split: pyarrow Table as the split file holds it},
    cleaning summary with rows per split). Each split keeps at most `max_rows` random rows when
    > 0 (the rows `prepare_streamed` keeps); the same storage types as it writes."""
    cleaned, removed = clean(
        df,
        target,
        drop_columns,
        schema=schema,
        problem_type=problem_type,
        keep_columns=keep_columns,
    )
    types = storage_types(cleaned, schema)
    parts = assign_splits(  # as `split` makes them
        cleaned[target],
        problem_type,
        test_size,
        valid_size,
        seed,
        time=_time_values(cleaned, method, time_column),
        time_column=time_column,
    )
    kept = bounded(parts, max_rows, seed)
    tables = {
        name: storage_table(cleaned.iloc[rows], schema, types)
        for name, rows in zip(SPLITS, kept, strict=True)
    }
    removed["splits"] = split_counts(parts, kept)
    removed["max_rows"] = max_rows
    return tables, removed


def split_sizes(summary: Mapping[str, Any]) -> pd.DataFrame:
    """Per split: rows assigned to it, their share of all, and rows written (fewer when the split
    was bounded by max_split_rows), from a `prepare_in_memory` or `prepare_streamed` summary."""
    sizes = pd.DataFrame(summary["splits"]).T.loc[list(SPLITS), ["rows", "written"]]
    return sizes.assign(share=sizes["rows"] / sizes["rows"].sum())[["rows", "share", "written"]]


# ---------------------------------------------------------------- streaming


def stream_splits(
    batches: Iterable[pd.DataFrame],
    schema: Mapping[str, Any],
    *,
    targets: Mapping[str, Path],
    columns: Sequence[str],
    assignment: np.ndarray,
    keep: np.ndarray,
    types: Mapping[str, str | None],
) -> dict[str, int]:
    """Write `columns` of the rows of `batches` to one Parquet file per split, batch by batch.

    `schema` is phase 01's (its conversions are applied), `types` each column's storage type
    (`storage_types` over all batches),
    `assignment` holds each raw row's split (0 train, 1 valid, 2 test, -1 none: a duplicate or an
    unlabelled row), `keep` the rows to write (a bounded sample). Files are written beside their
    target and renamed into place once all are complete. Returns rows written per split.
    """
    import pyarrow.parquet as pq

    writers: dict[str, Any] = {}
    temporary = {name: path.with_name(f".{path.name}.partial") for name, path in targets.items()}
    counts = dict.fromkeys(SPLITS, 0)
    try:
        for batch in batches:
            rows = batch.index.to_numpy()
            codes, wanted = assignment[rows], keep[rows]
            if not wanted.any():
                continue
            frame = conform(batch[list(columns)], schema)
            for code, name in enumerate(SPLITS):
                mask = (codes == code) & wanted
                if not mask.any():
                    continue
                table = storage_table(frame[mask], schema, types)
                if name not in writers:
                    temporary[name].parent.mkdir(parents=True, exist_ok=True)
                    writers[name] = pq.ParquetWriter(temporary[name], table.schema)
                writers[name].write_table(table)
                counts[name] += int(mask.sum())
    finally:
        for writer in writers.values():
            writer.close()
    empty = [name for name in SPLITS if name not in writers]
    if empty:
        for path in temporary.values():
            path.unlink(missing_ok=True)
        raise DataError(f"no rows for the {', '.join(empty)} split: collect more rows")
    for name, path in targets.items():
        os.replace(temporary[name], path)
    return counts


def streamed_assignment(
    labels: pd.Series,
    row_hashes: np.ndarray,
    problem_type: str,
    test_size: float,
    valid_size: float,
    seed: int,
    *,
    time: pd.Series | None = None,
    time_column: str = "",
    max_rows: int = 0,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(split code per raw row, rows to write, summary) for a streamed file, from its labels and
    row hashes (first pass). Duplicates and unlabelled rows get -1; with `max_rows` > 0 each split
    keeps a random sample of at most that many rows."""
    n = len(labels)
    duplicate = pd.Series(row_hashes).duplicated().to_numpy()
    unlabelled = labels.isna().to_numpy()
    usable = np.flatnonzero(~duplicate & ~unlabelled)
    if usable.size == 0:
        raise DataError("no rows left after cleaning: every row lacks the target or is a duplicate")
    parts = assign_splits(
        labels.iloc[usable],
        problem_type,
        test_size,
        valid_size,
        seed,
        time=None if time is None else time.iloc[usable],
        time_column=time_column,
    )
    assignment = np.full(n, -1, dtype=np.int8)
    keep = np.zeros(n, dtype=bool)
    kept = bounded(parts, max_rows, seed)
    for code, (part, chosen) in enumerate(zip(parts, kept, strict=True)):
        assignment[usable[part]] = code
        keep[usable[chosen]] = True
    summary = {
        "rows_in": int(n),
        "rows_out": int(usable.size),
        "duplicate_rows": int(duplicate.sum()),
        "missing_target_rows": int((unlabelled & ~duplicate).sum()),
        "missing_target_share": round(float((unlabelled & ~duplicate).sum()) / n, 6),
        "splits": split_counts(parts, kept),
    }
    return assignment, keep, summary


def prepare_streamed(
    batches: Callable[[], Iterable[pd.DataFrame]],
    schema: Mapping[str, Any],
    *,
    targets: Mapping[str, Path],
    drop_columns: Sequence[str],
    keep_columns: Sequence[str] = (),
    test_size: float,
    valid_size: float,
    seed: int,
    method: str = "random",
    time_column: str = "",
    max_rows: int = 0,
) -> dict[str, Any]:
    """Clean and split a file too large for memory in two streaming passes, writing the splits
    to `targets` (staging files: `commit` moves them into place once the QA checks pass).

    Pass 1 hashes each row (duplicates), keeps the labels (and times) and finds each column's
    storage type: the split is the one `split` would make of the same rows, the columns and their
    types those of `prepare_in_memory`. Pass 2 writes each split (at most `max_rows` random rows
    each when > 0) with `stream_splits`. Returns the cleaning summary with rows per split.
    """
    target = schema["target"]
    kept = [c for c in schema.get("excluded", {}) if c in keep_columns]
    wanted = {*schema["features"], *kept, target} - set(drop_columns)
    columns = [c for c in [*schema["features"], *kept, target] if c in wanted]
    if method not in SPLIT_METHODS:
        raise DataError(
            f"data_preparation.split={method!r} must be one of {', '.join(SPLIT_METHODS)}"
        )
    if method == "time" and time_column not in columns:
        raise DataError(
            f"data_preparation.time_column '{time_column}' is not a feature of the data "
            "(dropped, excluded or absent): choose another column, or set data_preparation.split "
            "to random"
        )
    labels, times, hashes = [], [], []
    types: dict[str, str | None] = {}
    for batch in batches():
        columns = [c for c in batch.columns if c in wanted]  # in the file's order, as clean keeps
        frame = plain_dtypes(conform(batch[columns], schema))
        types = storage_types(frame, schema, types)
        hashes.append(pd.util.hash_pandas_object(frame, index=False).to_numpy())
        labels.append(frame[target])
        if method == "time":
            times.append(frame[time_column])
    y = class_labels_or_raw(pd.concat(labels, ignore_index=True))
    assignment, keep, summary = streamed_assignment(
        y,
        np.concatenate(hashes),
        schema["problem_type"],
        test_size,
        valid_size,
        seed,
        time=pd.concat(times, ignore_index=True) if method == "time" else None,
        time_column=time_column,
        max_rows=max_rows,
    )
    written = stream_splits(
        batches(),
        schema,
        targets=targets,
        columns=columns,
        assignment=assignment,
        keep=keep,
        types=types,
    )
    excluded = {c: r for c, r in schema.get("excluded", {}).items() if c not in drop_columns}
    return {
        **summary,
        "dropped_columns": list(drop_columns),
        "excluded_columns": excluded,
        "written": written,
        "max_rows": max_rows,
    }


def duplicate_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows equal to an earlier row. Rows are hashed as the streamed path hashes them (so both
    ways drop the same rows), and only rows whose hash repeats are compared value by value: on a
    million rows this takes a second, not the seven of comparing every column's values."""
    hashes = pd.Series(pd.util.hash_pandas_object(frame, index=False).to_numpy())
    candidates = hashes.duplicated(keep=False).to_numpy()
    duplicated = np.zeros(len(frame), dtype=bool)
    if candidates.any():
        duplicated[candidates] = frame[candidates].duplicated().to_numpy()
    return duplicated


def class_labels_or_raw(y: pd.Series) -> pd.Series:
    """Labels for stratifying: missing labels kept, the rest as class_labels makes them."""
    present = y.dropna()
    if pd.api.types.is_float_dtype(y) and len(present) and np.all(np.mod(present, 1) == 0):
        return y.astype("Int64")
    return y


def staging_paths(finals: Mapping[str, Path]) -> dict[str, Path]:
    """Where streamed splits wait for the QA checks: beside each final file, hidden."""
    return {
        name: path.with_name(f".{path.stem}.staged{path.suffix}") for name, path in finals.items()
    }


def commit(staged: Mapping[str, Path], finals: Mapping[str, Path]) -> None:
    """Move staged split files into place (each an atomic rename) and log the writes.

    Inside `crisp run` "into place" is where crisp.files puts the phase's writes: they become
    visible with the phase's other outputs, when it succeeds.
    """
    from crisp import context, files

    for name, path in staged.items():
        target = files.destination(finals[name])
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        context.log_io("write", finals[name])


def discard(staged: Mapping[str, Path]) -> None:
    """Remove staged split files (a failed QA check keeps the last good splits)."""
    for path in staged.values():
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------- preprocessing


def _output_names(schema: Mapping[str, Any], groups: Mapping[str, list[str]]) -> list[str]:
    names = list(groups["numeric"])
    for column in groups["onehot"]:
        names += [f"{column}_{c}" for c in schema["features"][column].get("categories", [])]
    for column in groups["text"]:
        names += [f"{column}_{i:02d}" for i in range(TEXT_COMPONENTS)]
    for column in groups["datetime"]:
        names += [f"{column}_{part}" for part in DATE_PARTS]
    return names


def _as_series(column: Any) -> pd.Series:
    if isinstance(column, pd.DataFrame) and column.shape[1] == 1:
        return column.iloc[:, 0]
    return column if isinstance(column, pd.Series) else pd.Series(np.asarray(column))


def _categorical(series: pd.Series, categories: list[str]) -> pd.Series:
    """`series` as a pandas categorical of `categories` (category keys, as text); values not among
    them (unseen in training) become missing."""
    codes = pd.Index(categories, dtype=object).get_indexer(keys(series))
    values = pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype=object))
    return pd.Series(values, index=series.index, name=series.name)


def _frequent(series: pd.Series, limit: int) -> list[str]:
    """Keys of the column's `limit` most frequent values (all when fewer), sorted."""
    counts = keys(series).value_counts(dropna=True, sort=False)
    return sorted(counts.sort_values(ascending=False, kind="stable").head(limit).index)


class PerValueStringEncoder(TransformerMixin, BaseEstimator):
    """skrub's StringEncoder run once per distinct value of a text column, each row then taking
    its value's encoding.

    A many-valued column (a product code, a city) repeats a few hundred values over millions of
    rows: the n-gram tf-idf and SVD then cost what those values cost, not what the rows cost. Each
    distinct value (missing included) counts once in the fit, so a frequent value does not outweigh
    a rare one; a column of all-different texts is encoded exactly as by StringEncoder itself.

    With `categories_up_to` > 0, a column with at most that many distinct values in the fit comes
    out as one pandas categorical instead (for a model that splits on categories itself).
    """

    def __init__(
        self,
        n_components: int = TEXT_COMPONENTS,
        random_state: int | None = 0,
        categories_up_to: int = 0,
    ) -> None:
        self.n_components = n_components
        self.random_state = random_state
        self.categories_up_to = categories_up_to

    @staticmethod
    def _distinct(column: Any) -> tuple[np.ndarray, pd.Series]:
        series = _as_series(column)
        codes, values = pd.factorize(series, use_na_sentinel=False)
        return codes, pd.Series(values, name=series.name, dtype=series.dtype)

    def fit(self, X: Any, y: Any = None) -> PerValueStringEncoder:
        """Fit the encoder on the column's distinct values (or keep them as categories)."""
        _, values = self._distinct(X)
        self.name_ = str(values.name)
        present = values.dropna()
        if 0 < len(present) <= self.categories_up_to:
            self.categories_, self.encoder_ = _frequent(present, self.categories_up_to), None
            return self
        from skrub import StringEncoder

        encoder = StringEncoder(n_components=self.n_components, random_state=self.random_state)
        self.categories_, self.encoder_ = None, clone(encoder).fit(values)
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        """Each row's encoding: the encoder's output for its value (or its category)."""
        if self.encoder_ is None:
            return _categorical(_as_series(X), self.categories_).to_frame(self.name_)
        codes, values = self._distinct(X)
        encoded = self.encoder_.transform(values)
        rows = encoded.iloc[codes] if isinstance(encoded, pd.DataFrame) else encoded[codes]
        if isinstance(rows, pd.DataFrame):
            rows.index = X.index if isinstance(X, pd.Series | pd.DataFrame) else range(len(rows))
        return rows

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The encoder's output names (`<column>_00`, ...), or the column's name."""
        if self.encoder_ is None:
            return np.asarray([self.name_], dtype=object)
        return np.asarray(self.encoder_.get_feature_names_out(), dtype=object)


class CategoryCodes(TransformerMixin, BaseEstimator):
    """Few-valued columns as pandas categoricals (at most `max_categories` per column, the most
    frequent; values unseen in training and missing values become missing), for a model that
    splits on categories itself instead of one one-hot input per value."""

    def __init__(self, max_categories: int = 255) -> None:
        self.max_categories = max_categories

    def fit(self, X: pd.DataFrame, y: Any = None) -> CategoryCodes:
        """The categories of each column."""
        self.columns_ = [str(c) for c in X.columns]
        self.categories_ = {
            str(c): _frequent(X[c].dropna(), self.max_categories) for c in X.columns
        }
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Each column as a categorical of its fitted categories."""
        return pd.DataFrame(
            {str(c): _categorical(X[c], self.categories_[str(c)]) for c in X.columns},
            index=X.index,
        )

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The input column names."""
        return np.asarray(self.columns_, dtype=object)


def build_preprocessor(schema: dict[str, Any]) -> ColumnTransformer:
    """Unfitted ColumnTransformer over the schema's features (target and dropped columns excluded).

    By encoding: numeric -> median imputation + standard scaling; onehot -> most-frequent
    imputation + one-hot encoding that ignores categories unseen at fit time; text -> skrub's
    StringEncoder (character n-gram tf-idf + SVD, TEXT_COMPONENTS inputs) once per distinct value
    (PerValueStringEncoder); datetime -> skrub's
    ToDatetime (text dates at prediction time) + DatetimeEncoder (year, month, day, ..., weekday,
    total seconds) + median imputation + scaling.
    """
    groups = encoded_columns(schema)
    if not any(groups.values()):
        raise DataError("the schema has no feature columns: nothing to train on")
    transformers: list[tuple[str, Any, Any]] = []
    if groups["numeric"]:
        steps = [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
        transformers.append(("numeric", Pipeline(steps), groups["numeric"]))
    if groups["onehot"]:
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        steps = [("impute", SimpleImputer(strategy="most_frequent")), ("encode", encoder)]
        transformers.append(("categorical", Pipeline(steps), groups["onehot"]))
    for position, column in enumerate(groups["text"]):
        transformers.append((f"text_{position}", PerValueStringEncoder(), column))
    for position, column in enumerate(groups["datetime"]):
        from skrub import DatetimeEncoder, ToDatetime  # imported only for a table with dates

        steps = [
            ("parse", ToDatetime()),
            ("encode", DatetimeEncoder(add_weekday=True)),
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
        ]
        transformers.append((f"datetime_{position}", Pipeline(steps), column))
    # Short output names ("contract_one-year") unless they could collide.
    names = _output_names(schema, groups)
    return ColumnTransformer(transformers, verbose_feature_names_out=len(names) != len(set(names)))


def with_native_categories(preprocessor: ColumnTransformer) -> ColumnTransformer:
    """A copy of `preprocessor` (from build_preprocessor) for a model that splits on categories
    itself (histogram gradient boosting, `categorical_features="from_dtype"`): its output is a
    DataFrame in which the few-valued categories, and text columns of at most
    NATIVE_MAX_CATEGORIES distinct values, are one pandas categorical each instead of a one-hot
    input per value or TEXT_COMPONENTS text inputs; numeric columns pass through as they are
    (the model learns where missing values go, and scaling does not change a tree's splits).

    Far fewer model inputs: a boosting fit costs in proportion to them.
    """
    copy = clone(preprocessor)
    transformers = []
    for name, transformer, columns in copy.transformers:
        if name == "numeric":
            transformer = "passthrough"
        elif name == "categorical":
            transformer = CategoryCodes(max_categories=NATIVE_MAX_CATEGORIES)
        elif isinstance(transformer, PerValueStringEncoder):
            transformer = clone(transformer).set_params(categories_up_to=NATIVE_MAX_CATEGORIES)
        transformers.append((name, transformer, columns))
    copy.transformers = transformers
    return copy.set_output(transform="pandas")


# ---------------------------------------------------------------- leakage


def _row_hashes(df: pd.DataFrame, columns: list[str]) -> pd.Series:
    return pd.util.hash_pandas_object(df[columns], index=False)


def leakage_checks(
    splits: dict[str, pd.DataFrame], target: str, feature_columns: list[str]
) -> dict[str, Any]:
    """Target among the features, and rows (on feature columns) shared between splits."""
    columns = [c for c in feature_columns if c != target]
    # Arrays, not Python sets: isin then looks the hashes up in a hash table of its own.
    train = _row_hashes(splits["train"], columns).to_numpy()
    valid_hashes = _row_hashes(splits["valid"], columns)
    test_hashes = _row_hashes(splits["test"], columns)
    return {
        "target_in_features": target in feature_columns,
        "train_test_overlap_rows": int(test_hashes.isin(train).sum()),
        "train_valid_overlap_rows": int(valid_hashes.isin(train).sum()),
        "valid_test_overlap_rows": int(test_hashes.isin(valid_hashes.to_numpy()).sum()),
    }


def _as_codes(series: pd.Series, encoding: str) -> np.ndarray:
    """One feature as numbers a tree can split: values, date times, or category codes."""
    if encoding == "numeric":
        return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    if encoding == "datetime":
        times = pd.to_datetime(series, errors="coerce")
        values = times.astype("int64").to_numpy(dtype="float64")
        values[times.isna().to_numpy()] = np.nan
        return values
    codes, _ = pd.factorize(keys(series))
    values = codes.astype("float64")
    values[codes < 0] = np.nan
    return values


def _mapping(x: pd.Series, y: pd.Series, problem_type: str) -> str:
    """'identical', 'one-to-one' or '' for a feature against the target."""
    present = x.notna() & y.notna()
    xs, ys = keys(x[present]), keys(y[present])
    if len(xs) and (xs == ys).all():
        return "identical"
    if problem_type == "regression":
        numbers = pd.to_numeric(x[present], errors="coerce")
        if numbers.notna().all() and numbers.nunique() > 1:
            correlation = np.corrcoef(numbers.astype(float), y[present].astype(float))[0, 1]
            if abs(correlation) > 0.9999:
                return "a linear copy"
        return ""
    pairs = pd.DataFrame({"x": xs, "y": ys}).drop_duplicates()
    if len(pairs) and len(pairs) == xs.nunique() == ys.nunique():
        return "one-to-one"
    return ""


def single_feature_scores(
    train: pd.DataFrame,
    schema: Mapping[str, Any],
    seed: int,
    sample_rows: int = LEAKAGE_SAMPLE_ROWS,
) -> pd.DataFrame:
    """How well each feature alone predicts the target on (a sample of) the training split.

    A shallow-leaved decision tree on the one feature, scored out of fold (3 folds): balanced
    accuracy for classification, R² for regression. Columns: feature, encoding, metric, score,
    mapping ('identical', 'one-to-one', 'a linear copy' or ''). Sorted by score, best first.
    """
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    target, problem_type = schema["target"], schema["problem_type"]
    frame = train if len(train) <= sample_rows else train.sample(sample_rows, random_state=seed)
    y = frame[target]
    classification = problem_type == "classification"
    if classification:
        y_codes = pd.factorize(y.map(_key))[0]
        stratified = np.bincount(y_codes).min() >= 3
        folds: Any = (StratifiedKFold if stratified else KFold)(3, shuffle=True, random_state=seed)
        model: Any = DecisionTreeClassifier(min_samples_leaf=2, random_state=seed)
        metric = "balanced_accuracy"
    else:
        y_codes = pd.to_numeric(y).to_numpy(dtype="float64")
        folds = KFold(3, shuffle=True, random_state=seed)
        model = DecisionTreeRegressor(min_samples_leaf=2, random_state=seed)
        metric = "r2"
    rows = []
    for name, info in schema["features"].items():
        if name not in frame.columns:
            continue
        encoding = feature_encoding(info)
        x = _as_codes(frame[name], encoding).reshape(-1, 1)
        predicted = cross_val_predict(model, x, y_codes, cv=folds)
        score = _score(y_codes, predicted, classification)
        mapping = _mapping(frame[name], y, problem_type)
        rows.append((name, encoding, metric, score, mapping))
    columns = ["feature", "encoding", "metric", "score", "mapping"]
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


def _score(y: np.ndarray, predicted: np.ndarray, classification: bool) -> float:
    from sklearn.metrics import balanced_accuracy_score, r2_score

    if classification:
        return float(balanced_accuracy_score(y, predicted))
    return float(r2_score(y, predicted))


def leakage_detail(scores: pd.DataFrame, threshold: float) -> str:
    """Detail for the single-feature QA check: the best feature and the fix ("" when none)."""
    if scores.empty:
        return "no feature scored"
    best = scores.iloc[0]
    what = f"; {best['mapping']} with the target" if best["mapping"] else ""
    text = f"column '{best['feature']}': {best['metric']} {best['score']:.3f} from it alone{what}"
    if best["score"] <= threshold:
        return text
    return (
        f"{text}: drop it (data_preparation.drop_columns) if it is known only after the outcome, "
        "or raise data_preparation.max_single_feature_score"
    )


def class_balance(y: pd.Series) -> pd.Series:
    """Share of each class, by class label."""
    return y.value_counts(normalize=True).sort_index().rename("share")


def xy(df: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """Features (every column but the target) and target."""
    if target not in df.columns:
        raise DataError(
            f"target column '{target}' is not in the data; available columns: "
            f"{', '.join(map(str, df.columns))}"
        )
    return df.drop(columns=[target]), df[target]
