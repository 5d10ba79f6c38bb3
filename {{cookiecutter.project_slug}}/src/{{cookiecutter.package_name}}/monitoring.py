"""Data and prediction drift: PSI, KS and chi-squared tests, drift table, predicted class mix,
performance on the labelled rows of current data, retrain recommendation."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from . import metrics as metrics_

EPSILON = 1e-4  # share given to empty bins so PSI stays finite
MISSING = "(missing)"
CLASS_MIX_NOTE = 0.10  # a predicted class share changing by this much is mentioned
MAX_DRIFT_CATEGORIES = 20  # categories with a bin of their own in drift of many-valued text
OTHER = "(other)"
# Most training rows the production model scores as the reference of prediction drift (a seeded
# sample beyond: the distribution of its outputs needs no more, scoring millions takes minutes).
REFERENCE_PREDICTION_ROWS = 50_000


class MonitoringError(ValueError):
    """Invalid monitoring input (thresholds, kinds, empty data)."""


def _numeric(values: pd.Series) -> pd.Series:
    return pd.to_numeric(pd.Series(values), errors="coerce").astype(float)


def _shares(counts: Any) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    shares = counts / total if total else np.zeros(len(counts))
    return np.clip(shares, EPSILON, None)


def _numeric_bins(reference: pd.Series, current: pd.Series, bins: int) -> tuple[np.ndarray, ...]:
    """Counts of both samples in quantile bins of the reference, plus a last bin for missing."""
    ref, cur = _numeric(reference).to_numpy(), _numeric(current).to_numpy()
    observed = ref[~np.isnan(ref)]
    # Inner edges only: the outer bins are open, so values beyond the reference range count.
    inner = (
        np.unique(np.quantile(observed, np.linspace(0, 1, bins + 1)[1:-1]))
        if len(observed)
        else np.array([])
    )

    def counts(values: np.ndarray) -> np.ndarray:
        present = values[~np.isnan(values)]
        binned = np.bincount(np.searchsorted(inner, present), minlength=len(inner) + 1)
        return np.append(binned, len(values) - len(present))

    return counts(ref), counts(cur)


def _keys(values: pd.Series) -> pd.Series:
    """Categories as comparable text (1, 1.0 and "1" alike, as in the schema), missing as one."""
    from .schema import keys

    return keys(values).astype("string").fillna(MISSING)


def _category_bins(reference: pd.Series, current: pd.Series) -> tuple[pd.Series, ...]:
    """Counts per category over the union of both samples, missing as its own category. With more
    than MAX_DRIFT_CATEGORIES reference categories (many-valued text), the most frequent ones keep
    their own bin and the rest, unseen values included, share OTHER."""
    ref, cur = _keys(reference), _keys(current)
    frequent = ref.value_counts()
    if len(frequent) > MAX_DRIFT_CATEGORIES:
        kept = set(frequent.index[:MAX_DRIFT_CATEGORIES]) | {MISSING}
        ref, cur = ref.where(ref.isin(kept), OTHER), cur.where(cur.isin(kept), OTHER)
    categories = sorted(set(ref.unique()) | set(cur.unique()))
    return (
        ref.value_counts().reindex(categories, fill_value=0),
        cur.value_counts().reindex(categories, fill_value=0),
    )


def _timestamps(values: pd.Series) -> pd.Series:
    """Dates (datetime values or date text) as seconds since 1970, missing when no date."""
    with warnings.catch_warnings():  # "could not infer format": each value is parsed alone
        warnings.simplefilter("ignore", UserWarning)
        parsed = pd.to_datetime(pd.Series(values), errors="coerce", utc=True)
    return (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds()


def psi(reference: pd.Series, current: pd.Series, kind: str, bins: int = 10) -> float:
    """Population stability index of `current` against `reference`.

    kind "numeric": quantile bins of the reference; "categorical": category shares, unseen
    categories included. Missing values form their own bin. 0 = same distribution.
    """
    if len(reference) == 0 or len(current) == 0:
        raise MonitoringError("PSI needs a non-empty reference and current sample.")
    if kind == "numeric":
        ref_counts, cur_counts = _numeric_bins(reference, current, bins)
    elif kind == "categorical":
        ref_counts, cur_counts = _category_bins(reference, current)
    else:
        raise MonitoringError(f"Unknown feature kind {kind!r}; use 'numeric' or 'categorical'.")
    ref_share, cur_share = _shares(ref_counts), _shares(cur_counts)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def ks_test(reference: pd.Series, current: pd.Series) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov test on the non-missing numeric values: (statistic, p)."""
    ref = _numeric(reference).dropna()
    cur = _numeric(current).dropna()
    if ref.empty or cur.empty:
        return 0.0, 1.0
    result = stats.ks_2samp(ref, cur)
    return float(result.statistic), float(result.pvalue)


