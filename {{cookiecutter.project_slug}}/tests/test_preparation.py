"""Cleaning, splitting, the preprocessor (fitted on train only) and leakage checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.data import DataError
from {{ cookiecutter.package_name }}.preparation import (
    build_preprocessor,
    class_balance,
    clean,
    leakage_checks,
    split,
    xy,
)
from {{ cookiecutter.package_name }}.schema import infer_schema, schema_columns


def test_clean_removes_columns_duplicates_and_rows_without_target(demo_frame_classification):
    df = demo_frame_classification
    dirty = pd.concat([df, df.iloc[:3].assign(customer_id=["X1", "X2", "X3"])], ignore_index=True)
    dirty.loc[10, "churned"] = np.nan
    cleaned, summary = clean(dirty, "churned", ["customer_id"])
    assert "customer_id" not in cleaned.columns
    assert len(cleaned) == len(df) - 1
    assert list(cleaned.index) == list(range(len(cleaned)))
    assert summary == {
        "rows_in": len(df) + 3,
        "rows_out": len(df) - 1,
        "dropped_columns": ["customer_id"],
        "duplicate_rows": 3,
        "missing_target_rows": 1,
    }


@pytest.mark.parametrize(
    ("target", "drop", "message"),
    [
        (
            "churned",
            ["client_id"],
            "drop_columns names columns not in the data: client_id; "
            "available columns: customer_id, ",
        ),
        ("churned", ["churned"], "drop_columns contains the target 'churned'"),
        ("churn", [], "target column 'churn' is not in the data"),
    ],
)
def test_clean_errors(demo_frame_classification, target, drop, message):
    with pytest.raises(DataError, match=message):
        clean(demo_frame_classification, target, drop)


def test_clean_refuses_to_return_nothing():
    with pytest.raises(DataError, match="no rows left after cleaning"):
        clean(pd.DataFrame({"x": [1, 2], "y": [np.nan, np.nan]}), "y", [])


def test_split_sizes_disjoint_stratified_and_seeded(demo_frame_classification):
    df = demo_frame_classification
    parts = split(df, "churned", "classification", 0.2, 0.25, seed=1)
    assert [len(parts[k]) for k in ("train", "valid", "test")] == [220, 100, 80]
    ids = [set(parts[k]["customer_id"]) for k in ("train", "valid", "test")]
    assert set.union(*ids) == set(df["customer_id"]) and sum(map(len, ids)) == len(df)
    overall = df["churned"].mean()
    for part in parts.values():
        assert abs(part["churned"].mean() - overall) < 0.02
    again = split(df, "churned", "classification", 0.2, 0.25, seed=1)
    pd.testing.assert_frame_equal(again["test"], parts["test"])


def test_split_regression_is_not_stratified(demo_frame_regression):
    parts = split(demo_frame_regression, "price", "regression", 0.25, 0.25, seed=0)
    assert [len(parts[k]) for k in ("train", "valid", "test")] == [200, 100, 100]


@pytest.mark.parametrize(
    ("test_size", "valid_size", "message"),
    [
        (0.0, 0.2, "data_preparation.test_size=0.0 must be a share between 0 and 0.9"),
        (0.2, -0.1, "data_preparation.valid_size=-0.1 must be a share"),
        (0.2, 1, "valid_size=1 must be a share"),
        (0.5, 0.45, "test_size \\+ valid_size = 0.95 leaves too little training data"),
        ("0.2", 0.2, "test_size='0.2' must be a share"),
    ],
)
def test_split_validates_sizes(demo_frame_classification, test_size, valid_size, message):
    with pytest.raises(DataError, match=message):
        split(demo_frame_classification, "churned", "classification", test_size, valid_size, 0)


def test_split_refuses_classes_too_small_to_stratify(demo_frame_classification):
    df = demo_frame_classification.copy()
    df.loc[[0, 1], "churned"] = 2
    with pytest.raises(DataError, match="fewer than 3 rows .*2 \\(2\\)"):
        split(df, "churned", "classification", 0.2, 0.2, 0)


def test_split_refuses_too_few_rows():
    df = pd.DataFrame({"x": range(2), "y": [0.0, 1.0]})
    with pytest.raises(DataError, match="cannot split 2 rows into train/valid/test"):
        split(df, "y", "regression", 0.1, 0.1, 0)


def test_preprocessor_uses_schema_features_and_fits_on_train_only(demo_frame_classification):
    df = demo_frame_classification
    inferred = infer_schema(df, "churned", "classification", ["customer_id"])
    parts = split(df, "churned", "classification", 0.2, 0.2, seed=0)
    preprocessor = build_preprocessor(inferred).fit(parts["train"])
    numeric, categorical = schema_columns(inferred)
    train = parts["train"][numeric]
    scaler = preprocessor.named_transformers_["numeric"].named_steps["scale"]
    np.testing.assert_allclose(scaler.mean_, train.fillna(train.median()).mean())
    names = list(preprocessor.get_feature_names_out())
    assert names[: len(numeric)] == numeric
    assert "contract_month-to-month" in names
    assert not any(n.startswith(("customer_id", "churned")) for n in names)
    assert preprocessor.transform(parts["test"]).shape == (len(parts["test"]), len(names))


def test_preprocessor_ignores_unseen_categories_and_imputes(demo_frame_classification):
    inferred = infer_schema(demo_frame_classification, "churned", "classification", ["customer_id"])
    preprocessor = build_preprocessor(inferred).fit(demo_frame_classification)
    row = demo_frame_classification.iloc[:1].copy()
    row["contract"] = "lifetime"
    row["age"] = np.nan
    out = pd.DataFrame(preprocessor.transform(row), columns=preprocessor.get_feature_names_out())
    assert not out.isna().any().any()
    assert out.filter(like="contract_").to_numpy().sum() == 0


def test_preprocessor_keeps_prefixes_when_short_names_collide():
    df = pd.DataFrame({"a_b": [1.0, 2.0, 3.0], "a": ["b", "c", "b"], "y": [0, 1, 0]})
    preprocessor = build_preprocessor(infer_schema(df, "y", "classification")).fit(df)
    assert list(preprocessor.get_feature_names_out()) == [
        "numeric__a_b",
        "categorical__a_b",
        "categorical__a_c",
    ]


def test_preprocessor_needs_features():
    schema = {"target": "y", "problem_type": "regression", "features": {}}
    with pytest.raises(DataError, match="no feature columns"):
        build_preprocessor(schema)


def test_leakage_checks(demo_frame_classification):
    df = demo_frame_classification.drop(columns=["customer_id"])
    parts = split(df, "churned", "classification", 0.2, 0.2, seed=0)
    features = [c for c in df.columns if c != "churned"]
    assert leakage_checks(parts, "churned", features) == {
        "target_in_features": False,
        "train_test_overlap_rows": 0,
        "train_valid_overlap_rows": 0,
        "valid_test_overlap_rows": 0,
    }
    leaky = dict(parts, test=pd.concat([parts["test"], parts["train"].iloc[:2]]))
    result = leakage_checks(leaky, "churned", [*features, "churned"])
    assert result["target_in_features"] is True
    assert result["train_test_overlap_rows"] == 2


def test_class_balance_and_xy(demo_frame_classification):
    shares = class_balance(demo_frame_classification["churned"])
    assert list(shares.index) == [0, 1] and shares.sum() == pytest.approx(1.0)
    assert shares[1] == pytest.approx(demo_frame_classification["churned"].mean())
    X, y = xy(demo_frame_classification, "churned")
    assert "churned" not in X.columns and y.name == "churned" and len(X) == len(y)
    with pytest.raises(DataError, match="target column 'churn' is not in the data"):
        xy(demo_frame_classification, "churn")
