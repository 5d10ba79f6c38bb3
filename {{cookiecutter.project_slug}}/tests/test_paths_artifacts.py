"""paths and artifacts: project paths, the catalog, artifacts logged for the run, safe models."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io
from crisp import context, files
from sklearn.base import BaseEstimator
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from trained_project import copy_of_trained, crisp

from {{ cookiecutter.package_name }} import artifacts, modelling, paths, preparation, schema

# ---------------------------------------------------------------- paths


def test_default_root_is_the_project_holding_this_package(monkeypatch):
    monkeypatch.delenv("CRISP_PROJECT_ROOT", raising=False)
    root = paths.project_root()
    assert (root / "pyproject.toml").is_file()
    assert Path(paths.__file__).resolve().is_relative_to(root / "src")


def test_resolve_relative_absolute_and_escaping(tmp_project):
    assert paths.resolve("data/raw/x.csv") == tmp_project / "data" / "raw" / "x.csv"
    assert paths.resolve("data/../params.yaml") == tmp_project / "params.yaml"
    outside = tmp_project.parent / "elsewhere.csv"
    assert paths.resolve(outside) == outside
    with pytest.raises(paths.PathError, match="escapes the project directory; use an absolute"):
        paths.resolve("../elsewhere.csv")


def test_relative_inside_and_outside(tmp_project):
    assert paths.relative(tmp_project / "models" / "m.skops") == "models/m.skops"
    assert paths.relative("data/../data/raw/x.csv") == "data/raw/x.csv"
    outside = tmp_project.parent / "x.csv"
    assert paths.relative(outside) == outside.as_posix()


# ---------------------------------------------------------------- artifacts in a run


def test_run_context_does_nothing_outside_a_run(tmp_project):
    assert not context.active()
    artifacts.save_json("schema", {"a": 1})
    context.record_quality([{"name": "x", "passed": True}])
    context.record_metrics({"auc": 0.9})
    assert not (tmp_project / "reports").exists()


def test_run_context_records_io_quality_and_metrics(run_phase_dir, tmp_project):
    assert context.active()
    written = artifacts.save_json("schema", {"a": 1})
    assert not written.exists(), "staged until the phase succeeds (the runner commits it)"
    assert artifacts.load_json("schema") == {"a": 1}, "the phase reads what it saved"
    lines = [json.loads(x) for x in (run_phase_dir / "io.jsonl").read_text().splitlines()]
    digest = hashlib.sha256(files.readable(written).read_bytes()).hexdigest()
    path = "artifacts/data_understanding/schema.json"
    assert lines == [
        {"op": "write", "path": path, "sha256": digest},
        {"op": "read", "path": path, "sha256": digest},
    ]
    context.record_quality([{"name": "rows", "passed": False}, {"name": "target", "passed": True}])
    context.record_quality([{"name": "rows", "passed": True}])
    quality = json.loads((run_phase_dir / "quality.json").read_text())
    assert quality == [{"name": "target", "passed": True}, {"name": "rows", "passed": True}]
    context.record_metrics({"rows": np.int64(3), "auc": 0.8})
    context.record_metrics({"auc": np.float64(0.85), "model": "ridge"})
    metrics = json.loads((run_phase_dir / "metrics.json").read_text())
    assert metrics == {"rows": 3, "auc": 0.85, "model": "ridge"}


# ---------------------------------------------------------------- catalog and JSON/text/tables


def test_every_artifact_name_the_notebooks_use_is_in_the_catalog():
    notebooks = sorted((Path(paths.__file__).parents[2] / "notebooks").glob("*.ipynb"))
    assert notebooks
    calls = re.compile(r"artifacts\.(?:path|save_\w+|load_\w+)\(\s*[\"'](\w+)[\"']")
    used = {
        name
        for notebook in notebooks
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        for name in calls.findall("".join(cell["source"]))
    }
    assert {"schema", "train", "challenger"} <= used
    assert used - set(artifacts.CATALOG) == set()


@pytest.mark.slow
def test_the_catalog_says_what_each_phase_reads_and_writes(tmp_path_factory):
    """Against a real run of every phase: each file a phase wrote is an entry of that phase
    (nothing undeclared), each entry was written by its phase (no orphan entry), and each phase
    read what the catalog says it reads, and nothing else of another phase's."""
    root = copy_of_trained(tmp_path_factory, "catalog")
    done = crisp(root, "run", "--only", "06_monitoring")
    assert done.returncode == 0, done.stdout + done.stderr
    phases = {}
    for record in (root / "reports").glob("2*/run.json"):
        for phase in json.loads(record.read_text(encoding="utf-8"))["phases"]:
            if phase["status"] == "succeeded":
                phases[phase["name"]] = phase
    catalog = artifacts.CATALOG
    assert set(phases) == set(catalog.phases)
    for name, phase in phases.items():
        declared = catalog.phases[name]
        written = {entry["path"] for entry in phase["writes"]}
        read = {entry["path"] for entry in phase["reads"]} - written
        assert {path: catalog.producer(path) for path in written} == dict.fromkeys(written, name)
        for entry in declared.writes:
            if entry in declared.unlogged:
                assert (root / catalog.entry(entry).path).exists(), (name, entry)
                continue
            assert any(catalog.entry(entry).holds(path) for path in written), (name, entry)
        may = [catalog.entry(n) for n in (*declared.reads, *declared.may_read)]
        assert {path for path in read if not any(e.holds(path) for e in may)} == set(), name
        for entry in declared.reads:
            assert any(catalog.entry(entry).holds(path) for path in read), (name, entry)


