"""Data and prediction drift: PSI, KS and chi-squared tests, drift table, retrain recommendation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from . import metrics as metrics_

EPSILON = 1e-4  # share given to empty bins so PSI stays finite
MISSING = "(missing)"


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


def _category_bins(reference: pd.Series, current: pd.Series) -> tuple[pd.Series, ...]:
    """Counts per category over the union of both samples, missing as its own category."""
    ref = pd.Series(reference).astype("string").fillna(MISSING)
    cur = pd.Series(current).astype("string").fillna(MISSING)
    categories = sorted(set(ref.unique()) | set(cur.unique()))
    return (
        ref.value_counts().reindex(categories, fill_value=0),
        cur.value_counts().reindex(categories, fill_value=0),
    )


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

    Columns: feature, kind, psi, psi_band, test, statistic, p_value, drifted, missing_reference,
    missing_current, type_issue. A feature drifts when psi >= psi_alert, or when the test is
    significant (p < p_value) and psi >= psi_warning. Sorted by psi, largest first.
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

    rows = []
    for feature, spec in features.items():
        kind = spec["kind"]
        ref = reference[feature]
        row: dict[str, Any] = {
            "feature": feature,
            "kind": kind,
            "psi": float("nan"),
            "psi_band": "none",
            "test": "ks" if kind == "numeric" else "chi2",
            "statistic": float("nan"),
            "p_value": float("nan"),
            "drifted": False,
            "missing_reference": float(ref.isna().mean()),
            "missing_current": float("nan"),
            "type_issue": "",
        }
        if feature not in current.columns:
            row["type_issue"] = "column missing in current data"
            rows.append(row)
            continue
        cur = current[feature]
        test = ks_test if kind == "numeric" else chi2_test
        statistic, p = test(ref, cur)
        value = psi(ref, cur, kind)
        row.update(
            psi=value,
            psi_band=psi_band(value, psi_warning, psi_alert),
            statistic=statistic,
            p_value=p,
            drifted=bool(value >= psi_alert or (p < p_value and value >= psi_warning)),
            missing_current=float(cur.isna().mean()),
            type_issue=_type_issue(ref, cur, kind),
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.sort_values("psi", ascending=False, na_position="first").reset_index(drop=True)


def prediction_drift(
    reference_scores: Any, current_scores: Any, psi_warning: float, psi_alert: float
) -> dict[str, Any]:
    """PSI and a test (KS for numbers, chi-squared for class labels) of the model's outputs.

    A probability matrix (multiclass) is reduced to the top-class probability. `drifted` means
    psi >= psi_alert.
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
        "drifted": bool(value >= psi_alert),
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
) -> dict[str, Any]:
    """Overall status from a drift table (and, when labels exist, performance).

    alert: drifted share above `max_drifted_share`, type issues, or a performance drop of at
    least `performance_drop_alert`; warning: some drift or moderate PSI; ok otherwise. Without
    `performance_drop_alert` the performance change is reported in `reasons` only.
    Retraining is recommended on drift or performance alerts (type issues need a data fix).
    `performance`: {"metric", "reference", "current"} or {"drop"}.
    """
    if not 0 <= max_drifted_share <= 1:
        raise MonitoringError(
            f"monitoring.max_drifted_share={max_drifted_share!r} must be between 0 and 1."
        )
    n = len(table)
    drifted = table.loc[table["drifted"], "feature"].tolist() if n else []
    share = len(drifted) / n if n else 0.0
    type_issues = table.loc[table["type_issue"] != "", ["feature", "type_issue"]] if n else None
    moderate = table.loc[table["psi_band"] != "none", "feature"].tolist() if n else []

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
    notes: list[str] = []
    if performance is not None:
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
