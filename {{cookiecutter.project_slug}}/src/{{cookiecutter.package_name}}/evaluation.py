"""Held-out evaluation: metrics, per-class and per-slice views, robustness, importance, success
criteria, the production comparison and the deployment gate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn import metrics as skm
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from . import metrics as metrics_
from .metrics import Task
from .modelling import sample_rows
from .parallel import LOCAL, Compute, threads_for

MISSING_SLICE = "(missing)"
UNDEFINED = "undefined"
# Float rounding must not decide a gate: 0.805 - 0.005 is not "worse than" 0.8.
EPS = 1e-9
MAX_SLICE_VALUES = 10  # numeric slice columns with more distinct values are cut into quartiles
# Permutation importance predicts its shuffled copies of the data in batches of about this many
# rows (one call's overhead per batch, every core in each; memory stays bounded).
IMPORTANCE_BATCH_ROWS = 200_000


# The params keys behind each success criterion, named when a criterion fails.
CRITERIA_KEYS = {
    "threshold": "business_understanding.success_threshold",
    "gain": "business_understanding.min_gain_over_baseline",
}


class EvaluationError(ValueError):
    """Invalid evaluation input (unknown column, missing metric, bad parameter)."""


def _task(task: Task | str) -> Task:
    """A Task; a bare problem type (callers without one) gets the type's first metric."""
    if isinstance(task, Task):
        return task
    return Task.create(problem_type=task, metric=metrics_.names(task)[0])


def _labels(model: Any, task: Task) -> Any:
    labels = getattr(model, "classes_", None)
    return labels if labels is not None else (task.labels or None)


# Classifiers whose `predict` is the class of highest `predict_proba` (ties to the first class):
# their predictions are read off the probabilities instead of being computed a second time.
PREDICT_IS_ARGMAX = (
    DummyClassifier,
    HistGradientBoostingClassifier,
    LogisticRegression,
    RandomForestClassifier,
)


def predict_scores(model: Any, X: pd.DataFrame, task: Task | str) -> tuple[np.ndarray, Any]:
    """Predictions and scores: positive-class probability (binary), probability matrix
    (multiclass) or None (regression, or a classifier without `predict_proba`).

    A pipeline's preprocessing runs once for both (it is most of the cost on many rows), and the
    candidate classifiers' predictions come from their probabilities; every core is used from
    parallel.THREADS_FROM_ROWS rows."""
    task = _task(task)
    with threads_for(len(X)):
        scored = task.classification and hasattr(model, "predict_proba")
        if scored and isinstance(model, Pipeline) and len(model.steps) > 1:
            features, model = model[:-1].transform(X), model.steps[-1][1]
        else:
            features = X
        if not scored:
            return np.asarray(model.predict(features)), None
        probabilities = model.predict_proba(features)
        if type(model) in PREDICT_IS_ARGMAX:
            y_pred = np.asarray(model.classes_)[np.argmax(probabilities, axis=1)]
        else:
            y_pred = np.asarray(model.predict(features))
        return y_pred, metrics_.positive_scores(probabilities)


def model_output(model: Any, X: pd.DataFrame, task: Task | str) -> np.ndarray:
    """What the model hands downstream, for prediction-drift monitoring: probabilities
    (positive class, or a matrix for multiclass) for classifiers, predictions otherwise."""
    y_pred, y_score = predict_scores(model, X, task)
    return y_score if y_score is not None else y_pred


def compute_metrics(
    task: Task | str,
    y_true: Any,
    y_pred: Any,
    y_score: Any = None,
    labels: Any = None,
) -> dict[str, float]:
    """Every metric of the task's problem type that is defined for these predictions."""
    task = _task(task)
    labels = labels if labels is not None else (task.labels or None)
    results = {}
    for name in metrics_.names(task.problem_type):
        value, _ = metrics_.measure(name, y_true, y_pred, y_score, labels)
        if value is not None:
            results[name] = value
    return results


