"""Metric registry, the task, candidates, the selection sample, cross-validation, tuning and the
final fit."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets
from sklearn import metrics as skm
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RandomizedSearchCV, StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }} import data, metrics, modelling, parallel, preparation, schema
from {{ cookiecutter.package_name }}.metrics import Task


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


@pytest.fixture(scope="module")
def wine() -> tuple[pd.DataFrame, pd.Series, dict]:
    """scikit-learn's wine table: 3 classes, labels as text."""
    bunch = datasets.load_wine(as_frame=True)
    frame = bunch.frame.assign(
        target=bunch.frame["target"].map(dict(enumerate(bunch.target_names)))
    )
    X, y = preparation.xy(frame, "target")
    return X, y, schema.infer_schema(frame, "target", "classification")


def _task(problem_type: str, metric: str, y: pd.Series) -> Task:
    return Task.create(problem_type=problem_type, metric=metric, target=str(y.name), y=y)


# ---------------------------------------------------------------- metrics


def test_registry_covers_both_problem_types() -> None:
    assert set(metrics.names("classification")) >= {
        "roc_auc",
        "average_precision",
        "f1",
        "f1_macro",
        "accuracy",
        "balanced_accuracy",
        "log_loss",
    }
    assert metrics.names("regression") == ["rmse", "mae", "r2"]
    assert all(m.problem_type in metrics.PROBLEM_TYPES for m in metrics.METRICS.values())
    ceilings = {name: m.best for name, m in metrics.METRICS.items()}
    assert ceilings["roc_auc"] == ceilings["r2"] == ceilings["accuracy"] == 1.0
    assert ceilings["rmse"] == ceilings["log_loss"] == 0.0


def test_get_metric_rejects_unknown_names_listing_the_allowed_ones() -> None:
    assert metrics.get_metric("rmse", "regression").greater_is_better is False
    with pytest.raises(ValueError, match="roc_auc") as error:
        metrics.get_metric("rmse", "classification")
    assert "average_precision" in str(error.value)
    assert "business_understanding.primary_metric" in str(error.value)
    with pytest.raises(ValueError, match="shared.problem_type"):
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
    assert metrics.score("f1_macro", y, pred) == pytest.approx(
        skm.f1_score(y, pred, average="macro")
    )


def test_multiclass_metrics_are_one_vs_rest_macro_averages() -> None:
    rng = np.random.default_rng(0)
    y = np.array(["a", "b", "c"] * 20)
    proba = rng.dirichlet([1, 1, 1], size=len(y))
    proba[np.arange(len(y)), np.searchsorted(["a", "b", "c"], y)] += 0.5
    proba /= proba.sum(axis=1, keepdims=True)
    pred = np.array(["a", "b", "c"])[proba.argmax(axis=1)]
    assert metrics.score("roc_auc", y, pred, proba) == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr")
    )
    expected_ap = np.mean(
        [skm.average_precision_score(y == c, proba[:, i]) for i, c in enumerate("abc")]
    )
    assert metrics.score("average_precision", y, pred, proba) == pytest.approx(expected_ap)
    macro = skm.f1_score(y, pred, average="macro")
    assert (
        metrics.score("f1", y, pred) == metrics.score("f1_macro", y, pred) == pytest.approx(macro)
    )
    assert metrics.score("balanced_accuracy", y, pred) == pytest.approx(
        skm.balanced_accuracy_score(y, pred)
    )


@pytest.mark.parametrize(
    ("metric", "y_true", "y_pred", "y_score", "labels", "reason"),
    [
        (
            "roc_auc",
            [1, 1, 1],
            [1, 0, 1],
            [0.2, 0.8, 0.6],
            None,
            "only one class (1) among these 3",
        ),
        ("roc_auc", [0, 1], [0, 1], None, None, "needs predicted probabilities"),
        ("log_loss", ["a"], ["a"], None, ["a", "b"], "needs predicted probabilities"),
        (
            "roc_auc",
            ["a", "b", "a"],
            ["a", "b", "b"],
            np.eye(3),
            ["a", "b", "c"],
            "class 'c' absent",
        ),
        ("f1", ["No", "No"], ["No", "No"], None, ["No", "Yes"], "positive class 'Yes'"),
        ("r2", [3.0], [2.5], None, None, "fewer than two rows"),
        ("accuracy", [], [], None, None, "no rows"),
    ],
)
def test_undefined_metrics_give_a_reason(metric, y_true, y_pred, y_score, labels, reason) -> None:
    value, why = metrics.measure(metric, np.asarray(y_true), np.asarray(y_pred), y_score, labels)
    assert value is None and reason in why
    assert math.isnan(
        metrics.score(metric, np.asarray(y_true), np.asarray(y_pred), y_score, labels)
    )


