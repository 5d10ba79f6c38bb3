"""Versioned model registry: models/registry/vNNNN/ plus the production pointer.

A version folder holds model.skops (+ model.json, the skops sidecar written by
`artifacts.save_model`), metadata.json, schema.json and, after deployment, model_card.md/.html.
metadata.json is written last: a folder without it is an unfinished registration and is ignored.
models/production.json holds {"version", "previous", "promoted_at", "history", ...}; it changes
only through `promote` and `rollback`, always by an atomic rewrite.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import Any

from crisp import files

from . import artifacts, model_card, paths

REGISTRY = "models/registry"
PRODUCTION = "models/production.json"
MODEL_FILE = "model.skops"
METADATA_FILE = "metadata.json"
SCHEMA_FILE = "schema.json"
_VERSION = re.compile(r"^v(\d{4,})$")


class RegistryError(ValueError):
    """A registry operation that cannot be done (unknown version, nothing to roll back to)."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def registry_dir() -> Path:
    """Absolute path of models/registry/."""
    return paths.resolve(REGISTRY)


def _production_path() -> Path:
    return paths.resolve(PRODUCTION)


def _version_dirs() -> list[Path]:
    """Every vNNNN folder, complete or not, oldest first."""
    found = [p for p in files.list_dir(registry_dir()) if _VERSION.match(p.name)]
    return sorted(found, key=lambda p: int(_VERSION.match(p.name).group(1)))


def _versions() -> list[str]:
    """Complete versions (with metadata.json), oldest first."""
    return [p.name for p in _version_dirs() if files.is_file(p / METADATA_FILE)]


def model_file(version: str) -> Path:
    """Path of the model file of `version`."""
    return _version_dir(version) / MODEL_FILE


def _version_dir(version: str) -> Path:
    if version not in _versions():
        known = ", ".join(_versions()) or "none registered yet"
        raise RegistryError(
            f"Model version {version!r} is not in the registry (versions: {known}); "
            "register it first or pick an existing version."
        )
    return registry_dir() / version


def list_versions() -> list[dict[str, Any]]:
    """The metadata of every registered version, oldest first."""
    return [artifacts.load_json(registry_dir() / v / METADATA_FILE) for v in _versions()]


def register(model: Any, metadata: dict[str, Any], schema: dict[str, Any]) -> str:
    """Store `model` as the next version ("v0001", ...) with its metadata and schema."""
    dirs = _version_dirs()
    number = int(_VERSION.match(dirs[-1].name).group(1)) + 1 if dirs else 1
    version = f"v{number:04d}"
    folder = registry_dir() / version
    try:
        model_path = artifacts.save_model(folder / MODEL_FILE, model, metadata)
        artifacts.save_json(folder / SCHEMA_FILE, schema)
        record = {
            **metadata,
            "version": version,
            "registered_at": _now(),
            "model_file": MODEL_FILE,
            "model_sha256": hashlib.sha256(files.readable(model_path).read_bytes()).hexdigest(),
        }
        artifacts.save_json(folder / METADATA_FILE, record)  # last: marks the version complete
    except BaseException:
        files.remove(folder)
        raise
    return version


def production() -> dict[str, Any] | None:
    """The production pointer, or None when no model was promoted yet."""
    if not files.is_file(_production_path()):
        return None
    return artifacts.load_json(_production_path())


def load_production() -> tuple[Any, dict[str, Any]] | None:
    """(model, registry metadata) of the production version, or None."""
    pointer = production()
    if pointer is None:
        return None
    version = pointer["version"]
    model, _ = artifacts.load_model(model_file(version))
    return model, artifacts.load_json(registry_dir() / version / METADATA_FILE)


def _write_pointer(history: list[str], **extra: Any) -> dict[str, Any]:
    # History keeps only registered versions, without repeats in a row (e.g. after pruning).
    registered = set(_versions())
    kept: list[str] = []
    for v in history:
        if v in registered and (not kept or kept[-1] != v):
            kept.append(v)
    history = kept
    version = history[-1]
    metadata = artifacts.load_json(registry_dir() / version / METADATA_FILE)
    pointer = {
        "version": version,
        "previous": history[-2] if len(history) > 1 else None,
        "promoted_at": _now(),
        "model_name": metadata.get("model_name"),
        "history": history,
        **extra,
    }
    artifacts.save_json(_production_path(), pointer)
    return pointer


def promote(version: str) -> dict[str, Any]:
    """Make `version` the production model; the one it replaces becomes `previous`."""
    _version_dir(version)
    current = production()
    history = list(current.get("history") or [current["version"]]) if current else []
    if history and history[-1] == version:
        return current
    return _write_pointer([*history, version])


def rollback() -> dict[str, Any]:
    """Put the previous production version back into production."""
    current = production()
    if current is None:
        raise RegistryError("There is no production model to roll back; promote a version first.")
    history = list(current.get("history") or [current["version"]])
    registered = set(_versions())
    rolled_back = history.pop()
    while history and history[-1] not in registered:
        history.pop()  # pruned by hand: skip it
    if not history:
        raise RegistryError(
            f"Production ({rolled_back}) has no previous version to roll back to; "
            "promote another version instead."
        )
    return _write_pointer(history, rolled_back_from=rolled_back)


def prune(keep: int) -> list[str]:
    """Delete the oldest versions beyond `keep`, never production or previous; returns them."""
    if not isinstance(keep, int) or keep < 1:
        raise RegistryError(f"deployment.keep_versions is {keep!r}; it must be an integer >= 1.")
    pointer = production()
    protected = {pointer["version"], pointer.get("previous")} if pointer else set()
    versions = _versions()
    excess = len(versions) - keep
    removed: list[str] = []
    for version in versions:
        if len(removed) >= excess:
            break
        if version in protected:
            continue
        files.remove(registry_dir() / version)  # renamed first: never half a version
        removed.append(version)
    return removed


def write_model_card(version: str, markdown: str) -> tuple[Path, Path]:
    """Save the model card of `version` as model_card.md and model_card.html in its folder."""
    folder = _version_dir(version)
    metadata = artifacts.load_json(folder / METADATA_FILE)
    title = f"Model card: {metadata.get('model_name') or 'model'} {version}"
    md = artifacts.save_text(folder / "model_card.md", markdown)
    html = artifacts.save_text(folder / "model_card.html", model_card.to_html(markdown, title))
    return md, html