def evaluate(model: Any, X: pd.DataFrame, y: Any, task: Task | str) -> dict[str, float]:
    """All defined metrics of `model` on `X`, `y`."""
    task = _task(task)
    y_pred, y_score = predict_scores(model, X, task)
    return compute_metrics(task, y, y_pred, y_score, labels=_labels(model, task))


def metrics_table(scores: dict[str, dict[str, float] | None], *, task: Task) -> pd.DataFrame:
    """Models side by side (one column per model with scores), a metric per row, the primary
    first; values as text with 4 decimals, "undefined" where a model has none (no NaN)."""
    shown = {name: values for name, values in scores.items() if values}
    order = [task.metric.name] + [m for m in metrics_.names(task.problem_type)]
    rows = [m for m in dict.fromkeys(order) if any(m in v for v in shown.values())]
    table = pd.DataFrame(
        {
            name: [f"{values[m]:.4f}" if m in values else UNDEFINED for m in rows]
            for name, values in shown.items()
        },
        index=pd.Index(rows, name="metric"),
    )
    return table


def readable(table: pd.DataFrame, decimals: int = 4) -> pd.DataFrame:
    """A table for a report: floats rounded, missing values written as "undefined"."""
    out = table.copy()
    for column in out.columns:
        if pd.api.types.is_float_dtype(out[column]):
            values = out[column].round(decimals)
            out[column] = values.astype(object).where(values.notna(), UNDEFINED)
    return out


def _slice_values(column: pd.Series) -> pd.Series:
    """Slice labels: numeric columns with many values become quartile intervals."""
    if pd.api.types.is_numeric_dtype(column) and column.nunique() > MAX_SLICE_VALUES:
        quartiles = pd.qcut(column, q=4, duplicates="drop")
        names = {i: f"({i.left:.4g}, {i.right:.4g}]" for i in quartiles.cat.categories}
        return quartiles.map(names).astype("string").fillna(MISSING_SLICE)
    return column.astype("string").fillna(MISSING_SLICE)


def companion_metric(task: Task) -> str:
    """A second, nearly always defined metric shown beside the primary one per slice."""
    if task.classification:
        return "accuracy" if task.metric.name != "accuracy" else "balanced_accuracy"
    return "mae" if task.metric.name != "mae" else "rmse"


def per_slice_metrics(
    model: Any,
    X: pd.DataFrame,
    y: Any,
    *,
    slice_column: str,
    task: Task,
    predictions: tuple[np.ndarray, Any] | None = None,
) -> pd.DataFrame:
    """One row per value of `slice_column`: slice, n, share, the primary and a companion metric,
    note. A metric undefined on a slice is NaN there and the note says why. No rows when
    `slice_column` is empty (no slices asked for). `predictions`: the model's
    `predict_scores` on `X` when the caller has them already."""
    names = [task.metric.name, companion_metric(task)]
    if not slice_column:
        return pd.DataFrame(columns=["slice", "n", "share", *names, "note"])
    if slice_column not in X.columns:
        raise EvaluationError(
            f"Slice column {slice_column!r} is not in the data. "
            f"Set evaluation.slice_column to one of: {', '.join(map(str, X.columns))}."
        )
    y_true = np.asarray(y)
    y_pred, y_score = predictions if predictions is not None else predict_scores(model, X, task)
    labels = _labels(model, task)
    slices = _slice_values(X[slice_column]).to_numpy()

    rows = []
    for value in pd.unique(slices):
        mask = slices == value
        score = y_score[mask] if y_score is not None else None
        row: dict[str, Any] = {"slice": str(value), "n": int(mask.sum()), "share": mask.mean()}
        notes = []
        for name in names:
            measured, reason = metrics_.measure(
                name, y_true[mask], y_pred[mask], score, labels=labels
            )
            row[name] = float("nan") if measured is None else measured
            if reason:
                notes.append(f"{name} undefined: {reason}")
        row["note"] = "; ".join(notes)
        rows.append(row)
    return (
        pd.DataFrame(rows).sort_values("n", ascending=False, kind="stable").reset_index(drop=True)
    )