def test_defined_metric_has_no_reason() -> None:
    value, why = metrics.measure("balanced_accuracy", np.array([1, 1]), np.array([1, 0]))
    assert value == pytest.approx(0.5) and why is None


def test_scorer_is_greater_is_better_and_converts_back(regression) -> None:
    X, y, _ = regression
    model = DummyRegressor().fit(X[["area_m2"]], y)
    value = metrics.make_scorer("rmse")(model, X[["area_m2"]], y)
    assert value < 0
    assert metrics.to_metric_units("rmse", value) == pytest.approx(
        skm.root_mean_squared_error(y, np.full(len(y), y.mean()))
    )


# ---------------------------------------------------------------- the task


@pytest.mark.parametrize(
    ("values", "labels", "positive"),
    [
        (["No", "Yes", None, "No"], ("No", "Yes"), "Yes"),
        ([True, False, True], (False, True), True),
        ([2, 0, 1, 1], (0, 1, 2), None),
        (["setosa", "virginica", "versicolor"], ("setosa", "versicolor", "virginica"), None),
    ],
)
def test_task_takes_text_boolean_and_integer_labels(values, labels, positive) -> None:
    task = Task.create(problem_type="classification", metric="roc_auc", y=pd.Series(values))
    assert task.labels == labels
    assert task.multiclass is (len(labels) > 2)
    assert task.positive_label == positive
    assert all(type(label) in (str, bool, int) for label in task.labels)  # JSON-friendly
    assert task.to_dict()["classes"] == list(labels)
    assert f"{len(labels)} classes" in task.describe()


