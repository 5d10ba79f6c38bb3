"""Held-out evaluation: metrics, slices, robustness, importance, criteria, deployment gate."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

from . import metrics as metrics_
from .modelling import single_threaded

MISSING_SLICE = "(missing)"
# Float rounding must not decide a gate: 0.805 - 0.005 is not "worse than" 0.8.
EPS = 1e-9
MAX_SLICE_VALUES = 10  # numeric slice columns with more distinct values are cut into quartiles


class EvaluationError(ValueError):
    """Invalid evaluation input (unknown column, missing metric, bad parameter)."""


def predict_scores(model: Any, X: pd.DataFrame, problem_type: str) -> tuple[np.ndarray, Any]:
    """Predictions and scores: positive-class probability (binary), probability matrix
    (multiclass) or None (regression, or a classifier without `predict_proba`)."""
    with single_threaded():
        y_pred = np.asarray(model.predict(X))
        if problem_type == "classification" and hasattr(model, "predict_proba"):
            return y_pred, metrics_.positive_scores(model.predict_proba(X))
    return y_pred, None


def model_output(model: Any, X: pd.DataFrame, problem_type: str) -> np.ndarray:
    """What the model hands downstream, for prediction-drift monitoring: probabilities
    (positive class, or a matrix for multiclass) for classifiers, predictions otherwise."""
    y_pred, y_score = predict_scores(model, X, problem_type)
    return y_score if y_score is not None else y_pred


def compute_metrics(
    problem_type: str,
    y_true: Any,
    y_pred: Any,
    y_score: Any = None,
    labels: Any = None,
) -> dict[str, float]:
    """Every metric of `problem_type` that is defined for these predictions."""
    results = {}
    for name in metrics_.names(problem_type):
        value = metrics_.score(name, y_true, y_pred, y_score, labels=labels)
        if not math.isnan(value):
            results[name] = value
    return results


def evaluate(model: Any, X: pd.DataFrame, y: Any, problem_type: str) -> dict[str, float]:
    """All metrics of `model` on `X`, `y`."""
    y_pred, y_score = predict_scores(model, X, problem_type)
    return compute_metrics(
        problem_type, y, y_pred, y_score, labels=getattr(model, "classes_", None)
    )


def _slice_values(column: pd.Series) -> pd.Series:
    """Slice labels: numeric columns with many values become quartile intervals."""
    if pd.api.types.is_numeric_dtype(column) and column.nunique() > MAX_SLICE_VALUES:
        column = pd.qcut(column, q=4, duplicates="drop")
    return column.astype("string").fillna(MISSING_SLICE)


def per_slice_metrics(
    model: Any,
    X: pd.DataFrame,
    y: Any,
    slice_column: str,
    problem_type: str,
    metric: str,
) -> pd.DataFrame:
    """One row per value of `slice_column`: slice, n, share, `metric` (NaN when undefined)."""
    if slice_column not in X.columns:
        raise EvaluationError(
            f"Slice column {slice_column!r} is not in the data. "
            f"Set evaluation.slice_column to one of: {', '.join(map(str, X.columns))}."
        )
    m = metrics_.get_metric(metric, problem_type)
    y_true = np.asarray(y)
    y_pred, y_score = predict_scores(model, X, problem_type)
    labels = getattr(model, "classes_", None)
    slices = _slice_values(X[slice_column]).to_numpy()

    rows = []
    for value in pd.unique(slices):
        mask = slices == value
        score = y_score[mask] if y_score is not None else None
        rows.append(
            {
                "slice": str(value),
                "n": int(mask.sum()),
                "share": float(mask.mean()),
                m.name: metrics_.score(m, y_true[mask], y_pred[mask], score, labels=labels),
            }
        )
    return pd.DataFrame(rows).sort_values("n", ascending=False).reset_index(drop=True)


def numeric_columns(X: pd.DataFrame) -> list[str]:
    """Numeric, non-boolean columns (those that noise can perturb)."""
    return [
        c
        for c in X.columns
        if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])
    ]


def robustness(
    model: Any,
    X: pd.DataFrame,
    y: Any,
    problem_type: str,
    metric: str,
    noise_level: float,
    seed: int,
) -> dict[str, Any]:
    """Score on `X` and on `X` with Gaussian noise (noise_level x column std) on numeric columns.

    Returns clean, noisy and drop (positive = worse under noise, in metric units).
    """
    if not noise_level >= 0:
        raise EvaluationError(
            f"evaluation.noise_level is {noise_level!r}; it must be a number >= 0."
        )
    m = metrics_.get_metric(metric, problem_type)
    rng = np.random.default_rng(seed)
    columns = numeric_columns(X)
    noisy = X.copy()
    for column in columns:
        values = noisy[column].astype(float)
        std = float(values.std()) if values.notna().sum() > 1 else 0.0
        noisy[column] = values + rng.normal(0.0, noise_level * std, size=len(values))

    clean_score = _score(model, X, y, problem_type, m)
    noisy_score = _score(model, noisy, y, problem_type, m)
    return {
        "clean": clean_score,
        "noisy": noisy_score,
        "drop": metrics_.improvement(m, clean_score, noisy_score),
    }


def _score(model: Any, X: pd.DataFrame, y: Any, problem_type: str, m: metrics_.Metric) -> float:
    y_pred, y_score = predict_scores(model, X, problem_type)
    return metrics_.score(m, y, y_pred, y_score, labels=getattr(model, "classes_", None))


def importance_table(
    model: Any,
    X: pd.DataFrame,
    y: Any,
    metric: str,
    problem_type: str,
    seed: int,
    n_repeats: int = 5,
) -> pd.DataFrame:
    """Permutation importance of each raw input column: how much `metric` worsens when the
    column is shuffled (metric units, larger = more important); sorted, most important first."""
    m = metrics_.get_metric(metric, problem_type)
    with single_threaded():
        result = permutation_importance(
            model, X, y, scoring=metrics_.make_scorer(m), n_repeats=n_repeats, random_state=seed
        )
    table = pd.DataFrame(
        {
            "feature": [str(c) for c in X.columns],
            "importance_mean": result["importances_mean"],
            "importance_std": result["importances_std"],
        }
    )
    return table.sort_values("importance_mean", ascending=False).reset_index(drop=True)


def criteria_results(
    test_metrics: dict[str, float], baseline_metrics: dict[str, float], criteria: dict
) -> list[dict[str, Any]]:
    """The ML success criteria checked on test scores; one record per criterion.

    `criteria` is the success_criteria record (primary_metric, success_threshold,
    min_gain_over_baseline, problem_type). Errors such as rmse pass with op "<=".
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
    for name, threshold in (
        (f"{m.name} meets success threshold", float(criteria["success_threshold"])),
        (f"{m.name} beats baseline by min gain ({gain:g})", baseline_threshold),
    ):
        passed = value >= threshold - EPS if m.greater_is_better else value <= threshold + EPS
        results.append(
            {"name": name, "value": value, "threshold": threshold, "op": op, "passed": passed}
        )
    return results


