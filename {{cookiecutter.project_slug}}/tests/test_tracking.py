"""MLflow tracking: a run record logged to the project store, read back with MLflow's client."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from crisp import runner
from crisp.project import Project
from crisp.records import PhaseRecord, RunRecord

from {{ cookiecutter.package_name }} import registry, tracking

mlflow_tracking = pytest.importorskip("mlflow.tracking")

PARAMS = {
    "shared": {"target": "churned", "random_seed": 42},
    "modelling": {"cv_folds": 3, "candidates": ["logistic_regression", "random_forest"]},
}


def make_project(root: Path) -> None:
    """A project folder with a pyproject name and a production model in the registry."""
    (root / "pyproject.toml").write_text('[project]\nname = "tracked-project"\n', encoding="utf-8")
    version = root / registry.REGISTRY / "v0002"
    version.mkdir(parents=True)
    (version / registry.MODEL_FILE).write_bytes(b"model bytes")
    (version / registry.METADATA_FILE).write_text('{"version": "v0002"}', encoding="utf-8")
    (root / registry.PRODUCTION).write_text('{"version": "v0002"}', encoding="utf-8")


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


def test_reports_and_production_model_are_artifacts(logged: tuple[Path, str, Any]) -> None:
    root, run_id, client = logged
    reports = {item.path for item in client.list_artifacts(run_id, "reports")}
    assert reports == {"reports/run.json", "reports/index.html", "reports/03_modelling.html"}
    model = {item.path for item in client.list_artifacts(run_id, "production_model/v0002")}
    assert model == {"production_model/v0002/model.skops", "production_model/v0002/metadata.json"}
    local = Path(client.download_artifacts(run_id, "reports/run.json", str(root / "download")))
    assert json.loads(local.read_text(encoding="utf-8"))["run_id"] == "20250102-090000-abcd"


def test_a_run_is_logged_once(logged: tuple[Path, str, Any]) -> None:
    root, run_id, client = logged
    record = json.loads((root / "reports/20250102-090000-abcd/run.json").read_text("utf-8"))
    assert tracking.log_run(record, root) == run_id
    experiment = client.get_experiment_by_name("tracked-project")
    assert len(client.search_runs([experiment.experiment_id])) == 1


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
    assert len(client.search_runs([experiment.experiment_id])) == 2


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
