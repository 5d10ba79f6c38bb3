"""PSI, KS and chi-squared tests, the drift table, prediction drift and the recommendation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from {{ cookiecutter.package_name }} import artifacts, data, evaluation, metrics, monitoring, schema

ROWS = 800
THRESHOLDS = {"psi_warning": 0.10, "psi_alert": 0.25, "p_value": 0.01}


def _sample(problem_type: str, seed: int, shift: float = 0.0) -> pd.DataFrame:
    return data.make_demo_data(problem_type, ROWS, seed=seed, shift=shift)


def _schema(df: pd.DataFrame, problem_type: str) -> dict:
    return schema.infer_schema(
        df, data.DEMO_TARGETS[problem_type], problem_type, [data.DEMO_ID_COLUMNS[problem_type]]
    )


# ---------------------------------------------------------------- PSI and tests


def test_psi_of_identical_series_is_zero() -> None:
    values = pd.Series(np.random.default_rng(0).normal(size=500))
    assert monitoring.psi(values, values.copy(), "numeric") == pytest.approx(0.0, abs=1e-12)
    labels = pd.Series(["a", "b", "b", None, "c"] * 20)
    assert monitoring.psi(labels, labels.copy(), "categorical") == pytest.approx(0.0, abs=1e-12)


def test_psi_grows_with_a_shift_and_counts_values_beyond_the_reference_range() -> None:
    rng = np.random.default_rng(0)
    reference = pd.Series(rng.normal(size=2000))
    small = monitoring.psi(reference, pd.Series(rng.normal(0.1, 1, 2000)), "numeric")
    large = monitoring.psi(reference, pd.Series(rng.normal(1.0, 1, 2000)), "numeric")
    far = monitoring.psi(reference, pd.Series(rng.normal(100.0, 1, 2000)), "numeric")
    assert small < 0.1 < 0.25 < large < far
    assert math.isfinite(far)


def test_psi_handles_unseen_categories_and_missing_values() -> None:
    reference = pd.Series(["a", "b"] * 100)
    unseen = monitoring.psi(reference, pd.Series(["a", "b", "z", "z"] * 50), "categorical")
    assert 0.25 < unseen < math.inf
    numbers = pd.Series(np.arange(200, dtype=float))
    with_gaps = numbers.copy()
    with_gaps[::2] = np.nan
    assert monitoring.psi(numbers, with_gaps, "numeric") > 0.25


def test_psi_with_few_distinct_reference_values_uses_unique_edges() -> None:
    reference = pd.Series([0, 0, 0, 1, 1] * 40)
    assert monitoring.psi(reference, reference.copy(), "numeric") == pytest.approx(0.0, abs=1e-12)
    assert monitoring.psi(reference, pd.Series([1] * 200), "numeric") > 0.25


def test_psi_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="numeric"):
        monitoring.psi(pd.Series([1.0]), pd.Series([1.0]), "text")
    with pytest.raises(ValueError, match="non-empty"):
        monitoring.psi(pd.Series([1.0]), pd.Series([], dtype=float), "numeric")


def test_ks_and_chi2_tests() -> None:
    rng = np.random.default_rng(0)
    a, b = pd.Series(rng.normal(size=500)), pd.Series(rng.normal(1.0, 1, 500))
    assert monitoring.ks_test(a, a)[1] == pytest.approx(1.0)
    assert monitoring.ks_test(a, b)[1] < 1e-6
    assert monitoring.ks_test(a, pd.Series([np.nan, np.nan])) == (0.0, 1.0)
    cats = pd.Series(["x", "y"] * 100)
    assert monitoring.chi2_test(cats, cats)[1] == pytest.approx(1.0)
    assert monitoring.chi2_test(cats, pd.Series(["x"] * 150 + ["y"] * 50))[1] < 1e-6
    assert monitoring.chi2_test(pd.Series(["x"] * 5), pd.Series(["x"] * 9)) == (0.0, 1.0)


# ---------------------------------------------------------------- drift table


@pytest.mark.parametrize("problem_type", ["classification", "regression"])
def test_no_drift_between_two_samples_of_the_same_population(problem_type: str) -> None:
    reference = _sample(problem_type, seed=1)
    table = monitoring.drift_table(
        reference, _sample(problem_type, seed=2), _schema(reference, problem_type), **THRESHOLDS
    )
    assert list(table.columns) == [
        "feature",
        "kind",
        "psi",
        "psi_band",
        "test",
        "statistic",
        "p_value",
        "significant",
        "drifted",
        "missing_reference",
        "missing_current",
        "type_issue",
    ]
    assert len(table) == len(_schema(reference, problem_type)["features"])
    assert not table["drifted"].any()
    assert (table["psi"] < 0.10).all()
    assert (table["type_issue"] == "").all()
    assert set(table["test"]) == {"ks", "chi2"}
    result = monitoring.recommendation(table, 0.30)
    assert result["status"] == "ok" and not result["retrain"]


@pytest.mark.parametrize("problem_type", ["classification", "regression"])
def test_shifted_features_are_flagged(problem_type: str) -> None:
    reference = _sample(problem_type, seed=1)
    table = monitoring.drift_table(
        reference,
        _sample(problem_type, seed=2, shift=1.0),
        _schema(reference, problem_type),
        **THRESHOLDS,
    )
    drifted = set(table.loc[table["drifted"], "feature"])
    assert set(data.DEMO_SHIFTED_FEATURES[problem_type]) <= drifted
    assert table["psi"].is_monotonic_decreasing
    shifted = table.set_index("feature").loc[data.DEMO_SHIFTED_FEATURES[problem_type]]
    assert (shifted["psi_band"] != "none").all()
    result = monitoring.recommendation(table, 0.30)
    assert result["status"] == "alert" and result["retrain"]
    assert set(result["drifted_features"]) == drifted
    assert result["drifted_share"] == pytest.approx(len(drifted) / len(table))


def test_type_issues_and_missing_columns_are_reported() -> None:
    reference = _sample("classification", seed=1)
    current = _sample("classification", seed=2).drop(columns=["region"])
    current["age"] = current["age"].astype("string")
    current.loc[current.index[:5], "age"] = "unknown"
    table = monitoring.drift_table(
        reference, current, _schema(reference, "classification"), **THRESHOLDS
    ).set_index("feature")
    assert table.loc["region", "type_issue"] == "column missing in current data"
    assert math.isnan(table.loc["region", "psi"])
    assert "5 non-numeric values" in table.loc["age", "type_issue"]
    assert math.isfinite(table.loc["age", "psi"])
    result = monitoring.recommendation(table.reset_index(), 0.30)
    assert result["status"] == "alert"
    assert not result["retrain"]  # a broken feed needs a data fix, not a new model
    assert any("region" in reason for reason in result["reasons"])


def test_drift_table_validates_its_inputs() -> None:
    reference = _sample("regression", seed=1)
    feature_schema = _schema(reference, "regression")
    with pytest.raises(ValueError, match="psi_warning"):
        monitoring.drift_table(reference, reference, feature_schema, 0.3, 0.2, 0.01)
    with pytest.raises(ValueError, match="p_value"):
        monitoring.drift_table(reference, reference, feature_schema, 0.1, 0.2, 2.0)
    with pytest.raises(ValueError, match="area_m2"):
        monitoring.drift_table(
            reference.drop(columns=["area_m2"]), reference, feature_schema, **THRESHOLDS
        )


# ---------------------------------------------------------------- predictions, recommendation


def test_prediction_drift() -> None:
    rng = np.random.default_rng(0)
    reference = rng.beta(2, 5, 1000)
    same = monitoring.prediction_drift(reference, rng.beta(2, 5, 1000), 0.10, 0.25)
    assert not same["drifted"] and same["psi_band"] == "none" and same["test"] == "ks"
    moved = monitoring.prediction_drift(reference, rng.beta(5, 2, 1000), 0.10, 0.25)
    assert moved["drifted"] and moved["p_value"] < 1e-6
    labels = monitoring.prediction_drift(
        np.array(["a", "b"] * 50), np.array(["a"] * 90 + ["b"] * 10), 0.10, 0.25
    )
    assert labels["test"] == "chi2" and labels["drifted"]
    matrix = monitoring.prediction_drift(
        rng.dirichlet([1, 1, 1], 300), rng.dirichlet([1, 1, 1], 300), 0.10, 0.25
    )
    assert not matrix["drifted"]


def _table(drifted: list[bool], bands: list[str] | None = None) -> pd.DataFrame:
    n = len(drifted)
    return pd.DataFrame(
        {
            "feature": [f"f{i}" for i in range(n)],
            "drifted": drifted,
            "psi_band": bands or ["significant" if d else "none" for d in drifted],
            "type_issue": [""] * n,
        }
    )


def test_recommendation_levels() -> None:
    assert monitoring.recommendation(_table([False] * 4), 0.3)["status"] == "ok"
    moderate = monitoring.recommendation(_table([False] * 4, ["moderate"] + ["none"] * 3), 0.3)
    assert moderate["status"] == "warning" and not moderate["retrain"]
    some = monitoring.recommendation(_table([True, False, False, False]), 0.3)
    assert some["status"] == "warning" and some["drifted_features"] == ["f0"]
    many = monitoring.recommendation(_table([True, True, False, False]), 0.3)
    assert many["status"] == "alert" and many["retrain"]
    assert many["drifted_share"] == pytest.approx(0.5)


def test_recommendation_uses_performance_when_labels_exist() -> None:
    table = _table([False] * 4)
    worse = {"metric": "roc_auc", "reference": 0.85, "current": 0.78}
    alert = monitoring.recommendation(table, 0.3, worse, performance_drop_alert=0.05)
    assert alert["status"] == "alert" and alert["retrain"]
    noted = monitoring.recommendation(table, 0.3, worse)
    assert noted["status"] == "ok" and not noted["retrain"]
    assert any("-0.0700" in reason for reason in noted["reasons"])
    better_rmse = {"metric": "rmse", "reference": 100.0, "current": 90.0}
    assert monitoring.recommendation(table, 0.3, better_rmse, 5.0)["status"] == "ok"
    with pytest.raises(ValueError, match="current"):
        monitoring.recommendation(table, 0.3, {"metric": "rmse", "reference": 1.0})


def test_recommendation_warns_of_moderate_psi_only_when_the_test_is_significant() -> None:
    table = _table([False] * 2, ["moderate", "significant"])
    table["significant"] = [False, False]  # small samples: large PSI, yet no evidence of change
    assert monitoring.recommendation(table, 0.3)["status"] == "ok"
    table["significant"] = [True, False]
    assert monitoring.recommendation(table, 0.3)["reasons"][0] == "Moderate PSI in f0."


def test_a_small_sample_of_the_same_population_does_not_drift() -> None:
    rng = np.random.default_rng(3)
    population = pd.DataFrame({"x": rng.normal(size=120), "y": rng.choice(["a", "b", "c"], 120)})
    reference, current = population.iloc[:90], population.iloc[90:]
    feature_schema = {"features": {"x": {"kind": "numeric"}, "y": {"kind": "categorical"}}}
    table = monitoring.drift_table(reference, current, feature_schema, **THRESHOLDS)
    assert table["psi"].max() > 0.0  # 30 rows give a noisy PSI ...
    assert not table["drifted"].any()  # ... which alone is no drift
    assert monitoring.recommendation(table, 0.3)["status"] == "ok"


def test_unseen_categories_and_mixed_types_are_drift_not_errors() -> None:
    reference = pd.DataFrame({"plan": ["basic", "pro"] * 100, "n": np.arange(200.0)})
    current = pd.DataFrame({"plan": ["basic", 3, "enterprise", None] * 50, "n": ["7", 8] * 100})
    feature_schema = {"features": {"plan": {"kind": "categorical"}, "n": {"kind": "numeric"}}}
    table = monitoring.drift_table(reference, current, feature_schema, **THRESHOLDS).set_index(
        "feature"
    )
    assert table.loc["plan", "drifted"] and math.isfinite(table.loc["plan", "psi"])
    assert table.loc["n", "type_issue"] == "numbers stored as object"


# ---------------------------------------------------------------- the model on current data

CLASSES = ["setosa", "versicolor", "virginica"]


def _labelled(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    species = rng.choice(CLASSES, n)
    width = np.array([CLASSES.index(s) for s in species]) + rng.normal(0, 0.3, n)
    colour = np.where(width > 1, "dark", "light")
    return pd.DataFrame({"width": width, "colour": colour, "species": species})


FEATURES = {
    "features": {
        "width": {"kind": "numeric"},
        "colour": {"kind": "categorical", "categories": ["dark", "light"]},
    },
    "target": "species",
}


def _classifier() -> tuple[object, pd.DataFrame]:
    train = _labelled(300, 0)
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["colour"]), ("passthrough", ["width"])
    )
    model = make_pipeline(encode, LogisticRegression()).fit(
        train[["width", "colour"]], train.species
    )
    return model, train


def _task(metric: str, problem_type: str = "classification", target: str = "species"):
    return metrics.Task.create(problem_type=problem_type, metric=metric, target=target)


def _report(
    model: object, train: pd.DataFrame, current: pd.DataFrame, metric: str = "accuracy", **extra
) -> dict:
    return monitoring.model_report(
        model,
        {"version": "v0001", "metric": "accuracy", "test_metrics": {"accuracy": 0.9}},
        train,
        current,
        FEATURES,
        task=_task(metric),
        psi_warning=0.1,
        psi_alert=0.25,
        **extra,
    )


def test_performance_uses_the_labelled_rows_only() -> None:
    model, train = _classifier()
    current = _labelled(200, 1)
    current.loc[::4, "species"] = None  # a quarter of the labels missing
    current.loc[1, "species"] = "  "  # a blank label is no label
    report = _report(model, train, current)
    performance = report["performance"]
    labelled = current["species"].notna() & (current["species"] != "  ")
    expected = float(
        (
            model.predict(current.loc[labelled, ["width", "colour"]]) == current.species[labelled]
        ).mean()
    )
    assert performance["status"] == "computed"
    assert performance["current"] == pytest.approx(expected)
    assert (performance["labelled_rows"], performance["unlabelled_rows"]) == (149, 51)
    assert performance["reference"] == 0.9
    mix = pd.DataFrame(report["class_mix"])
    assert mix["class"].tolist() == CLASSES
    assert mix["current_share"].sum() == pytest.approx(1.0)
    assert report["prediction_drift"]["drifted"] is False


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda f: f.assign(species=None), "none of the 60 rows has a value in 'species'"),
        (lambda f: f.drop(columns=["species"]), "no target column 'species'"),
        (
            lambda f: f.assign(species="setosa"),
            "roc_auc is undefined on the current data: only one class ('setosa') among these 60",
        ),
        (
            lambda f: f.assign(species="daisy"),
            "60 labelled rows with classes the model does not know (daisy) left out",
        ),
    ],
    ids=["no labels", "no target column", "one class", "unknown classes"],
)
def test_performance_is_skipped_with_a_reason(change, reason: str) -> None:
    model, train = _classifier()
    current = change(_labelled(60, 2))
    metadata = {"version": "v1", "metric": "roc_auc", "test_metrics": {"roc_auc": 0.95}}
    report = monitoring.model_report(
        model, metadata, train, current, FEATURES, task=_task("roc_auc"), psi_warning=0.1,
        psi_alert=0.25,
    )  # fmt: skip
    performance = report["performance"]
    assert performance["status"] == "skipped" and reason in performance["reason"]
    assert report["prediction_drift"] is not None  # the rest is still computed
    advice = monitoring.recommendation(_table([False]), 0.3, performance=performance)
    assert f"Performance not computed: {performance['reason']}." in advice["reasons"]


def test_many_reference_rows_are_sampled_for_prediction_drift_and_the_report_says_so(
    monkeypatch,
) -> None:
    model, train = _classifier()
    current = _labelled(200, 1)
    whole = _report(model, train, current)
    monkeypatch.setattr(monitoring, "REFERENCE_PREDICTION_ROWS", 100)
    sampled = _report(model, train, current)
    assert (
        f"Prediction drift: the reference is the model's output on a sample of 100 of the "
        f"{len(train):,} training rows." in sampled["notes"]
    )
    assert not any("sample" in note for note in whole["notes"])
    # Current rows are all scored either way: the same performance and class shares now.
    assert sampled["performance"] == whole["performance"]
    assert [row["current_share"] for row in sampled["class_mix"]] == [
        row["current_share"] for row in whole["class_mix"]
    ]


def test_performance_from_the_callers_predictions_is_the_same() -> None:
    model, _ = _classifier()
    current = _labelled(150, 3)
    current.loc[::5, "species"] = None
    current.loc[3, "species"] = "daisy"
    X, y = current[["width", "colour"]], current["species"]
    task = _task("balanced_accuracy")
    given = monitoring.current_performance(
        model, X, y, task=task, reference=0.9, predictions=evaluation.predict_scores(model, X, task)
    )
    assert given == monitoring.current_performance(model, X, y, task=task, reference=0.9)
    assert given["status"] == "computed" and "daisy" in given["reason"]


def test_regression_performance_skips_missing_and_text_targets() -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"area": rng.uniform(50, 150, 100)})
    frame["price"] = 1000 * frame["area"] + rng.normal(0, 500, 100)
    model = LinearRegression().fit(frame[["area"]], frame["price"])
    current = frame.astype({"price": object})
    current.loc[:9, "price"] = None
    current.loc[10, "price"] = "n/a"
    result = monitoring.current_performance(
        model, current[["area"]], current["price"], task=_task("r2", "regression", "price"),
        reference=0.9,
    )  # fmt: skip
    assert result["status"] == "computed" and result["labelled_rows"] == 90
    assert result["reason"] == "1 labelled rows with non-numeric targets left out"
    assert result["current"] == pytest.approx(
        model.score(frame.loc[11:, ["area"]], frame.price[11:])
    )


@pytest.mark.parametrize("metric", ["balanced_accuracy", "f1_macro", "roc_auc", "log_loss"])
def test_performance_is_measured_in_the_primary_metric_as_in_phase_04(metric: str) -> None:
    """The production model was chosen on accuracy; the project's primary metric is another one
    now: the labelled current rows are scored in that metric, against the model's test score in
    it when recorded."""
    model, train = _classifier()
    current = _labelled(120, 7)
    report = _report(model, train, current, metric=metric)
    performance = report["performance"]
    X, y = current[["width", "colour"]], current["species"]
    y_pred, y_score = evaluation.predict_scores(model, X, _task(metric))
    expected = metrics.score(metric, y, y_pred, y_score, labels=model.classes_)
    assert performance["status"] == "computed", performance
    assert performance["metric"] == metric
    assert performance["current"] == pytest.approx(expected)
    assert performance["reference"] is None  # the model's record has accuracy only
    advice = monitoring.recommendation(_table([False]), 0.3, performance=performance)
    assert f"Performance: {metric} {expected:.4f} on the labelled current rows" in " ".join(
        advice["reasons"]
    )


def test_regression_performance_in_mae_is_compared_with_the_test_score() -> None:
    rng = np.random.default_rng(8)
    frame = pd.DataFrame({"area": rng.uniform(50, 150, 80)})
    frame["price"] = 1000 * frame["area"] + rng.normal(0, 500, 80)
    model = LinearRegression().fit(frame[["area"]], frame["price"])
    schema_ = {"features": {"area": {"kind": "numeric"}}, "target": "price"}
    report = monitoring.model_report(
        model, {"version": "v1", "metric": "rmse", "test_metrics": {"rmse": 600.0, "mae": 390.0}},
        frame, frame, schema_, task=_task("mae", "regression", "price"), psi_warning=0.1,
        psi_alert=0.25,
    )  # fmt: skip
    performance = report["performance"]
    expected = float(np.mean(np.abs(model.predict(frame[["area"]]) - frame["price"])))
    assert performance["status"] == "computed"
    assert performance["current"] == pytest.approx(expected)
    assert performance["reference"] == 390.0
    drop = monitoring.performance_drop(performance)
    assert drop == pytest.approx(expected - 390.0)  # an error: larger is worse


def test_unseen_categories_and_odd_types_are_scored_not_crashed() -> None:
    model, train = _classifier()
    current = _labelled(80, 5).astype({"colour": object})
    current.loc[:9, "colour"] = "ultraviolet"  # never seen in training
    current.loc[10:14, "colour"] = 7  # a number in a text column
    report = _report(model, train, current)
    assert report["prediction_drift"] is not None
    assert report["performance"]["status"] == "computed"


def test_model_checks_are_skipped_when_the_model_cannot_score() -> None:
    model, train = _classifier()
    report = _report(model, train, _labelled(40, 6).drop(columns=["width"]))
    assert report["prediction_drift"] is None and report["performance"] is None
    assert "missing feature column: width" in report["notes"][0]
    no_model = _report(None, train, _labelled(40, 6), unavailable="models/production.json is empty")
    assert no_model["notes"] == [
        "Prediction drift and performance not computed: models/production.json is empty."
    ]


def test_class_mix_shares_per_class() -> None:
    mix = monitoring.class_mix(["a", "a", "b", "b"], ["a", "b", "b", "b"], classes=["b", "a", "c"])
    assert mix.to_dict(orient="list") == {
        "class": ["b", "a", "c"],
        "reference_share": [0.5, 0.5, 0.0],
        "current_share": [0.75, 0.25, 0.0],
        "change": [0.25, -0.25, 0.0],
    }


def test_current_data_defaults_to_the_test_split_with_own_data(tmp_project: Path) -> None:
    test_split = _labelled(30, 7)
    artifacts.save_table("test", test_split)
    current, source = monitoring.load_current(
        "", "data/raw/iris.csv", problem_type="classification", demo_rows=50, seed=1, shift=0.0
    )
    pd.testing.assert_frame_equal(current, test_split)
    assert source.startswith("held-out test split (data/processed/test.parquet)")
    assert "monitoring.current_data_path" in source
    new = tmp_project / "new.csv"
    test_split.head(5).to_csv(new, index=False)
    current, source = monitoring.load_current(
        "new.csv", "data/raw/iris.csv", problem_type="classification", demo_rows=50, seed=1,
        shift=0.0,
    )  # fmt: skip
    assert len(current) == 5 and source == "new.csv"
    demo, source = monitoring.load_current(
        "", "", problem_type="classification", demo_rows=50, seed=1, shift=0.5
    )
    assert len(demo) == 50 and source == "demo sample (shift 0.5)"


def test_date_features_are_compared_but_never_drift() -> None:
    reference = pd.DataFrame({"day": pd.date_range("2020-01-01", periods=300, freq="D")})
    current = pd.DataFrame({"day": pd.date_range("2022-01-01", periods=100, freq="D").astype(str)})
    feature_schema = {"features": {"day": {"kind": "categorical", "encoding": "datetime"}}}
    (row,) = monitoring.drift_table(reference, current, feature_schema, **THRESHOLDS).to_dict(
        orient="records"
    )
    assert (row["kind"], row["test"], row["type_issue"]) == ("datetime", "ks", "")
    assert row["significant"] and row["psi"] > 0.25 and not row["drifted"]


def test_many_valued_text_is_binned_by_its_most_frequent_values() -> None:
    rng = np.random.default_rng(2)
    names = [f"name {i}" for i in range(300)]
    reference = pd.Series(rng.choice(names, 3000))
    same = pd.Series(rng.choice(names, 1000))
    assert monitoring.psi(reference, same, "categorical") < 0.1
    unseen = pd.Series([f"new {i}" for i in range(1000)])
    assert monitoring.psi(reference, unseen, "categorical") > 0.25
    statistic, p = monitoring.chi2_test(reference, same)
    assert p > 0.01
