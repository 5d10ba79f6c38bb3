"""Baseline, candidate models, repeated cross-validation, a small random search, the final fit.

Model selection and tuning run on a bounded, stratified sample of the training rows
(`selection_sample`); the chosen model is then refit on every training row (`fit_final`). Fits
run in parallel through `compute.Compute` (local worker processes or a Dask cluster), each
printing a line per model, so a long phase shows where it is.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import stats
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
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
    ParameterSampler,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    StratifiedKFold,
)
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from . import metrics as metrics_
from .metrics import Task
from .parallel import LOCAL, Compute, Progress
from .preparation import with_native_categories

BASELINE = "baseline"
# A forest's trees each see a bootstrap sample of half the rows (`max_samples`), at most TREE_ROWS:
# fit cost stays bounded on large tables, and more rows than this add little to a tree of depth
# 10-20. Half-size samples cost 40% less than full ones for the same cross-validated score
# (breast_cancer, wine, iris, digits, diabetes: within one standard deviation of each other).
TREE_SHARE = 0.5
TREE_ROWS = 100_000
# Cross-validation repeats after the first skip a model worse than the best on the first repeat's
# folds at this one-sided significance (paired t-test): on many rows the second repeat of a clear
# loser is most of the selection's cost.
RACE_P_VALUE = 0.01


class ModellingError(ValueError):
    """Invalid modelling parameters (folds, repeats, candidates...)."""


def _tree_rows(rows: int) -> float:
    return min(TREE_SHARE, TREE_ROWS / max(rows, 1))


@dataclass(frozen=True)
class CandidateSpec:
    """A candidate model: how to build it for a seed and a row count, how readable it is,
    what to tune."""

    factory: Callable[[int, int], BaseEstimator]
    interpretability: str  # high | medium | low
    param_distributions: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def grid_size(self) -> int:
        """Number of distinct parameter combinations in the search space."""
        return len(ParameterGrid(self.param_distributions)) if self.param_distributions else 1


# Sizes are kept small so the demo pipeline trains in seconds on two cores; every candidate
# scales to many rows: lbfgs/cholesky solvers are linear in rows, forests bootstrap half the rows
# (at most TREE_ROWS) per tree, gradient boosting bins features and stops early above 10,000 rows.
CANDIDATES: dict[str, dict[str, CandidateSpec]] = {
    "classification": {
        "logistic_regression": CandidateSpec(
            lambda seed, rows: LogisticRegression(max_iter=2000, random_state=seed),
            "high",
            {"model__C": [0.01, 0.1, 1.0, 10.0]},
        ),
        "random_forest": CandidateSpec(
            lambda seed, rows: RandomForestClassifier(
                n_estimators=100,
                max_depth=10,
                min_samples_leaf=2,
                max_samples=_tree_rows(rows),
                n_jobs=1,
                random_state=seed,
            ),
            "medium",
            {
                "model__max_depth": [6, 10, 16],
                "model__min_samples_leaf": [1, 3, 5],
                "model__max_features": ["sqrt", 0.5],
            },
        ),
        "hist_gradient_boosting": CandidateSpec(
            lambda seed, rows: HistGradientBoostingClassifier(
                max_iter=150, early_stopping="auto", random_state=seed
            ),
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
            lambda seed, rows: Ridge(random_state=seed),
            "high",
            {"model__alpha": [0.1, 1.0, 10.0, 100.0]},
        ),
        "random_forest": CandidateSpec(
            lambda seed, rows: RandomForestRegressor(
                n_estimators=100,
                max_depth=12,
                min_samples_leaf=2,
                max_samples=_tree_rows(rows),
                n_jobs=1,
                random_state=seed,
            ),
            "medium",
            {
                "model__max_depth": [8, 12, 20],
                "model__min_samples_leaf": [1, 3, 5],
                "model__max_features": [1.0, 0.5],
            },
        ),
        "hist_gradient_boosting": CandidateSpec(
            lambda seed, rows: HistGradientBoostingRegressor(
                max_iter=150, early_stopping="auto", random_state=seed
            ),
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


NATIVE_CATEGORIES = (HistGradientBoostingClassifier, HistGradientBoostingRegressor)


def make_pipeline(preprocessor: Any, estimator: BaseEstimator) -> Pipeline:
    """`preprocess` (a fresh clone) then `model`, fitted and saved as one object.

    Histogram gradient boosting gets categories (and text of few distinct values) as one pandas
    categorical each and splits on them natively (`preparation.with_native_categories`), not
    one input per value. The baseline, which predicts from the target alone, gets no
    preprocessing (as in `fit_baseline`)."""
    if isinstance(estimator, DummyClassifier | DummyRegressor):
        return Pipeline([("model", estimator)])
    if isinstance(estimator, NATIVE_CATEGORIES) and isinstance(preprocessor, ColumnTransformer):
        estimator.set_params(categorical_features="from_dtype")
        preprocess = with_native_categories(preprocessor)  # a copy, adapted
    else:
        preprocess = clone(preprocessor)
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def fit_baseline(X: pd.DataFrame, y: pd.Series, *, task: Task) -> Pipeline:
    """The non-ML baseline fitted on `X`, `y`. It predicts from the target alone (the majority
    class, or the mean), so no preprocessing runs: on many rows that would cost as much as
    fitting a model."""
    return make_pipeline(None, baseline_model(task.problem_type)).fit(X, y)


def _check_positive(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ModellingError(f"modelling.{name} is {value!r}; it must be an integer >= {minimum}.")


def _check_folds(y: Any, task: Task, folds: int) -> None:
    n = len(y)
    if folds > n:
        raise ModellingError(f"modelling.cv_folds={folds} exceeds the {n} training rows; lower it.")
    if task.classification:
        counts = pd.Series(np.asarray(y)).value_counts()
        if int(counts.min()) < folds:
            rarest = metrics_.as_python(counts.idxmin())
            raise ModellingError(
                f"modelling.cv_folds={folds} exceeds the {int(counts.min())} rows of the rarest "
                f"class ({rarest!r}); lower cv_folds or collect more rows of that class."
            )


def sample_rows(
    y: Any, *, max_rows: int, seed: int, stratify: bool, min_per_class: int = 10
) -> np.ndarray:
    """Positions of at most `max_rows` rows of `y` (all, in order, when there are fewer).

    Stratified: each class keeps its share, and at least `min_per_class` rows or all it has.
    """
    n = len(y)
    if n <= max_rows:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    if not stratify:
        return np.sort(rng.choice(n, size=max_rows, replace=False))
    codes = pd.factorize(pd.Series(np.asarray(y)), sort=True)[0]
    chosen = []
    for code in np.unique(codes):
        members = np.flatnonzero(codes == code)
        k = max(round(max_rows * len(members) / n), min(len(members), min_per_class))
        chosen.append(rng.choice(members, size=min(k, len(members)), replace=False))
    return np.sort(np.concatenate(chosen))


def selection_sample(
    X: pd.DataFrame, y: pd.Series, *, task: Task, max_rows: int, seed: int
) -> tuple[pd.DataFrame, pd.Series]:
    """At most `max_rows` training rows for model selection and tuning (all when fewer),
    stratified by class for classification. Prints what was chosen."""
    _check_positive("selection_rows", max_rows, 100)
    rows = sample_rows(y, max_rows=max_rows, seed=seed, stratify=task.classification)
    if len(rows) == len(y):
        print(f"model selection and tuning on all {len(y):,} training rows", flush=True)
        return X, y
    how = "stratified" if task.classification else "random"
    print(
        f"model selection and tuning on a {how} sample of {len(rows):,} of {len(y):,} training "
        "rows (modelling.selection_rows); the chosen model is refit on all rows",
        flush=True,
    )
    return X.iloc[rows], y.iloc[rows]


def _fit_and_score(
    key: Any, fold: int, pipeline: Pipeline, X: Any, y: Any, train: Any, test: Any, scorer: Any
) -> tuple[Any, int, float, float]:
    """Fit a clone on the train rows, score it on the test rows: (key, fold, score, fit time)."""
    started = time.perf_counter()
    fitted = clone(pipeline).fit(X.iloc[train], y.iloc[train])
    fit_time = time.perf_counter() - started
    return key, fold, float(scorer(fitted, X.iloc[test], y.iloc[test])), fit_time


def _run_fits(
    jobs: Sequence[tuple[Any, Pipeline]],
    splits: list[tuple[np.ndarray, np.ndarray]],
    X: pd.DataFrame,
    y: pd.Series,
    *,
    task: Task,
    compute: Compute,
    on_done: Callable[[Any, np.ndarray, np.ndarray], None],
) -> dict[Any, tuple[np.ndarray, np.ndarray]]:
    """Every (key, pipeline) on every split, in parallel; `on_done(key, scores, fit_times)` as
    each key's last fit finishes. Scores in metric units, in split order."""
    scorer = metrics_.make_scorer(task.metric)
    results: dict[Any, dict[int, tuple[float, float]]] = defaultdict(dict)
    progress = Progress(len(jobs) * len(splits))
    done: dict[Any, tuple[np.ndarray, np.ndarray]] = {}
    tasks = (
        delayed(_fit_and_score)(key, fold, pipeline, X, y, train, test, scorer)
        for key, pipeline in jobs
        for fold, (train, test) in enumerate(splits)
    )
    with compute.parallel():
        for key, fold, value, fit_time in Parallel(
            n_jobs=compute.jobs, return_as="generator_unordered"
        )(tasks):
            results[key][fold] = (value, fit_time)
            progress.step()
            if len(results[key]) == len(splits):
                ordered = [results[key][i] for i in range(len(splits))]
                scores = metrics_.to_metric_units(task.metric, np.array([s for s, _ in ordered]))
                done[key] = (scores, np.array([t for _, t in ordered]))
                on_done(key, *done[key])
    return done


