"""Demo data, reading the project's CSV/Parquet input (whole, or streamed in batches), compact
dtypes, full-pass column statistics, a bounded row sample and a data fingerprint.

Reading: the CSV dialect (delimiter, decimal mark, encoding) is sniffed (see `sources`). A file
that does not fit in the available memory is not refused by phases 01-02: they stream it in
batches of BATCH_ROWS rows (`shared.stream_data`), computing the column statistics and the
fingerprint over all rows and keeping a bounded random sample for what needs rows at hand.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from crisp import context, files
from crisp.files import sha256_file

from . import artifacts, paths
from .sources import (
    MISSING_DATA_HINT,
    SUPPORTED_SUFFIXES,
    DataError,
    check_file,
    csv_header,
    parquet_error,
    parquet_header,
    sniff_csv,
)

__all__ = ["MISSING_DATA_HINT", "SUPPORTED_SUFFIXES", "DataError"]

PROBLEM_TYPES = ("classification", "regression")

# Features that make_demo_data(shift=s) moves. Numeric ones move by s standard deviations of the
# unshifted feature (tenure_months down, the others up); for the categorical one a share
# min(s, 1) / 2 of the rows is drawn from one level instead (contract: month-to-month;
# neighbourhood: outskirts).
DEMO_SHIFTED_FEATURES: dict[str, list[str]] = {
    "classification": ["monthly_charges", "tenure_months", "contract"],
    "regression": ["area_m2", "distance_to_center_km", "neighbourhood"],
}
DEMO_TARGETS: dict[str, str] = {"classification": "churned", "regression": "price"}
DEMO_ID_COLUMNS: dict[str, str] = {"classification": "customer_id", "regression": "listing_id"}

# Memory a CSV needs in pandas per byte of file, at least (numbers as text are about as long as
# float64 values; the parser's buffers come on top). Parquet uses its uncompressed size instead.
CSV_MEMORY_FACTOR = 2.0
STREAM_MODES = ("auto", "always", "never")
BATCH_ROWS = 200_000  # rows per batch when streaming
CHECK_ROWS = 100  # rows check_table parses


def check_problem_type(problem_type: str) -> None:
    """Raise DataError unless `problem_type` is classification or regression."""
    if problem_type not in PROBLEM_TYPES:
        allowed = ", ".join(PROBLEM_TYPES)
        raise DataError(
            f"problem_type {problem_type!r} is not supported; use one of: {allowed} "
            "(shared.problem_type in params.yaml)"
        )


# ---------------------------------------------------------------- demo data


def _mixture(
    rng: np.random.Generator,
    levels: list[str],
    p: list[float],
    n: int,
    shift: float,
    shifted_level: str,
) -> np.ndarray:
    """Draw `levels` with probabilities `p`; a share min(shift, 1) / 2 is `shifted_level`."""
    weight = min(shift, 1.0) / 2
    probabilities = np.array(p) * (1 - weight)
    probabilities[levels.index(shifted_level)] += weight
    return rng.choice(np.array(levels), size=n, p=probabilities)


def _add_missing(rng: np.random.Generator, df: pd.DataFrame, shares: dict[str, float]) -> None:
    for column, share in shares.items():
        mask = rng.random(len(df)) < share
        if pd.api.types.is_integer_dtype(df[column]):
            df[column] = df[column].astype("float64")
        df.loc[mask, column] = np.nan


def _churn(rng: np.random.Generator, n: int, shift: float) -> pd.DataFrame:
    contract = _mixture(
        rng,
        ["month-to-month", "one-year", "two-year"],
        [0.55, 0.25, 0.20],
        n,
        shift,
        "month-to-month",
    )
    mean_tenure = (
        pd.Series(contract)
        .map({"month-to-month": 14.0, "one-year": 30.0, "two-year": 46.0})
        .to_numpy()
    )
    tenure = rng.gamma(2.0, mean_tenure / 2.0)
    tenure = np.clip(tenure - shift * tenure.std(), 0, 72)
    charges = rng.normal(70.0, 25.0, n)
    charges = np.clip(charges + shift * charges.std(), 18.0, 160.0)
    month_to_month = contract == "month-to-month"
    support_calls = rng.poisson(1.0 + 0.8 * month_to_month)
    age = np.clip(rng.normal(46.0, 15.0, n), 18, 90).round()
    usage = np.exp(np.log(10.0) + (charges - 70.0) / 60.0 + rng.normal(0.0, 0.5, n))
    payment = rng.choice(
        np.array(["electronic check", "mailed check", "bank transfer", "credit card"]),
        size=n,
        p=[0.35, 0.2, 0.22, 0.23],
    )
    region = rng.choice(
        np.array(["north", "south", "east", "west"]), size=n, p=[0.3, 0.25, 0.25, 0.2]
    )
    logit = (
        -2.7
        + 1.5 * month_to_month
        - 0.9 * (contract == "two-year")
        - 0.045 * (tenure - 24.0)
        + 0.026 * (charges - 70.0)
        + 0.35 * (support_calls - 1.0)
        + 0.6 * (payment == "electronic check")
        - 0.014 * (age - 46.0)
        + 0.2 * (region == "south")
        + rng.normal(0.0, 0.3, n)
    )
    churned = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype("int64")
    df = pd.DataFrame(
        {
            "customer_id": [f"C{100000 + i}" for i in range(n)],
            "tenure_months": tenure.round().astype("int64"),
            "monthly_charges": charges.round(2),
            "support_calls": support_calls.astype("int64"),
            "age": age,
            "data_usage_gb": usage.round(2),
            "contract": contract,
            "payment_method": payment,
            "region": region,
            "churned": churned,
        }
    )
    _add_missing(
        rng,
        df,
        {"monthly_charges": 0.04, "data_usage_gb": 0.07, "age": 0.03, "payment_method": 0.05},
    )
    return df


def _houses(rng: np.random.Generator, n: int, shift: float) -> pd.DataFrame:
    neighbourhood = _mixture(
        rng,
        ["central", "inner city", "suburbs", "outskirts"],
        [0.15, 0.30, 0.35, 0.20],
        n,
        shift,
        "outskirts",
    )
    by_area = pd.Series(neighbourhood)
    mean_distance = by_area.map(
        {"central": 1.5, "inner city": 4.5, "suburbs": 10.0, "outskirts": 20.0}
    ).to_numpy()
    distance = rng.gamma(4.0, mean_distance / 4.0)
    distance = distance + shift * distance.std()
    area = np.exp(rng.normal(np.log(95.0), 0.35, n))
    area = np.clip(area + shift * area.std(), 25.0, 500.0)
    rooms = np.clip((area / 28.0 + rng.normal(0.0, 0.7, n)).round(), 1, 12).astype("int64")
    age = np.clip(rng.gamma(2.0, 20.0, n), 0, 150).round()
    lot_factor = by_area.map(
        {"central": 0.3, "inner city": 0.6, "suburbs": 1.2, "outskirts": 2.5}
    ).to_numpy()
    lot = np.exp(rng.normal(np.log(300.0), 0.5, n)) * lot_factor
    condition = rng.choice(
        np.array(["poor", "fair", "good", "excellent"]), size=n, p=[0.1, 0.3, 0.45, 0.15]
    )
    heating = rng.choice(
        np.array(["gas", "electric", "heat pump", "oil"]), size=n, p=[0.45, 0.2, 0.2, 0.15]
    )
    per_m2 = 5200.0 * np.exp(-distance / 12.0) + 1800.0
    age_effect = 1.0 - 0.006 * age + 0.00004 * age**2  # old houses regain some value
    quality = (
        pd.Series(condition)
        .map({"poor": 0.78, "fair": 0.92, "good": 1.0, "excellent": 1.15})
        .to_numpy()
    )
    quality = (
        quality
        * pd.Series(heating)
        .map({"gas": 1.0, "electric": 0.97, "heat pump": 1.06, "oil": 0.95})
        .to_numpy()
    )
    price = (area * per_m2 * age_effect * quality + 150.0 * np.sqrt(lot) * 100.0) * np.exp(
        rng.normal(0.0, 0.08, n)
    )
    df = pd.DataFrame(
        {
            "listing_id": [f"L{100000 + i}" for i in range(n)],
            "area_m2": area.round(1),
            "rooms": rooms,
            "age_years": age,
            "distance_to_center_km": distance.round(2),
            "lot_size_m2": lot.round(0),
            "neighbourhood": neighbourhood,
            "condition": condition,
            "heating": heating,
            "price": (price / 100.0).round() * 100.0,
        }
    )
    _add_missing(
        rng, df, {"lot_size_m2": 0.06, "age_years": 0.04, "heating": 0.05, "condition": 0.03}
    )
    return df


def make_demo_data(problem_type: str, n_rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Seeded demo data: customer churn (classification) or house prices (regression).

    `shift` > 0 moves the features in DEMO_SHIFTED_FEATURES (see there) to simulate drift; the
    target is computed from the shifted features, so the relation between them stays the same.
    """
    check_problem_type(problem_type)
    if isinstance(n_rows, bool) or not isinstance(n_rows, int | np.integer) or n_rows < 10:
        raise DataError(f"n_rows={n_rows!r} must be an integer of at least 10 (demo_rows)")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise DataError(f"seed={seed!r} must be an integer (shared.random_seed)")
    if not isinstance(shift, int | float) or not math.isfinite(shift) or shift < 0:
        raise DataError(f"shift={shift!r} must be a number >= 0 (monitoring.demo_shift)")
    rng = np.random.default_rng(int(seed))
    make = _churn if problem_type == "classification" else _houses
    return make(rng, int(n_rows), float(shift))


