"""The deployment and monitoring loop on the real pipeline: promotion gate, rollback, safe model
files, drift monitoring and the model card (see trained_project for the shared trained copy)."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from crisp import cli
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from trained_project import (
    PROBLEM_TYPE,
    SMALL_RUN,
    TARGET,
    Started,
    copy_of_trained,
    crisp,
    env,
    start,
    wait,
)

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
        root = copy_of_trained(tmp_path_factory, "few_labels")
        current = root.parent / "few_labels.csv"
        frame = data.make_demo_data(PROBLEM_TYPE, 600, seed=12)
        frame.loc[frame.index % 5 < 2, TARGET] = None  # 40% of the labels missing
        if PROBLEM_TYPE == "classification":  # and the labelled rows of one class only
            first = sorted(frame[TARGET].dropna().unique())[0]
            frame = frame[frame[TARGET].isna() | (frame[TARGET] == first)]
        frame.to_csv(current, index=False)
        started["few_labels"] = Background(
            root, start(root, "monitor", str(current)), rows=len(frame)
        )
        root = copy_of_trained(tmp_path_factory, "corrupt")
        (root / "models" / "production.json").write_text("", encoding="utf-8")
        current = root.parent / "corrupt.csv"
        data.make_demo_data(PROBLEM_TYPE, 300, seed=13).to_csv(current, index=False)
        started["corrupt"] = Background(root, start(root, "monitor", str(current)))
        root = copy_of_trained(tmp_path_factory, "same")
        same = ("run", "--only", "05_deployment", "--force")
        started["same"] = Background(root, start(root, *same))
        root = copy_of_trained(tmp_path_factory, "outside")
        shutil.rmtree(root / "models" / "registry")
        (root / "models" / "production.json").unlink()
        started["outside"] = Background(root, _papermill(root, "05_deployment"))
        yield started
    finally:
        for run in started.values():
            if run.started.process.poll() is None:
                run.started.process.kill()
                run.started.process.wait()


def _papermill(root: Path, phase: str) -> Started:
    """Run a phase notebook with papermill alone, outside `crisp run` (like nbconvert Run All)."""
    command = [
        sys.executable,
        "-m",
        "papermill",
        f"notebooks/{phase}.ipynb",
        str(root.parent / f"{phase}.out.ipynb"),
        "--kernel",
        "python3",
    ]
    stdout = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by wait()
    stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by wait()
    process = subprocess.Popen(
        command, cwd=root, env=env(root), stdout=stdout, stderr=stderr, text=True
    )
    return Started(process, stdout, stderr)


def _changed(model: object) -> object:
    """The same fitted pipeline with one parameter changed: another model content for the registry
    (an identical model would not be registered again)."""
    return model.set_params(**{f"{model.steps[-1][0]}__random_state": 12345})


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
    run = json.loads((in_project / "reports" / "latest" / "run.json").read_text("utf-8"))
    lineage = metadata["lineage"]
    assert lineage["run_id"] == run["run_id"] and lineage["outside_runner"] is False
    assert lineage["parameters"] == run["parameters"]
    assert lineage["data"]["sha256"] == fingerprint["sha256"]
    assert (in_project / lineage["report"]).is_file()
    assert lineage["git_commit"] == (run.get("git") or {}).get("commit")  # None: no git here
    (event,) = registry.history()
    assert event["action"] == "promote" and event["via"] == f"crisp run {run['run_id']}"
    card = (folder / "model_card.md").read_text(encoding="utf-8")
    assert f"- **Run:** `{run['run_id']}`" in card
    assert (folder / "model_card_figures" / "metrics.png").is_file()
    assert 'src="data:image/png;base64,' in (folder / "model_card.html").read_text("utf-8")


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
    second = registry.register(_changed(model), {**metadata, "note": "second version"}, schema)
    assert second != "v0001"
    registry.promote(second)
    assert registry.production()["version"] == second

    code, out, _ = _run_crisp(capsys, "rollback")
    assert code == 0
    assert f"production is now v0001 (rolled back from {second};" in out
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
    assert report["performance"]["status"] == "computed"  # labels were there
    assert report["performance"]["labelled_rows"] == 600


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
    assert report["performance"]["status"] == "skipped"  # no labels in this file
    assert report["performance"]["reason"] == f"the current data has no target column '{TARGET}'"


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


def test_monitor_on_a_file_bad_further_down_exits_2_in_one_line(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A bad line beyond the rows checked before the run: the phase fails reading it; the user
    still gets one line naming the file and the fix, exit 2, and no drift report."""
    root = copy_of_trained(tmp_path_factory, "bad_further_down")
    current = root.parent / "current.csv"
    frame = data.make_demo_data(PROBLEM_TYPE, 300, seed=14)
    frame.to_csv(current, index=False)
    with current.open("a", encoding="utf-8") as handle:
        handle.write(",".join(["1"] * (frame.shape[1] + 2)) + "\n")  # two fields too many
    pointer = (root / "models" / "production.json").read_bytes()

    result = crisp(root, "monitor", str(current))

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"crisp monitor: error: cannot read data file {current} (")
    assert "line 302, saw 12): check it, or export it again" in result.stderr
    assert not (root / artifacts.CATALOG["drift_report"]).exists()
    assert (root / "models" / "production.json").read_bytes() == pointer


