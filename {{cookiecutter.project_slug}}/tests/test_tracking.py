"""MLflow tracking: a run record logged to the project store, read back with MLflow's client."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from crisp import runner
from crisp.project import Project
from crisp.records import PhaseRecord, RunRecord
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from {{ cookiecutter.package_name }} import registry, tracking

mlflow_tracking = pytest.importorskip("mlflow.tracking")

PARAMS = {
    "shared": {"target": "churned", "random_seed": 42},
    "modelling": {"cv_folds": 3, "candidates": ["logistic_regression", "random_forest"]},
}
MODEL_NAME = "churn-classifier"
X = pd.DataFrame({"tenure": np.linspace(0, 60, 40), "calls": np.tile([0.0, 3.0], 20)})
Y = np.array(["stays", "leaves"] * 20)[np.argsort(np.argsort(X["tenure"] + 9 * X["calls"]))]
SCHEMA = {
    "target": "churned",
    "problem_type": "classification",
    "features": {"tenure": {"kind": "numeric"}, "calls": {"kind": "numeric"}},
    "target_info": {"classes": ["leaves", "stays"]},
}


def _model(c: float) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(C=c)).fit(X, Y)


def make_project(root: Path) -> None:
    """A project folder with a pyproject name and v0001, v0002 in the registry, v0002 in
    production (promoted after v0001)."""
    (root / "pyproject.toml").write_text('[project]\nname = "tracked-project"\n', encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRISP_PROJECT_ROOT", str(root))
        for c in (1.0, 0.01):
            version = registry.register(_model(c), {"model_name": MODEL_NAME}, SCHEMA)
            registry.promote(version)


def make_record(root: Path, run_id: str, status: str = "succeeded") -> RunRecord:
    """A finished run as the runner saves it, with run.json, index.html and one phase report."""
    run_dir = root / "reports" / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "index.html").write_text("<html>index</html>", encoding="utf-8")
    (run_dir / "03_modelling.html").write_text("<html>modelling</html>", encoding="utf-8")
    record = RunRecord(
        run_id=run_id,
        run_dir=run_dir,
        command=["crisp", "run", "--set", "modelling.cv_folds=3"],
        parameters=PARAMS,
        overrides=["modelling.cv_folds=3"],
        phases=[
            PhaseRecord(
                name="03_modelling",
                status="succeeded",
                duration_s=12.5,
                metrics={"cv_roc_auc": 0.84, "model": "random_forest", "promoted": True},
                report=f"reports/{run_id}/03_modelling.html",
            ),
            PhaseRecord(name="04_evaluation", status=status, duration_s=2.0),
        ],
        status=status,
        started="2025-01-02T09:00:00+00:00",
        finished="2025-01-02T09:00:15+00:00",
        duration_s=15.0,
        git={"commit": "0123456789abcdef", "dirty": True},
    )
    record.save()
    return record


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Any]:
    """One run logged to a fresh project's store: (project root, MLflow run id, client)."""
    root = tmp_path_factory.mktemp("tracked")
    make_project(root)
    record = make_record(root, "20250102-090000-abcd")
    run_id = tracking.log_run(record.to_dict(), root)
    client = mlflow_tracking.MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    return root, run_id, client


def test_parameters_metrics_and_tags_read_back(logged: tuple[Path, str, Any]) -> None:
    root, run_id, client = logged
    assert (root / "mlflow.db").is_file()
    run = client.get_run(run_id)
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "tracked-project"
    assert experiment.artifact_location == (root / "mlruns").as_uri()
    assert run.data.params == {
        "shared.target": "churned",
        "shared.random_seed": "42",
        "modelling.cv_folds": "3",
        "modelling.candidates": '["logistic_regression", "random_forest"]',
    }
    assert run.data.metrics == {
        "modelling.cv_roc_auc": 0.84,
        "modelling.duration_s": 12.5,
        "evaluation.duration_s": 2.0,
        "run.duration_s": 15.0,
    }
    tags = run.data.tags
    assert tags["crisp.run_id"] == "20250102-090000-abcd"
    assert tags["crisp.status"] == "succeeded"
    assert tags["crisp.overrides"] == "modelling.cv_folds=3"
    assert tags["mlflow.source.git.commit"] == "0123456789abcdef"
    assert tags["modelling.model"] == "random_forest"
    assert tags["modelling.promoted"] == "True"
    assert tags["crisp.production_version"] == "v0002"
    assert run.info.run_name == "20250102-090000-abcd"
    assert run.info.status == "FINISHED"
    assert run.info.end_time - run.info.start_time == 15_000