@pytest.mark.parametrize(
    ("problem_type", "metric", "y", "message"),
    [
        ("classification", "roc_auc", pd.Series(["a", "a"]), "1 class ('a'); classification needs"),
        ("classification", "roc_auc", pd.Series(["a", 1, "b"]), "mixes value types"),
        ("regression", "r2", pd.Series(["cheap", "dear"]), "set shared.problem_type"),
        ("regression", "r2", pd.Series([True, False]), "is not numeric"),
        ("regression", "roc_auc", None, "business_understanding.primary_metric"),
        ("clustering", "r2", None, "shared.problem_type"),
    ],
)
def test_task_refuses_what_it_cannot_judge(problem_type, metric, y, message) -> None:
    with pytest.raises(metrics.MetricError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Task.create(problem_type=problem_type, metric=metric, target="t", y=y)


def test_task_knows_the_ceiling_and_the_direction() -> None:
    task = Task.create(problem_type="regression", metric="rmse")
    assert task.at_ceiling(0.0) and not task.at_ceiling(0.1) and not task.at_ceiling(None)
    assert task.improvement(10.0, 12.0) == pytest.approx(2.0)
    assert Task.create(problem_type="classification", metric="accuracy").at_ceiling(1.0)


# ---------------------------------------------------------------- candidates


@pytest.mark.parametrize("problem_type", ["classification", "regression"])
def test_candidates_are_built_seeded_with_small_grids(problem_type: str) -> None:
    expected = {"random_forest", "hist_gradient_boosting"} | (
        {"logistic_regression"} if problem_type == "classification" else {"ridge"}
    )
    assert set(modelling.CANDIDATES[problem_type]) == expected
    for spec in modelling.CANDIDATES[problem_type].values():
        estimator = spec.factory(7, 1000)
        assert spec.interpretability in {"high", "medium", "low"}
        assert all(key.startswith("model__") for key in spec.param_distributions)
        assert 1 < spec.grid_size <= 50
        if "random_state" in estimator.get_params():
            assert estimator.get_params()["random_state"] == 7


@pytest.mark.parametrize("problem_type", ["classification", "regression"])
def test_candidates_bound_their_cost_on_many_rows(problem_type: str) -> None:
    specs = modelling.CANDIDATES[problem_type]
    assert specs["random_forest"].factory(0, 1000).max_samples == modelling.TREE_SHARE
    assert specs["random_forest"].factory(0, 1).max_samples == modelling.TREE_SHARE
    many = specs["random_forest"].factory(0, 2_000_000)
    assert many.max_samples * 2_000_000 == pytest.approx(modelling.TREE_ROWS)
    assert specs["hist_gradient_boosting"].factory(0, 10).early_stopping == "auto"


def test_baseline_and_pipeline(classification) -> None:
    _, _, feature_schema = classification
    assert isinstance(modelling.baseline_model("classification"), DummyClassifier)
    assert isinstance(modelling.baseline_model("regression"), DummyRegressor)
    with pytest.raises(ValueError, match="problem_type"):
        modelling.baseline_model("clustering")
    preprocessor = preparation.build_preprocessor(feature_schema)
    pipeline = modelling.make_pipeline(preprocessor, LogisticRegression())
    assert isinstance(pipeline, Pipeline)
    assert list(pipeline.named_steps) == ["preprocess", "model"]
    assert pipeline.named_steps["preprocess"] is not preprocessor
    # The baseline predicts from the target alone: no preprocessing to run, in CV or alone.
    assert list(modelling.make_pipeline(preprocessor, DummyClassifier()).named_steps) == ["model"]


# ---------------------------------------------------------------- the selection sample


def test_selection_sample_keeps_every_row_of_a_small_table(classification, capsys) -> None:
    X, y, _ = classification
    task = _task("classification", "roc_auc", y)
    X_s, y_s = modelling.selection_sample(X, y, task=task, max_rows=1000, seed=0)
    assert X_s is X and y_s is y
    assert "on all 400 training rows" in capsys.readouterr().out


def test_selection_sample_is_stratified_bounded_and_keeps_rare_classes(capsys) -> None:
    y = pd.Series(["common"] * 9000 + ["medium"] * 990 + ["rare"] * 10, name="label")
    X = pd.DataFrame({"x": np.arange(len(y))})
    task = _task("classification", "accuracy", y)
    X_s, y_s = modelling.selection_sample(X, y, task=task, max_rows=1000, seed=3)
    counts = y_s.value_counts()
    assert counts["common"] == 900 and counts["medium"] == 99
    assert counts["rare"] == 10  # every row of a class smaller than min_per_class
    assert (X_s["x"].to_numpy() == y_s.index.to_numpy()).all()  # rows stay aligned
    again, _ = modelling.selection_sample(X, y, task=task, max_rows=1000, seed=3)
    assert again.index.equals(X_s.index)  # the seed decides
    out = capsys.readouterr().out
    assert "stratified sample of 1,009 of 10,000 training rows" in out
    assert "modelling.selection_rows" in out and "refit on all rows" in out


def test_selection_sample_for_regression_and_bad_size(regression) -> None:
    X, y, _ = regression
    task = _task("regression", "rmse", y)
    X_s, y_s = modelling.selection_sample(X, y, task=task, max_rows=150, seed=0)
    assert len(X_s) == len(y_s) == 150 and X_s.index.is_unique
    with pytest.raises(ValueError, match="modelling.selection_rows"):
        modelling.selection_sample(X, y, task=task, max_rows=10, seed=0)


# ---------------------------------------------------------------- cross-validation


def test_cross_validation_equals_scikit_learn_and_prints_a_line_per_model(
    classification, capsys
) -> None:
    X, y, feature_schema = classification
    task = _task("classification", "roc_auc", y)
    preprocessor = preparation.build_preprocessor(feature_schema)
    table = modelling.cross_validate_candidates(
        X,
        y,
        task=task,
        preprocessor=preprocessor,
        candidates=["logistic_regression"],
        folds=3,
        repeats=2,
        seed=0,
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
    # The baseline is far below on the first repeat's folds: the race runs it on no other.
    assert table.set_index("model")["n_scores"].to_dict() == {
        "logistic_regression": 6,
        "baseline": 3,
    }
    spec = modelling.CANDIDATES["classification"]["logistic_regression"]
    reference = cross_validate(
        modelling.make_pipeline(preprocessor, spec.factory(0, len(y))),
        X,
        y,
        cv=modelling._repeated_splits(X, y, task, 3, 2, 0),
        scoring="roc_auc",
    )["test_score"]
    best = table.iloc[0]
    assert best["score_mean"] == pytest.approx(reference.mean())
    assert best["score_std"] == pytest.approx(reference.std(ddof=1))
    assert table.set_index("model").loc["baseline", "score_mean"] == pytest.approx(0.5)
    assert modelling.select_best(table, task=task) == "logistic_regression"
    out = capsys.readouterr().out
    assert "cross-validating 2 models x 6 folds" in out
    assert "  logistic_regression: roc_auc 0." in out
    assert "  baseline: roc_auc 0.5000 ± 0.0000" in out
    assert "(first repeat only: below logistic_regression on its folds, p = " in out


@pytest.mark.parametrize(
    ("loader", "problem_type", "metric", "candidates"),
    [
        (datasets.load_breast_cancer, "classification", "roc_auc", ["logistic_regression"]),
        (datasets.load_wine, "classification", "balanced_accuracy", ["random_forest"]),
        (datasets.load_diabetes, "regression", "rmse", ["ridge", "random_forest"]),
    ],
)
def test_repeats_are_raced_a_clear_loser_runs_the_first_repeat_only(
    loader, problem_type: str, metric: str, candidates: list[str]
) -> None:
    """Each model's first-repeat scores are scikit-learn's on those folds; those clearly worse
    than the best's (paired t-test) stop there, the others run every repeat and equal
    scikit-learn's cross-validation on all folds."""
    frame = loader(as_frame=True).frame
    X, y = preparation.xy(frame, "target")
    feature_schema = schema.infer_schema(frame, "target", problem_type)
    preprocessor = preparation.build_preprocessor(feature_schema)
    task = _task(problem_type, metric, y)
    table = modelling.cross_validate_candidates(
        X, y, task=task, preprocessor=preprocessor, candidates=candidates,
        folds=3, repeats=2, seed=0,
    ).set_index("model")  # fmt: skip
    splits = modelling._repeated_splits(X, y, task, 3, 2, 0)
    scoring = metrics.make_scorer(task.metric)
    rows = len(splits[0][0])
    models = {"baseline": modelling.baseline_model(problem_type)}
    models |= {n: modelling.CANDIDATES[problem_type][n].factory(0, rows) for n in candidates}

    def scores(name: str, folds: list) -> np.ndarray:
        pipeline = modelling.make_pipeline(preprocessor, models[name])
        raw = cross_validate(pipeline, X, y, cv=folds, scoring=scoring)["test_score"]
        return metrics.to_metric_units(task.metric, raw)

    first = {name: scores(name, splits[:3]) for name in models}
    best = min(first, key=lambda n: modelling._ranking_key(first[n].mean(), task))
    for name in models:
        p_value = modelling.clearly_worse(first[name], first[best], task=task)
        raced_out = p_value is not None and p_value < modelling.RACE_P_VALUE
        expected = first[name] if raced_out else scores(name, splits)
        assert table.loc[name, "n_scores"] == len(expected), name
        assert table.loc[name, "score_mean"] == pytest.approx(expected.mean()), name
    assert table.loc["baseline", "n_scores"] == 3  # the baseline is a clear loser on all three
    assert table.loc[best, "n_scores"] == 6


def test_clearly_worse_follows_the_metrics_direction_and_refuses_what_it_cannot_judge() -> None:
    y = pd.Series([0, 1] * 5, name="y")
    auc, rmse = _task("classification", "roc_auc", y), _task("regression", "rmse", y * 1.5)
    low, high = np.array([0.70, 0.72, 0.69]), np.array([0.90, 0.93, 0.91])
    assert modelling.clearly_worse(low, high, task=auc) < 0.01  # lower AUC: worse
    assert modelling.clearly_worse(high, low, task=auc) > 0.99
    assert modelling.clearly_worse(high, low, task=rmse) < 0.01  # higher error: worse
    assert modelling.clearly_worse(low, low + 0.1, task=auc) == 0.0  # the same gap on each fold
    assert modelling.clearly_worse(low, low, task=auc) == 1.0
    assert modelling.clearly_worse(np.array([0.7, np.nan, 0.7]), high, task=auc) is None
    assert modelling.clearly_worse(low[:1], high[:1], task=auc) is None


def test_multiclass_text_labels_are_cross_validated_stratified(wine) -> None:
    X, y, feature_schema = wine
    task = _task("classification", "roc_auc", y)
    assert task.multiclass
    table = modelling.cross_validate_candidates(
        X,
        y,
        task=task,
        preprocessor=preparation.build_preprocessor(feature_schema),
        candidates=["logistic_regression"],
        folds=3,
        repeats=1,
        seed=0,
    )
    scores = table.set_index("model")["score_mean"]
    assert scores["logistic_regression"] > 0.95 and scores["baseline"] == pytest.approx(0.5)
    for _train, test in modelling._repeated_splits(X, y, task, 3, 1, 0):
        shares = y.iloc[test].value_counts(normalize=True)
        assert (shares - y.value_counts(normalize=True)).abs().max() < 0.05


def test_cross_validation_table_regression_reports_positive_errors(regression) -> None:
    X, y, feature_schema = regression
    table = modelling.cross_validate_candidates(
        X,
        y,
        task=_task("regression", "rmse", y),
        preprocessor=preparation.build_preprocessor(feature_schema),
        candidates=["ridge"],
        folds=2,
        repeats=1,
        seed=0,
    )
    assert (table["score_mean"] > 0).all()
    assert list(table["model"]) == ["ridge", "baseline"]  # lower rmse first
    assert table["score_mean"].is_monotonic_increasing


def test_parallel_cross_validation_equals_the_sequential_one(classification) -> None:
    X, y, feature_schema = classification
    kwargs = {
        "task": _task("classification", "accuracy", y),
        "preprocessor": preparation.build_preprocessor(feature_schema),
        "candidates": ["logistic_regression", "random_forest"],
        "folds": 2,
        "repeats": 1,
        "seed": 0,
    }
    sequential = modelling.cross_validate_candidates(X, y, **kwargs)
    two = modelling.cross_validate_candidates(
        X, y, compute=parallel.Compute(kind="local", n_jobs=2), **kwargs
    )
    columns = ["model", "score_mean", "score_std", "n_scores"]
    pd.testing.assert_frame_equal(sequential[columns], two[columns])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"candidates": ["svm"]}, "logistic_regression, random_forest"),
        ({"folds": 1}, "cv_folds"),
        ({"repeats": 0}, "cv_repeats"),
        ({"folds": 10_000}, "cv_folds"),
    ],
)
def test_cross_validation_rejects_bad_parameters(classification, kwargs, message) -> None:
    X, y, feature_schema = classification
    args = {"candidates": ["logistic_regression"], "folds": 2, "repeats": 1, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        modelling.cross_validate_candidates(
            X,
            y,
            task=_task("classification", "roc_auc", y),
            preprocessor=preparation.build_preprocessor(feature_schema),
            **args,
        )


def test_folds_beyond_the_rarest_class_are_refused(classification) -> None:
    X, y, feature_schema = classification
    y = y.copy()
    y.iloc[:2] = 2  # a third class with two rows
    with pytest.raises(ValueError, match="rows of the rarest class \\(2\\)"):
        modelling.cross_validate_candidates(
            X,
            y,
            task=_task("classification", "accuracy", y),
            preprocessor=preparation.build_preprocessor(feature_schema),
            candidates=[],
            folds=3,
            repeats=1,
            seed=0,
        )


def test_select_best_ignores_the_baseline_and_order() -> None:
    table = pd.DataFrame(
        {"model": ["baseline", "ridge", "random_forest"], "score_mean": [1.0, 5.0, 4.0]}
    )
    rmse, r2 = (Task.create(problem_type="regression", metric=m) for m in ("rmse", "r2"))
    assert modelling.select_best(table, task=rmse) == "random_forest"
    assert modelling.select_best(table, task=r2) == "ridge"
    with pytest.raises(ValueError, match="modelling.candidates"):
        modelling.select_best(table.head(1), task=rmse)


def test_cv_variation_is_relative_for_unbounded_errors() -> None:
    row = pd.Series({"score_mean": 200.0, "score_std": 10.0})
    rmse = Task.create(problem_type="regression", metric="rmse")
    assert modelling.cv_variation(row, task=rmse) == pytest.approx(0.05)
    r2 = Task.create(problem_type="regression", metric="r2")
    assert modelling.cv_variation(row, task=r2) == pytest.approx(10.0)


# ---------------------------------------------------------------- tuning and the final fit


def test_tune_samples_like_randomized_search_and_ranks_the_settings(classification, capsys) -> None:
    X, y, feature_schema = classification
    task = _task("classification", "roc_auc", y)
    preprocessor = preparation.build_preprocessor(feature_schema)
    best, table = modelling.tune(
        "random_forest",
        X,
        y,
        task=task,
        preprocessor=preprocessor,
        iterations=3,
        folds=2,
        seed=5,
    )
    spec = modelling.CANDIDATES["classification"]["random_forest"]
    search = RandomizedSearchCV(
        modelling.make_pipeline(preprocessor, spec.factory(5, len(y) // 2)),
        spec.param_distributions,
        n_iter=3,
        scoring="roc_auc",
        cv=StratifiedKFold(n_splits=2, shuffle=True, random_state=5),
        random_state=5,
        refit=False,
    ).fit(X, y)
    assert best == search.best_params_
    assert sorted(table["score_mean"]) == pytest.approx(
        sorted(search.cv_results_["mean_test_score"])
    )
    assert list(table.columns) == ["params", "score_mean", "score_std", "fit_time_s", "rank"]
    assert table["rank"].is_monotonic_increasing and table.loc[0, "rank"] == 1
    assert table.loc[0, "params"] == {k.removeprefix("model__"): v for k, v in best.items()}
    assert "tuning random_forest: 3 settings x 2 folds" in capsys.readouterr().out


def test_tune_clips_iterations_to_the_grid(classification) -> None:
    X, y, feature_schema = classification
    _, table = modelling.tune(
        "logistic_regression",
        X,
        y,
        task=_task("classification", "roc_auc", y),
        preprocessor=preparation.build_preprocessor(feature_schema),
        iterations=50,
        folds=2,
        seed=0,
    )
    assert len(table) == modelling.CANDIDATES["classification"]["logistic_regression"].grid_size
    assert set(table.loc[0, "params"]) == {"C"}


def test_tune_rejects_zero_iterations(regression) -> None:
    X, y, feature_schema = regression
    with pytest.raises(ValueError, match="search_iterations"):
        modelling.tune(
            "ridge",
            X,
            y,
            task=_task("regression", "rmse", y),
            preprocessor=preparation.build_preprocessor(feature_schema),
            iterations=0,
            folds=2,
            seed=0,
        )


def test_fit_final_uses_the_parameters_and_every_row(wine, capsys) -> None:
    X, y, feature_schema = wine
    model = modelling.fit_final(
        "random_forest",
        {"model__max_depth": 6, "model__min_samples_leaf": 3},
        X,
        y,
        task=_task("classification", "accuracy", y),
        preprocessor=preparation.build_preprocessor(feature_schema),
        seed=1,
    )
    forest = model.named_steps["model"]
    assert (forest.max_depth, forest.min_samples_leaf, forest.n_jobs) == (6, 3, 1)
    assert list(model.classes_) == sorted(y.unique())
    assert model.predict_proba(X).shape == (len(X), 3)
    assert f"fitting random_forest on all {len(X):,} training rows" in capsys.readouterr().out