def per_class_table(y_true: Any, y_pred: Any, y_score: Any = None, *, task: Task) -> pd.DataFrame:
    """Per class: rows (support), predicted (count), precision, recall, f1 and, with scores,
    one-vs-rest ROC-AUC. NaN marks a value undefined for the class (e.g. never predicted)."""
    labels = list(task.labels) or list(np.unique(np.asarray(y_true)))
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=np.nan
    )
    table = pd.DataFrame(
        {
            "class": [str(label) for label in labels],
            "rows": support.astype(int),
            "predicted": [int((y_pred == label).sum()) for label in labels],
            "precision": precision,
            "recall": recall,
            "f1": f1,
        }
    )
    if y_score is not None:
        matrix = np.asarray(y_score)
        if matrix.ndim == 1:
            matrix = np.column_stack([1 - matrix, matrix])
        auc = []
        for i, label in enumerate(labels):
            positive = y_true == label
            defined = 0 < positive.sum() < len(positive)
            auc.append(skm.roc_auc_score(positive, matrix[:, i]) if defined else float("nan"))
        table["roc_auc_ovr"] = auc
    return table


def numeric_columns(X: pd.DataFrame) -> list[str]:
    """Numeric, non-boolean columns (those that noise can perturb)."""
    return [
        c
        for c in X.columns
        if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])
    ]


def diagnostic_sample(
    X: pd.DataFrame, y: Any, *, task: Task, max_rows: int, seed: int
) -> tuple[pd.DataFrame, pd.Series, str]:
    """At most `max_rows` test rows for the costly diagnostics (robustness, importance),
    stratified by class; with a sentence saying which rows were used."""
    y = pd.Series(np.asarray(y), index=X.index)
    rows = sample_rows(y, max_rows=max_rows, seed=seed, stratify=task.classification)
    if len(rows) == len(y):
        return X, y, f"all {len(y):,} test rows"
    sentence = f"a {'stratified ' if task.classification else ''}sample of {len(rows):,} of "
    sentence += f"{len(y):,} test rows (evaluation.diagnostic_rows)"
    return X.iloc[rows], y.iloc[rows], sentence


def robustness(
    model: Any, X: pd.DataFrame, y: Any, *, task: Task, noise_level: float, seed: int
) -> dict[str, Any]:
    """Score on `X` and on `X` with Gaussian noise (noise_level x column std) on numeric columns.

    Returns clean, noisy and drop (positive = worse under noise, in metric units; None when the
    metric is undefined on these rows).
    """
    if not noise_level >= 0:
        raise EvaluationError(
            f"evaluation.noise_level is {noise_level!r}; it must be a number >= 0."
        )
    rng = np.random.default_rng(seed)
    noisy = X.copy()
    for column in numeric_columns(X):
        values = noisy[column].astype(float)
        std = float(values.std()) if values.notna().sum() > 1 else 0.0
        noisy[column] = values + rng.normal(0.0, noise_level * std, size=len(values))

    clean_score = _score(model, X, y, task)
    noisy_score = _score(model, noisy, y, task)
    drop = None
    if clean_score is not None and noisy_score is not None:
        drop = task.improvement(clean_score, noisy_score)
    return {"clean": clean_score, "noisy": noisy_score, "drop": drop}


def _score(model: Any, X: pd.DataFrame, y: Any, task: Task) -> float | None:
    y_pred, y_score = predict_scores(model, X, task)
    value, _ = metrics_.measure(task.metric, y, y_pred, y_score, labels=_labels(model, task))
    return value


