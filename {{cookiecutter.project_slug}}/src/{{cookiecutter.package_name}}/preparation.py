"""Cleaning, the train/valid/test split, the preprocessing ColumnTransformer and leakage checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from .data import DataError, check_problem_type
from .schema import schema_columns

SPLITS = ("train", "valid", "test")


def clean(
    df: pd.DataFrame, target: str, drop_columns: Sequence[str]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Drop `drop_columns`, exact duplicate rows and rows without a target.

    Returns the cleaned frame (new index 0..n-1) and a summary of what was removed.
    """
    if target not in df.columns:
        raise DataError(
            f"target column '{target}' is not in the data; available columns: "
            f"{', '.join(map(str, df.columns))}"
        )
    unknown = [c for c in drop_columns if c not in df.columns]
    if unknown:
        raise DataError(
            f"data_preparation.drop_columns names columns not in the data: {', '.join(unknown)}; "
            f"available columns: {', '.join(map(str, df.columns))}"
        )
    if target in drop_columns:
        raise DataError(
            f"data_preparation.drop_columns contains the target '{target}': remove it from the list"
        )
    frame = df.drop(columns=list(drop_columns))
    duplicated = frame.duplicated()
    frame = frame[~duplicated]
    missing_target = frame[target].isna()
    frame = frame[~missing_target].reset_index(drop=True)
    if frame.empty:
        raise DataError("no rows left after cleaning: every row lacks the target or is a duplicate")
    summary = {
        "rows_in": int(len(df)),
        "rows_out": int(len(frame)),
        "dropped_columns": list(drop_columns),
        "duplicate_rows": int(duplicated.sum()),
        "missing_target_rows": int(missing_target.sum()),
    }
    return frame, summary


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


def split(
    df: pd.DataFrame,
    target: str,
    problem_type: str,
    test_size: float,
    valid_size: float,
    seed: int,
) -> dict[str, pd.DataFrame]:
    """Split into train/valid/test (shares of all rows); stratified by class for classification."""
    check_problem_type(problem_type)
    _check_sizes(test_size, valid_size)
    stratify = problem_type == "classification"
    if stratify:
        counts = df[target].value_counts()
        rare = counts[counts < 3]
        if len(rare):
            raise DataError(
                f"classes with fewer than 3 rows cannot be split into train/valid/test: "
                f"{', '.join(f'{k!r} ({v})' for k, v in rare.items())}; "
                "collect more rows or merge the rare classes"
            )
    try:
        rest, test = train_test_split(
            df,
            test_size=test_size,
            random_state=seed,
            stratify=df[target] if stratify else None,
        )
        train, valid = train_test_split(
            rest,
            test_size=valid_size / (1 - test_size),
            random_state=seed,
            stratify=rest[target] if stratify else None,
        )
    except ValueError as error:
        raise DataError(
            f"cannot split {len(df)} rows into train/valid/test with test_size={test_size} and "
            f"valid_size={valid_size}: {error}"
        ) from error
    return {
        name: part.reset_index(drop=True)
        for name, part in zip(SPLITS, (train, valid, test), strict=True)
    }


def build_preprocessor(schema: dict[str, Any]) -> ColumnTransformer:
    """Unfitted ColumnTransformer over the schema's features (target and dropped columns excluded).

    Numeric: median imputation + standard scaling. Categorical: most-frequent imputation +
    one-hot encoding that ignores categories unseen at fit time.
    """
    numeric, categorical = schema_columns(schema)
    if not numeric and not categorical:
        raise DataError("the schema has no feature columns: nothing to train on")
    transformers = []
    if numeric:
        steps = [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
        transformers.append(("numeric", Pipeline(steps), numeric))
    if categorical:
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        steps = [("impute", SimpleImputer(strategy="most_frequent")), ("encode", encoder)]
        transformers.append(("categorical", Pipeline(steps), categorical))
    # Short output names ("contract_one-year") unless they could collide.
    names = list(numeric) + [
        f"{column}_{category}"
        for column in categorical
        for category in schema["features"][column].get("categories", [])
    ]
    return ColumnTransformer(transformers, verbose_feature_names_out=len(names) != len(set(names)))


def _row_hashes(df: pd.DataFrame, columns: list[str]) -> pd.Series:
    return pd.util.hash_pandas_object(df[columns], index=False)


def leakage_checks(
    splits: dict[str, pd.DataFrame], target: str, feature_columns: list[str]
) -> dict[str, Any]:
    """Target among the features, and rows (on feature columns) shared between splits."""
    columns = [c for c in feature_columns if c != target]
    train = set(_row_hashes(splits["train"], columns))
    valid_hashes = _row_hashes(splits["valid"], columns)
    test_hashes = _row_hashes(splits["test"], columns)
    return {
        "target_in_features": target in feature_columns,
        "train_test_overlap_rows": int(test_hashes.isin(train).sum()),
        "train_valid_overlap_rows": int(valid_hashes.isin(train).sum()),
        "valid_test_overlap_rows": int(test_hashes.isin(set(valid_hashes)).sum()),
    }


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
