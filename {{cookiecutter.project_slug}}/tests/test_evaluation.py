"""Test metrics, per-class and per-slice views, robustness, importance, success criteria, the
production comparison and the deployment gate."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression, Ridge

from {{ cookiecutter.package_name }} import data, evaluation, metrics, modelling, preparation, schema
from {{ cookiecutter.package_name }}.metrics import Task


def _fitted(problem_type: str, estimator, metric: str) -> tuple:
    df = data.make_demo_data(problem_type, 500, seed=0)
    df = df.drop(columns=[data.DEMO_ID_COLUMNS[problem_type]])
    target = data.DEMO_TARGETS[problem_type]
    feature_schema = schema.infer_schema(df, target, problem_type)
    X, y = preparation.xy(df, target)
    model = modelling.make_pipeline(preparation.build_preprocessor(feature_schema), estimator)
    task = Task.create(problem_type=problem_type, metric=metric, target=target, y=y)
    return model.fit(X, y), X, y, task


@pytest.fixture(scope="module")
def classifier() -> tuple:
    return _fitted("classification", LogisticRegression(max_iter=1000), "roc_auc")


@pytest.fixture(scope="module")
def regressor() -> tuple:
    return _fitted("regression", Ridge(), "rmse")


@pytest.fixture(scope="module")
def iris() -> tuple:
    """scikit-learn's iris table (3 integer classes) and a classifier fitted on it."""
    frame = datasets.load_iris(as_frame=True).frame
    X, y = preparation.xy(frame, "target")
    feature_schema = schema.infer_schema(frame, "target", "classification")
    model = modelling.make_pipeline(
        preparation.build_preprocessor(feature_schema), LogisticRegression(max_iter=1000)
    ).fit(X, y)
    task = Task.create(problem_type="classification", metric="roc_auc", target="target", y=y)
    return model, X, y, task


def test_predict_scores_gives_positive_class_probability(classifier, regressor, iris) -> None:
    model, X, _, task = classifier
    y_pred, y_score = evaluation.predict_scores(model, X, task)
    assert y_pred.shape == y_score.shape == (len(X),)
    assert np.allclose(y_score, model.predict_proba(X)[:, 1])
    model, X, _, task = iris
    _, y_score = evaluation.predict_scores(model, X, task)
    assert y_score.shape == (len(X), 3)
    model, X, _, task = regressor
    y_pred, y_score = evaluation.predict_scores(model, X, task)
    assert y_score is None and y_pred.shape == (len(X),)
    assert np.array_equal(evaluation.model_output(model, X, "regression"), y_pred)


def test_a_pipeline_is_preprocessed_once_and_predicts_exactly_as_itself(
    classifier, iris, monkeypatch
) -> None:
    """predict_scores runs the preprocessing once for labels and probabilities; they equal the
    pipeline's own predict and predict_proba, binary and multiclass."""
    for model, X, _, task in (classifier, iris):
        preprocess = model.steps[0][1]  # a ColumnTransformer
        calls: list[int] = []
        transform = type(preprocess).transform

        def counted(self, X, calls=calls, original=transform):
            calls.append(1)
            return original(self, X)

        monkeypatch.setattr(type(preprocess), "transform", counted)
        y_pred, y_score = evaluation.predict_scores(model, X, task)
        assert len(calls) == 1
        monkeypatch.undo()
        assert np.array_equal(y_pred, model.predict(X))
        assert np.array_equal(y_score, metrics.positive_scores(model.predict_proba(X)))


class EagerLogisticRegression(LogisticRegression):
    """A classifier whose `predict` is not the most probable class: the first class is predicted
    from a probability of 0.3 on (as a user lowering the threshold would)."""

    def predict(self, X: Any) -> np.ndarray:
        first = self.predict_proba(X)[:, 0] >= 0.3
        return np.where(first, self.classes_[0], super().predict(X))


