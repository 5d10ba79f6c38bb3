"""The deployment and monitoring loop on the real pipeline: promotion gate, rollback, safe model
files, drift monitoring and the model card (see trained_project for the shared trained copy)."""

from __future__ import annotations

import functools
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from crisp import cli
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from trained_project import PROBLEM_TYPE, TARGET, Started, copy_of_trained, start, wait

from {{ cookiecutter.package_name }} import (
    artifacts,
    data,
    evaluation,
    metrics,
    model_card,
    preparation,
    registry,
)

pytestmark = pytest.mark.slow  # runs the pipeline or a Jupyter server: minutes


class HomemadeScaler(StandardScaler):
    """A type skops does not know: a model file holding it must not be loaded."""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private trained project (v0001 in production) for this module."""
    return copy_of_trained(tmp_path_factory, "loop")


@pytest.fixture
def in_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run package code in this process against `project`."""
    monkeypatch.setenv("CRISP_PROJECT_ROOT", str(project))
    monkeypatch.delenv("CRISP_RUN_DIR", raising=False)
    monkeypatch.delenv("CRISP_PHASE", raising=False)
    return project


class Background:
    """A pipeline command started by the `runs` fixture, on its own project copy."""

    def __init__(self, root: Path, started: Started, **info: object) -> None:
        self.root, self.started, self.info = root, started, info

    @functools.cached_property
    def result(self) -> subprocess.CompletedProcess[str]:
        return wait(self.started)


def _prepare_worse_challenger() -> dict[str, object]:
    """Save a valid but clearly worse challenger; let it pass the success criteria, so the
    champion/challenger comparison decides. Returns its test score."""
    feature_schema = artifacts.load_json("feature_schema")
    column = next(n for n, i in feature_schema["features"].items() if i["kind"] == "categorical")
    X, y = preparation.xy(artifacts.load_table("train"), TARGET)
    estimator = LogisticRegression() if PROBLEM_TYPE == "classification" else Ridge()
    encode = ColumnTransformer([("one", OneHotEncoder(handle_unknown="ignore"), [column])])
    model = make_pipeline(encode, estimator).fit(X, y)
    _, metadata = artifacts.load_model("challenger")
    artifacts.save_model("challenger", model, {**metadata, "algorithm": f"{column} only"})
    criteria = artifacts.load_json("success_criteria")
    metric = metrics.get_metric(criteria["primary_metric"], PROBLEM_TYPE)
    X_test, y_test = preparation.xy(artifacts.load_table("test"), TARGET)
    score = evaluation.evaluate(model, X_test, y_test, PROBLEM_TYPE)[metric.name]
    criteria["success_threshold"] = score - 0.05 if metric.greater_is_better else score + 0.05
    criteria["min_gain_over_baseline"] = 0.0
    artifacts.save_json("success_criteria", criteria)
    return {"score": score}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Background]]:
    """The three slow pipeline commands of this module, started at once on separate copies."""
    started: dict[str, Background] = {}
    try:
        root = copy_of_trained(tmp_path_factory, "keep")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("CRISP_PROJECT_ROOT", str(root))
            info = _prepare_worse_challenger()
        pointer = (root / "models" / "production.json").read_bytes()
        command = ("run", "--only", "04_evaluation", "--only", "05_deployment", "--force")
        started["keep"] = Background(root, start(root, *command), pointer=pointer, **info)
        for name, shift in (("no_drift", 0.0), ("drift", 1.0)):
            root = copy_of_trained(tmp_path_factory, name)
            current = root.parent / f"{name}.csv"
            frame = data.make_demo_data(PROBLEM_TYPE, 600, seed=11, shift=shift)
            if shift:
                frame = frame.drop(columns=[TARGET])  # monitoring without labels
            frame.to_csv(current, index=False)
            started[name] = Background(root, start(root, "monitor", str(current)))
        yield started
    finally:
        for run in started.values():
            if run.started.process.poll() is None:
                run.started.process.kill()
                run.started.process.wait()


