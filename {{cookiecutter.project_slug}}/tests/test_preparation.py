"""Cleaning, splitting, the preprocessor (fitted on train only) and leakage checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import public_tables
import pyarrow.parquet as pq
import pytest

from {{ cookiecutter.package_name }} import artifacts, data, preparation
from {{ cookiecutter.package_name }}.data import DataError
from {{ cookiecutter.package_name }}.preparation import (
    SPLITS,
    build_preprocessor,
    class_balance,
    clean,
    duplicate_rows,
    leakage_checks,
    leakage_detail,
    prepare_in_memory,
    prepare_streamed,
    single_feature_scores,
    split,
    split_sizes,
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
        "excluded_columns": {},
        "duplicate_rows": 3,
        "missing_target_rows": 1,
        "missing_target_share": round(1 / (len(df) + 3), 6),
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


# ---------------------------------------------------------------- real tables, hostile variants


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer"])
def test_missing_labels_are_dropped_counted_and_classes_stay_integers(name):
    frame = public_tables.missing_labels(public_tables.table(name))
    unlabelled = int(frame["target"].isna().sum())
    assert unlabelled > 0 and frame["target"].dtype == "float64"
    cleaned, summary = clean(frame, "target", [], problem_type="classification")
    assert summary["missing_target_rows"] == unlabelled
    assert summary["missing_target_share"] == round(unlabelled / len(frame), 6)
    assert cleaned["target"].dtype == "int64"
    parts = split(cleaned, "target", "classification", 0.2, 0.2, seed=0)
    for part in parts.values():  # stratified: every class in every split
        assert set(part["target"]) == set(cleaned["target"])


def test_clean_applies_phase_01_decisions():
    frame = public_tables.with_identifier(
        public_tables.with_date(
            public_tables.with_words_in_numbers(public_tables.table("diabetes"))
        )
    )
    raw = infer_schema(frame, "target", "regression")
    cleaned, summary = clean(frame, "target", [], schema=raw, problem_type="regression")
    assert summary["excluded_columns"] == {"record_id": "identifier"}
    assert "record_id" not in cleaned.columns
    assert cleaned["signup date"].dtype.kind == "M"
    assert cleaned[public_tables.numeric_feature(frame)].isna().sum() == 4
    kept, _ = clean(frame, "target", [], schema=raw, keep_columns=["record_id"])
    assert "record_id" in kept.columns


def test_time_split_trains_on_the_oldest_rows():
    frame = public_tables.with_date(public_tables.table("diabetes"))
    raw = infer_schema(frame, "target", "regression")
    cleaned, _ = clean(frame, "target", [], schema=raw)
    parts = split(
        cleaned, "target", "regression", 0.2, 0.2, seed=0, method="time", time_column="signup date"
    )
    assert [len(parts[n]) for n in SPLITS] == [266, 88, 88]
    assert parts["train"]["signup date"].max() <= parts["valid"]["signup date"].min()
    assert parts["valid"]["signup date"].max() <= parts["test"]["signup date"].min()


@pytest.mark.parametrize(
    ("method", "time_column", "message"),
    [
        ("sorted", "", "data_preparation.split='sorted' must be one of random, time"),
        ("time", "", "data_preparation.split is time but data_preparation.time_column is empty"),
        ("time", "when", "data_preparation.time_column 'when' is not in the data"),
        ("time", "label", "holds str values, not dates or numbers"),
    ],
)
def test_time_split_errors_name_the_key(method, time_column, message):
    frame = public_tables.table("iris").assign(label="x")
    with pytest.raises(DataError, match=message):
        split(
            frame, "target", "classification", 0.2, 0.2, 0, method=method, time_column=time_column
        )


def test_time_split_refuses_rows_without_a_time():
    frame = public_tables.table("diabetes")
    frame["age"] = frame["age"].mask(frame.index < 3)
    with pytest.raises(DataError, match="'age' has 3 rows without a time: fill them, or set"):
        split(frame, "target", "regression", 0.2, 0.2, 0, method="time", time_column="age")


def test_time_split_refuses_too_few_rows():
    frame = public_tables.table("diabetes").head(2)
    with pytest.raises(DataError) as caught:
        split(frame, "target", "regression", 0.2, 0.2, 0, method="time", time_column="age")
    assert str(caught.value) == (
        "cannot split 2 rows by time into train/valid/test with test_size=0.2 and "
        "valid_size=0.2: collect more rows"
    )


def _hostile_iris() -> pd.DataFrame:
    frame = public_tables.with_date(public_tables.with_text_label(public_tables.table("iris")))
    frame = public_tables.with_odd_names(frame)
    frame["site"] = [f"site {i % 60}" for i in range(len(frame))]
    frame["member"] = np.where(np.arange(len(frame)) % 3 == 0, True, False).astype(object)
    frame.loc[5, "member"] = None
    return frame


def test_preprocessor_encodes_every_kind_of_column_inside_one_saved_pipeline(tmp_project):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    frame = _hostile_iris()
    raw = infer_schema(frame, "target", "classification")
    cleaned, _ = clean(frame, "target", [], schema=raw, problem_type="classification")
    parts = split(cleaned, "target", "classification", 0.2, 0.2, seed=0)
    feature_schema = infer_schema(
        parts["train"], "target", "classification", max_onehot_levels=40, plan=raw
    )
    encodings = {n: f["encoding"] for n, f in feature_schema["features"].items()}
    assert encodings["signup date"] == "datetime" and encodings["site"] == "text"
    assert encodings["member"] == "onehot" and encodings["größe des blatts. (cm)"] == "numeric"
    model = make_pipeline(build_preprocessor(feature_schema), LogisticRegression(max_iter=2000))
    X, y = xy(parts["train"], "target")
    model.fit(X, y)
    names = list(model[0].get_feature_names_out())
    assert "signup date_year" in names and "site_00" in names and "member_True" in names
    # Serving sees raw values: dates as text, categories as plain objects.
    raw_test = frame.drop(columns="target").iloc[:20]
    path = artifacts.save_model(tmp_project / "model.skops", model, {})
    loaded, _ = artifacts.load_model(path)
    np.testing.assert_array_equal(loaded.predict(raw_test), model.predict(raw_test))
    X_test, y_test = xy(parts["test"], "target")
    assert (loaded.predict(X_test) == y_test).mean() > 0.8


@pytest.mark.parametrize("problem_type", ["classification", "regression"])
def test_gradient_boosting_splits_on_categories_natively(tmp_project, problem_type):
    """Histogram gradient boosting gets each category column, and each text column of few
    distinct values, as one categorical input (not one per value, not 30 text inputs), while a
    text column of many values keeps its text encoding; numbers pass through unscaled, missing
    ones missing (the model learns where they go); unseen values are predicted; the saved
    pipeline loads and predicts the same."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    from {{ cookiecutter.package_name }}.modelling import make_pipeline

    frame = pd.concat([_hostile_iris()] * 2, ignore_index=True)
    frame["remark"] = [f"remark {i % 280}" for i in range(len(frame))]  # 280 values > 255
    frame.loc[[3, 50], "größe des blatts. (cm)"] = np.nan
    target = "target"
    if problem_type == "regression":
        frame = frame.drop(columns="target").rename(columns={"petal width (cm)": "target"})
    feature_schema = infer_schema(frame, target, problem_type)
    encodings = {n: f["encoding"] for n, f in feature_schema["features"].items()}
    assert encodings["member"] == "onehot" and encodings["site"] == "text"
    assert encodings["remark"] == "text"
    X, y = xy(frame, target)
    estimator = (
        HistGradientBoostingClassifier(max_iter=20)
        if problem_type == "classification"
        else HistGradientBoostingRegressor(max_iter=20)
    )
    preprocessor = preparation.with_native_categories(build_preprocessor(feature_schema))
    model = make_pipeline(build_preprocessor(feature_schema), estimator).fit(X, y)
    inputs = [str(n) for n in model[0].get_feature_names_out()]
    categorical = [n for n, c in zip(inputs, model[-1].is_categorical_, strict=True) if c]
    assert categorical == ["member", "site"]  # 60 sites <= 255: one input
    assert "remark" not in inputs and "remark_00" in inputs  # 280 remarks > 255: text inputs
    assert inputs == [str(n) for n in preprocessor.fit(X).get_feature_names_out()]
    numbers = model[0].transform(X)["größe des blatts. (cm)"]
    assert numbers.isna().sum() == 2
    np.testing.assert_array_equal(numbers.dropna(), X["größe des blatts. (cm)"].dropna())
    unseen = X.head(3).assign(member="perhaps", site="site 999")
    assert len(model.predict(unseen)) == 3
    path = artifacts.save_model(tmp_project / "model.skops", model, {})
    loaded, _ = artifacts.load_model(path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_duplicate_rows_are_the_rows_pandas_calls_duplicated():
    """Exact copies of earlier rows are found among near copies (one value changed, a missing
    value, a label as text), as DataFrame.duplicated finds them."""
    frame = public_tables.with_text_label(public_tables.table("wine"))
    copies = frame.sample(40, random_state=0)
    near = copies.head(10).assign(alcohol=lambda f: f["alcohol"] + 0.01)
    gaps = copies.tail(10).copy()
    gaps.iloc[:, 0] = np.nan
    hostile = pd.concat([frame, copies, near, gaps, gaps], ignore_index=True)
    found = duplicate_rows(hostile)
    np.testing.assert_array_equal(found, hostile.duplicated().to_numpy())
    assert found.sum() == 40 + 10


def test_a_text_column_is_encoded_once_per_distinct_value():
    """Rows sharing a value share its encoding; the fit sees each value once (missing included),
    so a column repeated many times over is encoded as its distinct values are; a column of
    all-different texts is encoded exactly as by skrub's StringEncoder."""
    from skrub import StringEncoder

    from {{ cookiecutter.package_name }}.preparation import PerValueStringEncoder

    frame = public_tables.table("wine")
    # Many-valued text from the table itself: every row's alcohol and hue as words.
    text = ("alcohol " + frame["alcohol"].astype(str) + " hue " + frame["hue"].astype(str)).rename(
        "label"
    )
    text.iloc[::11] = None
    distinct = text.drop_duplicates()
    repeated = pd.concat([text] * 40, ignore_index=True)
    encoder = PerValueStringEncoder().fit(repeated)
    encoded = encoder.transform(repeated)
    assert encoded.shape == (len(repeated), preparation.TEXT_COMPONENTS)
    assert list(encoded.columns) == [f"label_{i:02d}" for i in range(preparation.TEXT_COMPONENTS)]
    assert encoded.index.equals(repeated.index)
    reference = StringEncoder(n_components=preparation.TEXT_COMPONENTS, random_state=0)
    expected = reference.fit(distinct).transform(repeated)
    np.testing.assert_allclose(encoded.to_numpy(), expected.to_numpy(), atol=1e-12)
    once = encoded.iloc[: len(text)].to_numpy()
    np.testing.assert_array_equal(once, encoded.iloc[len(text) : 2 * len(text)].to_numpy())
    np.testing.assert_array_equal(once[0], once[11])  # two missing values, one encoding
    unseen = pd.Series(["alcohol 99.0 hue 0.1", None], name="label")
    assert encoder.transform(unseen).shape == (2, preparation.TEXT_COMPONENTS)


@pytest.mark.parametrize("name", sorted(public_tables.TABLES))
def test_no_feature_of_a_real_table_looks_like_leakage(name):
    frame = public_tables.table(name)
    inferred = infer_schema(frame, "target", public_tables.problem_type(name))
    scores = single_feature_scores(frame, inferred, seed=0)
    assert len(scores) == len(inferred["features"])
    assert scores["score"].max() < 0.99
    assert (scores["mapping"] == "").all()
    assert "drop it" not in leakage_detail(scores, 0.99)


@pytest.mark.parametrize("name", sorted(public_tables.TABLES))
@pytest.mark.parametrize("kind", ["same", "relabelled"])
def test_a_copy_of_the_target_is_named_as_leakage(name, kind):
    frame = public_tables.with_target_copy(public_tables.table(name), kind)
    problem_type = public_tables.problem_type(name)
    if problem_type == "regression" and kind == "relabelled":
        frame["leak"] = frame["target"] * 3 + 1  # a linear copy
    inferred = infer_schema(frame, "target", problem_type)
    scores = single_feature_scores(frame, inferred, seed=0)
    best = scores.iloc[0]
    assert best["feature"] == "leak" and best["score"] > 0.99
    expected = {"same": "identical", "relabelled": "one-to-one"}[kind]
    if problem_type == "regression" and kind == "relabelled":
        expected = "a linear copy"
    assert best["mapping"] == expected
    detail = leakage_detail(scores, 0.99)
    assert detail.startswith("column 'leak': ")
    assert "data_preparation.drop_columns" in detail
    assert "data_preparation.max_single_feature_score" in detail


@pytest.mark.parametrize(("name", "method"), [("wine", "random"), ("diabetes", "time")])
def test_streamed_preparation_makes_the_splits_of_the_in_memory_path(tmp_project, name, method):
    frame = public_tables.missing_labels(public_tables.with_date(public_tables.table(name)))
    frame["site"] = [None if i % 9 == 0 else f"site {i % 4}" for i in range(len(frame))]
    frame = pd.concat([frame, frame.iloc[:5]], ignore_index=True)  # duplicates
    problem_type = public_tables.problem_type(name)
    target = tmp_project / f"{name}.csv"
    frame.to_csv(target, index=False)
    raw = infer_schema(frame, "target", problem_type)
    options = dict(test_size=0.2, valid_size=0.2, seed=3, method=method, time_column="signup date")
    cleaned, removed = clean(
        data.read_table(target), "target", [], schema=raw, problem_type=problem_type
    )
    expected = split(cleaned, "target", problem_type, **options)
    staged = {n: tmp_project / f"{n}.parquet" for n in SPLITS}
    summary = prepare_streamed(
        lambda: data.iter_batches(target, batch_rows=50),
        raw,
        targets=staged,
        drop_columns=[],
        **options,
    )
    assert summary["missing_target_rows"] == removed["missing_target_rows"]
    assert summary["duplicate_rows"] == removed["duplicate_rows"]
    for name_ in SPLITS:
        got = pd.read_parquet(staged[name_])
        assert summary["written"][name_] == len(got) == len(expected[name_])
        key = ["signup date", "target"]
        pd.testing.assert_frame_equal(
            got.sort_values(key).reset_index(drop=True)[expected[name_].columns],
            expected[name_].sort_values(key).reset_index(drop=True),
            check_dtype=False,
        )
    train = pd.read_parquet(staged["train"])  # what phase 02 fits the preprocessor on
    feature_schema = infer_schema(train, "target", problem_type, plan=raw)
    assert feature_schema["features"]["site"]["categories"] == [f"site {i}" for i in range(4)]
    X, _ = xy(train, "target")
    assert not np.isnan(build_preprocessor(feature_schema).fit_transform(X)).any()


def _mixed_table(labels: str) -> pd.DataFrame:
    """Demo churn rows with a column of every storage kind: text with gaps, booleans with and
    without gaps, whole numbers with and without gaps, dates; an identifier kept on purpose."""
    frame = public_tables.with_date(data.make_demo_data("classification", 600, seed=4))
    rng = np.random.default_rng(4)
    paperless = pd.Series(rng.random(600) < 0.5, dtype=object)
    paperless[rng.random(600) < 0.05] = None
    visits = pd.Series(rng.integers(0, 9, 600), dtype="Int64")
    visits[[17, 400]] = pd.NA  # whole numbers, two gaps: float in some batches, int in others
    frame = frame.assign(
        paperless=paperless, autopay=rng.random(600) < 0.3, visits=visits, ticket=range(600)
    )
    if labels == "text":
        frame["churned"] = frame["churned"].map({0: "stays", 1: "leaves"})
    frame.loc[frame.index % 40 == 0, "churned"] = None  # some rows without a label
    return frame


@pytest.mark.parametrize("labels", ["integer", "text"])
def test_in_memory_and_streamed_splits_have_one_schema_and_the_same_rows(tmp_project, labels):
    source = tmp_project / "churn.csv"
    _mixed_table(labels).to_csv(source, index=False)
    dataset = data.scan(source, sample_size=10_000, seed=0, target_column="churned")
    raw = infer_schema(dataset.sample, "churned", "classification", stats=dataset.stats)
    assert "ticket" in raw["excluded"]  # an identifier, kept below through keep_columns
    options = dict(
        drop_columns=["customer_id"], keep_columns=["ticket"], test_size=0.2, valid_size=0.2, seed=1
    )
    tables, _ = prepare_in_memory(
        data.read_table(source), raw, target="churned", problem_type="classification", **options
    )
    for name, table in tables.items():
        artifacts.save_table(name, table)  # as phase 02 saves them
    staged = {n: tmp_project / "streamed" / f"{n}.parquet" for n in SPLITS}
    prepare_streamed(
        lambda: data.iter_batches(source, batch_rows=64), raw, targets=staged, **options
    )

    for name in SPLITS:
        in_memory, streamed = artifacts.path(name), staged[name]
        assert pq.read_schema(in_memory).equals(pq.read_schema(streamed), check_metadata=True)
        expected = pd.read_parquet(in_memory).sort_values("ticket", ignore_index=True)
        got = pd.read_parquet(streamed).sort_values("ticket", ignore_index=True)
        pd.testing.assert_frame_equal(got, expected)
    types = {field.name: str(field.type) for field in pq.read_schema(staged["train"])}
    assert types == {
        "tenure_months": "int64",
        "monthly_charges": "double",
        "support_calls": "int64",
        "age": "double",
        "data_usage_gb": "double",
        "contract": "string",
        "payment_method": "string",
        "region": "string",
        "churned": "int64" if labels == "integer" else "string",
        "signup date": "timestamp[ns]",
        "paperless": "bool",
        "autopay": "bool",
        "visits": "double",
        "ticket": "int64",
    }


def test_streamed_splits_are_bounded_by_max_rows(tmp_project):
    frame = public_tables.table("breast_cancer")
    target = tmp_project / "bc.parquet"
    frame.to_parquet(target, index=False, row_group_size=64)
    raw = infer_schema(frame, "target", "classification")
    staged = {n: tmp_project / f"{n}.parquet" for n in SPLITS}
    summary = prepare_streamed(
        lambda: data.iter_batches(target, batch_rows=64),
        raw,
        targets=staged,
        drop_columns=["mean area"],
        test_size=0.2,
        valid_size=0.2,
        seed=0,
        max_rows=100,
    )
    assert summary["written"] == {"train": 100, "valid": 100, "test": 100}
    assert summary["splits"]["train"] == {"rows": 341, "written": 100}
    train = pd.read_parquet(staged["train"])
    assert "mean area" not in train.columns and set(train["target"]) == {0, 1}


def test_splits_read_whole_are_bounded_like_streamed_ones(tmp_project):
    frame = public_tables.table("breast_cancer")
    source = tmp_project / "bc.parquet"
    frame.to_parquet(source, index=False, row_group_size=64)
    raw = infer_schema(frame, "target", "classification")
    options = dict(drop_columns=[], test_size=0.2, valid_size=0.2, seed=5, max_rows=100)
    tables, summary = prepare_in_memory(
        data.read_table(source), raw, target="target", problem_type="classification", **options
    )
    staged = {n: tmp_project / f"{n}.parquet" for n in SPLITS}
    streamed = prepare_streamed(
        lambda: data.iter_batches(source, batch_rows=64), raw, targets=staged, **options
    )
    assert summary["splits"] == streamed["splits"]
    assert summary["splits"]["train"] == {"rows": 341, "written": 100}
    assert summary["splits"]["test"] == {"rows": 114, "written": 100}
    for name in SPLITS:
        key = list(frame.columns)
        pd.testing.assert_frame_equal(
            tables[name].to_pandas().sort_values(key, ignore_index=True),
            pd.read_parquet(staged[name]).sort_values(key, ignore_index=True),
        )
    sizes = split_sizes(summary)
    assert sizes["written"].tolist() == [100, 100, 100]
    assert sizes["share"].round(2).tolist() == [0.6, 0.2, 0.2]  # of the rows assigned


def test_splits_under_the_bound_are_whole(tmp_project):
    frame = public_tables.table("wine")
    raw = infer_schema(frame, "target", "classification")
    tables, summary = prepare_in_memory(
        frame,
        raw,
        target="target",
        problem_type="classification",
        drop_columns=[],
        test_size=0.2,
        valid_size=0.2,
        seed=0,
        max_rows=len(frame),
    )
    expected = split(frame, "target", "classification", 0.2, 0.2, 0)
    for name in SPLITS:
        assert tables[name].num_rows == len(expected[name]) == summary["splits"][name]["written"]
    assert sum(part["rows"] for part in summary["splits"].values()) == len(frame)


SKRUB_USED = """
import sys
import public_tables
from {{ cookiecutter.package_name }} import data, preparation, schema

df = data.make_demo_data("classification", 300, seed=0).drop(columns=["customer_id"])
if sys.argv[1] == "dates":
    df = public_tables.with_date(df)
inferred = schema.infer_schema(df, "churned", "classification")
X, y = preparation.xy(df, "churned")
preparation.build_preprocessor(inferred).fit(X, y)
print(sorted(inferred["features"]), "skrub" in sys.modules)
"""


@pytest.mark.parametrize(("table", "imported"), [("plain", False), ("dates", True)])
def test_skrub_is_imported_only_for_a_table_that_needs_it(table: str, imported: bool) -> None:
    """skrub takes a second to import (with pytest and requests): schema inference and the
    preprocessor of a table of numbers and few-valued categories do without it."""
    done = subprocess.run(
        [sys.executable, "-c", SKRUB_USED, table],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent,  # public_tables
    )
    features, used = done.stdout.strip().rsplit(" ", 1)
    assert ("signup date" in features) == (table == "dates")
    assert used == str(imported)
