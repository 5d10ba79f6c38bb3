"""`crisp runs` and `crisp compare`: run records written with the runner's own RunRecord."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from crisp import history
from crisp.cli import main
from crisp.records import PhaseRecord, RunRecord

PARAMS = {
    "shared": {"target": "y", "random_seed": 42},
    "business_understanding": {"primary_metric": "roc_auc"},
    "modelling": {"cv_folds": 5, "candidates": ["logistic_regression", "random_forest"]},
}


def write_run(
    root: Path,
    run_id: str,
    started: str,
    status: str = "succeeded",
    overrides: list[str] | None = None,
    cv_folds: int = 5,
    test_auc: float = 0.80,
    duration_s: float | None = 60.0,
) -> Path:
    """Save a run.json as the runner does: three phases, the last one per `status`."""
    modelling = {"target": "y", "random_seed": 42, "cv_folds": cv_folds}
    phases = [
        PhaseRecord(
            name="03_modelling",
            status="succeeded",
            duration_s=20.0,
            parameters=modelling,
            metrics={"cv_roc_auc": test_auc + 0.03, "model": "random_forest"},
        ),
        PhaseRecord(
            name="04_evaluation",
            status="succeeded" if status == "succeeded" else status,
            duration_s=10.0,
            parameters={"target": "y", "random_seed": 42, "noise_level": 0.1},
            metrics={"test_roc_auc": test_auc, "decision": "promote"}
            if status == "succeeded"
            else {},
        ),
        PhaseRecord(name="05_deployment", status="not run" if status != "succeeded" else status),
    ]
    record = RunRecord(
        run_id=run_id,
        run_dir=root / "reports" / run_id,
        command=["crisp", "run"],
        parameters=PARAMS,
        overrides=overrides or [],
        phases=phases,
        status=status,
        started=started,
        duration_s=duration_s,
    )
    record.run_dir.mkdir(parents=True)
    return record.save()


def test_run_json_holds_the_record_as_to_dict_gives_it(tmp_project: Path) -> None:
    path = write_run(tmp_project, "20250101-090000-aaaa", "2025-01-01T09:00:00+00:00")
    saved = json.loads(path.read_text(encoding="utf-8"))
    record = RunRecord(
        **{**saved, "run_dir": Path(saved["run_dir"]), "phases": []},
    )
    record.phases = [PhaseRecord(**phase) for phase in saved["phases"]]
    assert saved == record.to_dict()
    assert saved["run_dir"] == str(tmp_project / "reports" / "20250101-090000-aaaa")
    assert saved["phases"][1]["metrics"] == {"test_roc_auc": 0.8, "decision": "promote"}
    record.save(durable=False)  # a progress note: the same text
    assert json.loads(path.read_text(encoding="utf-8")) == saved


@pytest.fixture
def project(tmp_project: Path) -> Path:
    """Three runs: an old success, a failed run with overrides, the newest success."""
    write_run(tmp_project, "20250101-090000-aaaa", "2025-01-01T09:00:00+00:00", test_auc=0.80)
    write_run(
        tmp_project,
        "20250102-090000-bbbb",
        "2025-01-02T09:00:00+00:00",
        status="failed",
        overrides=["modelling.cv_folds=3"],
        cv_folds=3,
    )
    write_run(
        tmp_project,
        "20250103-090000-cccc",
        "2025-01-03T09:00:00+00:00",
        overrides=["modelling.cv_folds=10"],
        cv_folds=10,
        test_auc=0.85,
    )
    return tmp_project


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_runs_lists_newest_first_with_failed_runs(project: Path, capsys: Any) -> None:
    code, out, _ = run_cli(["runs"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["run", "status", "duration", "parameters", "headline", "metrics"]
    ids = [line.split()[0] for line in lines[1:]]
    assert ids == ["20250103-090000-cccc", "20250102-090000-bbbb", "20250101-090000-aaaa"]
    newest, failed, oldest = lines[1:]
    assert "succeeded" in newest and "60.0s" in newest and "modelling.cv_folds=10" in newest
    assert "test_roc_auc=0.85 cv_roc_auc=0.88 decision=promote" in newest
    assert "failed in 04_evaluation" in failed and "modelling.cv_folds=3" in failed
    assert "defaults" in oldest and "test_roc_auc=0.8 " in oldest


def test_runs_limit_and_unreadable_records(project: Path, capsys: Any) -> None:
    torn = project / "reports" / "20250104-090000-dddd"
    torn.mkdir()
    (torn / "run.json").write_text('{"run_id": "20250104-0', encoding="utf-8")
    code, out, _ = run_cli(["runs", "--limit", "1"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[1].startswith("20250103-090000-cccc")
    assert lines[2] == "... 2 older runs (crisp runs --limit 0 shows all)"
    assert "dddd" not in out


def test_unfinished_run_duration_is_the_sum_of_its_phases(tmp_project: Path) -> None:
    write_run(tmp_project, "r1", "2025-01-01T09:00:00+00:00", status="interrupted", duration_s=None)
    (run,) = history.load_runs(tmp_project)
    assert history.duration(run) == 30.0
    assert history.status(run) == "interrupted in 04_evaluation"


def test_no_runs_yet(tmp_project: Path, capsys: Any) -> None:
    code, out, _ = run_cli(["runs"], capsys)
    assert code == 0 and "no runs yet" in out
    code, _, err = run_cli(["compare", "latest", "latest"], capsys)
    assert code == 2 and "crisp run" in err


def test_compare_shows_parameter_and_metric_differences(project: Path, capsys: Any) -> None:
    code, out, _ = run_cli(["compare", "20250101-090000-aaaa", "latest"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split()[:3] == ["A", "20250101-090000-aaaa", "succeeded"]
    assert lines[2].split()[:2] == ["B", "20250103-090000-cccc"]
    params = lines[lines.index("parameters that differ:") + 1 :]
    assert params[0].split() == ["phase", "parameter", "A", "B"]
    assert params[1].split() == ["03_modelling", "cv_folds", "5", "10"]
    metrics = lines[lines.index("metrics:") + 1 :]
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in metrics[1:]}
    assert rows[("04_evaluation", "test_roc_auc")] == ["0.8", "0.85", "+0.05"]
    assert rows[("03_modelling", "model")] == ["random_forest", "random_forest"]
    assert rows[("04_evaluation", "decision")] == ["promote", "promote"]


def test_compare_with_a_failed_run_marks_missing_metrics(project: Path, capsys: Any) -> None:
    code, out, _ = run_cli(["compare", "20250102", "20250103"], capsys)
    assert code == 0
    assert "failed in 04_evaluation" in out
    row = next(line for line in out.splitlines() if "test_roc_auc" in line).split()
    assert row[2:] == ["-", "0.85", "changed"]


def test_compare_same_run_has_no_differences(project: Path, capsys: Any) -> None:
    code, out, _ = run_cli(["compare", "latest", "20250103-090000-cccc"], capsys)
    assert code == 0
    assert "parameters: identical in every phase" in out


def test_unknown_run_id_names_the_newest_runs(project: Path, capsys: Any) -> None:
    code, out, err = run_cli(["compare", "nope", "latest"], capsys)
    assert code == 2 and out == ""
    assert err.strip() == (
        "crisp compare: error: no run 'nope' under reports/; newest: 20250103-090000-cccc, "
        "20250102-090000-bbbb, 20250101-090000-aaaa (`crisp runs` lists them all)"
    )


def test_ambiguous_prefix_is_rejected(project: Path, capsys: Any) -> None:
    code, _, err = run_cli(["compare", "2025010", "latest"], capsys)
    assert code == 2
    assert "matches 3 runs" in err and len(err.strip().splitlines()) == 1


def test_parameter_changes_include_parameters_only_one_run_has() -> None:
    a = {"phases": [{"name": "03_modelling", "parameters": {"cv_folds": 5}}]}
    b = {"phases": [{"name": "03_modelling", "parameters": {"cv_folds": 5, "extra": None}}]}
    assert history.parameter_changes(a, b) == [("03_modelling", "extra", None, None)]
    assert history.change(1, True) == "changed"
    assert history.change(0.5, 0.5) == ""