def _run_crisp(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_first_run_promotes_v0001(in_project: Path) -> None:
    pointer = registry.production()
    assert pointer["version"] == "v0001" and pointer["previous"] is None
    folder = registry.registry_dir() / "v0001"
    for name in ("model.skops", "model.json", "metadata.json", "schema.json", "model_card.md"):
        assert (folder / name).is_file(), name
    record = artifacts.load_json("evaluation")
    assert record["decision"]["decision"] == "promote"
    metadata = registry.list_versions()[0]
    assert metadata["test_metrics"] == record["test_metrics"]
    fingerprint = artifacts.load_json("data_fingerprint")
    assert metadata["data_fingerprint"]["sha256"] == fingerprint["sha256"]


def test_model_card_has_every_section_with_the_run_figures(in_project: Path) -> None:
    record = artifacts.load_json("evaluation")
    metric = record["metric"]
    score = f"{record['test_metrics'][metric]:.4f}"
    for card in (
        artifacts.load_text("model_card"),
        (registry.registry_dir() / "v0001" / "model_card.md").read_text(encoding="utf-8"),
    ):
        positions = [card.index(f"## {section}\n") for section in model_card.SECTIONS]
        assert positions == sorted(positions)
        assert f"| {metric} | {score} |" in card  # the test score of this run
        assert f"**Rows:** {record['test_rows']}" in card
        assert "v0001" in card and model_card.TO_WRITE in card
    html = artifacts.load_text("model_card_html")
    assert "<h2>Quantitative analyses</h2>" in html and score in html


def test_worse_challenger_is_kept_out_of_production(
    runs: dict[str, Background], monkeypatch: pytest.MonkeyPatch
) -> None:
    keep = runs["keep"]
    result = keep.result
    assert result.returncode == 0, result.stdout + result.stderr
    monkeypatch.setenv("CRISP_PROJECT_ROOT", str(keep.root))
    decision = artifacts.load_json("evaluation")["decision"]
    assert decision["decision"] == "keep", decision
    assert decision["challenger"] == pytest.approx(keep.info["score"])
    assert decision["champion"] > decision["challenger"]
    assert (keep.root / "models" / "production.json").read_bytes() == keep.info["pointer"]
    assert [v["version"] for v in registry.list_versions()] == ["v0001"]
    assert "not promoted" in artifacts.load_text("model_card")


def test_rollback_restores_the_previous_version(
    in_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, metadata = registry.load_production()
    schema = artifacts.load_json(registry.registry_dir() / "v0001" / registry.SCHEMA_FILE)
    second = registry.register(model, {**metadata, "note": "second version"}, schema)
    registry.promote(second)
    assert registry.production()["version"] == second

    code, out, _ = _run_crisp(capsys, "rollback")
    assert code == 0
    assert f"production is now v0001 (rolled back from {second})" in out
    assert registry.production()["version"] == "v0001"

    code, _, err = _run_crisp(capsys, "rollback")
    assert code == 2
    assert "no previous version to roll back to" in err and "Traceback" not in err
    assert registry.production()["version"] == "v0001"


def test_rollback_without_production_model(
    tmp_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run_crisp(capsys, "rollback")
    assert code == 2
    assert "no production model to roll back" in err


def test_model_file_with_an_untrusted_type_is_refused(
    in_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = artifacts.load_json("feature_schema")
    numeric = [n for n, i in schema["features"].items() if i["kind"] == "numeric"]
    X, y = preparation.xy(artifacts.load_table("train"), TARGET)
    model = make_pipeline(
        ColumnTransformer([("scale", HomemadeScaler(), numeric)]),
        LogisticRegression() if PROBLEM_TYPE == "classification" else Ridge(),
    ).fit(X.fillna(dict.fromkeys(numeric, 0.0)), y)
    version = registry.register(model, {"model_name": "untrusted"}, schema)
    registry.promote(version)
    new_data = tmp_path / "new.csv"
    data.make_demo_data(PROBLEM_TYPE, 20, seed=3).to_csv(new_data, index=False)
    try:
        code, out, err = _run_crisp(capsys, "predict", str(new_data))
    finally:
        registry.rollback()
    assert code == 2
    assert "refusing to load" in err and "HomemadeScaler" in err and "TRUSTED_TYPES" in err
    assert not (tmp_path / "new.predictions.csv").exists()


def _drift_report(project: Path) -> dict:
    return json.loads((project / artifacts.CATALOG["drift_report"]).read_text(encoding="utf-8"))


def test_monitor_without_drift_exits_0(runs: dict[str, Background]) -> None:
    result = runs["no_drift"].result
    assert result.returncode == 0, result.stdout + result.stderr
    assert "drift status: ok" in result.stdout
    report = _drift_report(runs["no_drift"].root)
    assert report["recommendation"]["status"] == "ok"
    assert report["recommendation"]["drifted_features"] == []
    assert report["current_rows"] == 600
    assert report["performance"] is not None  # labels were there: performance is reported


def test_monitor_with_drift_exits_1_and_flags_the_shifted_columns(
    runs: dict[str, Background],
) -> None:
    result = runs["drift"].result
    assert result.returncode == 1, result.stdout + result.stderr
    assert "drift status: alert" in result.stdout
    report = _drift_report(runs["drift"].root)
    flagged = {row["feature"] for row in report["features"] if row["drifted"]}
    assert set(data.DEMO_SHIFTED_FEATURES[PROBLEM_TYPE]) <= flagged
    assert report["recommendation"]["retrain"] is True
    significant = [row for row in report["features"] if row["feature"] in flagged]
    assert all(row["p_value"] < 0.01 or row["psi"] >= 0.25 for row in significant)
    assert report["performance"] is None  # no labels in this file


def test_monitor_user_errors_exit_2(
    in_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run_crisp(capsys, "monitor", str(tmp_path / "nothing.csv"))
    assert code == 2
    assert "does not exist" in err and "Traceback" not in err
    text = tmp_path / "data.txt"
    text.write_text("a,b\n1,2\n")
    code, _, err = _run_crisp(capsys, "monitor", str(text))
    assert code == 2 and "not a CSV or Parquet file" in err


def test_monitor_before_training_says_to_run_the_pipeline(
    tmp_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    current = tmp_path / "current.csv"
    data.make_demo_data(PROBLEM_TYPE, 20, seed=1).to_csv(current, index=False)
    code, _, err = _run_crisp(capsys, "monitor", str(current))
    assert code == 2
    assert "run the pipeline first" in err