@pytest.mark.parametrize("loader", [datasets.load_breast_cancer, datasets.load_wine])
def test_every_candidate_classifier_predicts_as_its_own_predict(loader) -> None:
    """Labels read off the probabilities are the ones each candidate's own `predict` gives, on a
    binary and a three-class table; any other classifier keeps its own `predict`."""
    frame = loader(as_frame=True).frame
    X, y = preparation.xy(frame, "target")
    feature_schema = schema.infer_schema(frame, "target", "classification")
    preprocessor = preparation.build_preprocessor(feature_schema)
    task = Task.create(problem_type="classification", metric="roc_auc", target="target", y=y)
    estimators = [
        spec.factory(0, len(X)) for spec in modelling.CANDIDATES["classification"].values()
    ]
    for estimator in [*estimators, modelling.baseline_model("classification")]:
        model = modelling.make_pipeline(preprocessor, estimator).fit(X, y)
        y_pred, _ = evaluation.predict_scores(model, X, task)
        assert np.array_equal(y_pred, model.predict(X)), type(estimator).__name__
    eager = modelling.make_pipeline(preprocessor, EagerLogisticRegression(C=0.01, max_iter=1000))
    eager.fit(X, y)
    y_pred, y_score = evaluation.predict_scores(eager, X, task)
    assert np.array_equal(y_pred, eager.predict(X))
    probabilities = eager.predict_proba(X)
    assert not np.array_equal(y_pred, eager.classes_[np.argmax(probabilities, axis=1)])


def test_the_baseline_needs_no_preprocessing_and_predicts_the_class_priors() -> None:
    """A table the preprocessing has not seen (text, missing values, dates) is fine: the
    baseline predicts from the target alone."""
    frame = datasets.load_wine(as_frame=True).frame
    X, y = preparation.xy(frame, "target")
    X = X.assign(note="free text", when=pd.Timestamp("2024-01-01"))
    X.iloc[::7, 0] = np.nan
    task = Task.create(problem_type="classification", metric="roc_auc", target="target", y=y)
    baseline = modelling.fit_baseline(X, y, task=task)
    priors = y.value_counts(normalize=True).sort_index().to_numpy()
    assert np.allclose(baseline.predict_proba(X.head(3)), np.tile(priors, (3, 1)))
    regression = Task.create(problem_type="regression", metric="rmse", target="target", y=y)
    assert modelling.fit_baseline(X, y, task=regression).predict(X.head(2)) == pytest.approx(
        [y.mean()] * 2
    )


def test_compute_metrics_returns_what_can_be_computed(classifier) -> None:
    model, X, y, task = classifier
    y_pred, y_score = evaluation.predict_scores(model, X, task)
    everything = evaluation.compute_metrics(task, y, y_pred, y_score)
    assert set(everything) == set(metrics.names("classification"))
    labels_only = evaluation.compute_metrics(task, y, y_pred)
    assert set(labels_only) == {"f1", "f1_macro", "accuracy", "balanced_accuracy"}
    assert evaluation.evaluate(model, X, y, task) == pytest.approx(everything)
    assert evaluation.evaluate(model, X, y, "classification") == pytest.approx(everything)
    assert everything["roc_auc"] > 0.75


def test_evaluate_regression(regressor) -> None:
    model, X, y, task = regressor
    result = evaluation.evaluate(model, X, y, task)
    assert set(result) == {"rmse", "mae", "r2"}
    assert result["rmse"] >= result["mae"] > 0
    assert 0.5 < result["r2"] <= 1.0


def test_metrics_table_has_no_nan_and_puts_the_primary_metric_first() -> None:
    task = Task.create(problem_type="classification", metric="accuracy")
    table = evaluation.metrics_table(
        {
            "challenger": {"roc_auc": 0.81234, "accuracy": 0.7},
            "baseline": {"accuracy": 0.6},
            "production": None,
        },
        task=task,
    )
    assert list(table.columns) == ["challenger", "baseline"]
    assert list(table.index) == ["accuracy", "roc_auc"]
    assert table.loc["roc_auc"].tolist() == ["0.8123", "undefined"]
    assert not table.isna().any().any()


