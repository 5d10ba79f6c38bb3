"""The artifact catalog (what each phase writes and reads) and save/load of JSON, text, tables,
models by catalog name.

This is the only module that knows where artifacts live; notebooks use catalog names. Writes go
through `crisp.files`: atomic, and inside a `crisp run` staged until the phase succeeds (a failed
phase changes nothing); loads see what the running phase itself saved. pandas and skops are
imported inside the functions that need them, so the runner can import this cheaply.
"""

from __future__ import annotations

import datetime as dt
import json
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crisp import context, files
from crisp.catalog import Catalog, PhaseFiles
from crisp.catalog import UnknownArtifactError as UnknownArtifactError
from crisp.files import atomic_write_bytes, atomic_write_text, to_json

from . import paths

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

# What each phase writes (catalog name -> project path; a path ending in / is a folder) and reads.
# Declared here once: the runner derives from it which phase to run when an input is missing, and
# checks before a run that every phase will find its inputs. tests/test_paths_artifacts.py checks
# it against what a pipeline run really reads and writes.
CATALOG = Catalog(
    {
        "00_business_understanding": PhaseFiles(
            writes={
                "success_criteria": "artifacts/business_understanding/success_criteria.json",
                "design_doc": "artifacts/business_understanding/design.md",
            },
        ),
        "01_data_understanding": PhaseFiles(
            writes={
                "demo_data": "data/raw/demo.parquet",  # only when shared.data_path is empty
                "schema": "artifacts/data_understanding/schema.json",
                "quality_report": "artifacts/data_understanding/quality_report.csv",
                "data_fingerprint": "artifacts/data_understanding/fingerprint.json",
            },
        ),
        "02_data_preparation": PhaseFiles(
            writes={
                "train": "data/processed/train.parquet",
                "valid": "data/processed/valid.parquet",
                "test": "data/processed/test.parquet",
                "feature_schema": "artifacts/data_preparation/feature_schema.json",
                "preparation_summary": "artifacts/data_preparation/summary.json",
            },
            reads=("data_fingerprint", "schema"),
            may_read=("demo_data",),  # the data, when shared.data_path is empty
        ),
        "03_modelling": PhaseFiles(
            writes={
                "cv_results": "artifacts/modelling/cv_results.csv",
                "search_results": "artifacts/modelling/search_results.csv",
                "challenger": "models/challenger.skops",
                "challenger_metadata": "models/challenger.json",  # its sidecar (save_model)
            },
            reads=("success_criteria", "feature_schema", "train", "valid", "data_fingerprint"),
        ),
        "04_evaluation": PhaseFiles(
            writes={"evaluation": "artifacts/evaluation/evaluation.json"},
            reads=(
                "success_criteria",
                "train",
                "test",
                "challenger",
                "challenger_metadata",
            ),
            may_read=("registry", "production"),
        ),
        "05_deployment": PhaseFiles(
            writes={
                "model_card": "artifacts/deployment/model_card.md",
                "model_card_html": "artifacts/deployment/model_card.html",
                "model_card_figures": "artifacts/deployment/model_card_figures/",
                "registry": "models/registry/",
                "production": "models/production.json",
            },
            unlogged=("production",),  # crisp promote and rollback move it too
            reads=(
                "evaluation",
                "feature_schema",
                "data_fingerprint",
                "success_criteria",
                "challenger",
                "challenger_metadata",
                "test",
            ),
        ),
        "06_monitoring": PhaseFiles(
            writes={"drift_report": "artifacts/monitoring/drift_report.json"},
            kept_on_failure=("drift_report",),  # the report of a drift alert (crisp monitor)
            reads=("feature_schema", "train", "success_criteria"),
            may_read=("registry", "production"),
        ),
    }
)

# Types skops does not trust by default but the project's pipelines contain (skops trusts
# scikit-learn's estimators and transformers itself). The candidate pipelines of every problem type
# (ColumnTransformer + imputers, scaler, one-hot encoder + logistic regression / ridge / random
# forest / histogram gradient boosting / decision tree / dummy) report exactly these;
# tests/test_paths_artifacts.py re-checks that against the installed versions.
TRUSTED_TYPES: list[str] = [
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    # histogram gradient boosting with native categories keeps check_array in a partial
    "functools.partial",
    "sklearn.utils.validation.check_array",
    # skrub's encoders for dates and many-valued text (preparation.build_preprocessor)
    "skrub._datetime_encoder.DatetimeEncoder",
    "skrub._string_encoder.StringEncoder",
    "skrub._to_datetime.ToDatetime",
    "skrub._to_str.ToStr",
    # the project's own encoders: text once per distinct value, categories for boosting
    "{{ cookiecutter.package_name }}.preparation.CategoryCodes",
    "{{ cookiecutter.package_name }}.preparation.PerValueStringEncoder",
]


class ArtifactMissingError(FileNotFoundError):
    """An artifact that an earlier phase should have written is not there."""


class UntrustedModelError(RuntimeError):
    """A model file that is not safe to load (unknown types, or changed since it was saved)."""


# ---------------------------------------------------------------- catalog


def path(name: str) -> Path:
    """Absolute path of the catalog entry `name` (UnknownArtifactError lists the names)."""
    return paths.resolve(CATALOG[name])


def _target(name_or_path: str | Path) -> tuple[Path, str]:
    """(absolute path, label for messages) of a catalog name or a Path."""
    if isinstance(name_or_path, Path):
        return paths.resolve(name_or_path), paths.relative(paths.resolve(name_or_path))
    return path(name_or_path), name_or_path


