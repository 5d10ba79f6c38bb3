"""Metric registry and the task (problem type, primary metric, class labels) phases 03-04 share.

Cross-validation, tuning, test evaluation and permutation importance all score through
`Metric.func` (via `make_scorer`), so a metric means the same thing in every phase, also for
text, boolean or integer class labels. Binary scores are the probability of the larger class
label (scikit-learn's `classes_[1]`); multiclass scores are the class-probability matrix, and
the probability-based metrics become one-vs-rest macro averages.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.preprocessing import label_binarize

PROBLEM_TYPES = ("classification", "regression")


@dataclass(frozen=True)
class Metric:
    """A metric: its direction, range, how to compute it.

    `func(y_true, y_pred, y_score, labels=None)` returns the metric in its natural units
    (rmse positive). `needs_score` means it uses `y_score` (probabilities), not `y_pred`.
    `low`/`high` bound its values; the best one (`best`) is its ceiling.
    """

    name: str
    problem_type: str
    greater_is_better: bool
    needs_score: bool
    func: Callable[..., float]
    description: str = ""
    low: float = 0.0
    high: float = 1.0
    needs_every_class: bool = False  # one-vs-rest metrics: undefined when a class is absent

    @property
    def best(self) -> float:
        """The best value the metric can take (1 for a score, 0 for an error)."""
        return self.high if self.greater_is_better else self.low


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
    return float(skm.roc_auc_score(np.asarray(y_true) == labels[-1], y_score))


def _average_precision(y_true, y_pred, y_score, labels=None) -> float:
    labels = _labels(y_true, None, labels)
    if _is_multiclass(labels, y_score):
        indicator = label_binarize(y_true, classes=labels)
        return float(skm.average_precision_score(indicator, y_score, average="macro"))
    return float(skm.average_precision_score(np.asarray(y_true) == labels[-1], y_score))


def _present(y_true: Any, y_pred: Any) -> np.ndarray:
    """Classes seen in the true or predicted labels (macro averages skip classes absent in both,
    which a slice of the data often lacks)."""
    return np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)]))


def _f1(y_true, y_pred, y_score, labels=None) -> float:
    labels = _labels(y_true, y_pred, labels)
    if len(labels) > 2:
        return _f1_macro(y_true, y_pred, y_score, labels)
    return float(skm.f1_score(y_true, y_pred, pos_label=labels[-1], zero_division=np.nan))


def _f1_macro(y_true, y_pred, y_score, labels=None) -> float:
    present = _present(y_true, y_pred)
    return float(skm.f1_score(y_true, y_pred, average="macro", labels=present, zero_division=0))


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


_INF = math.inf
_ALL = [
    Metric(
        "roc_auc",
        "classification",
        True,
        True,
        _roc_auc,
        "area under the ROC curve (one-vs-rest macro average for multiclass)",
        needs_every_class=True,
    ),
    Metric(
        "average_precision",
        "classification",
        True,
        True,
        _average_precision,
        "area under the precision-recall curve (one-vs-rest macro average for multiclass)",
        needs_every_class=True,
    ),
    Metric(
        "f1",
        "classification",
        True,
        False,
        _f1,
        "F1 of the positive (larger) class label; macro average for multiclass",
    ),
    Metric("f1_macro", "classification", True, False, _f1_macro, "F1 averaged over the classes"),
    Metric("accuracy", "classification", True, False, _accuracy, "share of correct predictions"),
    Metric(
        "balanced_accuracy",
        "classification",
        True,
        False,
        _balanced_accuracy,
        "recall averaged over the classes",
    ),
    Metric(
        "log_loss",
        "classification",
        False,
        True,
        _log_loss,
        "cross-entropy of the predicted probabilities",
        high=_INF,
    ),
    Metric(
        "rmse",
        "regression",
        False,
        False,
        _rmse,
        "root mean squared error, in target units",
        high=_INF,
    ),
    Metric(
        "mae", "regression", False, False, _mae, "mean absolute error, in target units", high=_INF
    ),
    Metric("r2", "regression", True, False, _r2, "coefficient of determination", low=-_INF),
]

METRICS: dict[str, Metric] = {m.name: m for m in _ALL}


class MetricError(ValueError):
    """A metric name, problem type or target that the task cannot work with."""


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
            f"Set business_understanding.primary_metric to one of: {', '.join(allowed)}."
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


def _show(label: Any) -> str:
    return repr(as_python(label))


def undefined_reason(
    metric: Metric | str,
    y_true: Any,
    y_pred: Any,
    y_score: Any = None,
    labels: Sequence | None = None,
) -> str | None:
    """Why `metric` cannot be computed on these predictions, or None when it can."""
    m = _as_metric(metric)
    n = len(y_true)
    if n == 0:
        return "no rows"
    if m.needs_score and y_score is None:
        return "needs predicted probabilities; the model gives none"
    if m.problem_type == "regression":
        return "fewer than two rows" if m.name == "r2" and n < 2 else None
    present = np.unique(np.asarray(y_true))
    if m.needs_every_class:
        known = _labels(y_true, None, labels)
        if len(present) < 2:
            return f"only one class ({_show(present[0])}) among these {n} rows"
        absent = [label for label in known if label not in set(present)]
        if absent and len(known) > 2:
            shown = ", ".join(_show(a) for a in absent)
            return f"class {shown} absent from these {n} rows (one-vs-rest needs every class)"
    if m.name == "f1" and len(_labels(y_true, y_pred, labels)) <= 2:
        positive = _labels(y_true, y_pred, labels)[-1]
        if positive not in set(present) and positive not in set(np.asarray(y_pred)):
            return f"no row is, or is predicted as, the positive class {_show(positive)}"
    return None


def measure(
    metric: Metric | str,
    y_true: Any,
    y_pred: Any,
    y_score: Any = None,
    labels: Sequence | None = None,
) -> tuple[float | None, str | None]:
    """(value, None) when `metric` is defined on these predictions, else (None, reason)."""
    m = _as_metric(metric)
    reason = undefined_reason(m, y_true, y_pred, y_score, labels)
    if reason:
        return None, reason
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true")
        try:
            value = m.func(y_true, y_pred, y_score, labels=labels)
        except ValueError as error:
            return None, str(error).split("\n")[0]
    if not math.isfinite(value):
        return None, "undefined on these rows"
    return value, None


def score(
    metric: Metric | str,
    y_true: Any,
    y_pred: Any,
    y_score: Any = None,
    labels: Sequence | None = None,
) -> float:
    """`metric` on one set of predictions; NaN when it is undefined (see `measure` for why)."""
    value, _ = measure(metric, y_true, y_pred, y_score, labels)
    return float("nan") if value is None else value


def positive_scores(proba: np.ndarray) -> np.ndarray:
    """Binary probabilities -> the positive-class column; multiclass stays a matrix."""
    proba = np.asarray(proba)
    return proba[:, 1] if proba.ndim == 2 and proba.shape[1] == 2 else proba


def make_scorer(metric: Metric | str) -> Callable[[Any, Any, Any], float]:
    """A scikit-learn scorer `(estimator, X, y) -> float`, greater is better.

    Errors are negated (like sklearn's `neg_*` scorers); multiply by -1 for metric units.
    An undefined value is NaN.
    """
    m = _as_metric(metric)
    sign = 1.0 if m.greater_is_better else -1.0

    def scorer(estimator: Any, X: Any, y: Any) -> float:
        labels = getattr(estimator, "classes_", None)
        if m.needs_score:
            y_score = positive_scores(estimator.predict_proba(X))
            return sign * score(m, y, None, y_score, labels=labels)
        return sign * score(m, y, estimator.predict(X), None, labels=labels)

    scorer.__name__ = f"{m.name}_scorer"
    return scorer


def to_metric_units(metric: Metric | str, scorer_values: Any) -> Any:
    """Scorer values (greater is better) back to metric units (rmse positive)."""
    return scorer_values if _as_metric(metric).greater_is_better else -1.0 * scorer_values


def as_python(value: Any) -> Any:
    """A numpy scalar as the plain Python value (labels in messages and JSON)."""
    return value.item() if isinstance(value, np.generic) else value


def class_labels(y: Any, target: str = "the target") -> tuple[Any, ...]:
    """Sorted class labels of `y` (scikit-learn's `classes_` order), missing values left out."""
    values = pd.Series(y).dropna()
    try:
        labels = np.unique(values.to_numpy())
    except TypeError as error:
        kinds = sorted({type(v).__name__ for v in values})
        raise MetricError(
            f"{target} mixes value types ({', '.join(kinds)}); give it one type of class label "
            "(text, whole numbers or booleans)."
        ) from error
    return tuple(as_python(v) for v in labels)


@dataclass(frozen=True)
class Task:
    """What phases 03-04 optimise and judge: problem type, primary metric, target, class labels.

    Build it once per notebook with `Task.create(...)` and pass it around.
    """

    problem_type: str
    metric: Metric
    target: str = ""
    labels: tuple[Any, ...] = field(default=())

    @classmethod
    def create(
        cls,
        *,
        problem_type: str,
        metric: str | Metric,
        target: str = "",
        y: Any = None,
    ) -> Task:
        """The task, checked: a metric of the problem type; with `y`, the class labels (at least
        two) or a numeric target for regression."""
        _check_problem_type(problem_type)
        m = get_metric(metric.name if isinstance(metric, Metric) else metric, problem_type)
        labels: tuple[Any, ...] = ()
        name = f"target {target!r}" if target else "the target"
        if y is not None and problem_type == "classification":
            labels = class_labels(y, name)
            if len(labels) < 2:
                raise MetricError(
                    f"{name} has {len(labels)} class{'es' if len(labels) != 1 else ''} "
                    f"({', '.join(map(repr, labels)) or 'none'}); classification needs at least "
                    "two: check shared.target and the data."
                )
        elif y is not None:
            series = pd.Series(y)
            if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
                examples = ", ".join(repr(v) for v in series.dropna().unique()[:3])
                raise MetricError(
                    f"{name} is not numeric (values such as {examples}); regression needs a "
                    "number: set shared.problem_type to classification or pick another target."
                )
        return cls(problem_type, m, target, labels)

    @property
    def classification(self) -> bool:
        return self.problem_type == "classification"

    @property
    def multiclass(self) -> bool:
        return len(self.labels) > 2

    @property
    def positive_label(self) -> Any:
        """The class binary scores are the probability of (the larger label), else None."""
        return self.labels[-1] if len(self.labels) == 2 else None

    def measure(
        self, y_true: Any, y_pred: Any, y_score: Any = None, metric: Metric | str | None = None
    ) -> tuple[float | None, str | None]:
        """(value, None) or (None, reason) of the primary metric (or `metric`)."""
        return measure(metric or self.metric, y_true, y_pred, y_score, self.labels or None)

    def improvement(self, new: float, old: float) -> float:
        """How much better `new` is than `old` in the primary metric (negative = worse)."""
        return improvement(self.metric, new, old)

    def at_ceiling(self, value: float | None) -> bool:
        """True when `value` is the best the primary metric can take (perfect: suspicious)."""
        return value is not None and abs(value - self.metric.best) <= 1e-9

    def describe(self) -> str:
        """One line for a report."""
        direction = "higher" if self.metric.greater_is_better else "lower"
        text = f"{self.problem_type} of {self.target or 'the target'}; primary metric "
        text += f"{self.metric.name} ({direction} is better: {self.metric.description})"
        if self.labels:
            kind = "multiclass" if self.multiclass else "binary"
            shown = ", ".join(map(repr, self.labels[:10]))
            more = f" and {len(self.labels) - 10} more" if len(self.labels) > 10 else ""
            text += f"; {kind}, {len(self.labels)} classes: {shown}{more}"
        if self.positive_label is not None:
            text += f" (positive class {self.positive_label!r})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly record (problem_type, metric, target, classes)."""
        return {
            "problem_type": self.problem_type,
            "metric": self.metric.name,
            "target": self.target,
            "classes": list(self.labels),
        }
