"""Demo data, reading the project's CSV/Parquet input, and a data fingerprint."""

from __future__ import annotations

import csv
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from crisp import context
from crisp.files import sha256_file

from . import artifacts, paths

PROBLEM_TYPES = ("classification", "regression")
SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq")

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

MISSING_DATA_HINT = "put your file in data/raw/ and set shared.data_path in params.yaml"
# Memory a CSV needs in pandas per byte of file, at least (numbers as text are about as long as
# float64 values; the parser's buffers come on top). Parquet uses its uncompressed size instead.
CSV_MEMORY_FACTOR = 2.0


class DataError(ValueError):
    """Input data or a data parameter the pipeline cannot use."""


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


def _csv_header(target: Path) -> list[str]:
    with open(target, encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle), [])


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


def check_fits_in_memory(target: Path) -> None:
    """Raise DataError, before reading, when `target` clearly cannot fit in the available memory."""
    available = available_memory()
    if available is None:
        return
    needed = memory_estimate(target)
    if needed > available:
        raise DataError(
            f"data file {target} ({_size(target.stat().st_size)}) needs about {_size(needed)} of "
            f"memory, but only {_size(available)} is available: use a sample of its rows, or "
            "convert it to Parquet with only the columns you need"
        )


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (UTF-8) or Parquet file, with clear errors for the usual problems.

    A file that cannot fit in the available memory is refused before reading
    (check_fits_in_memory).
    """
    target = paths.resolve(path)
    suffix = target.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(
            f"cannot read {target}: unsupported file type {suffix or '(none)'!r}; "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)} (save the data as CSV or Parquet)"
        )
    if not target.is_file():
        raise DataError(f"data file {target} does not exist: {MISSING_DATA_HINT}")
    if target.stat().st_size == 0:
        raise DataError(f"data file {target} is empty: export the data again")
    check_fits_in_memory(target)
    try:
        if suffix == ".csv":
            header = _csv_header(target)
            df = pd.read_csv(target, encoding="utf-8-sig")
        else:
            import pyarrow.parquet as pq

            header = list(pq.read_schema(target).names)
            df = pd.read_parquet(target)
    except UnicodeDecodeError as error:
        raise DataError(
            f"data file {target} is not UTF-8 text ({error.reason} at byte {error.start}): "
            "re-save it as UTF-8 (e.g. 'CSV UTF-8' in Excel)"
        ) from error
    except pd.errors.EmptyDataError as error:
        raise DataError(f"data file {target} is empty: export the data again") from error
    except (pd.errors.ParserError, OSError, ValueError) as error:
        raise DataError(f"cannot read data file {target}: {error}") from error
    duplicated = _duplicated([str(name) for name in header])
    if duplicated:
        raise DataError(
            f"data file {target} has duplicated column names: {', '.join(duplicated)}; "
            "rename them so every column name is unique"
        )
    if df.empty:
        raise DataError(f"data file {target} has no data rows: export the data again")
    context.log_io("read", target)
    return df


def load_dataset(
    data_path: str, problem_type: str, demo_rows: int, seed: int
) -> tuple[pd.DataFrame, Path]:
    """The project's data and its path; empty `data_path` -> the demo data (written to demo_data).

    The demo file is rewritten only when its content differs, so its hash stays stable.
    """
    if data_path and str(data_path).strip():
        target = paths.resolve(str(data_path).strip())
        return read_table(target), target
    demo = make_demo_data(problem_type, demo_rows, seed)
    target = artifacts.path("demo_data")
    if not _same_table(target, demo):
        artifacts.save_table("demo_data", demo)
    return read_table(target), target


def _same_table(target: Path, df: pd.DataFrame) -> bool:
    if not target.is_file():
        return False
    try:
        return pd.read_parquet(target).equals(df)
    except (OSError, ValueError):
        return False


def fingerprint(path: Path, df: pd.DataFrame) -> dict[str, Any]:
    """Identity of a data set: file sha256 and size, rows, columns and their dtypes."""
    target = paths.resolve(path)
    return {
        "path": paths.relative(target),
        "sha256": sha256_file(target),
        "bytes": target.stat().st_size,
        "rows": int(len(df)),
        "columns": int(df.shape[1]),
        "dtypes": {str(column): str(dtype) for column, dtype in df.dtypes.items()},
    }