# ---------------------------------------------------------------- reading data


def _duplicated(names: list[str]) -> list[str]:
    return [name for name, count in Counter(names).items() if count > 1]


def _size(n_bytes: float) -> str:
    """Bytes for people: 812 B, 3.4 MiB, 1.0 TiB."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    power = 0
    while n_bytes >= 1024 and power < len(units) - 1:
        n_bytes /= 1024
        power += 1
    return f"{n_bytes:.0f} B" if power == 0 else f"{n_bytes:.1f} {units[power]}"


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation, or None where the system does not say.

    Linux: MemAvailable of /proc/meminfo (free memory plus reclaimable cache); elsewhere the free
    pages from os.sysconf.
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def memory_estimate(target: Path) -> int:
    """Rough bytes `target` needs in memory once read.

    A CSV: its size times CSV_MEMORY_FACTOR. Parquet: the uncompressed size its metadata records
    (the file size when the metadata cannot be read; reading then fails with its own error).
    """
    size = target.stat().st_size
    if target.suffix.lower() == ".csv":
        return int(size * CSV_MEMORY_FACTOR)
    try:
        import pyarrow.parquet as pq

        metadata = pq.read_metadata(target)
        row_groups = (metadata.row_group(i) for i in range(metadata.num_row_groups))
        return max(size, sum(group.total_byte_size for group in row_groups))
    except (OSError, ValueError):
        return size


def fits_in_memory(target: Path) -> bool:
    """False when `target` clearly cannot be read whole into the available memory."""
    available = available_memory()
    return available is None or memory_estimate(target) <= available


def check_fits_in_memory(target: Path) -> None:
    """Raise DataError, before reading, when `target` clearly cannot fit in the available memory."""
    if fits_in_memory(target):
        return
    raise DataError(
        f"data file {target} ({_size(target.stat().st_size)}) needs about "
        f"{_size(memory_estimate(target))} of memory, but only {_size(available_memory() or 0)} "
        "is available: use a sample of its rows, or convert it to Parquet with only the columns "
        "you need"
    )


def _read_error(target: Path, error: Exception) -> DataError:
    if isinstance(error, UnicodeDecodeError):
        return DataError(
            f"data file {target} is not UTF-8 text ({error.reason} at byte {error.start}): "
            "re-save it as UTF-8 (e.g. 'CSV UTF-8' in Excel)"
        )
    if isinstance(error, pd.errors.EmptyDataError):
        return DataError(f"data file {target} is empty: export the data again")
    if isinstance(error, PermissionError):
        return DataError(
            f"data file {target} cannot be read (permission denied): check that it is readable "
            "by you"
        )
    if target.suffix.lower() != ".csv":
        return parquet_error(target, error)
    reason = str(error).strip().split("\n")[0]
    return DataError(f"cannot read data file {target} ({reason}): check it, or export it again")


def _check_frame(target: Path, df: pd.DataFrame, header: list[str]) -> None:
    """Name `df`'s columns as text, check them (_check_columns) and refuse a file without rows."""
    df.columns = [str(c) for c in df.columns]
    _check_columns(target, df, header)
    if df.empty:
        raise DataError(f"data file {target} has no data rows: export the data again")


