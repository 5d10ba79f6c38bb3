"""The README's own path: run the demo, then switch params.yaml to your own table; and change
`drop_columns` after a promotion. Phase 04 re-scores the production model on the new test split: it
must not crash when the production model's columns, target or problem are gone. The decision then
says the production model is not comparable, and the challenger is judged on the success criteria
alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from own_data import PHASES, bring, edit_params, load_json, output, run_pipeline
from real_tables import TABLES, clean, new_rows, read_table, write_table
from shared_project import copy_of_trained, crisp

pytestmark = pytest.mark.slow

EVALUATION = "artifacts/evaluation/evaluation.json"
PRODUCTION = "models/production.json"


def _production_version(root: Path) -> str:
    return load_json(root, PRODUCTION)["version"]


def _decision(root: Path) -> dict:
    return load_json(root, EVALUATION)["decision"]


def _comparable_or_said_not(root: Path) -> None:
    """The production model was scored, or the decision says why it could not be."""
    evaluation = load_json(root, EVALUATION)
    said = json.dumps(evaluation["decision"])
    assert evaluation["champion_metrics"] or "not comparable" in said, said


@pytest.fixture(scope="module")
def switched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project that ran the demo to deployment (v0001 promoted), then ran on breast_cancer."""
    root = copy_of_trained(tmp_path_factory, "switch")
    demo_version = _production_version(root)
    bring(root, clean(TABLES["breast_cancer"]))
    run = run_pipeline(root, *TABLES["breast_cancer"].run_args)
    assert run.result.returncode == 0, output(run.result)
    assert run.statuses() == dict.fromkeys(PHASES, "succeeded"), output(run.result)
    assert _production_version(root) != demo_version
    return root


def test_demo_then_own_data_judges_the_challenger_alone(switched: Path) -> None:
    decision = _decision(switched)
    said = json.dumps(decision)
    assert "not comparable" in said, said
    assert decision["decision"] == "promote", said


def test_predict_after_the_switch_uses_the_own_data_model(switched: Path) -> None:
    chosen = clean(TABLES["breast_cancer"])
    source = switched / "data" / "new" / "batch.parquet"
    new = new_rows(chosen)
    write_table(new, source)
    result = crisp(switched, "predict", str(source))
    assert result.returncode == 0, output(result)
    predictions = read_table(source.with_name("batch.predictions.parquet"))
    assert len(predictions) == len(new)
    assert [c for c in predictions if c.startswith("proba_")] == ["proba_0", "proba_1"]


def test_drop_columns_change_after_a_promotion(switched: Path) -> None:
    """A feature of the production model is dropped: 04 runs, the decision scores production on
    its own columns or says it is not comparable, and the pipeline finishes."""
    edit_params(switched, {"data_preparation": {"drop_columns": ["worst area", "mean area"]}})
    run = run_pipeline(switched, *TABLES["breast_cancer"].run_args)
    assert run.result.returncode == 0, output(run.result)
    ran = run.statuses()
    assert ran.get("04_evaluation") == "succeeded", ran
    assert "Traceback" not in run.result.stdout + run.result.stderr, output(run.result)
    _comparable_or_said_not(switched)