def test_catalog_paths_and_unknown_names(tmp_project):
    assert artifacts.path("train") == tmp_project / "data" / "processed" / "train.parquet"
    assert artifacts.path("challenger") == tmp_project / "models" / "challenger.skops"
    with pytest.raises(KeyError, match="unknown artifact 'trian'; known artifacts: .*train"):
        artifacts.path("trian")
    with pytest.raises(KeyError, match="pass a pathlib.Path"):
        artifacts.save_text("notes/readme.md", "x")


def test_json_round_trip_converts_numpy_pandas_and_nan(tmp_project):
    record = {
        "z_first": np.int64(3),
        "score": np.float32(0.5),
        "missing": float("nan"),
        "flag": np.bool_(True),
        "array": np.array([1.0, np.nan]),
        "when": pd.Timestamp("2024-01-02T03:04:05"),
        "series": pd.Series({"a": 1}),
        "nested": [{"inf": float("inf")}, (1, 2)],
        "na": pd.NA,
        "nat": pd.NaT,
    }
    written = artifacts.save_json(tmp_project / "out" / "r.json", record)
    text = written.read_text()
    assert text.startswith('{\n  "z_first": 3,')  # key order kept, indent 2
    assert artifacts.load_json(written) == {
        "z_first": 3,
        "score": 0.5,
        "missing": None,
        "flag": True,
        "array": [1.0, None],
        "when": "2024-01-02T03:04:05",
        "series": {"a": 1},
        "nested": [{"inf": None}, [1, 2]],
        "na": None,
        "nat": None,
    }


def test_failed_serialisation_leaves_the_old_file_intact(tmp_project):
    target = artifacts.save_json("evaluation", {"decision": "promote"})
    with pytest.raises(TypeError, match="cannot store a value of type object as JSON"):
        artifacts.save_json("evaluation", {"decision": object()})
    assert json.loads(target.read_text()) == {"decision": "promote"}
    assert os.listdir(target.parent) == [target.name]


def test_text_round_trip(tmp_project):
    artifacts.save_text("design_doc", "# Design\n")
    assert artifacts.load_text("design_doc") == "# Design\n"


@pytest.mark.parametrize("target", ["train", Path("artifacts/x/table.csv")])
def test_table_round_trip(tmp_project, demo_frame_classification, target):
    written = artifacts.save_table(target, demo_frame_classification)
    assert written.suffix in (".parquet", ".csv")
    loaded = artifacts.load_table(target)
    pd.testing.assert_frame_equal(loaded, demo_frame_classification, check_dtype=False)


