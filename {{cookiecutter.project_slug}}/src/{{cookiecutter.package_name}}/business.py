"""Business understanding: success criteria, feasibility and the design document."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .data import make_demo_data, read_table
from .metrics import METRICS, Task, get_metric
from .paths import resolve

PROBLEM_TYPES = ("classification", "regression")

# How phase 04 measures the business criterion on the test split, per problem type.
BUSINESS_MEASURES: dict[str, dict[str, str]] = {
    "classification": {
        "lift": "lift at the top {share:.0%} of scores (hit rate there / overall hit rate)",
        "cumulative_gain": "share of all positives found in the top {share:.0%} of scores",
        "none": "not measured",
    },
    "regression": {
        "within_tolerance": "share of predictions within {tolerance:.0%} of the true value",
        "none": "not measured",
    },
}


def success_criteria(
    *,
    problem_type: str,
    target: str,
    objective: str,
    primary_metric: str,
    success_threshold: float,
    min_gain_over_baseline: float,
    business_success_criterion: str,
    business_measure: str = "none",
    business_share: float = 0.2,
    business_tolerance: float = 0.15,
    business_target: float = 0.0,
) -> dict[str, Any]:
    """Return the success-criteria record that phase 04 checks the model against.

    `business_measure` (with `business_share`, `business_tolerance` and `business_target`) is
    how phase 04 measures the business criterion; see BUSINESS_MEASURES.
    """
    if problem_type not in PROBLEM_TYPES:
        raise ValueError(
            f"problem_type {problem_type!r} is not supported; use one of {', '.join(PROBLEM_TYPES)}"
        )
    metric = get_metric(primary_metric, problem_type)
    return {
        "problem_type": problem_type,
        "target": target,
        "objective": objective.strip(),
        "business_success_criterion": business_success_criterion.strip(),
        "business_measure": {
            "name": business_measure,
            "share": float(business_share),
            "tolerance": float(business_tolerance),
            "target": float(business_target),
        },
        "primary_metric": metric.name,
        "greater_is_better": metric.greater_is_better,
        "success_threshold": float(success_threshold),
        "min_gain_over_baseline": float(min_gain_over_baseline),
    }


def measurability(criteria: dict[str, Any]) -> list[dict[str, Any]]:
    """Checks that each criterion can be measured: named, numeric, inside the metric's range."""
    metric = METRICS.get(criteria["primary_metric"])
    low, high = (metric.low, metric.high) if metric else (-math.inf, math.inf)
    threshold = criteria["success_threshold"]
    gain = criteria["min_gain_over_baseline"]
    checks = [
        {
            "name": "objective stated",
            "passed": bool(criteria["objective"]),
            "value": len(criteria["objective"]),
            "threshold": "non-empty",
        },
        {
            "name": "business criterion stated",
            "passed": bool(criteria["business_success_criterion"]),
            "value": len(criteria["business_success_criterion"]),
            "threshold": "non-empty",
        },
        {
            "name": "success threshold within metric range",
            "passed": math.isfinite(threshold) and low <= threshold <= high,
            "value": threshold,
            "threshold": f"[{low}, {high}]",
        },
        {
            "name": "baseline gain not negative",
            "passed": math.isfinite(gain) and gain >= 0,
            "value": gain,
            "threshold": ">= 0",
        },
    ]
    measure = criteria.get("business_measure")
    if measure:
        allowed = list(BUSINESS_MEASURES.get(criteria["problem_type"], {}))
        share, tolerance = measure["share"], measure["tolerance"]
        checks += [
            {
                "name": "business measure fits the problem type",
                "passed": measure["name"] in allowed,
                "value": measure["name"],
                "threshold": allowed,
            },
            {
                "name": "business share and tolerance usable",
                "passed": 0 < share <= 1 and tolerance > 0 and math.isfinite(measure["target"]),
                "value": {"share": share, "tolerance": tolerance, "target": measure["target"]},
                "threshold": "0 < share <= 1, tolerance > 0, target finite",
            },
        ]
    return checks


def measure_business(
    criteria: dict[str, Any], y_true: Any, y_pred: Any, y_score: Any = None, *, task: Task
) -> dict[str, Any]:
    """The business criterion measured on test predictions, against its target.

    Returns {criterion, measure, description, share, value, target, passed, reason}; value and
    passed are None (reason says why) when the measure is `none` or undefined for these data.
    """
    spec = criteria.get("business_measure") or {"name": "none"}
    name = spec["name"]
    template = BUSINESS_MEASURES.get(task.problem_type, {}).get(name, name)
    result: dict[str, Any] = {
        "criterion": criteria.get("business_success_criterion", ""),
        "measure": name,
        "description": template.format(
            share=spec.get("share", 0.0), tolerance=spec.get("tolerance", 0.0)
        ),
        "share": spec.get("share"),
        "value": None,
        "target": spec.get("target"),
        "passed": None,
        "reason": None,
    }
    value, reason = _business_value(name, spec, np.asarray(y_true), y_pred, y_score, task)
    if value is None:
        return {**result, "reason": reason}
    return {**result, "value": value, "passed": bool(value >= spec["target"] - 1e-9)}