def _check_columns(target: Path, df: pd.DataFrame, header: list[str]) -> None:
    """Refuse duplicated names in the file's `header` and a CSV that did not split."""
    duplicated = _duplicated([str(name) for name in header])
    if duplicated:
        raise DataError(
            f"data file {target} has duplicated column names: {', '.join(duplicated)}; "
            "rename them so every column name is unique"
        )
    if df.shape[1] == 1 and target.suffix.lower() == ".csv":
        raise DataError(
            f"data file {target} has a single column ({str(df.columns[0])[:60]!r}): no comma, "
            "semicolon, tab or pipe splits its lines; re-export it as a delimited CSV"
        )


def _csv_options(target: Path) -> tuple[dict[str, Any], list[str], list[str]]:
    """(pandas read_csv options, notes on what was guessed, header) of a CSV file."""
    dialect = sniff_csv(target)
    options = {"sep": dialect.delimiter, "decimal": dialect.decimal, "encoding": dialect.encoding}
    notes = [f"{target.name}: {note}" for note in dialect.notes]
    return options, notes, csv_header(target, dialect)


def _header(target: Path) -> list[str]:
    return _csv_options(target)[2] if target.suffix.lower() == ".csv" else parquet_header(target)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (dialect sniffed) or Parquet file, with clear errors for the usual problems.

    A file that cannot fit in the available memory is refused before reading
    (check_fits_in_memory; phases 01-02 stream such files instead: `scan`). What was guessed
    (a semicolon delimiter, a decimal comma, a non-UTF-8 encoding) is in `df.attrs["notes"]`.
    """
    target = files.readable(paths.resolve(path))  # one this phase saved: its staged copy
    suffix = check_file(target)
    check_fits_in_memory(target)
    notes: list[str] = []
    try:
        if suffix == ".csv":
            options, notes, header = _csv_options(target)
            df = pd.read_csv(target, low_memory=False, **options)
        else:
            header = parquet_header(target)
            df = pd.read_parquet(target)
    except DataError:
        raise
    except (UnicodeDecodeError, pd.errors.ParserError, OSError, ValueError) as error:
        raise _read_error(target, error) from error
    _check_frame(target, df, header)
    df.attrs["notes"] = notes
    context.log_io("read", paths.resolve(path))
    return df


def check_table(path: str | Path) -> list[str]:
    """Column names of a CSV or Parquet file, after a cheap check that it holds a table with data
    rows: its first CHECK_ROWS rows are parsed (for a command, before any phase starts).

    Raises DataError naming the file, what is wrong and the fix: missing, a directory, empty, a
    format other than its suffix says, undecodable text, one unsplit column, no data rows. A bad
    line further down is found only when the whole file is read.
    """
    target = paths.resolve(path)
    source = files.readable(target)
    suffix = check_file(source)
    try:
        if suffix == ".csv":
            options, _, header = _csv_options(source)
            head = pd.read_csv(source, nrows=CHECK_ROWS, low_memory=False, **options)
        else:
            import pyarrow.parquet as pq

            header = parquet_header(source)
            first = next(pq.ParquetFile(source).iter_batches(batch_size=CHECK_ROWS), None)
            head = pd.DataFrame(columns=header) if first is None else first.to_pandas()
    except DataError:
        raise
    except (UnicodeDecodeError, pd.errors.ParserError, OSError, ValueError) as error:
        raise _read_error(source, error) from error
    _check_frame(target, head, header)
    return [str(c) for c in header]


def iter_batches(path: str | Path, batch_rows: int = BATCH_ROWS) -> Iterator[pd.DataFrame]:
    """The rows of a CSV or Parquet file in batches of about `batch_rows` (for files too large to
    read whole). Each batch's index continues the row positions of the file."""
    target = paths.resolve(path)
    source = files.readable(target)  # one this phase saved: its staged copy
    suffix = check_file(source)
    start = 0
    try:
        if suffix == ".csv":
            options, _, _ = _csv_options(source)
            reader = pd.read_csv(source, chunksize=batch_rows, low_memory=False, **options)
            batches: Iterator[pd.DataFrame] = iter(reader)
        else:
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(source)
            batches = (b.to_pandas() for b in parquet.iter_batches(batch_size=batch_rows))
        for batch in batches:
            batch.columns = [str(c) for c in batch.columns]
            batch.index = pd.RangeIndex(start, start + len(batch))
            start += len(batch)
            yield batch
    except DataError:
        raise
    except (UnicodeDecodeError, pd.errors.ParserError, OSError, ValueError) as error:
        raise _read_error(source, error) from error
    context.log_io("read", target)