@pytest.mark.parametrize(
    ("load", "name", "expected"),
    [
        (
            artifacts.load_table,
            "train",
            re.escape(
                "train (data/processed/train.parquet) does not "
                "exist: run phase 02_data_preparation first"
            ),
        ),
        (artifacts.load_json, "schema", "run phase 01_data_understanding first"),
        (artifacts.load_text, "design_doc", "run phase 00_business_understanding first"),
        (artifacts.load_model, "challenger", "run phase 03_modelling first"),
        (
            artifacts.load_json,
            Path("models/registry/v0007/metadata.json"),
            "^models/registry/v0007/metadata.json does not exist: run phase 05_deployment first",
        ),
        (artifacts.load_json, Path("models/production.json"), "run phase 05_deployment first"),
        (artifacts.load_json, Path("elsewhere/x.json"), "check the path"),
        (artifacts.load_json, Path("artifacts/monitoring/x.json"), "check the path"),
    ],
)
def test_missing_artifact_names_the_phase_to_run(tmp_project, load, name, expected):
    with pytest.raises(artifacts.ArtifactMissingError, match=expected):
        load(name)


# ---------------------------------------------------------------- models


def _candidate_pipelines(frame: pd.DataFrame, target: str, problem_type: str) -> list[Pipeline]:
    inferred = schema.infer_schema(frame, target, problem_type, [frame.columns[0]])
    X, y = preparation.xy(frame.drop(columns=[frame.columns[0]]), target)
    if problem_type == "classification":
        estimators = [
            LogisticRegression(max_iter=200),
            RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0),
            HistGradientBoostingClassifier(max_iter=3),
            DecisionTreeClassifier(max_depth=3),
            DummyClassifier(),
        ]
    else:
        estimators = [
            Ridge(),
            RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0),
            HistGradientBoostingRegressor(max_iter=3),
            DecisionTreeRegressor(max_depth=3),
            DummyRegressor(),
        ]
    preprocessor = preparation.build_preprocessor(inferred)
    return [modelling.make_pipeline(preprocessor, estimator).fit(X, y) for estimator in estimators]


def test_trusted_types_cover_every_candidate_pipeline(
    demo_frame_classification, demo_frame_regression
):
    reported: set[str] = set()
    for frame, target, problem_type in [
        (demo_frame_classification, "churned", "classification"),
        (demo_frame_regression, "price", "regression"),
    ]:
        for pipeline in _candidate_pipelines(frame, target, problem_type):
            reported |= set(skops.io.get_untrusted_types(data=skops.io.dumps(pipeline)))
    assert reported <= set(artifacts.TRUSTED_TYPES)


@pytest.fixture
def fitted_model(demo_frame_regression):
    X, y = preparation.xy(demo_frame_regression.drop(columns=["listing_id"]), "price")
    inferred = schema.infer_schema(demo_frame_regression, "price", "regression", ["listing_id"])
    model = Pipeline(
        [
            ("preprocess", preparation.build_preprocessor(inferred)),
            ("model", HistGradientBoostingRegressor(max_iter=5)),
        ]
    ).fit(X, y)
    return model, X


def test_model_round_trip_with_metadata(tmp_project, fitted_model):
    model, X = fitted_model
    written = artifacts.save_model("challenger", model, {"algorithm": "hgb", "rows": np.int64(5)})
    sidecar = json.loads(written.with_suffix(".json").read_text())
    assert sidecar["sha256"] == hashlib.sha256(written.read_bytes()).hexdigest()
    assert sidecar["rows"] == 5
    loaded, metadata = artifacts.load_model("challenger")
    assert metadata == sidecar
    assert {"sklearn_version", "created", "algorithm"} <= set(metadata)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


class Doubler(BaseEstimator):
    """A custom class: skops cannot know whether loading it is safe."""

    def predict(self, X):
        return np.asarray(X) * 2


def test_refuses_a_model_with_untrusted_types(tmp_project):
    artifacts.save_model("challenger", Doubler(), {})
    with pytest.raises(artifacts.UntrustedModelError, match="refusing to load .*Doubler"):
        artifacts.load_model("challenger")


def test_refuses_a_model_file_changed_after_saving(tmp_project, fitted_model):
    written = artifacts.save_model("challenger", fitted_model[0], {})
    other = artifacts.save_model(tmp_project / "other.skops", Doubler(), {})
    written.write_bytes(other.read_bytes())  # swapped without updating the metadata
    with pytest.raises(artifacts.UntrustedModelError, match="changed since it was saved"):
        artifacts.load_model("challenger")


def test_refuses_a_model_without_metadata(tmp_project, fitted_model):
    written = artifacts.save_model("challenger", fitted_model[0], {})
    written.with_suffix(".json").unlink()
    with pytest.raises(artifacts.UntrustedModelError, match="metadata file .* is missing"):
        artifacts.load_model("challenger")