def _summary(scores: np.ndarray) -> tuple[float, float]:
    std = float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0
    return float(np.mean(scores)), std


def _repeated_splits(
    X: pd.DataFrame, y: pd.Series, task: Task, folds: int, repeats: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    if task.classification:
        cv: Any = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    else:
        cv = RepeatedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    return list(cv.split(X, y))


def clearly_worse(scores: np.ndarray, best: np.ndarray, *, task: Task) -> float | None:
    """One-sided p-value of "`scores` are worse than `best`" (paired t-test over the same folds);
    None when it cannot be judged (fewer than two folds, or a score the metric left undefined)."""
    worse_by = scores - best if metrics_.sort_ascending(task.metric) else best - scores
    if len(worse_by) < 2 or not np.isfinite(worse_by).all():
        return None
    spread = float(np.std(worse_by, ddof=1))
    if spread == 0.0:  # the same gap on every fold
        return 0.0 if worse_by[0] > 0 else 1.0
    statistic = float(np.mean(worse_by)) / (spread / np.sqrt(len(worse_by)))
    return float(stats.t.sf(statistic, df=len(worse_by) - 1))


def cross_validate_candidates(
    X: pd.DataFrame,
    y: pd.Series,
    *,
    task: Task,
    preprocessor: Any,
    candidates: Sequence[str],
    folds: int,
    repeats: int,
    seed: int,
    compute: Compute = LOCAL,
) -> pd.DataFrame:
    """Repeated k-fold CV of the baseline and each named candidate, best first.

    The repeats after the first are raced: a model clearly worse than the best one on the first
    repeat's folds (paired t-test, p < RACE_P_VALUE) runs no further repeat, since more folds
    would not change the choice. Columns: model, score_mean, score_std (metric units),
    fit_time_s (mean per fit), interpretability, n_scores (folds run). Prints a line per model as
    its folds finish.
    """
    _check_positive("cv_folds", folds, 2)
    _check_positive("cv_repeats", repeats, 1)
    specs = {name: _spec(name, task.problem_type) for name in candidates}
    _check_folds(y, task, folds)
    splits = _repeated_splits(X, y, task, folds, repeats, seed)
    rows = len(splits[0][0])
    models = {BASELINE: (baseline_model(task.problem_type), "high")}
    models.update({n: (s.factory(seed, rows), s.interpretability) for n, s in specs.items()})
    print(
        f"cross-validating {len(models)} models x {len(splits)} folds ({folds} folds x {repeats} "
        f"repeats) on {len(y):,} rows",
        flush=True,
    )

    def report(name: str, scores: np.ndarray, fit_times: np.ndarray, note: str = "") -> None:
        mean, std = _summary(scores)
        print(
            f"  {name}: {task.metric.name} {mean:.4f} ± {std:.4f}, "
            f"{np.mean(fit_times):.2f} s per fit{note}",
            flush=True,
        )

    jobs = [(name, make_pipeline(preprocessor, model)) for name, (model, _) in models.items()]
    if repeats == 1:
        results = _run_fits(jobs, splits, X, y, task=task, compute=compute, on_done=report)
    else:
        results = _race(jobs, splits, folds, X, y, task=task, compute=compute, report=report)
    table = pd.DataFrame(
        [
            {
                "model": name,
                "score_mean": _summary(results[name][0])[0],
                "score_std": _summary(results[name][0])[1],
                "fit_time_s": float(np.mean(results[name][1])),
                "interpretability": interpretability,
                "n_scores": len(results[name][0]),
            }
            for name, (_, interpretability) in models.items()
        ]
    )
    return table.sort_values(
        "score_mean", ascending=metrics_.sort_ascending(task.metric), kind="stable"
    ).reset_index(drop=True)


def _race(
    jobs: Sequence[tuple[str, Pipeline]],
    splits: list[tuple[np.ndarray, np.ndarray]],
    folds: int,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    task: Task,
    compute: Compute,
    report: Callable[..., None],
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The first repeat for every model, the other repeats only for those not clearly worse
    than the best: {name: (scores, fit times)} over the folds each ran."""
    first = _run_fits(jobs, splits[:folds], X, y, task=task, compute=compute, on_done=_quiet)
    best = min(first, key=lambda name: _ranking_key(_summary(first[name][0])[0], task))
    kept = []
    for name, pipeline in jobs:
        p_value = clearly_worse(first[name][0], first[best][0], task=task)
        if p_value is not None and p_value < RACE_P_VALUE:
            note = f" (first repeat only: below {best} on its folds, p = {p_value:.2g})"
            report(name, *first[name], note)
        else:
            kept.append((name, pipeline))

    def combined(name: str, scores: np.ndarray, fit_times: np.ndarray) -> None:
        first[name] = (
            np.concatenate([first[name][0], scores]),
            np.concatenate([first[name][1], fit_times]),
        )
        report(name, *first[name])

    _run_fits(kept, splits[folds:], X, y, task=task, compute=compute, on_done=combined)
    return first


def _quiet(*_: Any) -> None:
    """No report: the first repeat's results are printed once the race has judged them."""


def _ranking_key(mean: float, task: Task) -> float:
    """Sorts the best mean first (NaN last)."""
    if not np.isfinite(mean):
        return np.inf
    return mean if metrics_.sort_ascending(task.metric) else -mean


def select_best(cv_table: pd.DataFrame, *, task: Task) -> str:
    """Name of the best candidate by mean CV score, the baseline excluded."""
    candidates = cv_table[cv_table["model"] != BASELINE]
    if candidates.empty:
        raise ModellingError(
            "The CV table holds no candidate besides the baseline; "
            "list at least one model in modelling.candidates."
        )
    ordered = candidates.sort_values(
        "score_mean", ascending=metrics_.sort_ascending(task.metric), kind="stable"
    )
    return str(ordered.iloc[0]["model"])


def cv_variation(row: pd.Series, *, task: Task) -> float:
    """Spread of a model's CV score for the variance check: the standard deviation in metric
    units, relative to the mean for unbounded errors (rmse, mae, log_loss in target units)."""
    if task.metric.high == np.inf and row["score_mean"] > 0:
        return float(row["score_std"] / row["score_mean"])
    return float(row["score_std"])


def tune(
    name: str,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    task: Task,
    preprocessor: Any,
    iterations: int,
    folds: int,
    seed: int,
    compute: Compute = LOCAL,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Random search over the candidate's grid (as scikit-learn's RandomizedSearchCV samples it).

    `iterations` is clipped to the grid size. Returns the best parameters (pipeline names,
    `model__...`) and a table: params (short names), score_mean, score_std (metric units),
    fit_time_s, rank; best first.
    """
    _check_positive("search_iterations", iterations, 1)
    _check_positive("cv_folds", folds, 2)
    spec = _spec(name, task.problem_type)
    _check_folds(y, task, folds)
    splitter = StratifiedKFold if task.classification else KFold
    splits = list(splitter(n_splits=folds, shuffle=True, random_state=seed).split(X, y))
    sampled = list(
        ParameterSampler(
            spec.param_distributions, n_iter=min(iterations, spec.grid_size), random_state=seed
        )
    )
    base = make_pipeline(preprocessor, spec.factory(seed, len(splits[0][0])))
    jobs = [(i, clone(base).set_params(**params)) for i, params in enumerate(sampled)]
    print(f"tuning {name}: {len(sampled)} settings x {folds} folds on {len(y):,} rows", flush=True)

    def report(i: int, scores: np.ndarray, fit_times: np.ndarray) -> None:
        mean, std = _summary(scores)
        print(
            f"  {_short_params(sampled[i])}: {task.metric.name} {mean:.4f} ± {std:.4f}", flush=True
        )

    results = _run_fits(jobs, splits, X, y, task=task, compute=compute, on_done=report)
    table = pd.DataFrame(
        {
            "params": [_short_params(p) for p in sampled],
            "score_mean": [_summary(results[i][0])[0] for i in range(len(sampled))],
            "score_std": [_summary(results[i][0])[1] for i in range(len(sampled))],
            "fit_time_s": [float(np.mean(results[i][1])) for i in range(len(sampled))],
        }
    )
    ascending = metrics_.sort_ascending(task.metric)
    table["rank"] = table["score_mean"].rank(method="min", ascending=ascending).astype(int)
    order = table.sort_values("rank", kind="stable").index
    return dict(sampled[order[0]]), table.loc[order].reset_index(drop=True)


def fit_final(
    name: str,
    params: dict[str, Any],
    X: pd.DataFrame,
    y: pd.Series,
    *,
    task: Task,
    preprocessor: Any,
    seed: int,
    compute: Compute = LOCAL,
) -> Pipeline:
    """The candidate with `params` (pipeline names) fitted on every row of `X`, `y`."""
    spec = _spec(name, task.problem_type)
    pipeline = make_pipeline(preprocessor, spec.factory(seed, len(X))).set_params(**params)
    print(f"fitting {name} on all {len(X):,} training rows", flush=True)
    started = time.perf_counter()
    parallel_trees = "model__n_jobs" in pipeline.get_params() and len(X) >= TREE_ROWS // 2
    if parallel_trees:
        pipeline.set_params(model__n_jobs=compute.n_jobs if compute.kind == "local" else -1)
    with compute.threads(len(X)):
        pipeline.fit(X, y)
    if parallel_trees:
        pipeline.set_params(model__n_jobs=1)  # serving predicts a few rows: no thread pool
    print(f"  fitted in {time.perf_counter() - started:.1f} s", flush=True)
    return pipeline


def _short_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters without the `model__` prefix, for display."""
    return {key.removeprefix("model__"): value for key, value in params.items()}
