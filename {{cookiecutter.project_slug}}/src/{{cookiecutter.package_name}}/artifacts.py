"""The artifact catalog: names -> project paths, and atomic save/load of JSON, text, tables, models.

This is the only module that knows where artifacts live; notebooks use catalog names. pandas and
skops are imported inside the functions that need them, so the runner can import this cheaply.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import os
import re
import sys
import tempfile
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import paths, runlog

if TYPE_CHECKING:
    import pandas as pd

CATALOG: dict[str, str] = {
    "success_criteria": "artifacts/business_understanding/success_criteria.json",
    "design_doc": "artifacts/business_understanding/design.md",
    "demo_data": "data/raw/demo.parquet",
    "schema": "artifacts/data_understanding/schema.json",
    "quality_report": "artifacts/data_understanding/quality_report.csv",
    "data_fingerprint": "artifacts/data_understanding/fingerprint.json",
    "preparation_summary": "artifacts/data_preparation/summary.json",
    "feature_schema": "artifacts/data_preparation/feature_schema.json",
    "train": "data/processed/train.parquet",
    "valid": "data/processed/valid.parquet",
    "test": "data/processed/test.parquet",
    "cv_results": "artifacts/modelling/cv_results.csv",
    "search_results": "artifacts/modelling/search_results.csv",
    "challenger": "models/challenger.skops",
    "evaluation": "artifacts/evaluation/evaluation.json",
    "model_card": "artifacts/deployment/model_card.md",
    "model_card_html": "artifacts/deployment/model_card.html",
    "drift_report": "artifacts/monitoring/drift_report.json",
}

PHASES: tuple[str, ...] = (
    "00_business_understanding",
    "01_data_understanding",
    "02_data_preparation",
    "03_modelling",
    "04_evaluation",
    "05_deployment",
    "06_monitoring",
)

# Which phase writes files outside artifacts/<phase>/ (project-relative prefixes; longest wins).
_PRODUCED_BY: dict[str, str] = {
    "data/raw/demo.parquet": "01_data_understanding",
    "data/processed/": "02_data_preparation",
    "models/challenger.": "03_modelling",
    "models/": "05_deployment",
}

# Types skops does not trust by default but the project's pipelines contain (skops trusts
# scikit-learn's estimators and transformers itself). The candidate pipelines of every problem type
# (ColumnTransformer + imputers, scaler, one-hot encoder + logistic regression / ridge / random
# forest / histogram gradient boosting / decision tree / dummy) report exactly these;
# tests/test_paths_artifacts.py re-checks that against the installed versions.
TRUSTED_TYPES: list[str] = [
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
]


class UnknownArtifactError(KeyError):
    """A catalog name that does not exist."""

    def __str__(self) -> str:
        return str(self.args[0])


class ArtifactMissingError(FileNotFoundError):
    """An artifact that an earlier phase should have written is not there."""


class UntrustedModelError(RuntimeError):
    """A model file that is not safe to load (unknown types, or changed since it was saved)."""


# ---------------------------------------------------------------- catalog


def path(name: str) -> Path:
    """Absolute path of the catalog entry `name`."""
    if name not in CATALOG:
        raise UnknownArtifactError(
            f"unknown artifact {name!r}; known artifacts: {', '.join(sorted(CATALOG))} "
            "(pass a pathlib.Path for a file outside the catalog)"
        )
    return paths.resolve(CATALOG[name])


def _target(name_or_path: str | Path) -> tuple[Path, str]:
    """(absolute path, label for messages) of a catalog name or a Path."""
    if isinstance(name_or_path, Path):
        return paths.resolve(name_or_path), paths.relative(paths.resolve(name_or_path))
    return path(name_or_path), name_or_path


def producing_phase(target: Path) -> str | None:
    """The phase that writes `target`: from its artifacts/<phase>/ folder or _PRODUCED_BY."""
    relative = paths.relative(target)
    parts = Path(relative).parts
    if len(parts) > 2 and parts[0] == "artifacts":
        return next((p for p in PHASES if p[3:] == parts[1]), None)
    prefixes = sorted((p for p in _PRODUCED_BY if relative.startswith(p)), key=len, reverse=True)
    return _PRODUCED_BY[prefixes[0]] if prefixes else None


def _require(target: Path, label: str) -> None:
    if target.is_file():
        return
    shown = paths.relative(target)
    where = label if label == shown else f"{label} ({shown})"
    phase = producing_phase(target)
    hint = f"run phase {phase} first" if phase else "check the path or run the phase that writes it"
    raise ArtifactMissingError(f"{where} does not exist: {hint}")


# ---------------------------------------------------------------- atomic writes


@functools.cache
def _new_file_mode() -> int:
    """Mode a plain open() would give a new file (0o666 minus the umask)."""
    try:  # Linux: read the umask without changing it (os.umask would, briefly, for all threads)
        status = Path("/proc/self/status").read_text()
        mask = int(re.search(r"^Umask:\s*([0-7]+)", status, re.M).group(1), 8)
    except (OSError, AttributeError):
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    """Write `data` to `path` atomically: temp file in the same folder, fsync, os.replace.

    Parent folders are created; on any failure the temp file is removed and `path` is untouched.
    `durable=False` skips the fsync (~10 ms): for a file rewritten as work progresses, whose
    last version only has to survive a crash of this process, not of the machine.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else _new_file_mode()
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str, durable: bool = True) -> None:
    """Write UTF-8 text to `path` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), durable)


# ---------------------------------------------------------------- JSON and text


def to_jsonable(obj: Any) -> Any:
    """Plain-Python copy of `obj`: numpy/pandas scalars and arrays converted, NaN/inf -> None."""
    np = sys.modules.get("numpy")  # only loaded modules can have produced such objects
    pd = sys.modules.get("pandas")
    if isinstance(obj, dict):
        return {str(key): to_jsonable(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(value) for value in obj]
    if isinstance(obj, set | frozenset):
        return sorted((to_jsonable(value) for value in obj), key=str)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, str | int | bool):
        return obj
    if pd is not None and (obj is pd.NA or obj is pd.NaT):
        return None
    if isinstance(obj, Path):
        return obj.as_posix()
    if isinstance(obj, dt.datetime | dt.date):
        return obj.isoformat()
    if pd is not None:
        if isinstance(obj, pd.DataFrame):
            return to_jsonable(obj.to_dict(orient="records"))
        if isinstance(obj, pd.Series):
            return to_jsonable(obj.to_dict())
    if np is not None:
        if isinstance(obj, np.ndarray):
            return to_jsonable(obj.tolist())
        if isinstance(obj, np.generic):
            return to_jsonable(obj.item())
    raise TypeError(f"cannot store a value of type {type(obj).__name__} as JSON: {obj!r:.80}")


def to_json(obj: Any) -> str:
    """JSON text (indent 2, key order kept, NaN as null) of `obj`."""
    return json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def save_json(name_or_path: str | Path, obj: Any) -> Path:
    """Save `obj` as JSON; returns the path written."""
    target, _ = _target(name_or_path)
    atomic_write_text(target, to_json(obj))
    runlog.log_io("write", target)
    return target


def load_json(name_or_path: str | Path) -> Any:
    """Load a JSON artifact."""
    target, label = _target(name_or_path)
    _require(target, label)
    value = json.loads(target.read_text(encoding="utf-8"))
    runlog.log_io("read", target)
    return value


def save_text(name_or_path: str | Path, text: str) -> Path:
    """Save UTF-8 text (Markdown, HTML, ...); returns the path written."""
    target, _ = _target(name_or_path)
    atomic_write_text(target, text)
    runlog.log_io("write", target)
    return target


def load_text(name_or_path: str | Path) -> str:
    """Load a UTF-8 text artifact."""
    target, label = _target(name_or_path)
    _require(target, label)
    text = target.read_text(encoding="utf-8")
    runlog.log_io("read", target)
    return text


# ---------------------------------------------------------------- tables


def save_table(name_or_path: str | Path, df: pd.DataFrame) -> Path:
    """Save a DataFrame as Parquet, or as CSV when the path ends in .csv; index not stored."""
    target, _ = _target(name_or_path)
    if target.suffix.lower() == ".csv":
        data = df.to_csv(index=False).encode("utf-8")
    else:
        buffer = BytesIO()
        df.to_parquet(buffer, index=False)
        data = buffer.getvalue()
    atomic_write_bytes(target, data)
    runlog.log_io("write", target)
    return target


def load_table(name_or_path: str | Path) -> pd.DataFrame:
    """Load a table artifact written by save_table."""
    import pandas as pd

    target, label = _target(name_or_path)
    _require(target, label)
    if target.suffix.lower() == ".csv":
        df = pd.read_csv(target, encoding="utf-8")
    else:
        df = pd.read_parquet(target)
    runlog.log_io("read", target)
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
    runlog.log_io("write", target)
    runlog.log_io("write", metadata_path(target))
    return target


def load_model(name_or_path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Load a model saved by save_model, after checking its hash and that its types are trusted."""
    import hashlib

    import skops.io

    target, label = _target(name_or_path)
    _require(target, label)
    sidecar_path = metadata_path(target)
    shown = paths.relative(target)
    if not sidecar_path.is_file():
        raise UntrustedModelError(
            f"refusing to load {shown}: its metadata file {paths.relative(sidecar_path)} is "
            "missing, so the model cannot be verified; save it again with artifacts.save_model"
        )
    metadata = json.loads(sidecar_path.read_text(encoding="utf-8"))
    data = target.read_bytes()  # hash, audit and load the same bytes
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
    runlog.log_io("read", target)
    runlog.log_io("read", sidecar_path)
    return model, metadata
