"""QualityGate: checks, messages, the recorded results and the stop on a failed required check."""

from __future__ import annotations

import json

import numpy as np
import pytest
from crisp.quality import CheckResult, QualityCheckError, QualityGate


def test_failed_check_message_names_value_op_and_threshold():
    result = QualityGate("01_data_understanding").check("enough rows", 120, 500)
    assert not result.passed
    assert result.message() == "QA check 'enough rows' failed: 120 is not >= 500 (threshold)"


def test_passed_check_message_rounds_floats_and_adds_detail():
    result = QualityGate("p").check(
        "max missing share", 0.123456789, 0.3, "<=", detail="worst column: age"
    )
    assert result.passed
    assert result.message() == (
        "QA check 'max missing share' passed: 0.1235 <= 0.3 (threshold) (worst column: age)"
    )


@pytest.mark.parametrize(
    ("value", "threshold", "op", "passed"),
    [
        (5, 5, ">=", True),
        (4.9, 5, ">=", False),
        (5, 5, "<=", True),
        (5, 5, ">", False),
        (4, 5, "<", True),
        ("a", "a", "==", True),
        ("a", "b", "!=", True),
        ("roc_auc", ["roc_auc", "f1"], "in", True),
        ("rmse", ["roc_auc", "f1"], "in", False),
        ("id", ["id"], "not in", False),
    ],
)
def test_operators(value, threshold, op, passed):
    assert QualityGate("p").check("c", value, threshold, op).passed is passed


def test_unknown_operator_is_refused():
    with pytest.raises(ValueError, match="unknown QA operator '=>'; use one of: >=, <="):
        QualityGate("p").check("c", 1, 2, "=>")


@pytest.mark.parametrize("value", [float("nan"), None, np.float64("nan")])
def test_missing_value_fails_the_check(value):
    result = QualityGate("p").check("score", value, 0.7)
    assert not result.passed
    assert result.value is None
    assert "no value (missing or NaN)" in result.message()


def test_values_are_stored_json_friendly():
    result = QualityGate("p").check("rows", np.int64(600), np.float32(500.0))
    assert type(result.value) is int and type(result.threshold) is float
    assert result.passed is True


def test_require_records_boolean_checks():
    gate = QualityGate("02_data_preparation")
    ok = gate.require("no target in features", True)
    bad = gate.require("no overlap", np.bool_(False), value=3, threshold=0, detail="rows in test")
    assert ok.passed is True and ok.message() == "QA check 'no target in features' passed"
    assert bad.passed is False
    assert bad.message() == "QA check 'no overlap' failed: value 3, expected 0 (rows in test)"


def test_a_check_run_again_replaces_the_earlier_result():
    gate = QualityGate("p")
    gate.check("rows", 1, 5)
    gate.check("other", 1, 0)
    gate.check("rows", 10, 5)
    assert [(r.name, r.passed) for r in gate.results] == [("rows", True), ("other", True)]


def test_table_has_one_row_per_check():
    gate = QualityGate("p")
    gate.check("rows", 600, 500)
    gate.require("target present", False, required=False)
    table = gate.table()
    assert list(table.columns) == [
        "name",
        "passed",
        "value",
        "op",
        "threshold",
        "required",
        "detail",
    ]
    assert table["name"].tolist() == ["rows", "target present"]
    assert table["passed"].tolist() == [True, False]


def test_finish_returns_the_table_when_only_optional_checks_fail():
    gate = QualityGate("p")
    gate.check("rows", 600, 500)
    gate.check("nice to have", 1, 2, required=False)
    assert len(gate.finish()) == 2


def test_finish_raises_listing_every_failed_required_check():
    gate = QualityGate("01_data_understanding")
    gate.check("enough rows", 120, 500)
    gate.check("missing share", 0.5, 0.3, "<=")
    gate.check("target sane", 2, 2, "==")
    with pytest.raises(QualityCheckError) as caught:
        gate.finish()
    text = str(caught.value)
    assert "phase 01_data_understanding: 2 required QA check(s) failed" in text
    assert "QA check 'enough rows' failed: 120 is not >= 500 (threshold)" in text
    assert "QA check 'missing share' failed: 0.5 is not <= 0.3 (threshold)" in text
    assert "target sane" not in text


def test_finish_records_results_for_the_run_even_when_failing(run_phase_dir):
    gate = QualityGate("01_data_understanding")
    gate.check("enough rows", 120, 500)
    gate.require("target present", True)
    with pytest.raises(QualityCheckError):
        gate.finish()
    recorded = json.loads((run_phase_dir / "quality.json").read_text())
    assert [r["name"] for r in recorded] == ["enough rows", "target present"]
    assert recorded[0]["passed"] is False and recorded[0]["required"] is True
    assert (
        recorded[0]["message"] == CheckResult("enough rows", False, 120, 500, ">=", True).message()
    )
