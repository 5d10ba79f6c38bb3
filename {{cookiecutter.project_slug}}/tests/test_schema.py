"""Schema inference and validation, target checks and the data-quality report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.data import DataError
from {{ cookiecutter.package_name }}.schema import (
    check_target,
    entirely_missing,
    entirely_missing_detail,
    infer_schema,
    quality_report,
    schema_columns,
    validate_frame,
)


@pytest.fixture
def churn_schema(demo_frame_classification):
    return infer_schema(demo_frame_classification, "churned", "classification", ["customer_id"])


def test_infer_schema_classification(demo_frame_classification, churn_schema):
    df = demo_frame_classification
    assert churn_schema["target"] == "churned"
    assert churn_schema["problem_type"] == "classification"
    assert churn_schema["dropped"] == ["customer_id"]
    features = churn_schema["features"]
    assert "customer_id" not in features and "churned" not in features
    assert features["contract"]["kind"] == "categorical"
    assert features["contract"]["categories"] == ["month-to-month", "one-year", "two-year"]
    charges = features["monthly_charges"]
    assert charges["kind"] == "numeric" and charges["dtype"] == "float64"
    assert charges["min"] == df["monthly_charges"].min()
    assert charges["max"] == df["monthly_charges"].max()
    assert charges["missing_share"] == pytest.approx(df["monthly_charges"].isna().mean())
    assert "categories" not in charges
    assert churn_schema["target_info"]["classes"] == [0, 1]
    assert sum(churn_schema["target_info"]["class_counts"].values()) == len(df)
    json.dumps(churn_schema)  # plain JSON types only


def test_infer_schema_regression(demo_frame_regression):
    inferred = infer_schema(demo_frame_regression, "price", "regression", ["listing_id"])
    info = inferred["target_info"]
    assert info["kind"] == "numeric"
    assert info["min"] == demo_frame_regression["price"].min()
    assert schema_columns(inferred) == (
        ["area_m2", "rooms", "age_years", "distance_to_center_km", "lot_size_m2"],
        ["neighbourhood", "condition", "heating"],
    )


def test_kinds_of_bool_flag_and_category_columns():
    df = pd.DataFrame(
        {
            "flag": [True, False, True, False],
            "binary": [0, 1, 1, 0],
            "level": pd.Categorical(["a", "b", "a", "b"]),
            "code": pd.Series(["x", "y", None, "x"], dtype=object),
            "y": [0, 1, 0, 1],
        }
    )
    features = infer_schema(df, "y", "classification")["features"]
    assert {name: f["kind"] for name, f in features.items()} == {
        "flag": "categorical",
        "binary": "numeric",
        "level": "categorical",
        "code": "categorical",
    }
    assert features["flag"]["categories"] == [False, True]
    assert features["code"]["missing_share"] == 0.25


def test_date_columns_are_refused_with_a_fix():
    df = pd.DataFrame({"when": pd.to_datetime(["2024-01-01", "2024-02-01"]), "y": [1.0, 2.0]})
    with pytest.raises(DataError, match="column 'when' holds dates/times .*drop_columns"):
        infer_schema(df, "y", "regression")
    assert infer_schema(df, "y", "regression", ["when"])["features"] == {}


def test_unknown_drop_columns_are_refused(demo_frame_classification):
    with pytest.raises(DataError, match="drop_columns names columns not in the data: client_id"):
        infer_schema(demo_frame_classification, "churned", "classification", ["client_id"])


@pytest.mark.parametrize(
    ("frame", "target", "problem_type", "message"),
    [
        (
            pd.DataFrame({"a": [1, 2]}),
            "y",
            "regression",
            "target column 'y' is not in the data; available columns: a; set shared.target",
        ),
        (pd.DataFrame({"y": [np.nan, np.nan]}), "y", "regression", "'y' is entirely missing"),
        (
            pd.DataFrame({"y": [1, 1, np.nan]}),
            "y",
            "classification",
            "target 'y' has a single class \\(1.0\\)",
        ),
        (
            pd.DataFrame({"y": [0.5, 1.25, 3.0]}),
            "y",
            "classification",
            "fractional numbers, not classes: set shared.problem_type to regression",
        ),
        (
            pd.DataFrame({"y": ["a", "b"]}),
            "y",
            "regression",
            "target 'y' is not numeric \\(dtype str\\): regression needs numbers",
        ),
        (pd.DataFrame({"y": [True, False]}), "y", "regression", "is not numeric \\(dtype bool\\)"),
        (pd.DataFrame({"y": [1, 2]}), "y", "ranking", "problem_type 'ranking' is not supported"),
    ],
)
def test_check_target_errors(frame, target, problem_type, message):
    with pytest.raises(DataError, match=message):
        check_target(frame, target, problem_type)


def test_check_target_accepts_usable_targets(demo_frame_classification, demo_frame_regression):
    check_target(demo_frame_classification, "churned", "classification")
    check_target(demo_frame_regression, "price", "regression")
    check_target(pd.DataFrame({"y": [0.0, 1.0, np.nan]}), "y", "classification")


def test_entirely_missing_names_columns_without_any_value(demo_frame_classification):
    df = demo_frame_classification.assign(notes=np.nan, code=pd.Series([None] * 400, dtype="str"))
    df.loc[0, "region"] = None
    assert entirely_missing(df) == ["notes", "code"]
    assert entirely_missing(demo_frame_classification) == []
    assert entirely_missing(df.iloc[:0]) == []
    assert entirely_missing_detail(["notes", "code"]) == (
        "no values in 'notes', 'code': drop such a column from the data file, "
        "or export it again with its values"
    )
    assert entirely_missing_detail([]) == ""


def test_quality_report(demo_frame_classification, churn_schema):
    report = quality_report(demo_frame_classification, churn_schema)
    assert len(report) == demo_frame_classification.shape[1]
    assert report.iloc[0]["column"] == "churned" and report.iloc[0]["role"] == "target"
    assert report.iloc[-1]["column"] == "customer_id" and report.iloc[-1]["role"] == "dropped"
    features = report[report["role"] == "feature"]
    assert features["missing_share"].is_monotonic_decreasing
    row = report.set_index("column").loc["monthly_charges"]
    assert row["mean"] == pytest.approx(demo_frame_classification["monthly_charges"].mean())
    contract = report.set_index("column").loc["contract"]
    top = demo_frame_classification["contract"].value_counts()
    assert contract["top"] == top.index[0]
    assert contract["top_share"] == pytest.approx(top.iloc[0] / 400)
    assert contract["n_unique"] == 3 and np.isnan(contract["mean"])


def test_validate_frame_accepts_matching_data(demo_frame_classification, churn_schema):
    extra = demo_frame_classification.assign(note="extra columns are fine")
    assert validate_frame(extra, churn_schema, require_target=True) == []


def test_validate_frame_reports_each_problem(demo_frame_classification, churn_schema):
    df = demo_frame_classification.drop(columns=["region", "churned"])
    df["age"] = np.nan
    df["monthly_charges"] = df["monthly_charges"].astype(object)
    df.loc[0, "monthly_charges"] = "n/a"
    df.loc[[1, 2], "contract"] = "three-year"
    problems = validate_frame(df, churn_schema, require_target=True)
    assert problems == [
        "column 'monthly_charges' should be numeric but holds values such as 'n/a'",
        "column 'age' is entirely missing",
        "column 'contract' has categories not in the schema: three-year (2 rows)",
        "missing column 'region' (categorical feature)",
        "missing target column 'churned'",
    ]
    assert "missing target column 'churned'" not in validate_frame(df, churn_schema)


def test_validate_frame_checks_target_values(demo_frame_classification, churn_schema):
    df = demo_frame_classification.copy()
    df["churned"] = df["churned"].astype(float)
    assert validate_frame(df, churn_schema, require_target=True) == []  # 1.0 is class 1
    df.loc[0, "churned"] = 2
    assert validate_frame(df, churn_schema, require_target=True) == [
        "target 'churned' has classes not in the schema: 2"
    ]