def chi2_test(reference: pd.Series, current: pd.Series) -> tuple[float, float]:
    """Chi-squared test of homogeneity on category counts: (statistic, p).

    Fewer than two categories or an empty sample give (0.0, 1.0).
    """
    ref_counts, cur_counts = _category_bins(reference, current)
    table = np.vstack([ref_counts.to_numpy(), cur_counts.to_numpy()])
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def psi_band(value: float, psi_warning: float, psi_alert: float) -> str:
    """'none' below the warning level, 'moderate' up to the alert level, then 'significant'."""
    if math.isnan(value) or value < psi_warning:
        return "none"
    return "moderate" if value < psi_alert else "significant"


def _check_thresholds(psi_warning: float, psi_alert: float, p_value: float | None = None) -> None:
    if not 0 < psi_warning <= psi_alert:
        raise MonitoringError(
            f"monitoring.psi_warning={psi_warning!r} and psi_alert={psi_alert!r} must satisfy "
            "0 < psi_warning <= psi_alert (e.g. 0.10 and 0.25)."
        )
    if p_value is not None and not 0 < p_value < 1:
        raise MonitoringError(
            f"monitoring.p_value={p_value!r} must be between 0 and 1 (e.g. 0.01)."
        )


def _type_issue(reference: pd.Series, current: pd.Series, kind: str) -> str:
    """A short description of a type problem in `current`, or "" when there is none."""
    if kind == "numeric" and not pd.api.types.is_numeric_dtype(current):
        converted = pd.to_numeric(current, errors="coerce")
        bad = int((converted.isna() & current.notna()).sum())
        if bad:
            return f"{bad} non-numeric values (dtype {current.dtype})"
        return f"numbers stored as {current.dtype}"
    if pd.api.types.is_numeric_dtype(reference) != pd.api.types.is_numeric_dtype(current):
        return f"dtype changed from {reference.dtype} to {current.dtype}"
    return ""