def test_monitor_before_training_says_to_run_the_pipeline(
    tmp_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    current = tmp_path / "current.csv"
    data.make_demo_data(PROBLEM_TYPE, 20, seed=1).to_csv(current, index=False)
    code, _, err = _run_crisp(capsys, "monitor", str(current))
    assert code == 2
    assert "run the pipeline first" in err


def test_monitor_scores_the_labelled_rows_or_says_why_not(runs: dict[str, Background]) -> None:
    run = runs["few_labels"]
    result = run.result
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 1: drift alert
    assert "drift status:" in result.stdout and "Traceback" not in result.stderr
    report = _drift_report(run.root)
    assert report["current_rows"] == run.info["rows"]
    performance = report["performance"]
    assert performance["unlabelled_rows"] == 240
    assert performance["labelled_rows"] == run.info["rows"] - 240
    if PROBLEM_TYPE == "classification":
        assert performance["status"] == "skipped"
        assert "is undefined on the current data: only one class (" in performance["reason"]
        assert f"Performance not computed: {performance['reason']}." in result.stdout
        mix = report["class_mix"]
        assert sum(row["current_share"] for row in mix) == pytest.approx(1.0)
    else:
        assert performance["status"] == "computed"


def test_monitor_with_a_corrupt_registry_still_reports_drift(runs: dict[str, Background]) -> None:
    result = runs["corrupt"].result
    assert result.returncode in (0, 1), result.stdout + result.stderr
    report = _drift_report(runs["corrupt"].root)
    assert report["prediction_drift"] is None and report["performance"] is None
    (note,) = report["notes"]
    assert "models/production.json is empty" in note and "crisp promote VERSION" in note
    assert report["features"]  # the data drift is there


def test_an_identical_challenger_is_not_registered_again(runs: dict[str, Background]) -> None:
    run = runs["same"]
    assert run.result.returncode == 0, run.result.stdout + run.result.stderr
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRISP_PROJECT_ROOT", str(run.root))
        assert registry.versions() == ["v0001"]
        assert len(registry.history()) == 1  # no second promotion
        card = artifacts.load_text("model_card")
    assert "v0001 stays in production: the challenger is identical to it" in card


def test_phase_05_outside_the_runner_registers_but_does_not_promote(
    runs: dict[str, Background], capsys: pytest.CaptureFixture[str]
) -> None:
    run = runs["outside"]
    assert run.result.returncode == 0, run.result.stdout + run.result.stderr
    output = (run.root.parent / "05_deployment.out.ipynb").read_text(encoding="utf-8")
    assert "not promoted: this notebook ran outside `crisp run`" in output
    assert not (run.root / "models" / "production.json").exists()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRISP_PROJECT_ROOT", str(run.root))
        assert registry.versions() == ["v0001"]
        lineage = registry.metadata("v0001")["lineage"]
        assert lineage["outside_runner"] is True and lineage["run_id"] is None
        code, out, _ = _run_crisp(capsys, "promote", "v0001", "--reason", "checked by hand")
        assert code == 0 and "production is now v0001" in out
        (event,) = registry.history()
    assert (event["via"], event["reason"]) == ("crisp promote", "checked by hand")


def test_promote_and_rollback_commands_go_both_ways(
    in_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, metadata = registry.load_production()
    schema = artifacts.load_json(registry.registry_dir() / "v0001" / registry.SCHEMA_FILE)
    second = registry.register(_changed(model), {**metadata, "note": "for promote"}, schema)
    try:
        code, out, _ = _run_crisp(capsys, "promote", second, "--reason", "ticket 1")
        assert code == 0
        assert f"production is now {second} (replacing v0001; `crisp rollback` returns" in out
        code, out, _ = _run_crisp(capsys, "rollback", "--reason", "ticket 2")
        assert code == 0 and f"`crisp promote {second}` goes forward again" in out
        code, out, _ = _run_crisp(capsys, "promote", second)
        assert code == 0 and registry.production()["version"] == second
        code, out, _ = _run_crisp(capsys, "promote", second)
        assert code == 0 and "already in production; nothing changed" in out
        code, _, err = _run_crisp(capsys, "promote", "v0099")
        assert code == 2 and "'v0099' is not in the registry" in err
        events = registry.history()[-3:]
        assert [(e["action"], e["via"], e["reason"]) for e in events] == [
            ("promote", "crisp promote", "ticket 1"),
            ("rollback", "crisp rollback", "ticket 2"),
            ("promote", "crisp promote", "no reason given"),
        ]
    finally:
        registry.promote("v0001")
    # The user's choice is no pipeline change: phase 05 is not run again (it would re-promote).
    code, out, _ = _run_crisp(capsys, "status", *SMALL_RUN)  # the parameters it was trained with
    assert code == 0
    deployment = next(line for line in out.splitlines() if line.startswith("05_deployment"))
    assert deployment.split()[1:4] == ["up", "to", "date"], out