def test_per_slice_metrics(classifier) -> None:
    model, X, y, task = classifier
    table = evaluation.per_slice_metrics(model, X, y, slice_column="contract", task=task)
    assert list(table.columns) == ["slice", "n", "share", "roc_auc", "accuracy", "note"]
    assert set(table["slice"]) == set(X["contract"].dropna())
    assert table["n"].sum() == len(X)
    assert table["n"].is_monotonic_decreasing
    assert table["roc_auc"].between(0.5, 1.0).all()
    assert (table["note"] == "").all()


def test_per_slice_metrics_from_the_callers_predictions_are_the_same(classifier, iris) -> None:
    for (model, X, y, task), column in ((classifier, "contract"), (iris, "petal width (cm)")):
        predictions = evaluation.predict_scores(model, X, task)
        given = evaluation.per_slice_metrics(
            model, X, y, slice_column=column, task=task, predictions=predictions
        )
        pd.testing.assert_frame_equal(
            given, evaluation.per_slice_metrics(model, X, y, slice_column=column, task=task)
        )


def test_a_slice_with_one_class_says_why_its_metric_is_undefined(classifier) -> None:
    model, X, y, task = classifier
    X = X.assign(segment=np.where(y.to_numpy() == 1, "churners", "mixed"))
    X.loc[X.index[:50], "segment"] = "mixed"
    table = evaluation.per_slice_metrics(model, X, y, slice_column="segment", task=task)
    churners = table.set_index("slice").loc["churners"]
    assert math.isnan(churners["roc_auc"])
    assert (
        churners["note"]
        == f"roc_auc undefined: only one class (1) among these {churners['n']} rows"
    )
    assert churners["accuracy"] > 0  # the companion metric is still defined
    mixed = table.set_index("slice").loc["mixed"]
    assert not math.isnan(mixed["roc_auc"]) and mixed["note"] == ""
    shown = evaluation.readable(table).set_index("slice")
    assert shown.loc["churners", "roc_auc"] == "undefined"


def test_multiclass_slices_name_the_absent_classes(iris) -> None:
    model, X, y, task = iris
    table = evaluation.per_slice_metrics(model, X, y, slice_column="petal width (cm)", task=task)
    assert 2 <= len(table) <= 4 and table["n"].sum() == len(X)
    undefined = table[table["roc_auc"].isna()]
    assert len(undefined) >= 1, "quartiles of petal width separate the species"
    assert undefined["note"].str.contains("roc_auc undefined: ").all()
    assert undefined["note"].str.contains("absent from these|only one class").all()
    defined = table[table["roc_auc"].notna()]
    assert (defined["note"] == "").all() and defined["roc_auc"].between(0, 1).all()
    assert all(s.startswith("(") and "]" in s and len(s) < 20 for s in table["slice"])


def test_numeric_slice_column_is_cut_into_quartiles(regressor) -> None:
    model, X, y, task = regressor
    table = evaluation.per_slice_metrics(model, X, y, slice_column="area_m2", task=task)
    assert 2 <= len(table) <= 4
    assert table["n"].sum() == len(X)
    assert list(table.columns) == ["slice", "n", "share", "rmse", "mae", "note"]


def test_missing_slice_column_lists_the_columns(classifier) -> None:
    model, X, y, task = classifier
    with pytest.raises(ValueError, match="tenure_months") as error:
        evaluation.per_slice_metrics(model, X, y, slice_column="country", task=task)
    assert "evaluation.slice_column" in str(error.value)


def test_no_slice_column_means_no_slices(classifier) -> None:
    model, X, y, task = classifier
    table = evaluation.per_slice_metrics(model, X, y, slice_column="", task=task)
    assert table.empty
    assert list(table.columns) == ["slice", "n", "share", task.metric.name, "accuracy", "note"]


def test_per_class_table_matches_scikit_learn(iris) -> None:
    model, X, y, task = iris
    y_pred, y_score = evaluation.predict_scores(model, X, task)
    table = evaluation.per_class_table(y, y_pred, y_score, task=task)
    report = skm.classification_report(y, y_pred, output_dict=True)
    assert list(table["class"]) == ["0", "1", "2"]
    for row in table.itertuples():
        assert row.precision == pytest.approx(report[row._1]["precision"])
        assert row.recall == pytest.approx(report[row._1]["recall"])
        assert row.rows == report[row._1]["support"]
        label = int(row._1)
        assert row.roc_auc_ovr == pytest.approx(skm.roc_auc_score(y == label, y_score[:, label]))
    assert table["predicted"].sum() == len(X)