def importance_table(
    model: Any,
    X: pd.DataFrame,
    y: Any,
    *,
    task: Task,
    seed: int,
    n_repeats: int = 5,
    compute: Compute = LOCAL,
) -> pd.DataFrame:
    """Permutation importance of each raw input column: how much the primary metric worsens
    when the column is shuffled (metric units, larger = more important, the mean and standard
    deviation over `n_repeats` shuffles); most important first.

    The shuffled copies of X are stacked and predicted in batches of about IMPORTANCE_BATCH_ROWS
    rows: a pipeline's cost per call (validation, preprocessing) is paid once per batch rather
    than once per shuffle, and a batch uses every core. Batches run here, or on the cluster when
    `compute` is Dask; the result is the same either way.
    """
    y = np.asarray(y)
    labels = _labels(model, task)
    reference = metrics_.score(task.metric, y, *predict_scores(model, X, task), labels)
    seeds = np.random.default_rng(seed).integers(2**32, size=X.shape[1])
    per_batch = max(1, IMPORTANCE_BATCH_ROWS // max(1, len(X) * n_repeats))
    batches = [
        list(range(first, min(first + per_batch, X.shape[1])))
        for first in range(0, X.shape[1], per_batch)
    ]
    if compute.kind == "dask":
        with compute.parallel():
            results = Parallel(n_jobs=compute.jobs)(
                delayed(_shuffled_scores)(model, X, y, task, columns, seeds, n_repeats)
                for columns in batches
            )
    else:
        results = [_shuffled_scores(model, X, y, task, c, seeds, n_repeats) for c in batches]
    scores = np.vstack(results)  # one row per column, one value per shuffle
    sign = 1.0 if task.metric.greater_is_better else -1.0
    drops = sign * (reference - scores)
    table = pd.DataFrame(
        {
            "feature": [str(c) for c in X.columns],
            "importance_mean": drops.mean(axis=1),
            "importance_std": drops.std(axis=1),
        }
    )
    return table.sort_values("importance_mean", ascending=False, kind="stable").reset_index(
        drop=True
    )


def _shuffled_scores(
    model: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    task: Task,
    columns: list[int],
    seeds: np.ndarray,
    n_repeats: int,
) -> np.ndarray:
    """The metric on X with column `c` shuffled (its own seed), `n_repeats` times for each c in
    `columns` (positions): all of them from one prediction. Shape (len(columns), n_repeats)."""
    rows = len(X)
    copies = pd.concat([X] * (len(columns) * n_repeats), ignore_index=True)
    for block, column in enumerate(columns):
        rng = np.random.default_rng(seeds[column])
        order = np.concatenate([rng.permutation(rows) for _ in range(n_repeats)])
        values = X.iloc[:, column].take(order).to_numpy()
        start = block * n_repeats * rows
        copies.iloc[start : start + n_repeats * rows, column] = values
    y_pred, y_score = predict_scores(model, copies, task)
    labels = _labels(model, task)
    scores = np.empty(len(columns) * n_repeats)
    for copy in range(len(scores)):  # copies in order: column by column, shuffle by shuffle
        part = slice(copy * rows, (copy + 1) * rows)
        y_score_part = None if y_score is None else y_score[part]
        scores[copy] = metrics_.score(task.metric, y, y_pred[part], y_score_part, labels)
    return scores.reshape(len(columns), n_repeats)


def criteria_results(
    test_metrics: dict[str, float], baseline_metrics: dict[str, float], criteria: dict
) -> list[dict[str, Any]]:
    """The ML success criteria checked on test scores; one record per criterion.

    `criteria` is the success_criteria record (primary_metric, success_threshold,
    min_gain_over_baseline, problem_type). Errors such as rmse pass with op "<=". Each record
    names the params `key` that sets its threshold.
    """
    missing = [
        k for k in ("primary_metric", "success_threshold", "problem_type") if k not in criteria
    ]
    if missing:
        raise EvaluationError(
            f"The success criteria record lacks {', '.join(missing)}; "
            "re-run 00_business_understanding to write it."
        )
    m = metrics_.get_metric(criteria["primary_metric"], criteria["problem_type"])
    for label, values in (("test", test_metrics), ("baseline", baseline_metrics)):
        if m.name not in values:
            raise EvaluationError(
                f"The {label} metrics lack the primary metric {m.name!r} "
                f"(have: {', '.join(values) or 'none'}); it could not be computed on that data."
            )
    op = ">=" if m.greater_is_better else "<="
    value = float(test_metrics[m.name])
    gain = float(criteria.get("min_gain_over_baseline", 0.0))
    baseline = float(baseline_metrics[m.name])
    baseline_threshold = baseline + gain if m.greater_is_better else baseline - gain
    results = []
    for name, threshold, key in (
        (f"{m.name} meets success threshold", float(criteria["success_threshold"]), "threshold"),
        (f"{m.name} beats baseline by min gain ({gain:g})", baseline_threshold, "gain"),
    ):
        passed = value >= threshold - EPS if m.greater_is_better else value <= threshold + EPS
        results.append(
            {
                "name": name,
                "value": value,
                "threshold": threshold,
                "op": op,
                "passed": passed,
                "key": CRITERIA_KEYS[key],
            }
        )
    return results


def _not_comparable(version: Any, reason: str) -> dict[str, Any]:
    return {"status": "not comparable", "version": version, "reason": reason, "metrics": None}


def _listed(values: Any, limit: int = 5) -> str:
    values = [str(v) for v in values]
    more = f" and {len(values) - limit} more" if len(values) > limit else ""
    return ", ".join(values[:limit]) + more


def compare_with_production(
    load: Callable[[], tuple[Any, dict[str, Any]] | None],
    X: pd.DataFrame,
    y: Any,
    *,
    task: Task,
) -> dict[str, Any]:
    """Score the production model from `load()` (e.g. `registry.load_production`) on the test
    split, on the columns it was trained on.

    Returns {status, version, reason, metrics}: status "none" (no production model), "compared"
    (metrics set) or "not comparable" (reason says why: its files cannot be read, the problem
    type, target or classes changed, columns it needs are gone, or scoring it failed).
    """
    try:
        loaded = load()
    except Exception as error:  # noqa: BLE001 - any registry failure only means "not comparable"
        return _not_comparable(
            None, f"its files could not be read ({type(error).__name__}: {error})"
        )
    if loaded is None:
        return {
            "status": "none",
            "version": None,
            "reason": "no production model yet",
            "metrics": None,
        }
    model, metadata = loaded
    metadata = metadata if isinstance(metadata, dict) else {}
    version = metadata.get("version")
    for key, now in (("problem_type", task.problem_type), ("target", task.target)):
        before = metadata.get(key)
        if before and now and before != now:
            return _not_comparable(
                version, f"{key.replace('_', ' ')} changed (production: {before!r}, now: {now!r})"
            )
    classes = getattr(model, "classes_", None)
    if task.classification and classes is not None and task.labels:
        before, now = {str(c) for c in classes}, {str(c) for c in task.labels}
        if before != now:
            return _not_comparable(
                version,
                f"classes changed (production: {_listed(sorted(before))}; "
                f"now: {_listed(sorted(now))})",
            )
    columns = getattr(model, "feature_names_in_", None)
    columns = list(columns) if columns is not None else list(X.columns)
    gone = [c for c in columns if c not in X.columns]
    if gone:
        return _not_comparable(
            version, f"columns it was trained on are not in the test split: {_listed(gone)}"
        )
    try:
        y_pred, y_score = predict_scores(model, X[columns], task)
    except Exception as error:  # noqa: BLE001 - an old model that fails on today's data
        return _not_comparable(
            version, f"scoring it on the test split failed ({type(error).__name__}: {error})"
        )
    value, reason = task.measure(y, y_pred, y_score)
    if value is None:
        return _not_comparable(version, f"its {task.metric.name} is undefined here: {reason}")
    scores = compute_metrics(task, y, y_pred, y_score, labels=_labels(model, task))
    return {"status": "compared", "version": version, "reason": None, "metrics": scores}


def deployment_decision(
    *,
    task: Task,
    challenger_score: float,
    production: dict[str, Any],
    tolerance: float,
    criteria_passed: bool,
) -> dict[str, Any]:
    """The champion/challenger gate: reject, promote or keep the production model.

    Reject when the success criteria fail; promote when there is no comparable production model
    (the success criteria alone decide) or the challenger is at most `tolerance` worse than it;
    keep production otherwise. A challenger score at the metric's ceiling is flagged as
    suspicious (`suspicious`, also in the reason).
    """
    if not tolerance >= 0:
        raise EvaluationError(
            f"evaluation.promotion_tolerance is {tolerance!r}; it must be a number >= 0."
        )
    m = task.metric
    status = production.get("status", "none")
    champion = (production.get("metrics") or {}).get(m.name) if status == "compared" else None
    record: dict[str, Any] = {
        "metric": m.name,
        "challenger": float(challenger_score),
        "champion": None if champion is None else float(champion),
        "champion_version": production.get("version"),
        "production": status,
        "tolerance": float(tolerance),
        "gain": None,
        "suspicious": None,
    }
    if task.at_ceiling(challenger_score):
        record["suspicious"] = (
            f"the test {m.name} ({challenger_score:.4f}) is the best the metric can take: check "
            "for target leakage (a feature that encodes the target) or a test split too small "
            "to tell models apart"
        )
    not_comparable = (
        f"production model not comparable: {production.get('reason')}"
        if status == "not comparable"
        else None
    )
    if not criteria_passed:
        decision = "reject"
        reason = "The challenger fails the success criteria."
    elif champion is None:
        decision = "promote"
        reason = "The challenger meets the success criteria; " + (
            f"{not_comparable}, so it is judged on the success criteria alone."
            if not_comparable
            else "there is no production model yet."
        )
    else:
        gain = task.improvement(challenger_score, champion)
        record["gain"] = gain
        if gain >= -tolerance - EPS:
            decision = "promote"
            reason = (
                f"The challenger's {m.name} ({challenger_score:.4f}) is not worse than production "
                f"({champion:.4f}) beyond the tolerance {tolerance:g}."
            )
        else:
            decision = "keep"
            reason = (
                f"The challenger's {m.name} ({challenger_score:.4f}) is worse than production "
                f"({champion:.4f}) by {-gain:.4f}, more than the tolerance {tolerance:g}."
            )
    if decision == "reject" and not_comparable:
        reason += f" ({not_comparable}.)"
    if record["suspicious"]:
        reason += f" Suspicious: {record['suspicious']}."
    return {"decision": decision, "reason": reason, **record}


def decision_markdown(decision: dict[str, Any]) -> str:
    """The decision for a report, in full (no table cell cuts it)."""
    lines = [f"**Decision: {decision['decision']}.** {decision['reason']}", ""]
    champion = decision.get("champion")
    version = decision.get("champion_version")
    production = {
        "compared": f"{version}, {decision['metric']} {champion:.4f}"
        if champion is not None
        else "",
        "none": "none yet",
        "not comparable": f"{version or 'unreadable'}, not comparable",
    }.get(decision.get("production", "none"), "")
    lines.append(f"- challenger {decision['metric']}: {decision['challenger']:.4f}")
    lines.append(f"- production model: {production}")
    if decision.get("gain") is not None:
        lines.append(
            f"- gain over production: {decision['gain']:+.4f} (tolerance {decision['tolerance']:g})"
        )
    if decision.get("suspicious"):
        lines.append(f"- **suspicious:** {decision['suspicious']}")
    return "\n".join(lines)
