"""Test metrics, slices, robustness, importance, success criteria and the deployment gate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from {{ cookiecutter.package_name }} import data, evaluation, metrics, modelling, preparation, schema


def _fitted(problem_type: str, estimator) -> tuple:
    df = data.make_demo_data(problem_type, 500, seed=0)
    df = df.drop(columns=[data.DEMO_ID_COLUMNS[problem_type]])
    target = data.DEMO_TARGETS[problem_type]
    feature_schema = schema.infer_schema(df, target, problem_type)
    X, y = preparation.xy(df, target)
    model = modelling.make_pipeline(preparation.build_preprocessor(feature_schema), estimator)
    return model.fit(X, y), X, y


@pytest.fixture(scope="module")
def classifier() -> tuple:
    return _fitted("classification", LogisticRegression(max_iter=1000))


@pytest.fixture(scope="module")
def regressor() -> tuple:
    return _fitted("regression", Ridge())


def test_predict_scores_gives_positive_class_probability(classifier, regressor) -> None:
    model, X, _ = classifier
    y_pred, y_score = evaluation.predict_scores(model, X, "classification")
    assert y_pred.shape == y_score.shape == (len(X),)
    assert np.allclose(y_score, model.predict_proba(X)[:, 1])
    model, X, _ = regressor
    y_pred, y_score = evaluation.predict_scores(model, X, "regression")
    assert y_score is None and y_pred.shape == (len(X),)
    assert np.array_equal(evaluation.model_output(model, X, "regression"), y_pred)


def test_compute_metrics_returns_what_can_be_computed(classifier) -> None:
    model, X, y = classifier
    y_pred, y_score = evaluation.predict_scores(model, X, "classification")
    everything = evaluation.compute_metrics("classification", y, y_pred, y_score)
    assert set(everything) == set(metrics.names("classification"))
    labels_only = evaluation.compute_metrics("classification", y, y_pred)
    assert set(labels_only) == {"f1", "accuracy", "balanced_accuracy"}
    assert evaluation.evaluate(model, X, y, "classification") == pytest.approx(everything)
    assert everything["roc_auc"] > 0.75


def test_evaluate_regression(regressor) -> None:
    model, X, y = regressor
    result = evaluation.evaluate(model, X, y, "regression")
    assert set(result) == {"rmse", "mae", "r2"}
    assert result["rmse"] >= result["mae"] > 0
    assert 0.5 < result["r2"] <= 1.0


def test_per_slice_metrics(classifier) -> None:
    model, X, y = classifier
    table = evaluation.per_slice_metrics(model, X, y, "contract", "classification", "roc_auc")
    assert list(table.columns) == ["slice", "n", "share", "roc_auc"]
    assert set(table["slice"]) == set(X["contract"].dropna())
    assert table["n"].sum() == len(X)
    assert table["n"].is_monotonic_decreasing
    assert table["roc_auc"].between(0.5, 1.0).all()


def test_slice_with_one_class_has_nan_metric(classifier) -> None:
    model, X, y = classifier
    X = X.assign(segment=np.where(y.to_numpy() == 1, "churners", "mixed"))
    X.loc[X.index[:50], "segment"] = "mixed"
    table = evaluation.per_slice_metrics(model, X, y, "segment", "classification", "roc_auc")
    by_slice = table.set_index("slice")["roc_auc"]
    assert math.isnan(by_slice["churners"])
    assert not math.isnan(by_slice["mixed"])


def test_numeric_slice_column_is_cut_into_quartiles(regressor) -> None:
    model, X, y = regressor
    table = evaluation.per_slice_metrics(model, X, y, "area_m2", "regression", "rmse")
    assert 2 <= len(table) <= 4
    assert table["n"].sum() == len(X)


def test_missing_slice_column_lists_the_columns(classifier) -> None:
    model, X, y = classifier
    with pytest.raises(ValueError, match="tenure_months") as error:
        evaluation.per_slice_metrics(model, X, y, "country", "classification", "roc_auc")
    assert "evaluation.slice_column" in str(error.value)


def test_robustness_is_direction_aware(classifier, regressor) -> None:
    model, X, y = classifier
    no_noise = evaluation.robustness(model, X, y, "classification", "roc_auc", 0.0, 0)
    assert no_noise["drop"] == pytest.approx(0.0)
    assert no_noise["clean"] == pytest.approx(no_noise["noisy"])
    model, X, y = regressor
    noisy = evaluation.robustness(model, X, y, "regression", "rmse", 1.0, 0)
    assert noisy["noisy"] > noisy["clean"]
    assert noisy["drop"] == pytest.approx(noisy["noisy"] - noisy["clean"])
    assert noisy["drop"] > 0
    with pytest.raises(ValueError, match="noise_level"):
        evaluation.robustness(model, X, y, "regression", "rmse", -0.1, 0)


def test_importance_table_ranks_the_raw_columns(regressor) -> None:
    model, X, y = regressor
    X = X.assign(pure_noise=np.random.default_rng(0).normal(size=len(X)))
    model = model.fit(X, y)  # pure_noise is not in the schema, so the model ignores it
    table = evaluation.importance_table(model, X, y, "rmse", "regression", seed=0, n_repeats=2)
    assert set(table["feature"]) == set(X.columns)
    assert table["importance_mean"].is_monotonic_decreasing
    assert table.iloc[0]["importance_mean"] > 0
    assert table.set_index("feature").loc["pure_noise", "importance_mean"] == 0


CRITERIA = {
    "primary_metric": "roc_auc",
    "success_threshold": 0.75,
    "min_gain_over_baseline": 0.10,
    "problem_type": "classification",
}


def test_criteria_results_for_a_score() -> None:
    results = evaluation.criteria_results({"roc_auc": 0.8}, {"roc_auc": 0.5}, CRITERIA)
    assert [r["op"] for r in results] == [">=", ">="]
    assert [r["threshold"] for r in results] == pytest.approx([0.75, 0.6])
    assert all(r["passed"] for r in results)
    failed = evaluation.criteria_results({"roc_auc": 0.65}, {"roc_auc": 0.6}, CRITERIA)
    assert [r["passed"] for r in failed] == [False, False]


def test_criteria_results_for_an_error_metric() -> None:
    criteria = {
        "primary_metric": "rmse",
        "success_threshold": 100.0,
        "min_gain_over_baseline": 20.0,
        "problem_type": "regression",
    }
    results = evaluation.criteria_results({"rmse": 90.0}, {"rmse": 105.0}, criteria)
    assert [r["op"] for r in results] == ["<=", "<="]
    assert [r["threshold"] for r in results] == pytest.approx([100.0, 85.0])
    assert [r["passed"] for r in results] == [True, False]


def test_criteria_results_need_the_primary_metric() -> None:
    with pytest.raises(ValueError, match="roc_auc"):
        evaluation.criteria_results({"accuracy": 0.8}, {"roc_auc": 0.5}, CRITERIA)
    with pytest.raises(ValueError, match="00_business_understanding"):
        evaluation.criteria_results({"roc_auc": 0.8}, {"roc_auc": 0.5}, {"primary_metric": "x"})


@pytest.mark.parametrize(
    ("challenger", "champion", "metric", "passed", "decision"),
    [
        (0.80, None, "roc_auc", True, "promote"),  # no champion
        (0.82, 0.80, "roc_auc", True, "promote"),  # better
        (0.797, 0.80, "roc_auc", True, "promote"),  # worse, within tolerance
        (0.795, 0.80, "roc_auc", True, "promote"),  # exactly at the tolerance
        (0.78, 0.80, "roc_auc", True, "keep"),  # worse beyond tolerance
        (0.90, 0.80, "roc_auc", False, "reject"),  # criteria fail
        (0.90, None, "roc_auc", False, "reject"),
        (10.0, 12.0, "rmse", True, "promote"),  # lower error is better
        (12.1, 12.0, "rmse", True, "keep"),
    ],
)
def test_deployment_decision(challenger, champion, metric, passed, decision) -> None:
    problem_type = metrics.METRICS[metric].problem_type
    result = evaluation.deployment_decision(
        challenger, champion, metric, problem_type, 0.005, passed
    )
    assert result["decision"] == decision
    assert result["challenger"] == challenger and result["champion"] == champion
    assert result["tolerance"] == 0.005 and result["reason"]


def test_deployment_decision_rejects_negative_tolerance() -> None:
    with pytest.raises(ValueError, match="promotion_tolerance"):
        evaluation.deployment_decision(0.8, 0.8, "roc_auc", "classification", -1.0, True)


def test_string_labels_work_end_to_end() -> None:
    df = data.make_demo_data("classification", 300, seed=1).drop(columns=["customer_id"])
    df["churned"] = df["churned"].map({0: "No", 1: "Yes"})
    feature_schema = schema.infer_schema(df, "churned", "classification")
    X, y = preparation.xy(df, "churned")
    table = modelling.cross_validate_candidates(
        X, y, feature_schema, "classification", "f1", ["logistic_regression"], 2, 1, 0
    )
    assert table.set_index("model").loc["logistic_regression", "score_mean"] > 0
    model = modelling.make_pipeline(
        preparation.build_preprocessor(feature_schema), LogisticRegression(max_iter=1000)
    ).fit(X, y)
    result = evaluation.evaluate(model, X, y, "classification")
    assert set(result) == set(metrics.names("classification"))
    assert isinstance(pd.Series(result).sum(), float)