def _business_value(
    name: str, spec: dict[str, Any], y_true: np.ndarray, y_pred: Any, y_score: Any, task: Task
) -> tuple[float | None, str | None]:
    if name == "none":
        return None, "no business measure chosen (business_understanding.business_measure)"
    if name == "within_tolerance":
        truth = y_true.astype(float)
        error = np.abs(np.asarray(y_pred, dtype=float) - truth)
        return float(np.mean(error <= spec["tolerance"] * np.abs(truth))), None
    if name in ("lift", "cumulative_gain"):
        if task.positive_label is None:
            return None, (
                f"{name} needs a binary target ({len(task.labels)} classes here); set "
                "business_understanding.business_measure to none"
            )
        if y_score is None or np.ndim(y_score) != 1:
            return None, "needs predicted probabilities; the model gives none"
        positive = y_true == task.positive_label
        if not positive.any():
            return None, f"no row of the positive class {task.positive_label!r} in the test split"
        top = np.argsort(-np.asarray(y_score), kind="stable")[
            : math.ceil(spec["share"] * len(y_true))
        ]
        if name == "lift":
            return float(positive[top].mean() / positive.mean()), None
        return float(positive[top].sum() / positive.sum()), None
    return None, f"unknown business measure {name!r} (business_understanding.business_measure)"


def feasibility(
    *,
    columns: Sequence[str],
    n_rows: int,
    target: str,
    max_latency_ms: float,
    retraining_frequency: str,
    candidates_interpretable: bool = True,
) -> pd.DataFrame:
    """Feasibility table: what the figures at hand say, and what the owner still has to confirm."""
    owner = "to be confirmed by the model owner"
    rows = [
        (
            "data availability",
            f"labelled rows with a '{target}' column",
            f"{n_rows} rows, {len(columns)} columns; target present: {target in columns}",
            "ok" if target in columns and n_rows > 0 else "blocked",
        ),
        (
            "latency",
            f"<= {max_latency_ms:g} ms per prediction",
            "scikit-learn pipelines on tabular data predict one row in about 1-10 ms",
            "ok" if max_latency_ms >= 10 else "at risk",
        ),
        ("throughput", "batch scoring of all new records", "vectorised batch prediction", "ok"),
        ("memory", "fits a standard CPU machine", "model files are a few MB", "ok"),
        ("platform", "Python 3.11+, CPU only", "no GPU or external service needed", "ok"),
        (
            "retraining frequency",
            retraining_frequency,
            "the pipeline retrains in minutes; promotion is gated by evaluation",
            "ok",
        ),
        (
            "interpretability",
            "explanations for reviewers",
            "permutation importance, interpretable candidate"
            if candidates_interpretable
            else "permutation importance only",
            "ok",
        ),
        ("cost", "compute and maintenance budget", owner, "open"),
    ]
    return pd.DataFrame(rows, columns=["aspect", "requirement", "assessment", "status"])


def design_doc(criteria: dict[str, Any], feasibility_table: pd.DataFrame) -> str:
    """A short design document (Markdown) from the criteria and the feasibility table."""
    direction = "at least" if criteria["greater_is_better"] else "at most"
    lines = [
        "# Design document",
        "",
        "## Objective",
        criteria["objective"],
        "",
        "## ML framing",
        f"- Task: {criteria['problem_type']} of `{criteria['target']}`",
        f"- Primary metric: {criteria['primary_metric']}",
        "",
        "## Success criteria",
        f"- Business: {criteria['business_success_criterion']}",
        f"- ML: test {criteria['primary_metric']} {direction} {criteria['success_threshold']:g}",
        f"- Beats the non-ML baseline by at least {criteria['min_gain_over_baseline']:g}",
        "",
        "## Feasibility",
        "",
        "| aspect | requirement | assessment | status |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r.aspect} | {r.requirement} | {r.assessment} | {r.status} |"
        for r in feasibility_table.itertuples()
    ]
    return "\n".join(lines) + "\n"


def data_overview(data_path: str, problem_type: str, seed: int) -> tuple[list[str], int | None]:
    """Columns of the configured data and its row count (None for demo data made on demand)."""
    if not data_path:
        return list(make_demo_data(problem_type, 10, seed).columns), None
    frame = read_table(resolve(data_path))
    return list(frame.columns), len(frame)


def business_markdown(result: dict[str, Any]) -> str:
    """The measured business criterion for a report, against its target."""
    text = f"**Business criterion:** {result['criterion'] or '(not stated)'}"
    if result["value"] is None:
        return f"{text}\n\nNot measured: {result['reason']}."
    verdict = "met" if result["passed"] else "**not met**"
    return (
        f"{text}\n\nMeasured on the test split as the {result['description']}: "
        f"**{result['value']:.3g}** against a target of {result['target']:g}: {verdict}."
    )
