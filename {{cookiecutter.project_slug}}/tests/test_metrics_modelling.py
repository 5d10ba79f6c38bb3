"""Metric registry, candidates, repeated cross-validation and tuning."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }} import data, metrics, modelling, preparation, schema


def _prepared(problem_type: str, rows: int = 400) -> tuple[pd.DataFrame, pd.Series, dict]:
    df = data.make_demo_data(problem_type, rows, seed=0)
    target = data.DEMO_TARGETS[problem_type]
    df = df.drop(columns=[data.DEMO_ID_COLUMNS[problem_type]])
    feature_schema = schema.infer_schema(df, target, problem_type)
    X, y = preparation.xy(df, target)
    return X, y, feature_schema


@pytest.fixture(scope="module")
def classification() -> tuple[pd.DataFrame, pd.Series, dict]:
    return _prepared("classification")


@pytest.fixture(scope="module")
def regression() -> tuple[pd.DataFrame, pd.Series, dict]:
    return _prepared("regression")


# ---------------------------------------------------------------- metrics


def test_registry_covers_both_problem_types() -> None:
    assert set(metrics.names("classification")) >= {
        "roc_auc",
        "average_precision",
        "f1",
        "accuracy",
        "balanced_accuracy",
    }
    assert metrics.names("regression") == ["rmse", "mae", "r2"]
    assert all(m.problem_type in metrics.PROBLEM_TYPES for m in metrics.METRICS.values())


def test_get_metric_rejects_unknown_names_listing_the_allowed_ones() -> None:
    assert metrics.get_metric("rmse", "regression").greater_is_better is False
    with pytest.raises(ValueError, match="roc_auc") as error:
        metrics.get_metric("rmse", "classification")
    assert "average_precision" in str(error.value)
    with pytest.raises(ValueError, match="problem_type"):
        metrics.get_metric("rmse", "ranking")


def test_better_and_improvement_follow_the_direction() -> None:
    assert metrics.better("roc_auc", 0.8, 0.7)
    assert not metrics.better("roc_auc", 0.7, 0.8)
    assert metrics.better("rmse", 10.0, 12.0)
    assert metrics.improvement("rmse", 10.0, 12.0) == pytest.approx(2.0)
    assert metrics.improvement(metrics.METRICS["r2"], 0.5, 0.7) == pytest.approx(-0.2)
    assert not metrics.better("mae", 3.0, 3.0)


def test_binary_metrics_with_string_labels_use_the_larger_label_as_positive() -> None:
    y = np.array(["No", "Yes", "No", "Yes", "Yes", "No"])
    pred = np.array(["No", "Yes", "Yes", "Yes", "No", "No"])
    score = np.array([0.1, 0.9, 0.6, 0.7, 0.4, 0.2])
    assert metrics.score("f1", y, pred) == pytest.approx(skm.f1_score(y, pred, pos_label="Yes"))
    assert metrics.score("average_precision", y, pred, score) == pytest.approx(
        skm.average_precision_score(y, score, pos_label="Yes")
    )
    assert metrics.score("roc_auc", y, pred, score) == pytest.approx(
        skm.roc_auc_score(y == "Yes", score)
    )


def test_multiclass_metrics_use_the_probability_matrix() -> None:
    y = np.array(["a", "b", "c", "a", "b", "c"])
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]] * 2)
    pred = np.array(["a", "b", "c"] * 2)
    assert metrics.score("roc_auc", y, pred, proba) == pytest.approx(1.0)
    assert metrics.score("f1", y, pred) == pytest.approx(1.0)


def test_undefined_metric_is_nan_and_missing_scores_too() -> None:
    assert math.isnan(metrics.score("roc_auc", np.array([1, 1]), None, np.array([0.2, 0.8])))
    assert math.isnan(metrics.score("roc_auc", np.array([0, 1]), np.array([0, 1])))


def test_scorer_is_greater_is_better_and_converts_back(regression) -> None:
    X, y, _ = regression
    model = DummyRegressor().fit(X[["area_m2"]], y)
    value = metrics.make_scorer("rmse")(model, X[["area_m2"]], y)
    assert value < 0
    assert metrics.to_metric_units("rmse", value) == pytest.approx(
        skm.root_mean_squared_error(y, np.full(len(y), y.mean()))
    )


# ---------------------------------------------------------------- candidates


@pytest.mark.parametrize("problem_type", ["classification", "regression"])
def test_candidates_are_built_seeded_with_small_grids(problem_type: str) -> None:
    expected = {"random_forest", "hist_gradient_boosting"} | (
        {"logistic_regression"} if problem_type == "classification" else {"ridge"}
    )
    assert set(modelling.CANDIDATES[problem_type]) == expected
    for spec in modelling.CANDIDATES[problem_type].values():
        estimator = spec.factory(7)
        assert spec.interpretability in {"high", "medium", "low"}
        assert all(key.startswith("model__") for key in spec.param_distributions)
        assert 1 < spec.grid_size <= 50
        if "random_state" in estimator.get_params():
            assert estimator.get_params()["random_state"] == 7


def test_baseline_and_pipeline(classification) -> None:
    _, _, feature_schema = classification
    assert isinstance(modelling.baseline_model("classification"), DummyClassifier)
    assert isinstance(modelling.baseline_model("regression"), DummyRegressor)
    with pytest.raises(ValueError, match="problem_type"):
        modelling.baseline_model("clustering")
    preprocessor = preparation.build_preprocessor(feature_schema)
    pipeline = modelling.make_pipeline(preprocessor, DummyClassifier())
    assert isinstance(pipeline, Pipeline)
    assert list(pipeline.named_steps) == ["preprocess", "model"]
    assert pipeline.named_steps["preprocess"] is not preprocessor


# ---------------------------------------------------------------- cross-validation


def test_cross_validation_table_classification(classification) -> None:
    X, y, feature_schema = classification
    table = modelling.cross_validate_candidates(
        X, y, feature_schema, "classification", "roc_auc", ["logistic_regression"], 3, 2, 0
    )
    assert list(table.columns) == [
        "model",
        "score_mean",
        "score_std",
        "fit_time_s",
        "interpretability",
        "n_scores",
    ]
    assert list(table["model"]) == ["logistic_regression", "baseline"]  # best first
    assert (table["n_scores"] == 6).all()
    baseline = table.set_index("model").loc["baseline"]
    assert baseline["score_mean"] == pytest.approx(0.5)
    assert table.loc[0, "score_mean"] > 0.7
    assert modelling.select_best(table, "roc_auc", "classification") == "logistic_regression"


def test_cross_validation_table_regression_reports_positive_errors(regression) -> None:
    X, y, feature_schema = regression
    table = modelling.cross_validate_candidates(
        X, y, feature_schema, "regression", "rmse", ["ridge"], 2, 1, 0
    )
    assert (table["score_mean"] > 0).all()
    assert list(table["model"]) == ["ridge", "baseline"]  # lower rmse first
    assert table["score_mean"].is_monotonic_increasing


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"names": ["svm"]}, "logistic_regression, random_forest"),
        ({"folds": 1}, "cv_folds"),
        ({"repeats": 0}, "cv_repeats"),
        ({"folds": 10_000}, "cv_folds"),
    ],
)
def test_cross_validation_rejects_bad_parameters(classification, kwargs, message) -> None:
    X, y, feature_schema = classification
    args = {"names": ["logistic_regression"], "folds": 2, "repeats": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        modelling.cross_validate_candidates(
            X,
            y,
            feature_schema,
            "classification",
            "roc_auc",
            args["names"],
            args["folds"],
            args["repeats"],
            0,
        )


def test_folds_beyond_the_rarest_class_are_refused(classification) -> None:
    X, y, feature_schema = classification
    y = y.copy()
    y.iloc[:2] = 2  # a third class with two rows
    with pytest.raises(ValueError, match="rarest class"):
        modelling.cross_validate_candidates(
            X, y, feature_schema, "classification", "accuracy", [], 3, 1, 0
        )


def test_select_best_ignores_the_baseline_and_order() -> None:
    table = pd.DataFrame(
        {"model": ["baseline", "ridge", "random_forest"], "score_mean": [1.0, 5.0, 4.0]}
    )
    assert modelling.select_best(table, "rmse", "regression") == "random_forest"
    assert modelling.select_best(table, "r2", "regression") == "ridge"
    with pytest.raises(ValueError, match="modelling.candidates"):
        modelling.select_best(table.head(1), "rmse", "regression")


# ---------------------------------------------------------------- tuning


def test_tune_clips_iterations_to_the_grid_and_refits(classification) -> None:
    X, y, feature_schema = classification
    model, table = modelling.tune(
        "logistic_regression", X, y, feature_schema, "classification", "roc_auc", 50, 2, 0
    )
    grid = modelling.CANDIDATES["classification"]["logistic_regression"].grid_size
    assert len(table) == grid
    assert list(table.columns) == ["params", "score_mean", "score_std", "fit_time_s", "rank"]
    assert set(table.loc[0, "params"]) == {"C"}
    assert table["rank"].is_monotonic_increasing
    assert table["score_mean"].between(0.5, 1.0).all()
    assert table.loc[0, "params"]["C"] == model.named_steps["model"].C
    assert model.predict_proba(X).shape == (len(X), 2)  # refitted on all rows


def test_tune_rejects_zero_iterations(regression) -> None:
    X, y, feature_schema = regression
    with pytest.raises(ValueError, match="search_iterations"):
        modelling.tune("ridge", X, y, feature_schema, "regression", "rmse", 0, 2, 0)