def test_per_class_table_marks_a_class_never_predicted(classifier) -> None:
    _, _, y, task = classifier
    never_one = np.zeros(len(y), dtype=int)
    table = evaluation.per_class_table(y, never_one, task=task).set_index("class")
    assert math.isnan(table.loc["1", "precision"]) and table.loc["1", "recall"] == 0
    assert "roc_auc_ovr" not in table.columns  # no scores given


def test_diagnostic_sample_is_bounded_stratified_and_stated(classifier) -> None:
    _, X, y, task = classifier
    X_s, y_s, sentence = evaluation.diagnostic_sample(X, y, task=task, max_rows=100, seed=0)
    assert len(X_s) == len(y_s) == 100
    assert y_s.mean() == pytest.approx(y.mean(), abs=0.02)
    assert sentence == "a stratified sample of 100 of 500 test rows (evaluation.diagnostic_rows)"
    X_all, _, sentence = evaluation.diagnostic_sample(X, y, task=task, max_rows=1000, seed=0)
    assert len(X_all) == len(X) and sentence == "all 500 test rows"


def test_robustness_is_direction_aware(classifier, regressor) -> None:
    model, X, y, task = classifier
    no_noise = evaluation.robustness(model, X, y, task=task, noise_level=0.0, seed=0)
    assert no_noise["drop"] == pytest.approx(0.0)
    assert no_noise["clean"] == pytest.approx(no_noise["noisy"])
    model, X, y, task = regressor
    noisy = evaluation.robustness(model, X, y, task=task, noise_level=1.0, seed=0)
    assert noisy["noisy"] > noisy["clean"]
    assert noisy["drop"] == pytest.approx(noisy["noisy"] - noisy["clean"])
    assert noisy["drop"] > 0
    with pytest.raises(ValueError, match="noise_level"):
        evaluation.robustness(model, X, y, task=task, noise_level=-0.1, seed=0)


def test_robustness_on_rows_where_the_metric_is_undefined(classifier) -> None:
    model, X, y, task = classifier
    ones = y == 1
    result = evaluation.robustness(model, X[ones], y[ones], task=task, noise_level=0.1, seed=0)
    assert result == {"clean": None, "noisy": None, "drop": None}


def test_importance_table_ranks_the_raw_columns(regressor) -> None:
    model, X, y, task = regressor
    X = X.assign(pure_noise=np.random.default_rng(0).normal(size=len(X)))
    model = model.fit(X, y)  # pure_noise is not in the schema, so the model ignores it
    table = evaluation.importance_table(model, X, y, task=task, seed=0, n_repeats=2)
    assert set(table["feature"]) == set(X.columns)
    assert table["importance_mean"].is_monotonic_decreasing
    assert table.iloc[0]["importance_mean"] > 0
    assert table.set_index("feature").loc["pure_noise", "importance_mean"] == 0


@pytest.mark.parametrize("fitted", ["regressor", "iris"])
def test_importance_does_not_depend_on_how_the_copies_are_batched(
    fitted, request, monkeypatch
) -> None:
    model, X, y, task = request.getfixturevalue(fitted)
    together = evaluation.importance_table(model, X, y, task=task, seed=0, n_repeats=3)
    monkeypatch.setattr(evaluation, "IMPORTANCE_BATCH_ROWS", 1)  # a prediction per column
    apart = evaluation.importance_table(model, X, y, task=task, seed=0, n_repeats=3)
    pd.testing.assert_frame_equal(together, apart)


