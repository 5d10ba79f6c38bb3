"""Metric registry: one definition per metric (function, direction, sklearn scoring name).

Cross-validation, tuning, test evaluation and permutation importance all score through
`Metric.func` (via `make_scorer`), so a metric means the same thing in every phase, also for
string class labels such as "Yes"/"No". Binary scores are the probability of the larger class
label (scikit-learn's `classes_[1]`); multiclass scores are the class-probability matrix.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

PROBLEM_TYPES = ("classification", "regression")


@dataclass(frozen=True)
class Metric:
    """A metric: its direction, the equivalent sklearn scoring name and how to compute it.

    `func(y_true, y_pred, y_score, labels=None)` returns the metric in its natural units
    (rmse positive). `needs_score` means it uses `y_score` (probabilities), not `y_pred`.
    """

    name: str
    problem_type: str
    greater_is_better: bool
    scorer: str
    needs_score: bool
    func: Callable[..., float]
    description: str = ""


def _labels(y_true: Any, y_pred: Any, labels: Sequence | None) -> np.ndarray:
    if labels is not None:
        return np.asarray(labels)
    values = [np.asarray(y_true)]
    if y_pred is not None:
        values.append(np.asarray(y_pred))
    return np.unique(np.concatenate(values))


def _is_multiclass(labels: np.ndarray, y_score: Any) -> bool:
    if y_score is not None:
        return np.ndim(y_score) == 2
    return len(labels) > 2


def _roc_auc(y_true, y_pred, y_score, labels=None) -> float:
    labels = _labels(y_true, None, labels)
    if _is_multiclass(labels, y_score):
        return float(skm.roc_auc_score(y_true, y_score, multi_class="ovr", labels=labels))
    return float(skm.roc_auc_score(y_true, y_score))


def _average_precision(y_true, y_pred, y_score, labels=None) -> float:
    labels = _labels(y_true, None, labels)
    if _is_multiclass(labels, y_score):
        return float(skm.average_precision_score(y_true, y_score))
    return float(skm.average_precision_score(y_true, y_score, pos_label=labels[-1]))


def _f1(y_true, y_pred, y_score, labels=None) -> float:
    labels = _labels(y_true, y_pred, labels)
    if len(labels) > 2:
        return float(skm.f1_score(y_true, y_pred, average="macro", labels=labels))
    return float(skm.f1_score(y_true, y_pred, pos_label=labels[-1], zero_division=0.0))


def _accuracy(y_true, y_pred, y_score, labels=None) -> float:
    return float(skm.accuracy_score(y_true, y_pred))


def _balanced_accuracy(y_true, y_pred, y_score, labels=None) -> float:
    return float(skm.balanced_accuracy_score(y_true, y_pred))


def _log_loss(y_true, y_pred, y_score, labels=None) -> float:
    labels = _labels(y_true, None, labels)
    return float(skm.log_loss(y_true, y_score, labels=labels))


def _rmse(y_true, y_pred, y_score, labels=None) -> float:
    return float(skm.root_mean_squared_error(y_true, y_pred))


def _mae(y_true, y_pred, y_score, labels=None) -> float:
    return float(skm.mean_absolute_error(y_true, y_pred))


def _r2(y_true, y_pred, y_score, labels=None) -> float:
    return float(skm.r2_score(y_true, y_pred))


_ALL = [
    Metric(
        "roc_auc",
        "classification",
        True,
        "roc_auc",
        True,
        _roc_auc,
        "area under the ROC curve (one-vs-rest for multiclass)",
    ),
    Metric(
        "average_precision",
        "classification",
        True,
        "average_precision",
        True,
        _average_precision,
        "area under the precision-recall curve",
    ),
    Metric(
        "f1",
        "classification",
        True,
        "f1",
        False,
        _f1,
        "F1 of the positive class (macro average for multiclass)",
    ),
    Metric(
        "accuracy",
        "classification",
        True,
        "accuracy",
        False,
        _accuracy,
        "share of correct predictions",
    ),
    Metric(
        "balanced_accuracy",
        "classification",
        True,
        "balanced_accuracy",
        False,
        _balanced_accuracy,
        "mean recall over classes",
    ),
    Metric(
        "log_loss",
        "classification",
        False,
        "neg_log_loss",
        True,
        _log_loss,
        "cross-entropy of the predicted probabilities",
    ),
    Metric(
        "rmse",
        "regression",
        False,
        "neg_root_mean_squared_error",
        False,
        _rmse,
        "root mean squared error, in target units",
    ),
    Metric(
        "mae",
        "regression",
        False,
        "neg_mean_absolute_error",
        False,
        _mae,
        "mean absolute error, in target units",
    ),
    Metric("r2", "regression", True, "r2", False, _r2, "coefficient of determination"),
]

METRICS: dict[str, Metric] = {m.name: m for m in _ALL}


class MetricError(ValueError):
    """A metric name or problem type that the registry does not know."""


def names(problem_type: str) -> list[str]:
    """Names of the metrics defined for `problem_type`."""
    _check_problem_type(problem_type)
    return [m.name for m in _ALL if m.problem_type == problem_type]


def get_metric(name: str, problem_type: str) -> Metric:
    """The metric called `name` for `problem_type`; unknown names raise `MetricError`."""
    allowed = names(problem_type)
    if name not in allowed:
        raise MetricError(
            f"Unknown metric {name!r} for {problem_type}. "
            f"Use one of: {', '.join(allowed)} (e.g. business_understanding.primary_metric)."
        )
    return METRICS[name]


def _check_problem_type(problem_type: str) -> None:
    if problem_type not in PROBLEM_TYPES:
        raise MetricError(
            f"Unknown problem_type {problem_type!r}. "
            f"Set shared.problem_type to one of: {', '.join(PROBLEM_TYPES)}."
        )


def _as_metric(metric: Metric | str) -> Metric:
    if isinstance(metric, Metric):
        return metric
    if metric not in METRICS:
        raise MetricError(f"Unknown metric {metric!r}. Use one of: {', '.join(METRICS)}.")
    return METRICS[metric]


def better(metric: Metric | str, a: float, b: float) -> bool:
    """True when score `a` is strictly better than score `b` for `metric`."""
    return improvement(metric, a, b) > 0


def improvement(metric: Metric | str, new: float, old: float) -> float:
    """How much better `new` is than `old`, in metric units (negative = worse)."""
    m = _as_metric(metric)
    return float(new - old) if m.greater_is_better else float(old - new)


def sort_ascending(metric: Metric | str) -> bool:
    """Sort order that puts the best score first."""
    return not _as_metric(metric).greater_is_better


def score(
    metric: Metric | str,
    y_true: Any,
    y_pred: Any,
    y_score: Any = None,
    labels: Sequence | None = None,
) -> float:
    """`metric` on one set of predictions; NaN when it is undefined (e.g. a single class)."""
    m = _as_metric(metric)
    if m.needs_score and y_score is None:
        return float("nan")
    with warnings.catch_warnings():
        # Undefined cases (one class in a slice, one sample) are reported as NaN instead.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return m.func(y_true, y_pred, y_score, labels=labels)
        except ValueError:
            return float("nan")


def positive_scores(proba: np.ndarray) -> np.ndarray:
    """Binary probabilities -> the positive-class column; multiclass stays a matrix."""
    proba = np.asarray(proba)
    return proba[:, 1] if proba.ndim == 2 and proba.shape[1] == 2 else proba


def make_scorer(metric: Metric | str) -> Callable[[Any, Any, Any], float]:
    """A scikit-learn scorer `(estimator, X, y) -> float` for `metric`, greater is better.

    Errors are negated (like sklearn's `neg_*` scorers); multiply by -1 for metric units.
    """
    m = _as_metric(metric)
    sign = 1.0 if m.greater_is_better else -1.0

    def scorer(estimator: Any, X: Any, y: Any) -> float:
        labels = getattr(estimator, "classes_", None)
        if m.needs_score:
            y_score = positive_scores(estimator.predict_proba(X))
            return sign * m.func(y, None, y_score, labels=labels)
        return sign * m.func(y, estimator.predict(X), None, labels=labels)

    scorer.__name__ = f"{m.name}_scorer"
    return scorer


def to_metric_units(metric: Metric | str, scorer_values: Any) -> Any:
    """Scorer values (greater is better) back to metric units (rmse positive)."""
    return scorer_values if _as_metric(metric).greater_is_better else -1.0 * scorer_values
