"""Success criteria, their measurability, and the business criterion measured on predictions."""

from __future__ import annotations

import numpy as np
import pytest

from {{ cookiecutter.package_name }} import business
from {{ cookiecutter.package_name }}.metrics import Task

BINARY = Task.create(problem_type="classification", metric="roc_auc", y=["No", "Yes"])
THREE = Task.create(problem_type="classification", metric="accuracy", y=["a", "b", "c"])
REGRESSION = Task.create(problem_type="regression", metric="r2")


def _criteria(problem_type: str = "classification", **kwargs) -> dict:
    settings = {
        "problem_type": problem_type,
        "target": "y",
        "objective": " Call likely churners first. ",
        "primary_metric": "roc_auc" if problem_type == "classification" else "r2",
        "success_threshold": 0.75,
        "min_gain_over_baseline": 0.1,
        "business_success_criterion": "Calls reach 2x more churners than random calls.",
        **kwargs,
    }
    return business.success_criteria(**settings)


def test_success_criteria_record_carries_the_business_measure() -> None:
    criteria = _criteria(business_measure="lift", business_share=0.1, business_target=2.0)
    assert criteria["objective"] == "Call likely churners first."
    assert criteria["greater_is_better"] is True
    assert criteria["business_measure"] == {
        "name": "lift",
        "share": 0.1,
        "tolerance": 0.15,
        "target": 2.0,
    }
    assert all(check["passed"] for check in business.measurability(criteria))


@pytest.mark.parametrize(
    ("problem_type", "kwargs", "failing"),
    [
        ("regression", {"business_measure": "lift"}, "business measure fits the problem type"),
        ("classification", {"business_measure": "within_tolerance"}, "fits the problem type"),
        ("classification", {"business_measure": "lift", "business_share": 0.0}, "usable"),
        (
            "regression",
            {"business_measure": "within_tolerance", "business_tolerance": -1},
            "usable",
        ),
        ("classification", {"success_threshold": 1.5}, "success threshold within metric range"),
        ("regression", {"success_threshold": 2.0}, "success threshold within metric range"),
    ],
)
def test_measurability_catches_criteria_that_cannot_be_measured(problem_type, kwargs, failing):
    checks = business.measurability(_criteria(problem_type, **kwargs))
    failed = [check["name"] for check in checks if not check["passed"]]
    assert len(failed) == 1 and failing in failed[0]


def test_lift_and_cumulative_gain_at_the_contacted_share() -> None:
    y = np.array(["Yes"] * 20 + ["No"] * 80)
    score = np.linspace(1.0, 0.0, 100)  # the 20 churners score highest, then 80 others
    score[[5, 6]], score[[50, 51]] = 0.45, 0.99  # two churners ranked lower, two others higher
    criteria = _criteria(business_measure="lift", business_share=0.1, business_target=2.0)
    lift = business.measure_business(criteria, y, None, score, task=BINARY)
    # top 10 rows: 8 churners (hit rate 0.8) against an overall rate of 0.2 -> lift 4
    assert lift["value"] == pytest.approx(4.0) and lift["passed"] is True
    assert lift["description"] == (
        "lift at the top 10% of scores (hit rate there / overall hit rate)"
    )
    criteria["business_measure"].update(name="cumulative_gain", target=0.5)
    gain = business.measure_business(criteria, y, None, score, task=BINARY)
    assert gain["value"] == pytest.approx(8 / 20) and gain["passed"] is False
    text = business.business_markdown(gain)
    assert "**0.4** against a target of 0.5: **not met**" in text
    assert criteria["business_success_criterion"] in text


def test_within_tolerance_for_regression() -> None:
    criteria = _criteria(
        "regression",
        business_measure="within_tolerance",
        business_tolerance=0.1,
        business_target=0.5,
    )
    truth = np.array([100.0, 200.0, 300.0, 400.0])
    pred = np.array([109.0, 230.0, 300.0, 350.0])  # within 10%: 1st and 3rd
    result = business.measure_business(criteria, truth, pred, task=REGRESSION)
    assert result["value"] == pytest.approx(0.5) and result["passed"] is True
    assert result["description"] == "share of predictions within 10% of the true value"


@pytest.mark.parametrize(
    ("task", "measure", "y", "score", "reason"),
    [
        (THREE, "lift", ["a", "b", "c"], np.eye(3), "lift needs a binary target (3 classes here)"),
        (BINARY, "lift", ["No", "Yes"], None, "needs predicted probabilities"),
        (BINARY, "cumulative_gain", ["No", "No"], np.array([0.1, 0.2]), "no row of the positive"),
        (BINARY, "none", ["No", "Yes"], np.array([0.1, 0.2]), "no business measure chosen"),
    ],
)
def test_a_business_measure_that_cannot_be_taken_says_why(task, measure, y, score, reason):
    criteria = _criteria(business_measure=measure)
    result = business.measure_business(criteria, np.array(y), None, score, task=task)
    assert result["value"] is None and result["passed"] is None
    assert reason in result["reason"]
    assert f"Not measured: {result['reason']}." in business.business_markdown(result)
