"""Baseline, candidate models, repeated cross-validation table and a small random search."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import (
    KFold,
    ParameterGrid,
    RandomizedSearchCV,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    StratifiedKFold,
    cross_validate,
)
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from . import metrics as metrics_
from . import preparation

BASELINE = "baseline"


class ModellingError(ValueError):
    """Invalid modelling parameters (folds, repeats, candidates...)."""


@dataclass(frozen=True)
class CandidateSpec:
    """A candidate model: how to build it, how readable it is, what to tune."""

    factory: Callable[[int], BaseEstimator]
    interpretability: str  # high | medium | low
    param_distributions: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def grid_size(self) -> int:
        """Number of distinct parameter combinations in the search space."""
        return len(ParameterGrid(self.param_distributions)) if self.param_distributions else 1


# Sizes are kept small so the demo pipeline trains in seconds on two cores.
CANDIDATES: dict[str, dict[str, CandidateSpec]] = {
    "classification": {
        "logistic_regression": CandidateSpec(
            lambda seed: LogisticRegression(max_iter=2000, random_state=seed),
            "high",
            {"model__C": [0.01, 0.1, 1.0, 10.0]},
        ),
        "random_forest": CandidateSpec(
            lambda seed: RandomForestClassifier(
                n_estimators=100, max_depth=10, min_samples_leaf=2, n_jobs=1, random_state=seed
            ),
            "medium",
            {
                "model__max_depth": [6, 10, 16],
                "model__min_samples_leaf": [1, 3, 5],
                "model__max_features": ["sqrt", 0.5],
            },
        ),
        "hist_gradient_boosting": CandidateSpec(
            lambda seed: HistGradientBoostingClassifier(max_iter=150, random_state=seed),
            "low",
            {
                "model__learning_rate": [0.03, 0.1, 0.2],
                "model__max_leaf_nodes": [15, 31],
                "model__l2_regularization": [0.0, 1.0],
            },
        ),
    },
    "regression": {
        "ridge": CandidateSpec(
            lambda seed: Ridge(random_state=seed),
            "high",
            {"model__alpha": [0.1, 1.0, 10.0, 100.0]},
        ),
        "random_forest": CandidateSpec(
            lambda seed: RandomForestRegressor(
                n_estimators=100, max_depth=12, min_samples_leaf=2, n_jobs=1, random_state=seed
            ),
            "medium",
            {
                "model__max_depth": [8, 12, 20],
                "model__min_samples_leaf": [1, 3, 5],
                "model__max_features": [1.0, 0.5],
            },
        ),
        "hist_gradient_boosting": CandidateSpec(
            lambda seed: HistGradientBoostingRegressor(max_iter=150, random_state=seed),
            "low",
            {
                "model__learning_rate": [0.03, 0.1, 0.2],
                "model__max_leaf_nodes": [15, 31],
                "model__l2_regularization": [0.0, 1.0],
            },
        ),
    },
}


def _candidates(problem_type: str) -> dict[str, CandidateSpec]:
    if problem_type not in CANDIDATES:
        raise ModellingError(
            f"Unknown problem_type {problem_type!r}. "
            f"Set shared.problem_type to one of: {', '.join(CANDIDATES)}."
        )
    return CANDIDATES[problem_type]


def _spec(name: str, problem_type: str) -> CandidateSpec:
    specs = _candidates(problem_type)
    if name not in specs:
        raise ModellingError(
            f"Unknown candidate {name!r} for {problem_type}. "
            f"Set modelling.candidates to names from: {', '.join(specs)}."
        )
    return specs[name]


def single_threaded() -> threadpool_limits:
    """Context manager limiting OpenMP/BLAS to one thread.

    On small tabular data threads cost more than they save, and on a busy machine
    HistGradientBoosting's OpenMP threads can slow a fit down tens of times.
    """
    return threadpool_limits(limits=1)


def baseline_model(problem_type: str) -> BaseEstimator:
    """The non-ML baseline: class priors or the training mean."""
    _candidates(problem_type)
    if problem_type == "classification":
        return DummyClassifier(strategy="prior")
    return DummyRegressor(strategy="mean")


def make_pipeline(preprocessor: Any, estimator: BaseEstimator) -> Pipeline:
    """`preprocess` (a fresh clone) then `model`, fitted and saved as one object."""
    return Pipeline([("preprocess", clone(preprocessor)), ("model", estimator)])


def _check_positive(name: str, value: int, minimum: int) -> None:
    if not isinstance(value, int | np.integer) or value < minimum:
        raise ModellingError(f"modelling.{name} is {value!r}; it must be an integer >= {minimum}.")


def _check_folds(y: Any, problem_type: str, folds: int) -> None:
    n = len(y)
    if folds > n:
        raise ModellingError(f"modelling.cv_folds={folds} exceeds the {n} training rows; lower it.")
    if problem_type == "classification":
        smallest = int(pd.Series(np.asarray(y)).value_counts().min())
        if folds > smallest:
            raise ModellingError(
                f"modelling.cv_folds={folds} exceeds the {smallest} rows of the rarest class; "
                "lower cv_folds or collect more rows of that class."
            )


def _splitter(problem_type: str, folds: int, repeats: int, seed: int) -> Any:
    if problem_type == "classification":
        return RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    return RepeatedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)


def cross_validate_candidates(
    X: pd.DataFrame,
    y: pd.Series,
    schema: dict,
    problem_type: str,
    metric: str,
    names: Sequence[str],
    folds: int,
    repeats: int,
    seed: int,
) -> pd.DataFrame:
    """Repeated k-fold CV of the baseline and each named candidate, best first.

    Columns: model, score_mean, score_std (metric units), fit_time_s (mean per fit),
    interpretability, n_scores.
    """
    _check_positive("cv_folds", folds, 2)
    _check_positive("cv_repeats", repeats, 1)
    m = metrics_.get_metric(metric, problem_type)
    specs = {name: _spec(name, problem_type) for name in names}
    _check_folds(y, problem_type, folds)

    preprocessor = preparation.build_preprocessor(schema)
    cv = _splitter(problem_type, folds, repeats, seed)
    scorer = metrics_.make_scorer(m)
    models: dict[str, tuple[BaseEstimator, str]] = {
        BASELINE: (baseline_model(problem_type), "high")
    }
    models.update(
        {name: (spec.factory(seed), spec.interpretability) for name, spec in specs.items()}
    )

    rows = []
    for name, (estimator, interpretability) in models.items():
        with single_threaded():
            result = cross_validate(
                make_pipeline(preprocessor, estimator),
                X,
                y,
                cv=cv,
                scoring=scorer,
                error_score="raise",
            )
        scores = metrics_.to_metric_units(m, result["test_score"])
        rows.append(
            {
                "model": name,
                "score_mean": float(np.mean(scores)),
                "score_std": float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0,
                "fit_time_s": float(np.mean(result["fit_time"])),
                "interpretability": interpretability,
                "n_scores": len(scores),
            }
        )
    table = pd.DataFrame(rows)
    return table.sort_values(
        "score_mean", ascending=metrics_.sort_ascending(m), kind="stable"
    ).reset_index(drop=True)


def select_best(cv_table: pd.DataFrame, metric: str, problem_type: str) -> str:
    """Name of the best candidate by mean CV score, the baseline excluded."""
    m = metrics_.get_metric(metric, problem_type)
    candidates = cv_table[cv_table["model"] != BASELINE]
    if candidates.empty:
        raise ModellingError(
            "The CV table holds no candidate besides the baseline; "
            "list at least one model in modelling.candidates."
        )
    ordered = candidates.sort_values("score_mean", ascending=metrics_.sort_ascending(m))
    return str(ordered.iloc[0]["model"])


def tune(
    name: str,
    X: pd.DataFrame,
    y: pd.Series,
    schema: dict,
    problem_type: str,
    metric: str,
    n_iter: int,
    folds: int,
    seed: int,
) -> tuple[Pipeline, pd.DataFrame]:
    """Random search over the candidate's grid; returns the refitted best pipeline and a table.

    `n_iter` is clipped to the grid size. Table columns: params, score_mean, score_std
    (metric units), fit_time_s, rank; best first.
    """
    _check_positive("search_iterations", n_iter, 1)
    _check_positive("cv_folds", folds, 2)
    m = metrics_.get_metric(metric, problem_type)
    spec = _spec(name, problem_type)
    _check_folds(y, problem_type, folds)

    pipeline = make_pipeline(preparation.build_preprocessor(schema), spec.factory(seed))
    cv = (
        StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        if problem_type == "classification"
        else KFold(n_splits=folds, shuffle=True, random_state=seed)
    )
    search = RandomizedSearchCV(
        pipeline,
        spec.param_distributions,
        n_iter=min(n_iter, spec.grid_size),
        scoring=metrics_.make_scorer(m),
        cv=cv,
        refit=True,
        random_state=seed,
        error_score="raise",
    )
    with single_threaded():
        search.fit(X, y)

    res = search.cv_results_
    table = pd.DataFrame(
        {
            "params": [_short_params(p) for p in res["params"]],
            "score_mean": metrics_.to_metric_units(m, np.asarray(res["mean_test_score"])),
            "score_std": np.asarray(res["std_test_score"]),
            "fit_time_s": np.asarray(res["mean_fit_time"]),
            "rank": np.asarray(res["rank_test_score"]),
        }
    )
    table = table.sort_values("rank", kind="stable").reset_index(drop=True)
    return search.best_estimator_, table


def _short_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters without the `model__` prefix, for display."""
    return {key.removeprefix("model__"): value for key, value in params.items()}