# ---------------------------------------------------------------- values and dtypes


def infinite_to_missing(df: pd.DataFrame) -> dict[str, int]:
    """Replace +-inf in numeric columns by missing values, in place; {column: count replaced}."""
    counts = {}
    for column in df.columns:
        series = df[column]
        if pd.api.types.is_float_dtype(series):
            infinite = np.isinf(series.to_numpy(dtype="float64", na_value=np.nan))
            if infinite.any():
                df[column] = series.mask(infinite)
                counts[str(column)] = int(infinite.sum())
    return counts


def infinite_notes(counts: dict[str, int]) -> list[str]:
    """One note per column whose infinite values were read as missing."""
    return [f"column '{c}': {n} infinite values read as missing" for c, n in counts.items()]


FLOAT32_PROBE = 10_000  # values checked first: most columns that fail, fail on these


def _float32_safe(values: np.ndarray) -> bool:
    """True when float32 keeps every value as written (at most 6 significant digits).

    A strided probe of the values is checked first: what it needs (decimals) all values need,
    so the whole column is checked from there, once in the usual case."""
    present = values[~np.isnan(values)]
    if present.size == 0:
        return True
    if np.abs(present).max() >= 1e7:
        return False
    start = 0
    if present.size > FLOAT32_PROBE:
        probe = present[:: present.size // FLOAT32_PROBE]
        start = _decimals_needed(probe)
        if start is None or not _float32_keeps(probe, start):
            return False
    decimals = _decimals_needed(present, start)
    return decimals is not None and _float32_keeps(present, decimals)


def _decimals_needed(values: np.ndarray, start: int = 0) -> int | None:
    """The fewest decimals (from `start`, at most 6) that write every value; None if more."""
    for decimals in range(start, 7):
        rounded = np.round(values, decimals)
        if np.array_equal(rounded, values) or np.allclose(rounded, values, rtol=0, atol=1e-12):
            return decimals
    return None


def _float32_keeps(values: np.ndarray, decimals: int) -> bool:
    """True when `values`, through float32 and rounded to `decimals`, come back as written."""
    single = values.astype("float32").astype("float64")
    rounded = np.round(values, decimals)
    return bool(np.allclose(np.round(single, decimals), rounded, rtol=0, atol=1e-12))


def compact_dtypes(df: pd.DataFrame, skip: tuple[str, ...] = ()) -> pd.DataFrame:
    """Smaller dtypes for analysis: float32 where every value survives it, the smallest integer
    type, `category` for text columns that repeat (distinct values at most half the rows).
    Columns in `skip` (the target) stay as they are."""
    result = {}
    for column in df.columns:
        series = df[column]
        if column in skip:
            result[column] = series
        elif pd.api.types.is_float_dtype(series) and series.dtype != "float32":
            values = series.to_numpy(dtype="float64", na_value=np.nan)
            result[column] = series.astype("float32") if _float32_safe(values) else series
        elif pd.api.types.is_integer_dtype(series) and not pd.api.types.is_bool_dtype(series):
            result[column] = pd.to_numeric(series, downcast="integer")
        elif (
            pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)
        ) and series.nunique() <= max(len(series) // 2, 1):
            result[column] = series.astype("category")
        else:
            result[column] = series
    out = pd.DataFrame(result, index=df.index)
    out.attrs = dict(df.attrs)
    return out


def plain_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    """`category` columns back to their values' dtype (for Parquet splits and the model)."""
    categorical = [c for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)]
    if not categorical:
        return df
    return df.astype({c: df[c].cat.categories.dtype for c in categorical})