def test_importance_agrees_with_scikit_learns_permutation_importance(iris) -> None:
    """Same estimand as sklearn.inspection.permutation_importance (other shuffles): the means
    agree within their standard errors, on the three-class iris table (probability matrices)."""
    from sklearn.inspection import permutation_importance

    model, X, y, task = iris
    repeats = 30
    ours = evaluation.importance_table(model, X, y, task=task, seed=0, n_repeats=repeats)
    theirs = permutation_importance(
        model, X, y, scoring=metrics.make_scorer(task.metric), n_repeats=repeats, random_state=1
    )
    ours = ours.set_index("feature").loc[[str(c) for c in X.columns]]
    error = np.sqrt((ours["importance_std"] ** 2 + theirs["importances_std"] ** 2) / repeats)
    gap = (ours["importance_mean"] - theirs["importances_mean"]).abs()
    assert (gap <= 5 * error + 1e-3).all(), pd.DataFrame({"gap": gap, "error": error})
    assert ours["importance_mean"].idxmax() == X.columns[np.argmax(theirs["importances_mean"])]


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
    assert [r["key"] for r in results] == [
        "business_understanding.success_threshold",
        "business_understanding.min_gain_over_baseline",
    ]
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


# ---------------------------------------------------------------- the production model


def _metadata(**extra: Any) -> dict[str, Any]:
    return {"version": "v0003", "problem_type": "classification", "target": "churned", **extra}


def test_production_is_scored_on_the_columns_it_was_trained_on(classifier) -> None:
    model, X, y, task = classifier
    wider = X.assign(new_feature=1.0)[["new_feature", *X.columns]]  # a column added since
    result = evaluation.compare_with_production(lambda: (model, _metadata()), wider, y, task=task)
    assert result["status"] == "compared" and result["version"] == "v0003"
    assert result["metrics"] == pytest.approx(evaluation.evaluate(model, X, y, task))


def test_no_production_model_yet(classifier) -> None:
    _, X, y, task = classifier
    result = evaluation.compare_with_production(lambda: None, X, y, task=task)
    assert result == {
        "status": "none",
        "version": None,
        "reason": "no production model yet",
        "metrics": None,
    }


class _Broken:
    """A production model that cannot score today's rows."""

    classes_ = np.array([0, 1])
    feature_names_in_ = np.array(["tenure_months"])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        raise ValueError("could not convert string to float: 'abc'")


def _raise_corrupt() -> None:
    raise ValueError("models/production.json is not valid JSON; run crisp rollback")


@pytest.mark.parametrize(
    ("load", "columns", "reason"),
    [
        ("dropped", None, "columns it was trained on are not in the test split: contract"),
        ("target", None, "target changed (production: 'price', now: 'churned')"),
        ("problem", None, "problem type changed (production: 'regression', now: 'classification')"),
        ("classes", None, "classes changed (production: 0, 1, 2; now: 0, 1)"),
        ("corrupt", None, "could not be read (ValueError: models/production.json is not valid"),
        ("broken", None, "scoring it on the test split failed (ValueError: could not convert"),
        ("one_class", "ones", "its roc_auc is undefined here: only one class (1)"),
    ],
)
def test_production_not_comparable_says_why(classifier, iris, load, columns, reason) -> None:
    model, X, y, task = classifier
    loaders = {
        "dropped": lambda: (model, _metadata()),
        "target": lambda: (model, _metadata(target="price")),
        "problem": lambda: (model, _metadata(problem_type="regression")),
        "classes": lambda: (iris[0], _metadata()),
        "corrupt": _raise_corrupt,
        "broken": lambda: (_Broken(), _metadata()),
        "one_class": lambda: (model, _metadata()),
    }
    if load == "dropped":
        X = X.drop(columns=["contract"])
    if columns == "ones":
        X, y = X[y == 1], y[y == 1]
    result = evaluation.compare_with_production(loaders[load], X, y, task=task)
    assert result["status"] == "not comparable" and result["metrics"] is None
    assert reason in result["reason"]
    decision = evaluation.deployment_decision(
        task=task, challenger_score=0.8, production=result, tolerance=0.005, criteria_passed=True
    )
    assert decision["decision"] == "promote" and decision["production"] == "not comparable"
    assert f"production model not comparable: {result['reason']}" in decision["reason"]
    assert "judged on the success criteria alone" in decision["reason"]
    assert decision["champion"] is None
    text = evaluation.decision_markdown(decision)
    assert decision["reason"] in text  # in full, never cut


