"""Experiment tracking: each pipeline run logged to a local MLflow store inside the project.

The store is `mlflow.db` (SQLite: runs, parameters, metrics, tags) plus `mlruns/` (artifacts), both
at the project root and git-ignored; `make mlflow-ui` browses them. The runner calls
`log_run_safely` when a run ends: a tracking problem prints a warning and never fails the run.
The production model is logged with MLflow's scikit-learn flavor (skops format, signature from the
training schema) and mirrored in MLflow's Model Registry: one registered model per model name, one
model version per registry version (tag `crisp.version`), the alias `production` on the version in
production, moved by `crisp run`, `crisp promote` and `crisp rollback`. The project's experiment
replaces MLflow's empty "Default" one. mlflow is imported only here, only when something is logged.
"""

from __future__ import annotations

import json
import logging
import sys
import tomllib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

TRACKING_DB = "mlflow.db"
ARTIFACT_DIR = "mlruns"
RUN_ID_TAG = "crisp.run_id"
VERSION_TAG = "crisp.version"  # the registry version a model version of MLflow's registry mirrors
ALIAS = "production"
MODEL_NAME = "model"  # name of the logged model in an MLflow run
DEFAULT_EXPERIMENT_ID = "0"
GIT_COMMIT_TAG = "mlflow.source.git.commit"  # the tag MLflow's UI shows as the source version
# crisp run status -> MLflow run status
STATUS = {"succeeded": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
MAX_PARAM_LENGTH = 6000  # MLflow's limit on a parameter value
BATCH = 100  # MLflow accepts at most 100 parameters or tags per log_batch call


class TrackingError(RuntimeError):
    """MLflow tracking cannot run (mlflow not installed)."""


def tracking_uri(root: Path) -> str:
    """SQLite URI of the project's MLflow store."""
    return f"sqlite:///{(root / TRACKING_DB).as_posix()}"


def experiment_name(root: Path) -> str:
    """The MLflow experiment of this project: its distribution name in pyproject.toml."""
    try:
        with (root / "pyproject.toml").open("rb") as file:
            return str(tomllib.load(file)["project"]["name"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return root.name


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """`{"modelling": {"cv_folds": 5}}` -> `{"modelling.cv_folds": "5"}`; lists as JSON."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, str):
            flat[name] = value[:MAX_PARAM_LENGTH]
        else:
            flat[name] = json.dumps(value, default=str)[:MAX_PARAM_LENGTH]
    return flat


def section(phase: str) -> str:
    """`03_modelling` -> `modelling` (the phase's params.yaml section)."""
    number, _, name = phase.partition("_")
    return name if number.isdigit() and name else phase


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def metrics_and_labels(record: dict[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
    """Numeric phase metrics as `<section>.<name>` metrics (plus durations); the others as tags."""
    numbers: dict[str, float] = {}
    labels: dict[str, str] = {}
    for phase in record.get("phases", []):
        prefix = section(phase["name"])
        for key, value in (phase.get("metrics") or {}).items():
            if _is_number(value):
                numbers[f"{prefix}.{key}"] = float(value)
            elif value is not None:
                labels[f"{prefix}.{key}"] = str(value)
        if phase.get("status") in STATUS and _is_number(phase.get("duration_s")):
            numbers[f"{prefix}.duration_s"] = float(phase["duration_s"])
    if _is_number(record.get("duration_s")):
        numbers["run.duration_s"] = float(record["duration_s"])
    return numbers, labels


def run_tags(record: dict[str, Any]) -> dict[str, str]:
    """Tags of the MLflow run: crisp run id, status, overrides, git commit."""
    tags = {
        RUN_ID_TAG: str(record["run_id"]),
        "crisp.status": str(record.get("status")),
        "crisp.overrides": " ".join(record.get("overrides") or []) or "defaults",
        "crisp.command": " ".join(record.get("command") or []),
        "mlflow.source.name": "crisp run",
    }
    git = record.get("git") or {}
    if git.get("commit"):
        tags[GIT_COMMIT_TAG] = str(git["commit"])
        tags["crisp.git_dirty"] = str(bool(git.get("dirty"))).lower()
    return tags


def report_files(record: dict[str, Any], root: Path) -> list[Path]:
    """run.json, index.html and every phase's HTML report (skipped phases: their last report)."""
    run_dir = Path(record["run_dir"])
    files = [run_dir / "run.json", run_dir / "index.html"]
    files += [root / p["report"] for p in record.get("phases", []) if p.get("report")]
    return [path for path in dict.fromkeys(files) if path.is_file()]


def production_model(root: Path) -> tuple[str, Path] | None:
    """`(version, folder)` of the production model in the registry, or None before the first."""
    from . import registry

    try:
        pointer = json.loads((root / registry.PRODUCTION).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = pointer.get("version") if isinstance(pointer, dict) else None
    folder = root / registry.REGISTRY / str(version)
    return (str(version), folder) if version and (folder / registry.MODEL_FILE).is_file() else None


def _millis(timestamp: str | None) -> int | None:
    try:
        return int(datetime.fromisoformat(str(timestamp)).timestamp() * 1000)
    except ValueError:
        return None


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]


def client(root: Path) -> Any:
    """An `mlflow.tracking.MlflowClient` on the project's store."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise TrackingError(
            "mlflow is not installed in this environment; run `make setup` to install the "
            "project's dependencies"
        ) from exc
    for name in ("mlflow", "alembic"):  # table creation on first use logs at INFO
        logging.getLogger(name).setLevel(logging.WARNING)
    # Without pip in the environment (uv), logging a model warns that pip has no version.
    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)
    return MlflowClient(tracking_uri=tracking_uri(root))


def _experiment_id(mlflow: Any, root: Path) -> str:
    """The project's experiment (created on first use); MLflow's empty Default one is removed."""
    name = experiment_name(root)
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    artifacts = (root / ARTIFACT_DIR).resolve().as_uri()
    experiment_id = str(mlflow.create_experiment(name, artifact_location=artifacts))
    default = mlflow.get_experiment(DEFAULT_EXPERIMENT_ID)
    if (
        default is not None
        and default.lifecycle_stage == "active"
        and not mlflow.search_runs([DEFAULT_EXPERIMENT_ID], max_results=1)
    ):
        mlflow.delete_experiment(DEFAULT_EXPERIMENT_ID)  # the store's own, never used here
    return experiment_id


def signature(schema: dict[str, Any]) -> Any:
    """MLflow model signature from a training schema: one optional input column per feature
    (numbers as double: missing values allowed), the prediction as output."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec
    from mlflow.types import Schema as ColumnSchema

    inputs = []
    for name, info in schema["features"].items():
        categories = info.get("categories") or []
        if info.get("kind") == "numeric":
            kind = "double"
        elif categories and all(isinstance(c, bool) for c in categories):
            kind = "boolean"
        else:
            kind = "string"
        inputs.append(ColSpec(kind, name, required=False))
    target = schema.get("target_info") or {}
    classes = target.get("classes") or []
    if schema.get("problem_type") != "classification":
        output = "double"
    elif classes and all(isinstance(c, bool) for c in classes):
        output = "boolean"
    elif classes and all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        output = "long"
    else:
        output = "string"
    return ModelSignature(
        inputs=ColumnSchema(inputs), outputs=ColumnSchema([ColSpec(output, "prediction")])
    )


def _log_model(run_id: str, version: str, folder: Path, root: Path) -> str:
    """Log registry `version` (its folder) to MLflow run `run_id` with the sklearn flavor."""
    import mlflow
    import mlflow.sklearn
    import sklearn
    import skops

    from . import artifacts, registry

    model, _ = artifacts.load_model(folder / registry.MODEL_FILE)
    schema = json.loads((folder / registry.SCHEMA_FILE).read_text(encoding="utf-8"))
    mlflow.set_tracking_uri(tracking_uri(root))
    with mlflow.start_run(run_id=run_id):
        info = mlflow.sklearn.log_model(
            model,
            name=MODEL_NAME,
            signature=signature(schema),
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
            skops_trusted_types=artifacts.TRUSTED_TYPES,
            pip_requirements=[
                f"scikit-learn=={sklearn.__version__}",
                f"skops=={skops.__version__}",
            ],
            metadata={VERSION_TAG: version},
        )
        for card in ("model_card.html", "model_card.md"):
            if (folder / card).is_file():
                mlflow.log_artifact(str(folder / card), f"registry/{version}")
    return str(info.model_uri)


def mirror_production(root: Path, run_id: str | None = None) -> str | None:
    """Put the alias `production` on the MLflow model version of the production model; log and
    register that version first when MLflow has not got it (into run `run_id`, else a run of its
    own). Returns the MLflow model version, None without a production model."""
    production = production_model(root)
    if production is None:
        return None
    version, folder = production
    from mlflow.exceptions import MlflowException

    from . import registry

    pointer = json.loads((root / registry.PRODUCTION).read_text(encoding="utf-8"))
    name = str(pointer.get("model_name") or experiment_name(root))
    mlflow = client(root)
    try:
        mlflow.get_registered_model(name)
    except MlflowException:
        mlflow.create_registered_model(
            name, description="Mirror of the project's models/registry (crisp)."
        )
    found = next(
        (
            mv
            for mv in mlflow.search_model_versions(f"name='{name}'")
            if mv.tags.get(VERSION_TAG) == version
        ),
        None,
    )
    if found is None:
        own_run = run_id is None
        if own_run:
            run = mlflow.create_run(
                _experiment_id(mlflow, root),
                run_name=f"crisp {version}",
                tags={VERSION_TAG: version, "mlflow.source.name": "crisp promote"},
            )
            run_id = run.info.run_id
        source = _log_model(run_id, version, folder, root)
        found = mlflow.create_model_version(
            name, source, run_id=run_id, tags={VERSION_TAG: version}, description=f"crisp {version}"
        )
        if own_run:
            mlflow.set_terminated(run_id, status="FINISHED")
    mlflow.set_registered_model_alias(name, ALIAS, found.version)
    return str(found.version)


def mirror_production_safely(root: Path) -> None:
    """`mirror_production` for `crisp promote` and `crisp rollback`: a warning, never an error."""
    try:
        mirrored = mirror_production(root)
    except Exception as exc:  # tracking must never fail a registry command
        print(
            f"warning: production not mirrored to MLflow's Model Registry ({TRACKING_DB}): "
            f"{type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return
    if mirrored is not None:
        print(f"MLflow Model Registry: alias '{ALIAS}' on model version {mirrored}")


def log_run(record: dict[str, Any], root: Path) -> str:
    """Log one run record (RunRecord.to_dict()) to the project's store; return the MLflow run id.

    A crisp run already logged is not logged again: its MLflow run id is returned.
    """
    mlflow = client(root)
    from mlflow.entities import Metric, Param, RunTag

    experiment_id = _experiment_id(mlflow, root)
    crisp_id = str(record["run_id"])
    logged = mlflow.search_runs(
        [experiment_id], filter_string=f"tags.`{RUN_ID_TAG}` = '{crisp_id}'"
    )
    if logged:
        return str(logged[0].info.run_id)

    numbers, labels = metrics_and_labels(record)
    started = _millis(record.get("started"))
    finished = _millis(record.get("finished"))
    run = mlflow.create_run(
        experiment_id, start_time=started, tags=run_tags(record), run_name=crisp_id
    )
    run_id = run.info.run_id
    step_time = finished or started or 0
    params = [Param(key, value) for key, value in flatten(record.get("parameters") or {}).items()]
    tags = [RunTag(key, value) for key, value in labels.items()]
    production = production_model(root)
    if production is not None:
        tags.append(RunTag("crisp.production_version", production[0]))
    for chunk in _chunks(params):
        mlflow.log_batch(run_id, params=chunk)
    for chunk in _chunks(tags):
        mlflow.log_batch(run_id, tags=chunk)
    metrics = [Metric(key, value, step_time, 0) for key, value in numbers.items()]
    for chunk in _chunks(metrics):
        mlflow.log_batch(run_id, metrics=chunk)
    for path in report_files(record, root):
        mlflow.log_artifact(run_id, str(path), "reports")
    if production is not None:
        mirror_production(root, run_id)
    status = STATUS.get(str(record.get("status")), "KILLED")
    mlflow.set_terminated(run_id, status=status, end_time=finished)
    return str(run_id)


def log_run_safely(record: dict[str, Any], root: Path) -> str | None:
    """`log_run` for the runner: prints where the run went, or a warning; never raises.

    A run that executed no phase (everything up to date) has nothing new and is not logged.
    """
    if all(p.get("status") == "up to date" for p in record.get("phases", [])):
        return None
    try:
        run_id = log_run(record, root)
    except Exception as exc:  # tracking must never fail a pipeline run
        print(
            f"warning: run {record.get('run_id')} not logged to MLflow ({TRACKING_DB}): "
            f"{type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return None
    print(f"logged to MLflow: experiment {experiment_name(root)}, run {run_id} (make mlflow-ui)")
    return run_id