def producing_phase(target: Path) -> str | None:
    """The phase that writes `target`, from the catalog."""
    return CATALOG.producer(paths.relative(target))


def _require(target: Path, label: str) -> None:
    if files.is_file(target):
        return
    shown = paths.relative(target)
    where = label if label == shown else f"{label} ({shown})"
    phase = producing_phase(target)
    hint = f"run phase {phase} first" if phase else "check the path or run the phase that writes it"
    raise ArtifactMissingError(f"{where} does not exist: {hint}")


def save_json(name_or_path: str | Path, obj: Any) -> Path:
    """Save `obj` as JSON; returns the path written."""
    target, _ = _target(name_or_path)
    atomic_write_text(target, to_json(obj))
    context.log_io("write", target)
    return target


def load_json(name_or_path: str | Path) -> Any:
    """Load a JSON artifact."""
    target, label = _target(name_or_path)
    _require(target, label)
    value = json.loads(files.readable(target).read_text(encoding="utf-8"))
    context.log_io("read", target)
    return value


def save_text(name_or_path: str | Path, text: str) -> Path:
    """Save UTF-8 text (Markdown, HTML, ...); returns the path written."""
    target, _ = _target(name_or_path)
    atomic_write_text(target, text)
    context.log_io("write", target)
    return target


def save_bytes(name_or_path: str | Path, data: bytes) -> Path:
    """Save raw bytes (a PNG figure, ...); returns the path written."""
    target, _ = _target(name_or_path)
    atomic_write_bytes(target, data)
    context.log_io("write", target)
    return target


def load_text(name_or_path: str | Path) -> str:
    """Load a UTF-8 text artifact."""
    target, label = _target(name_or_path)
    _require(target, label)
    text = files.readable(target).read_text(encoding="utf-8")
    context.log_io("read", target)
    return text


# ---------------------------------------------------------------- tables


def save_table(name_or_path: str | Path, df: pd.DataFrame | pa.Table) -> Path:
    """Save a DataFrame as Parquet, or as CSV when the path ends in .csv; index not stored.

    A pyarrow Table is written as Parquet with its own schema (the prepared splits: one schema
    however they were made).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    target, _ = _target(name_or_path)
    buffer = BytesIO()
    if isinstance(df, pa.Table):
        if target.suffix.lower() == ".csv":
            raise ValueError(f"{target}: a pyarrow Table is saved as Parquet only")
        pq.write_table(df, buffer)
        data = buffer.getvalue()
    elif target.suffix.lower() == ".csv":
        data = df.to_csv(index=False).encode("utf-8")
    else:
        df.to_parquet(buffer, index=False)
        data = buffer.getvalue()
    atomic_write_bytes(target, data)
    context.log_io("write", target)
    return target


def load_table(name_or_path: str | Path) -> pd.DataFrame:
    """Load a table artifact written by save_table."""
    import pandas as pd

    target, label = _target(name_or_path)
    _require(target, label)
    source = files.readable(target)
    if target.suffix.lower() == ".csv":
        df = pd.read_csv(source, encoding="utf-8")
    else:
        df = pd.read_parquet(source)
    context.log_io("read", target)
    return df


# ---------------------------------------------------------------- models


def metadata_path(model_path: Path) -> Path:
    """The metadata sidecar of a model file: same stem, `.json`."""
    return model_path.with_suffix(".json")


def save_model(name_or_path: str | Path, model: Any, metadata: dict[str, Any]) -> Path:
    """Save `model` with skops plus a JSON sidecar (metadata, sha256, versions, created)."""
    import hashlib

    import sklearn
    import skops
    import skops.io

    target, _ = _target(name_or_path)
    data = skops.io.dumps(model)
    sidecar = {
        **metadata,
        "model_file": target.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "sklearn_version": sklearn.__version__,
        "skops_version": skops.__version__,
        "created": metadata.get("created") or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    sidecar_text = to_json(sidecar)  # serialise before writing anything
    atomic_write_bytes(target, data)
    atomic_write_text(metadata_path(target), sidecar_text)
    context.log_io("write", target)
    context.log_io("write", metadata_path(target))
    return target


def load_model(name_or_path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Load a model saved by save_model, after checking its hash and that its types are trusted."""
    import hashlib

    import skops.io

    target, label = _target(name_or_path)
    _require(target, label)
    sidecar_path = metadata_path(target)
    shown = paths.relative(target)
    if not files.is_file(sidecar_path):
        raise UntrustedModelError(
            f"refusing to load {shown}: its metadata file {paths.relative(sidecar_path)} is "
            "missing, so the model cannot be verified; save it again with artifacts.save_model"
        )
    metadata = json.loads(files.readable(sidecar_path).read_text(encoding="utf-8"))
    data = files.readable(target).read_bytes()  # hash, audit and load the same bytes
    if hashlib.sha256(data).hexdigest() != metadata.get("sha256"):
        raise UntrustedModelError(
            f"refusing to load {shown}: model file changed since it was saved "
            "(sha256 differs from its metadata); re-run the phase that writes it"
        )
    untrusted = sorted(set(skops.io.get_untrusted_types(data=data)) - set(TRUSTED_TYPES))
    if untrusted:
        raise UntrustedModelError(
            f"refusing to load {shown}: it contains types outside artifacts.TRUSTED_TYPES: "
            f"{', '.join(untrusted)}; add them there only if you trust where the file came from"
        )
    model = skops.io.loads(data, trusted=TRUSTED_TYPES)
    context.log_io("read", target)
    context.log_io("read", sidecar_path)
    return model, metadata