def drift_table(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    schema: dict,
    psi_warning: float,
    psi_alert: float,
    p_value: float,
) -> pd.DataFrame:
    """Drift of each schema feature from `reference` (training data) to `current`.

    Columns: feature, kind, psi, psi_band, test, statistic, p_value, significant (p < p_value),
    drifted, missing_reference, missing_current, type_issue. A feature drifts when its test is
    significant (p < p_value: not sampling noise) and its PSI is at least psi_warning (large enough
    to matter). PSI alone is not enough: on small samples (a few hundred rows) it exceeds psi_alert
    by chance. Sorted by psi, largest first.
    """
    _check_thresholds(psi_warning, psi_alert, p_value)
    features = schema.get("features", {})
    absent = [f for f in features if f not in reference.columns]
    if absent:
        raise MonitoringError(
            f"The reference data lacks schema features {', '.join(absent)}; "
            "use the training split as reference."
        )
    if current.empty:
        raise MonitoringError("The current data has no rows; check monitoring.current_data_path.")

    from .schema import feature_encoding

    rows = []
    for feature, spec in features.items():
        # Dates are compared as points in time; newer data is newer by nature, so a date feature
        # is reported but never counted as drifted.
        dated = feature_encoding(spec) == "datetime"
        kind = "datetime" if dated else spec["kind"]
        ref = _timestamps(reference[feature]) if dated else reference[feature]
        row: dict[str, Any] = {
            "feature": feature,
            "kind": kind,
            "psi": float("nan"),
            "psi_band": "none",
            "test": "chi2" if kind == "categorical" else "ks",
            "statistic": float("nan"),
            "p_value": float("nan"),
            "significant": False,
            "drifted": False,
            "missing_reference": float(ref.isna().mean()),
            "missing_current": float("nan"),
            "type_issue": "",
        }
        if feature not in current.columns:
            row["type_issue"] = "column missing in current data"
            rows.append(row)
            continue
        cur = _timestamps(current[feature]) if dated else current[feature]
        test = chi2_test if kind == "categorical" else ks_test
        statistic, p = test(ref, cur)
        value = psi(ref, cur, "categorical" if kind == "categorical" else "numeric")
        row.update(
            psi=value,
            psi_band=psi_band(value, psi_warning, psi_alert),
            statistic=statistic,
            p_value=p,
            significant=bool(p < p_value),
            drifted=bool(p < p_value and value >= psi_warning and not dated),
            missing_current=float(cur.isna().mean()),
            type_issue="" if dated else _type_issue(ref, cur, kind),
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.sort_values("psi", ascending=False, na_position="first").reset_index(drop=True)


def prediction_drift(
    reference_scores: Any,
    current_scores: Any,
    psi_warning: float,
    psi_alert: float,
    p_value: float = 0.01,
) -> dict[str, Any]:
    """PSI and a test (KS for numbers, chi-squared for class labels) of the model's outputs.

    A probability matrix (multiclass) is reduced to the top-class probability. `drifted` means
    the test is significant (p < p_value) and psi >= psi_warning, as for features.
    """
    _check_thresholds(psi_warning, psi_alert)

    def flat(scores: Any) -> pd.Series:
        array = np.asarray(scores)
        return pd.Series(array.max(axis=1) if array.ndim == 2 else array)

    ref, cur = flat(reference_scores), flat(current_scores)
    numeric = pd.api.types.is_numeric_dtype(ref) and not pd.api.types.is_bool_dtype(ref)
    kind = "numeric" if numeric else "categorical"
    value = psi(ref, cur, kind)
    statistic, p = ks_test(ref, cur) if numeric else chi2_test(ref, cur)
    return {
        "psi": value,
        "psi_band": psi_band(value, psi_warning, psi_alert),
        "test": "ks" if numeric else "chi2",
        "statistic": statistic,
        "p_value": p,
        "drifted": bool(p < p_value and value >= psi_warning),
    }


def performance_drop(performance: dict[str, Any]) -> float:
    """Metric units lost since the reference (positive = worse): `drop`, or computed from
    `metric`, `reference` and `current`."""
    if "drop" in performance:
        return float(performance["drop"])
    try:
        return metrics_.improvement(
            performance["metric"], performance["reference"], performance["current"]
        )
    except KeyError as missing:
        raise MonitoringError(
            f"The performance record lacks {missing}; give 'drop' or "
            "'metric', 'reference' and 'current'."
        ) from None


def recommendation(
    table: pd.DataFrame,
    max_drifted_share: float,
    performance: dict[str, Any] | None = None,
    performance_drop_alert: float | None = None,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """Overall status from a drift table (and, when labels exist, performance).

    alert: drifted share above `max_drifted_share`, type issues, or a performance drop of at
    least `performance_drop_alert`; warning: some drift or moderate PSI; ok otherwise. Without
    `performance_drop_alert` the performance change is reported in `reasons` only.
    Retraining is recommended on drift or performance alerts (type issues need a data fix).
    `performance`: {"metric", "reference", "current"} or {"drop"}; one with status "skipped"
    (see `current_performance`) only adds its reason. `notes` (e.g. of `model_report`) are added
    to the reasons.
    """
    if not 0 <= max_drifted_share <= 1:
        raise MonitoringError(
            f"monitoring.max_drifted_share={max_drifted_share!r} must be between 0 and 1."
        )
    n = len(table)
    drifted = table.loc[table["drifted"], "feature"].tolist() if n else []
    share = len(drifted) / n if n else 0.0
    type_issues = table.loc[table["type_issue"] != "", ["feature", "type_issue"]] if n else None
    # A moderate PSI is worth a warning only when the test says it is no sampling noise.
    noticed = table["psi_band"] != "none"
    if "significant" in table.columns:
        noticed &= table["significant"].astype(bool)
    moderate = table.loc[noticed, "feature"].tolist() if n else []

    alerts: list[str] = []
    warnings_: list[str] = []
    retrain = False
    if share > max_drifted_share:
        alerts.append(
            f"{len(drifted)} of {n} features drifted ({share:.0%} > {max_drifted_share:.0%}): "
            f"{', '.join(drifted)}."
        )
        retrain = True
    elif drifted:
        warnings_.append(f"Drift in {', '.join(drifted)} ({share:.0%} of features).")
    if type_issues is not None and len(type_issues):
        alerts.extend(
            f"{r.feature}: {r.type_issue}; fix the data feed." for r in type_issues.itertuples()
        )
    undrifted_moderate = [f for f in moderate if f not in drifted]
    if undrifted_moderate:
        warnings_.append(f"Moderate PSI in {', '.join(undrifted_moderate)}.")
    notes = list(notes)
    if performance is not None and performance.get("status") == "skipped":
        notes.append(f"Performance not computed: {performance.get('reason')}.")
    elif (
        performance is not None
        and "drop" not in performance
        and performance.get("reference") is None
    ):
        notes.append(
            f"Performance: {performance.get('metric')} {performance.get('current'):.4f} on the "
            "labelled current rows (no reference score to compare with)."
        )
    elif performance is not None:
        drop = performance_drop(performance)
        limit = performance_drop_alert
        if limit is not None and drop >= limit:
            alerts.append(f"Performance dropped by {drop:.4f} (alert at {limit:g}).")
            retrain = True
        else:
            # Without a threshold a small change is sampling noise: report it, do not warn.
            shown = "dropped" if drop > 0 else "did not drop"
            notes.append(f"Performance {shown} (change {-drop:+.4f} in metric units).")

    status = "alert" if alerts else "warning" if warnings_ else "ok"
    summary = alerts + warnings_ or ["No drift beyond the thresholds."]
    return {
        "status": status,
        "drifted_share": share,
        "drifted_features": drifted,
        "retrain": retrain,
        "reasons": summary + notes,
    }


# ---------------------------------------------------------------- current data and the model


def load_current(
    current_data_path: str,
    data_path: str,
    *,
    problem_type: str,
    demo_rows: int,
    seed: int,
    shift: float,
) -> tuple[pd.DataFrame, str]:
    """(current sample, where it comes from in words) for phase 06.

    `current_data_path` set: that file. Else, with the user's own data (`data_path` set): the
    held-out test split, which the model never saw; set monitoring.current_data_path to watch new
    data. Else (the demo): a fresh demo sample, shifted by `shift`.
    """
    from . import artifacts, data, paths

    if current_data_path:
        return data.read_table(paths.resolve(current_data_path)), current_data_path
    if data_path:
        source = (
            f"held-out test split ({artifacts.CATALOG['test']}), as monitoring.current_data_path "
            "is empty: set it to a file of new data to monitor that"
        )
        return artifacts.load_table("test"), source
    sample = data.make_demo_data(problem_type, demo_rows, seed, shift=shift)
    return sample, f"demo sample (shift {shift})"


def class_mix(
    reference_pred: Any, current_pred: Any, classes: Sequence[Any] | None = None
) -> pd.DataFrame:
    """Share of each predicted class in the reference and current data: class, reference_share,
    current_share, change (current - reference); classes in the model's order."""
    ref = pd.Series(np.asarray(reference_pred)).map(str)
    cur = pd.Series(np.asarray(current_pred)).map(str)
    order = [str(c) for c in classes] if classes is not None else []
    order += sorted((set(ref) | set(cur)) - set(order))
    table = pd.DataFrame(
        {
            "class": order,
            "reference_share": ref.value_counts(normalize=True).reindex(order, fill_value=0.0),
            "current_share": cur.value_counts(normalize=True).reindex(order, fill_value=0.0),
        }
    ).reset_index(drop=True)
    table["change"] = table["current_share"] - table["reference_share"]
    return table


def _labels(y: pd.Series) -> pd.Series:
    """Rows that carry a label (not missing, not blank text)."""
    present = y.notna()
    text = y[present].map(lambda v: isinstance(v, str) and not v.strip())
    present[present] = ~text.astype(bool)
    return present


def current_performance(
    model: Any,
    X: pd.DataFrame,
    y: pd.Series | None,
    *,
    task: metrics_.Task,
    reference: float | None,
    predictions: tuple[np.ndarray, Any] | None = None,
) -> dict[str, Any]:
    """The model's score in the task's primary metric on the labelled rows of current data (`X`
    in training types), measured as phases 03-04 measure it (`metrics.measure`). `predictions`:
    the model's `evaluation.predict_scores` on all of `X` when the caller has them already.

    Returns metric, status ("computed" or "skipped"), reason (why skipped, or rows left out),
    current, reference, labelled_rows, unlabelled_rows. Skipped when the target column is
    absent, no row is labelled, or the metric is undefined there (e.g. one class only).
    """
    from . import evaluation
    from .schema import _key, _python, keys

    metric, target = task.metric.name, task.target
    result: dict[str, Any] = {
        "metric": metric,
        "status": "skipped",
        "reason": "",
        "current": None,
        "reference": reference,
        "labelled_rows": 0,
        "unlabelled_rows": len(X),
    }
    if y is None:
        result["reason"] = f"the current data has no target column '{target}'"
        return result
    labelled = _labels(y.reset_index(drop=True))
    result["labelled_rows"] = int(labelled.sum())
    result["unlabelled_rows"] = int((~labelled).sum())
    if not labelled.any():
        result["reason"] = f"none of the {len(y)} rows has a value in '{target}'"
        return result
    y_l = y.reset_index(drop=True)[labelled]
    rows = np.flatnonzero(labelled.to_numpy())  # positions in X of the rows scored
    left_out = ""
    classes = getattr(model, "classes_", None)
    if task.classification:
        lookup = {_key(c): _python(c) for c in classes}
        labels = keys(y_l)  # labelled rows: none missing
        known = labels.isin(lookup.keys())
        if not known.all():
            unknown = sorted(set(labels[~known]))[:5]
            left_out = (
                f"{int((~known).sum())} labelled rows with classes the model does not know "
                f"({', '.join(unknown)}) left out"
            )
        y_true = np.asarray(labels[known].map(lookup).tolist())
        rows = rows[known.to_numpy()]
    else:
        values = pd.to_numeric(y_l, errors="coerce")
        if values.isna().any():
            left_out = f"{int(values.isna().sum())} labelled rows with non-numeric targets left out"
        y_true = values.dropna().to_numpy(dtype=float)
        rows = rows[values.notna().to_numpy()]
    if len(y_true) == 0:
        result["reason"] = left_out or "no usable labels"
        return result
    if predictions is None:
        y_pred, y_score = evaluation.predict_scores(model, X.iloc[rows], task)
    else:
        y_pred, y_score = (None if part is None else part[rows] for part in predictions)
    # The production model's classes order its probabilities (it may predate the training split).
    value, undefined = metrics_.measure(task.metric, y_true, y_pred, y_score, labels=classes)
    if value is None:
        result["reason"] = f"{metric} is undefined on the current data: {undefined}"
        return result
    result.update(status="computed", current=value, reason=left_out)
    return result


def model_report(
    model: Any,
    model_metadata: dict[str, Any] | None,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    schema: dict[str, Any],
    *,
    task: metrics_.Task,
    psi_warning: float,
    psi_alert: float,
    p_value: float = 0.01,
    unavailable: str | None = None,
) -> dict[str, Any]:
    """What the production model does on current data: prediction drift, predicted class mix
    (classification) and performance in the task's primary metric on the labelled rows (against
    the model's test score in that metric when it has one), each skipped with a reason in
    `notes` when it cannot be computed (no model, `unavailable` reason, input the model cannot
    take).

    Returns model_version, prediction_drift, class_mix (records), performance, notes.
    """
    from . import evaluation, prediction

    report: dict[str, Any] = {
        "model_version": (model_metadata or {}).get("version"),
        "prediction_drift": None,
        "class_mix": None,
        "performance": None,
        "notes": [],
    }
    if model is None:
        reason = unavailable or "no production model yet (phase 05 promotes one)"
        report["notes"].append(f"Prediction drift and performance not computed: {reason}.")
        return report
    reference_rows = len(reference)
    if reference_rows > REFERENCE_PREDICTION_ROWS:  # sampled before checking: fewer rows to check
        reference = reference.sample(n=REFERENCE_PREDICTION_ROWS, random_state=0)
    try:
        X_reference, _ = prediction.validate_input(reference, schema)
        X_current, _ = prediction.validate_input(current, schema)
    except prediction.PredictionInputError as exc:
        report["notes"].append(
            f"Prediction drift and performance not computed: the model cannot score the "
            f"current data ({exc})."
        )
        return report
    if reference_rows > REFERENCE_PREDICTION_ROWS:
        report["notes"].append(
            f"Prediction drift: the reference is the model's output on a sample of "
            f"{REFERENCE_PREDICTION_ROWS:,} of the {reference_rows:,} training rows."
        )
    ref_pred, ref_score = evaluation.predict_scores(model, X_reference, task)
    cur_pred, cur_score = evaluation.predict_scores(model, X_current, task)
    report["prediction_drift"] = prediction_drift(
        ref_score if ref_score is not None else ref_pred,
        cur_score if cur_score is not None else cur_pred,
        psi_warning,
        psi_alert,
        p_value,
    )
    if task.classification:
        mix = class_mix(ref_pred, cur_pred, getattr(model, "classes_", None))
        report["class_mix"] = mix.to_dict(orient="records")
        moved = mix.loc[mix["change"].abs() >= CLASS_MIX_NOTE]
        for row in moved.itertuples():
            report["notes"].append(
                f"Predicted share of class {row[1]} moved from {row.reference_share:.0%} "
                f"to {row.current_share:.0%}."
            )
    test_metrics = (model_metadata or {}).get("test_metrics") or {}
    report["performance"] = current_performance(
        model,
        X_current,
        current[task.target] if task.target in current.columns else None,
        task=task,
        reference=test_metrics.get(task.metric.name),
        predictions=(cur_pred, cur_score),
    )
    return report