# ---------------------------------------------------------------- full-pass statistics


@dataclass
class ColumnStats:
    """Counts over every row of a column: rows, missing, and for numbers min, max and sum."""

    rows: int = 0
    missing: int = 0
    numeric: int = 0
    minimum: float = math.inf
    maximum: float = -math.inf
    total: float = 0.0

    def update(self, series: pd.Series) -> None:
        """Add one batch of the column."""
        self.rows += len(series)
        self.missing += int(series.isna().sum())
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            values = series.to_numpy(dtype="float64", na_value=np.nan)
            values = values[np.isfinite(values)]
            if values.size:
                self.numeric += int(values.size)
                self.minimum = min(self.minimum, float(values.min()))
                self.maximum = max(self.maximum, float(values.max()))
                self.total += float(values.sum())

    def summary(self) -> dict[str, Any]:
        """missing_share, and min/max/mean for numbers (None otherwise)."""
        has = self.numeric > 0
        return {
            "rows": self.rows,
            "missing_share": self.missing / self.rows if self.rows else 0.0,
            "min": self.minimum if has else None,
            "max": self.maximum if has else None,
            "mean": self.total / self.numeric if has else None,
        }


def column_stats(batches: Iterator[pd.DataFrame] | list[pd.DataFrame]) -> dict[str, ColumnStats]:
    """ColumnStats of every column over all `batches`."""
    stats: dict[str, ColumnStats] = {}
    for batch in batches:
        for column in batch.columns:
            stats.setdefault(str(column), ColumnStats()).update(batch[column])
    return stats


