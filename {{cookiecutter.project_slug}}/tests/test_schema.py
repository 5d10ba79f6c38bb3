"""Schema inference and validation, target checks and the data-quality report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import public_tables
import pytest

from {{ cookiecutter.package_name }}.data import DataError
from {{ cookiecutter.package_name }}.schema import (
    check_target,
    column_decisions,
    conform,
    entirely_missing,
    entirely_missing_detail,
    excluded_detail,
    infer_schema,
    mixed_detail,
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


def test_date_columns_become_date_features():
    df = pd.DataFrame({"when": pd.to_datetime(["2024-01-01", "2024-02-01"]), "y": [1.0, 2.0]})
    info = infer_schema(df, "y", "regression")["features"]["when"]
    assert info["encoding"] == "datetime" and info["kind"] == "categorical"
    assert (info["min"], info["max"]) == ("2024-01-01T00:00:00", "2024-02-01T00:00:00")
    assert infer_schema(df, "y", "regression", ["when"])["features"] == {}


@pytest.mark.parametrize("name", sorted(public_tables.TABLES))
def test_real_tables_keep_every_feature_as_a_number(name):
    frame = public_tables.table(name)
    inferred = infer_schema(frame, "target", public_tables.problem_type(name))
    features = [c for c in frame.columns if c != "target"]
    assert list(inferred["features"]) == features
    assert {f["encoding"] for f in inferred["features"].values()} == {"numeric"}
    assert inferred["excluded"] == {} and inferred["conversions"] == {}
    json.dumps(inferred)


@pytest.mark.parametrize("name", sorted(public_tables.TABLES))
def test_hostile_columns_are_recognised_on_real_tables(name):
    frame = public_tables.table(name)
    for change in (
        public_tables.with_odd_names,
        public_tables.with_date,
        public_tables.with_identifier,
        public_tables.with_index_column,
    ):
        frame = change(frame)
    frame["constant"] = "same"
    frame["site"] = [f"site {i % 60}" for i in range(len(frame))]
    inferred = infer_schema(frame, "target", public_tables.problem_type(name))
    assert inferred["excluded"] == {
        "Unnamed: 0": "index",
        "record_id": "identifier",
        "constant": "constant",
    }
    features = inferred["features"]
    assert features["signup date"]["encoding"] == "datetime"
    assert inferred["conversions"] == {"signup date": "datetime"}
    assert inferred["formats"] == {"signup date": "%Y-%m-%d"}
    assert features["site"]["encoding"] == "text" and features["site"]["n_unique"] == 60
    assert features["größe des blatts. (cm)"]["encoding"] == "numeric"
    report = quality_report(frame, inferred)
    notes = report.set_index("column")["note"]
    assert notes["record_id"] == "left out: identifier"
    assert notes["signup date"] == "dates read from text (%Y-%m-%d)"
    decisions = column_decisions(inferred).set_index("column")["decision"].to_dict()
    assert decisions == {
        "Unnamed: 0": "left out",
        "record_id": "left out",
        "constant": "left out",
        "signup date": "read as dates",
    }
    assert "data_preparation.keep_columns" in excluded_detail(inferred)


def test_keep_columns_keeps_a_column_that_looks_like_an_identifier():
    frame = public_tables.with_index_column(public_tables.table("iris"))
    inferred = infer_schema(frame, "target", "classification", keep_columns=["Unnamed: 0"])
    assert inferred["excluded"] == {} and "Unnamed: 0" in inferred["features"]


def test_integer_columns_unique_per_row_stay_features_unless_named_or_ordered_like_ids():
    rng = np.random.default_rng(0)
    values = rng.permutation(1000)[:100] * 7 + 3
    frame = pd.DataFrame({"income": values, "customer_no": values, "y": rng.normal(size=100)})
    frame["CustomerID"] = values
    frame["row"] = np.arange(100, 200)
    excluded = infer_schema(frame, "y", "regression")["excluded"]
    assert excluded == {"CustomerID": "identifier", "row": "index"}


@pytest.mark.parametrize(
    ("handling", "kind", "conversions"),
    [("missing", "numeric", {"target": None}), ("text", "categorical", {})],
)
def test_numbers_with_a_few_words_are_named_and_handled_as_chosen(handling, kind, conversions):
    frame = public_tables.with_words_in_numbers(public_tables.table("diabetes"))
    column = public_tables.numeric_feature(frame)
    inferred = infer_schema(frame, "target", "regression", mixed_columns=handling)
    assert inferred["mixed"] == {
        column: {"examples": ["unknown", "see notes"], "rows": 4, "handling": handling}
    }
    info = inferred["features"][column]
    assert info["kind"] == kind
    assert (column in inferred["conversions"]) is bool(conversions)
    detail = mixed_detail(inferred)
    assert f"'{column}': 4 text values such as 'unknown', 'see notes'" in detail
    assert "data_understanding.mixed_columns" in detail
    if handling == "missing":
        assert info["text_values"] == "missing"
        converted = conform(frame, inferred)[column]
        assert converted.isna().sum() == 4 and converted.dtype == "float64"


def test_mixed_columns_setting_is_validated():
    with pytest.raises(DataError, match="data_understanding.mixed_columns='drop' must be one of"):
        infer_schema(public_tables.table("iris"), "target", "classification", mixed_columns="drop")


def test_a_column_of_durations_is_refused_naming_it_and_the_fix():
    """Parquet keeps durations (timedelta): no feature kind fits them as they are."""
    frame = public_tables.table("iris")
    frame["time on site"] = pd.to_timedelta(np.arange(len(frame)) % 40, unit="min")
    with pytest.raises(DataError) as caught:
        infer_schema(frame, "target", "classification")
    message = str(caught.value)
    assert message.startswith("column 'time on site' holds durations (timedelta64[")
    assert message.endswith(
        "]): convert it to a number (e.g. seconds) or add it to data_preparation.drop_columns"
    )
    kept = infer_schema(frame, "target", "classification", drop_columns=["time on site"])
    assert "time on site" not in kept["features"]


@pytest.mark.parametrize(
    ("change", "classes"),
    [
        (public_tables.with_text_label, ["class_0", "class_1", "class_2"]),
        (lambda df: public_tables.missing_labels(df), [0, 1, 2]),
        (lambda df: df.assign(target=df["target"] == 1), [False, True]),
    ],
    ids=["text", "missing-labels", "boolean"],
)
def test_multiclass_and_boolean_labels_are_classes(change, classes):
    frame = change(public_tables.table("wine"))
    check_target(frame, "target", "classification")
    info = infer_schema(frame, "target", "classification")["target_info"]
    assert info["classes"] == classes
    assert sum(info["class_counts"].values()) == frame["target"].notna().sum()


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


def test_category_keys_are_computed_per_distinct_value_and_equal_the_value_by_value_ones():
    """`keys` gives every value's key as `_key` does, missing left missing, for each storage
    kind a real column comes in; Python objects mixing True and 1 keep their own keys."""
    from {{ cookiecutter.package_name }}.schema import _key, keys

    widths = public_tables.table("iris")["petal width (cm)"].head(60)  # floats like 0.2, 1.0
    columns = {
        "float": widths.where(widths.index % 7 != 0),
        "integer": pd.Series([1, 2, 2, 3] * 10, dtype="Int64").mask(lambda s: s.index == 3),
        "text": pd.Series(["a", "b", None, "a"] * 10, dtype="string"),
        "category": pd.Series(["x", "y", None, "x"] * 10, dtype="category"),
        "bool": pd.Series([True, False] * 20),
        "objects": pd.Series([True, 1, 1.0, "1", None, 2.5] * 5, dtype=object),
        "words as objects": pd.Series(["a", "b", None, "a"] * 10, dtype=object),
        "flags and numbers": pd.Series([True, 1.0, None, 0.0, False] * 4, dtype=object),
        "whole floats as objects": pd.Series([1.0, 2.0, np.nan, 1.5] * 5, dtype=object),
    }
    for kind, column in columns.items():
        keyed = keys(column)
        expected = [None if pd.isna(v) else _key(v) for v in column]
        assert [None if pd.isna(v) else v for v in keyed] == expected, kind
        assert keyed.dtype == object and keyed.index.equals(column.index), kind
    assert list(keys(columns["objects"]).head(4)) == ["True", "1", "1", "1"]
    assert list(keys(columns["flags and numbers"]).head(5)) == ["True", "1", np.nan, "0", "False"]
