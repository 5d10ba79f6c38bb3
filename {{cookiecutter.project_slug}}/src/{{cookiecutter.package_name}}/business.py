"""Business understanding: success criteria, feasibility and the design document."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from .data import make_demo_data, read_table
from .metrics import get_metric
from .paths import resolve

PROBLEM_TYPES = ("classification", "regression")

# Range a threshold of each metric can take; a threshold outside it can never be measured as met.
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "roc_auc": (0.0, 1.0),
    "average_precision": (0.0, 1.0),
    "f1": (0.0, 1.0),
    "accuracy": (0.0, 1.0),
    "balanced_accuracy": (0.0, 1.0),
    "r2": (-math.inf, 1.0),
    "rmse": (0.0, math.inf),
    "mae": (0.0, math.inf),
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
) -> dict[str, Any]:
    """Return the success-criteria record that phase 04 checks the model against."""
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
        "primary_metric": metric.name,
        "greater_is_better": metric.greater_is_better,
        "success_threshold": float(success_threshold),
        "min_gain_over_baseline": float(min_gain_over_baseline),
    }


def measurability(criteria: dict[str, Any]) -> list[dict[str, Any]]:
    """Checks that each criterion can be measured: named, numeric, inside the metric's range."""
    low, high = METRIC_RANGES.get(criteria["primary_metric"], (-math.inf, math.inf))
    threshold = criteria["success_threshold"]
    gain = criteria["min_gain_over_baseline"]
    return [
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