def _production(score: float | None, metric: str) -> dict[str, Any]:
    if score is None:
        return {"status": "none", "version": None, "reason": "no production model yet"}
    return {"status": "compared", "version": "v0001", "reason": None, "metrics": {metric: score}}


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
    task = Task.create(problem_type=metrics.METRICS[metric].problem_type, metric=metric)
    result = evaluation.deployment_decision(
        task=task,
        challenger_score=challenger,
        production=_production(champion, metric),
        tolerance=0.005,
        criteria_passed=passed,
    )
    assert result["decision"] == decision
    assert result["challenger"] == challenger and result["champion"] == champion
    assert result["tolerance"] == 0.005 and result["reason"]
    assert result["suspicious"] is None


def test_a_challenger_failing_the_criteria_is_rejected_even_without_a_comparison() -> None:
    task = Task.create(problem_type="classification", metric="roc_auc")
    production = {"status": "not comparable", "version": "v0002", "reason": "target changed"}
    result = evaluation.deployment_decision(
        task=task, challenger_score=0.6, production=production, tolerance=0.0, criteria_passed=False
    )
    assert result["decision"] == "reject"
    assert "fails the success criteria" in result["reason"]
    assert "production model not comparable: target changed" in result["reason"]


@pytest.mark.parametrize(("metric", "score"), [("roc_auc", 1.0), ("rmse", 0.0), ("r2", 1.0)])
def test_a_perfect_test_score_is_flagged_as_suspicious(metric, score) -> None:
    task = Task.create(problem_type=metrics.METRICS[metric].problem_type, metric=metric)
    result = evaluation.deployment_decision(
        task=task,
        challenger_score=score,
        production=_production(None, metric),
        tolerance=0.005,
        criteria_passed=True,
    )
    assert result["decision"] == "promote"  # flagged, not blocked: a tiny test split can be perfect
    assert "target leakage" in result["suspicious"]
    assert "Suspicious: " in result["reason"]
    assert "**suspicious:**" in evaluation.decision_markdown(result)


def test_deployment_decision_rejects_negative_tolerance() -> None:
    with pytest.raises(ValueError, match="promotion_tolerance"):
        evaluation.deployment_decision(
            task=Task.create(problem_type="classification", metric="roc_auc"),
            challenger_score=0.8,
            production=_production(0.8, "roc_auc"),
            tolerance=-1.0,
            criteria_passed=True,
        )


@pytest.mark.parametrize(
    ("labels", "metric"), [({0: "No", 1: "Yes"}, "f1"), ({0: False, 1: True}, "average_precision")]
)
def test_text_and_boolean_labels_work_end_to_end(labels, metric) -> None:
    df = data.make_demo_data("classification", 300, seed=1).drop(columns=["customer_id"])
    df["churned"] = df["churned"].map(labels)
    feature_schema = schema.infer_schema(df, "churned", "classification")
    X, y = preparation.xy(df, "churned")
    task = Task.create(problem_type="classification", metric=metric, target="churned", y=y)
    assert task.positive_label == labels[1]
    preprocessor = preparation.build_preprocessor(feature_schema)
    table = modelling.cross_validate_candidates(
        X,
        y,
        task=task,
        preprocessor=preprocessor,
        candidates=["logistic_regression"],
        folds=2,
        repeats=1,
        seed=0,
    )
    assert table.set_index("model").loc["logistic_regression", "score_mean"] > 0
    model = modelling.make_pipeline(preprocessor, LogisticRegression(max_iter=1000)).fit(X, y)
    result = evaluation.evaluate(model, X, y, task)
    assert set(result) == set(metrics.names("classification"))
    y_pred, y_score = evaluation.predict_scores(model, X, task)
    per_class = evaluation.per_class_table(y, y_pred, y_score, task=task)
    assert list(per_class["class"]) == [str(labels[0]), str(labels[1])]