def deployment_decision(
    challenger_score: float,
    champion_score: float | None,
    metric: str,
    problem_type: str,
    tolerance: float,
    criteria_passed: bool,
) -> dict[str, Any]:
    """The champion/challenger gate: reject, promote or keep the production model.

    Reject when the success criteria fail; promote when there is no champion or the challenger
    is at most `tolerance` worse than it; keep the champion otherwise.
    """
    if not tolerance >= 0:
        raise EvaluationError(
            f"evaluation.promotion_tolerance is {tolerance!r}; it must be a number >= 0."
        )
    m = metrics_.get_metric(metric, problem_type)
    record: dict[str, Any] = {
        "metric": m.name,
        "challenger": float(challenger_score),
        "champion": None if champion_score is None else float(champion_score),
        "tolerance": float(tolerance),
        "gain": None,
    }
    if not criteria_passed:
        return {
            "decision": "reject",
            "reason": "The challenger fails the success criteria.",
            **record,
        }
    if champion_score is None:
        return {"decision": "promote", "reason": "No production model yet.", **record}
    gain = metrics_.improvement(m, challenger_score, champion_score)
    record["gain"] = gain
    if gain >= -tolerance - EPS:
        reason = (
            f"The challenger's {m.name} ({challenger_score:.4f}) is not worse than production "
            f"({champion_score:.4f}) beyond the tolerance {tolerance:g}."
        )
        return {"decision": "promote", "reason": reason, **record}
    reason = (
        f"The challenger's {m.name} ({challenger_score:.4f}) is worse than production "
        f"({champion_score:.4f}) by {-gain:.4f}, more than the tolerance {tolerance:g}."
    )
    return {"decision": "keep", "reason": reason, **record}
