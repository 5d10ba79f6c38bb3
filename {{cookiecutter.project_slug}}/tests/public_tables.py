"""Real public tables shipped inside scikit-learn (no download) and hostile variants of them."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import pandas as pd
from sklearn import datasets

# name -> (loader, problem type)
TABLES: dict[str, tuple[Callable[..., object], str]] = {
    "iris": (datasets.load_iris, "classification"),
    "wine": (datasets.load_wine, "classification"),
    "breast_cancer": (datasets.load_breast_cancer, "classification"),
    "diabetes": (datasets.load_diabetes, "regression"),
}
TARGET = "target"


@cache
def _table(name: str) -> pd.DataFrame:
    loader, _ = TABLES[name]
    return loader(as_frame=True).frame  # type: ignore[attr-defined]


def table(name: str) -> pd.DataFrame:
    """The table with its features and a `target` column; a fresh copy."""
    return _table(name).copy()


def problem_type(name: str) -> str:
    return TABLES[name][1]


def numeric_feature(df: pd.DataFrame) -> str:
    return next(c for c in df.columns if c != TARGET)


def missing_labels(df: pd.DataFrame, share: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """`share` of the rows lose their target."""
    rng = np.random.default_rng(seed)
    out = df.copy()
    out[TARGET] = out[TARGET].astype("float64")
    out.loc[rng.random(len(out)) < share, TARGET] = np.nan
    return out


def with_date(df: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """A `signup date` column of dates written as text (YYYY-MM-DD)."""
    rng = np.random.default_rng(seed)
    days = pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 1500, len(df)), "D")
    return df.assign(**{"signup date": days.strftime("%Y-%m-%d")})


def with_identifier(df: pd.DataFrame) -> pd.DataFrame:
    """A `record_id` text column, a distinct value per row, in shuffled order."""
    ids = [f"R{i:06d}" for i in np.random.default_rng(1).permutation(len(df))]
    return df.assign(record_id=ids)


def with_index_column(df: pd.DataFrame) -> pd.DataFrame:
    """pandas' `Unnamed: 0` row counter first, as `to_csv` with its index leaves it."""
    return pd.concat([pd.DataFrame({"Unnamed: 0": range(len(df))}, index=df.index), df], axis=1)


def with_odd_names(df: pd.DataFrame) -> pd.DataFrame:
    """The first feature renamed with spaces, a dot and non-ASCII letters."""
    return df.rename(columns={numeric_feature(df): "größe des blatts. (cm)"})


def with_text_label(df: pd.DataFrame) -> pd.DataFrame:
    """Class labels as text: class_0, class_1, ..."""
    return df.assign(**{TARGET: "class_" + df[TARGET].astype(int).astype(str)})


def with_target_copy(df: pd.DataFrame, kind: str = "same") -> pd.DataFrame:
    """A `leak` feature: the target itself, or a one-to-one text relabelling of it."""
    if kind == "same":
        return df.assign(leak=df[TARGET])
    return df.assign(leak="L" + df[TARGET].astype(str))


def with_infinite(df: pd.DataFrame, rows: int = 3) -> pd.DataFrame:
    """`rows` infinite values in the first feature."""
    out = df.copy()
    column = numeric_feature(out)
    out[column] = out[column].astype("float64")
    out.loc[out.index[:rows], column] = [np.inf, -np.inf, np.inf][:rows]
    return out


def with_words_in_numbers(df: pd.DataFrame, rows: int = 4) -> pd.DataFrame:
    """The first feature as text with a few words among its numbers."""
    out = df.copy()
    column = numeric_feature(out)
    values = out[column].astype(str).astype(object)
    values.iloc[:rows] = (["unknown", "see notes"] * rows)[:rows]
    out[column] = values
    return out
