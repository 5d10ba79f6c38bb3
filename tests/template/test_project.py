"""Integration: a project baked for another problem type than the default runs its whole pipeline
at the default parameters, and the tests of its rendered files pass.

The default bake (the first problem type) runs in the integration group (tests/integration: its
own suite, the runner's tests, the real tables) and, at the default parameters, as `make demo` in
CI. Each other problem type is baked once here, run in the shared environment and its pipeline run
once; the tests then check what a user relies on.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import (
    PROBLEM_TYPES,
    bake_to,
    default_answers,
    explain,
    in_shared_env,
    run,
    shared_python,
)

pytestmark = pytest.mark.slow

# What "sane" means for the demo data of each problem type: (metric, floor, required gain).
SANE_METRICS = {"classification": ("roc_auc", 0.75, 0.1), "regression": ("r2", 0.5, 0.0)}
PREDICT_SCRIPT = textwrap.dedent(
    """
    import importlib, json, sys
    from pathlib import Path

    import numpy as np
    import pandas as pd
    from sklearn.metrics import r2_score, roc_auc_score

    package, model_file, test_file, target, problem_type = sys.argv[1:]
    artifacts = importlib.import_module(f"{package}.artifacts")
    model, metadata = artifacts.load_model(Path(model_file))
    test = pd.read_parquet(test_file)
    X, y = test.drop(columns=[target]), test[target]
    predictions = np.asarray(model.predict(X))
    if problem_type == "classification":
        positive = model.classes_[1]
        score = roc_auc_score(y == positive, model.predict_proba(X)[:, 1])
        valid = bool(np.isin(predictions, model.classes_).all())
    else:
        score = r2_score(y, predictions)
        valid = bool(np.isfinite(predictions.astype(float)).all())
    print(json.dumps({"rows": len(X), "predictions": len(predictions), "valid": valid,
                      "score": float(score)}))
    """
)


@dataclass
class Pipeline:
    """A baked, installed project after one `crisp run`."""

    problem_type: str
    project: Path
    python: Path
    result: subprocess.CompletedProcess[str]

    @property
    def run_dir(self) -> Path:
        """reports/<run-id>/ of the one run (`reports/latest` is only a pointer to it)."""
        runs = [
            p for p in (self.project / "reports").iterdir() if p.is_dir() and not p.is_symlink()
        ]
        assert len(runs) == 1, f"expected one run folder, found {runs}"
        return runs[0]

    @property
    def record(self) -> dict:
        """The run record, run.json."""
        return json.loads((self.run_dir / "run.json").read_text())

    def notebooks(self) -> list[str]:
        """The phase notebooks of the project, by stem, in order."""
        return sorted(p.stem for p in (self.project / "notebooks").glob("[0-9][0-9]_*.ipynb"))


# The problem types other than the default bake's (PROBLEM_TYPES[0]).
OTHER_PROBLEM_TYPES = PROBLEM_TYPES[1:]


@pytest.fixture(scope="module", params=OTHER_PROBLEM_TYPES)
def installed(
    request: pytest.FixtureRequest,
    template: Path,
    cookiecutter_config: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, Path, Path]:
    """(problem_type, project, python) of a freshly baked project, run in the shared environment
    (the same dependencies; the project's own package and root come first)."""
    problem_type = request.param
    output = tmp_path_factory.mktemp(f"project-{problem_type}")
    project = bake_to(template, cookiecutter_config, output, problem_type=problem_type)
    return problem_type, project, shared_python()


@pytest.fixture(scope="module")
def pipeline(installed: tuple[str, Path, Path]) -> Pipeline:
    """The project after one whole pipeline run (`.venv/bin/crisp run`)."""
    problem_type, project, python = installed
    result = run(
        [python, "-m", "crisp", "run"], cwd=project, timeout=1200, env=in_shared_env(project)
    )
    return Pipeline(problem_type, project, python, result)


# The default bake's whole suite runs in tests/integration/test_project_setup.py. The test code is
# the same for every problem type; what another one renders differently is params.yaml and the
# notebooks, which these modules read (declarations, catalog, demo data, prediction schema).
RENDERED_FILE_TESTS = (
    "tests/test_checks.py",
    "tests/test_notebooks.py",
    "tests/test_paths_artifacts.py",
    "tests/test_data.py",
    "tests/test_prediction.py",
)


def test_project_tests_of_its_rendered_files_pass(installed: tuple[str, Path, Path]) -> None:
    _, project, python = installed
    result = run(
        [
            python,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "not slow",
            *RENDERED_FILE_TESTS,
        ],
        cwd=project,
        timeout=900,
        env=in_shared_env(project),
    )
    assert result.returncode == 0, explain(result)
    assert " passed" in result.stdout


def test_pipeline_succeeds(pipeline: Pipeline) -> None:
    assert pipeline.result.returncode == 0, explain(pipeline.result)
    shown = pipeline.result.stdout + pipeline.result.stderr
    missing = [phase for phase in pipeline.notebooks() if phase not in shown]
    assert not missing, f"the run's progress never mentions {missing}"


def test_every_phase_has_an_executed_notebook_and_report(pipeline: Pipeline) -> None:
    phases = pipeline.notebooks()
    assert len(phases) == 7
    run_dir = pipeline.run_dir
    assert sorted(p.stem for p in run_dir.glob("*.ipynb")) == phases
    assert sorted(p.stem for p in run_dir.glob("*.html")) == sorted([*phases, "index"])
    index = (run_dir / "index.html").read_text()
    for phase in phases:
        assert f"{phase}.html" in index, f"index.html does not link the report of {phase}"
    for executed in run_dir.glob("*.ipynb"):
        notebook = json.loads(executed.read_text())
        code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
        assert all(cell["execution_count"] is not None for cell in code), executed.name


def test_run_record_says_every_phase_succeeded_with_qa(pipeline: Pipeline) -> None:
    record = pipeline.record
    assert record["status"] == "succeeded"
    assert [phase["name"] for phase in record["phases"]] == pipeline.notebooks()
    for phase in record["phases"]:
        assert phase["status"] == "succeeded", phase["name"]
        quality = phase["quality"]
        assert quality and quality["total"] > 0, f"{phase['name']} recorded no QA checks"
        assert quality["failed"] == 0, f"{phase['name']}: {quality['failures']}"
    assert record["data_fingerprint"], "run.json has no input data fingerprint"
    assert record["parameters"]["shared"]["problem_type"] == pipeline.problem_type


def test_production_model_loads_and_predicts(pipeline: Pipeline) -> None:
    assert pipeline.result.returncode == 0, "the pipeline failed: see test_pipeline_succeeds"
    project = pipeline.project
    version = json.loads((project / "models" / "production.json").read_text())["version"]
    (model_file,) = (project / "models" / "registry" / version).glob("*.skops")
    params = yaml.safe_load((project / "params.yaml").read_text())
    test_file = project / "data" / "processed" / "test.parquet"
    package = default_answers()["package_name"]
    args = [package, model_file, test_file, params["shared"]["target"], pipeline.problem_type]
    result = run(
        [pipeline.python, "-c", PREDICT_SCRIPT, *args], cwd=project, env=in_shared_env(project)
    )
    assert result.returncode == 0, explain(result)
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["rows"] > 0 and outcome["predictions"] == outcome["rows"]
    assert outcome["valid"], "predictions outside the classes, or not finite"
    metric, floor, _ = SANE_METRICS[pipeline.problem_type]
    assert outcome["score"] > floor, f"production model's test {metric} is {outcome['score']}"


def test_evaluation_metrics_are_sane(pipeline: Pipeline) -> None:
    assert pipeline.result.returncode == 0, "the pipeline failed: see test_pipeline_succeeds"
    evaluation = json.loads(
        (pipeline.project / "artifacts" / "evaluation" / "evaluation.json").read_text()
    )
    metric, floor, gain = SANE_METRICS[pipeline.problem_type]
    score = evaluation["test_metrics"][metric]
    baseline = evaluation["baseline_metrics"][metric]
    assert score > floor, f"test {metric} {score} is not above {floor}"
    assert score > baseline + gain, f"test {metric} {score} vs baseline {baseline}"
    assert evaluation["decision"], "evaluation.json records no decision"