class _Reservoir:
    """A uniform random sample of at most `size` rows of a stream, kept in stream order."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.rng = np.random.default_rng(seed)
        self.rows: pd.DataFrame | None = None
        self.keys = np.empty(0)

    def add(self, batch: pd.DataFrame) -> None:
        keys = self.rng.random(len(batch))
        rows = batch if self.rows is None else pd.concat([self.rows, batch])
        keys = np.concatenate([self.keys, keys])
        if len(rows) > self.size:
            keep = np.sort(np.argpartition(keys, self.size)[: self.size])
            rows, keys = rows.iloc[keep], keys[keep]
        self.rows, self.keys = rows, keys

    def sample(self) -> pd.DataFrame:
        return pd.DataFrame() if self.rows is None else self.rows


def sample_rows(df: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """At most `size` rows of `df` drawn at random (seeded), in their original order."""
    if len(df) <= size:
        return df
    rng = np.random.default_rng(seed)
    return df.iloc[np.sort(rng.choice(len(df), size=size, replace=False))]


# ---------------------------------------------------------------- the project's data


@dataclass
class Dataset:
    """The project's data as phases 01-02 see it.

    `frame` holds every row when the file was read whole, None when it was streamed; `sample` is
    at most `sample_size` rows drawn at random (all rows when fewer); `stats` counts every row.
    """

    path: Path
    frame: pd.DataFrame | None
    sample: pd.DataFrame
    stats: dict[str, ColumnStats]
    rows: int
    notes: list[str] = field(default_factory=list)

    @property
    def streamed(self) -> bool:
        return self.frame is None

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.sample.columns]

    def sampled_note(self) -> str:
        """One sentence saying what the sample is (empty when it holds every row)."""
        if len(self.sample) >= self.rows:
            return ""
        how = "streamed in batches" if self.streamed else "read whole"
        return (
            f"{self.rows} rows ({how}): counts, missing shares and ranges over all rows; kinds, "
            f"distinct values and plots from a random sample of {len(self.sample)} rows"
        )


def should_stream(target: Path, stream_data: str) -> bool:
    """Whether phases 01-02 stream `target` (`shared.stream_data`: auto, always or never)."""
    if stream_data not in STREAM_MODES:
        raise DataError(
            f"shared.stream_data={stream_data!r} is not one of {', '.join(STREAM_MODES)}"
        )
    if stream_data == "always":
        return True
    if fits_in_memory(target):
        return False
    if stream_data == "never":
        check_fits_in_memory(target)  # raises, naming the sizes
    return True


def scan(
    target: Path, *, sample_size: int, seed: int, stream_data: str = "auto", target_column: str = ""
) -> Dataset:
    """Read or stream `target` once: statistics over all rows, a bounded sample, notes.

    Infinite numbers become missing (noted). Read whole, the frame gets compact dtypes.
    """
    target = paths.resolve(target)
    source = files.readable(target)  # one this phase saved: its staged copy
    check_file(source)
    if not should_stream(source, stream_data):
        frame = read_table(target)
        notes = [*frame.attrs.get("notes", []), *infinite_notes(infinite_to_missing(frame))]
        frame = compact_dtypes(frame, skip=(target_column,))
        stats = column_stats([frame])
        sample = sample_rows(frame, sample_size, seed)
        return Dataset(target, frame, sample, stats, len(frame), notes)
    notes = _csv_options(source)[1] if target.suffix.lower() == ".csv" else []
    header = _header(source)
    reservoir = _Reservoir(sample_size, seed)
    stats: dict[str, ColumnStats] = {}
    infinite: Counter[str] = Counter()
    rows = 0
    for batch in iter_batches(target):
        infinite.update(infinite_to_missing(batch))
        for column in batch.columns:
            stats.setdefault(column, ColumnStats()).update(batch[column])
        reservoir.add(batch)
        rows += len(batch)
    if rows == 0:
        raise DataError(f"data file {target} has no data rows: export the data again")
    notes += infinite_notes(dict(infinite))
    sample = compact_dtypes(reservoir.sample(), skip=(target_column,))
    _check_columns(target, sample, header)
    notes.append(f"{target.name} streamed in batches of {BATCH_ROWS} rows: {rows} rows")
    return Dataset(target, None, sample, stats, rows, notes)


def load_dataset(
    data_path: str,
    problem_type: str,
    demo_rows: int,
    seed: int,
    *,
    sample_size: int = 100_000,
    stream_data: str = "auto",
    target_column: str = "",
) -> Dataset:
    """The project's data (`scan`); empty `data_path` -> the demo data (written to demo_data).

    The demo file is rewritten only when its content differs, so its hash stays stable.
    """
    if data_path and str(data_path).strip():
        target = paths.resolve(str(data_path).strip())
    else:
        demo = make_demo_data(problem_type, demo_rows, seed)
        target = artifacts.path("demo_data")
        if not _same_table(target, demo):
            artifacts.save_table("demo_data", demo)
    return scan(
        target,
        sample_size=sample_size,
        seed=seed,
        stream_data=stream_data,
        target_column=target_column,
    )


def _same_table(target: Path, df: pd.DataFrame) -> bool:
    if not target.is_file():
        return False
    try:
        return pd.read_parquet(target).equals(df)
    except (OSError, ValueError):
        return False


def fingerprint(path: Path, rows: int, dtypes: dict[str, str]) -> dict[str, Any]:
    """Identity of a data set: file sha256 and size, rows, columns and their dtypes."""
    target = paths.resolve(path)
    source = files.readable(target)  # one this phase saved: its staged copy
    return {
        "path": paths.relative(target),
        "sha256": sha256_file(source),
        "bytes": source.stat().st_size,
        "rows": int(rows),
        "columns": len(dtypes),
        "dtypes": {str(column): str(dtype) for column, dtype in dtypes.items()},
    }