def test_reports_are_artifacts_and_only_the_projects_experiment_exists(
    logged: tuple[Path, str, Any],
) -> None:
    root, run_id, client = logged
    reports = {item.path for item in client.list_artifacts(run_id, "reports")}
    assert reports == {"reports/run.json", "reports/index.html", "reports/03_modelling.html"}
    local = Path(client.download_artifacts(run_id, "reports/run.json", str(root / "download")))
    assert json.loads(local.read_text(encoding="utf-8"))["run_id"] == "20250102-090000-abcd"
    assert [e.name for e in client.search_experiments()] == ["tracked-project"]  # no Default


def test_production_model_is_logged_with_the_sklearn_flavor_and_registered(
    logged: tuple[Path, str, Any],
) -> None:
    import mlflow.sklearn
    from mlflow.models import get_model_info

    root, run_id, client = logged
    version = client.get_model_version_by_alias(MODEL_NAME, "production")
    assert version.tags["crisp.version"] == "v0002" and version.run_id == run_id
    uri = f"models:/{MODEL_NAME}@production"
    info = get_model_info(uri)
    assert "sklearn" in info.flavors and "python_function" in info.flavors
    assert info.flavors["sklearn"]["serialization_format"] == "skops"
    assert info.signature.inputs.input_names() == ["tenure", "calls"]
    assert info.signature.outputs.input_names() == ["prediction"]
    mlflow.set_tracking_uri(tracking.tracking_uri(root))
    loaded = mlflow.sklearn.load_model(uri)
    np.testing.assert_array_equal(loaded.predict_proba(X), _model(0.01).predict_proba(X))


def test_promote_and_rollback_move_the_production_alias(
    logged: tuple[Path, str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _, client = logged
    monkeypatch.setenv("CRISP_PROJECT_ROOT", str(root))
    registry.rollback(reason="test")  # back to v0001, which MLflow has not seen yet
    mirrored = tracking.mirror_production(root)
    alias = client.get_model_version_by_alias(MODEL_NAME, "production")
    assert str(alias.version) == mirrored and alias.tags["crisp.version"] == "v0001"
    registry.promote("v0002", reason="test")
    tracking.mirror_production(root)
    alias = client.get_model_version_by_alias(MODEL_NAME, "production")
    assert alias.tags["crisp.version"] == "v0002"
    versions = client.search_model_versions(f"name='{MODEL_NAME}'")
    assert sorted(v.tags["crisp.version"] for v in versions) == ["v0001", "v0002"]  # no repeats


def test_a_run_is_logged_once(logged: tuple[Path, str, Any]) -> None:
    root, run_id, client = logged
    record = json.loads((root / "reports/20250102-090000-abcd/run.json").read_text("utf-8"))
    assert tracking.log_run(record, root) == run_id
    experiment = client.get_experiment_by_name("tracked-project")
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.run_id for r in runs if "crisp.run_id" in r.data.tags] == [run_id]


def test_runner_logs_failed_runs_and_skips_runs_that_did_nothing(
    logged: tuple[Path, str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _, client = logged
    failed = make_record(root, "20250103-090000-ef01", status="failed")
    hook = "{{ cookiecutter.package_name }}.tracking:log_run_safely"
    runner._after_run(failed, Project(root=root, after_run=hook))
    assert "logged to MLflow: experiment tracked-project" in capsys.readouterr().out
    experiment = client.get_experiment_by_name("tracked-project")
    (found,) = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`crisp.run_id` = '20250103-090000-ef01'"
    )
    assert found.info.status == "FAILED"
    unchanged = make_record(root, "20250104-090000-2345")
    for phase in unchanged.phases:
        phase.status = "up to date"
    assert tracking.log_run_safely(unchanged.to_dict(), root) is None
    logged_runs = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`crisp.run_id` != ''"
    )
    assert len(logged_runs) == 2


def test_a_tracking_failure_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)  # as if mlflow were not installed
    record = make_record(tmp_path, "20250105-090000-6789")
    assert tracking.log_run_safely(record.to_dict(), tmp_path) is None
    err = capsys.readouterr().err
    assert err == (
        "warning: run 20250105-090000-6789 not logged to MLflow (mlflow.db): TrackingError: "
        "mlflow is not installed in this environment; run `make setup` to install the "
        "project's dependencies\n"
    )
    assert not (tmp_path / "mlflow.db").exists()
