"""Versioned model registry: models/registry/vNNNN/ plus the production pointer.

A version folder holds model.skops (+ model.json, the skops sidecar written by
`artifacts.save_model`), metadata.json, schema.json and, after deployment, the model card.
metadata.json is written last: a folder without it is an unfinished registration and is ignored.
A model identical to a kept version (same content hash) is not registered again.

models/production.json holds the production version, the stack of versions that `rollback` walks
back and the history of every promotion and rollback (who, when, how, why). It changes only
through `promote` and `rollback` (`crisp run` phase 05, `crisp promote`, `crisp rollback`), always
by an atomic rewrite. Every unreadable registry or model file raises `CorruptRegistryError`, whose
message names the file and the way out.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

from crisp import files

from . import artifacts, model_card, paths

REGISTRY = "models/registry"
PRODUCTION = "models/production.json"
MODEL_FILE = "model.skops"
METADATA_FILE = "metadata.json"
SCHEMA_FILE = "schema.json"
CONTENT_HASH = "content_sha256"
RERUN_05 = "`crisp run --from 05_deployment --force`"
_VERSION = re.compile(r"^v(\d{4,})$")


class RegistryError(ValueError):
    """A registry operation that cannot be done (unknown version, nothing to roll back to)."""


class CorruptRegistryError(RegistryError):
    """A registry or model file that cannot be read; the message names the file and the fix."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return os.environ.get("USER") or "unknown"


def registry_dir() -> Path:
    """Absolute path of models/registry/."""
    return paths.resolve(REGISTRY)


def _production_path() -> Path:
    return paths.resolve(PRODUCTION)


def _shown(path: Path) -> str:
    return paths.relative(path)


def _version_dirs() -> list[Path]:
    """Every vNNNN folder, complete or not, oldest first."""
    found = [p for p in files.list_dir(registry_dir()) if _VERSION.match(p.name)]
    return sorted(found, key=lambda p: int(_VERSION.match(p.name).group(1)))


def _versions() -> list[str]:
    """Complete versions (with metadata.json), oldest first."""
    return [p.name for p in _version_dirs() if files.is_file(p / METADATA_FILE)]


def versions() -> list[str]:
    """Registered versions (complete folders), oldest first."""
    return _versions()


def _known() -> str:
    return ", ".join(_versions()) or "none registered yet"


def _read_json(path: Path, fix: str) -> Any:
    """JSON content of a registry file; CorruptRegistryError naming the file and `fix`."""
    shown = _shown(path)
    try:
        text = files.readable(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CorruptRegistryError(f"{shown} is missing; {fix}") from None
    except UnicodeDecodeError:
        raise CorruptRegistryError(f"{shown} is not UTF-8 text; {fix}") from None
    except OSError as exc:
        raise CorruptRegistryError(f"{shown} cannot be read ({exc.strerror}); {fix}") from None
    if not text.strip():
        raise CorruptRegistryError(f"{shown} is empty; {fix}")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CorruptRegistryError(
            f"{shown} is not valid JSON (truncated or edited by hand: {exc}); {fix}"
        ) from None


def _version_dir(version: str) -> Path:
    folder = registry_dir() / str(version)
    if version in _versions():
        return folder
    if _VERSION.match(str(version)) and files.readable(folder).is_dir():
        raise CorruptRegistryError(
            f"{_shown(folder / METADATA_FILE)} is missing, so {version} is incomplete; "
            f"{_way_out(version)}"
        )
    raise RegistryError(
        f"Model version {version!r} is not in the registry (versions: {_known()}); "
        "pick an existing version."
    )


def model_file(version: str) -> Path:
    """Path of the model file of `version`."""
    return _version_dir(version) / MODEL_FILE


def metadata(version: str) -> dict[str, Any]:
    """The registry metadata of `version` (CorruptRegistryError when unreadable)."""
    path = _version_dir(version) / METADATA_FILE
    record = _read_json(path, _way_out(version))
    if not isinstance(record, dict):
        raise CorruptRegistryError(f"{_shown(path)} holds no metadata record; {_way_out(version)}")
    return record


def schema(version: str) -> dict[str, Any]:
    """The training schema of `version` (CorruptRegistryError when unreadable)."""
    path = _version_dir(version) / SCHEMA_FILE
    record = _read_json(path, _way_out(version))
    if not isinstance(record, dict) or not isinstance(record.get("features"), dict):
        raise CorruptRegistryError(f"{_shown(path)} holds no feature schema; {_way_out(version)}")
    return record


def list_versions() -> list[dict[str, Any]]:
    """The metadata of every registered version, oldest first; an unreadable one is listed as
    `{"version", "unreadable": reason}`."""
    listed = []
    for version in _versions():
        try:
            listed.append(metadata(version))
        except CorruptRegistryError as exc:
            listed.append({"version": version, "unreadable": str(exc)})
    return listed


# ---------------------------------------------------------------- content hash


def content_hash(model_path: Path) -> str:
    """sha256 of what a skops file holds, the same for the same fitted model saved twice.

    skops names arrays after `id()` of the objects and zip entries carry timestamps, so the file's
    own hash changes on every save; here ids are numbered in order of appearance and each stored
    file is hashed by its content.
    """
    digest = hashlib.sha256()
    with zipfile.ZipFile(files.readable(model_path)) as archive:
        schema = json.loads(archive.read("schema.json"))
        renamed: dict[Any, int] = {}
        stored: list[str] = []

        def canonical(node: Any) -> Any:
            if isinstance(node, list):
                return [canonical(item) for item in node]
            if not isinstance(node, dict):
                return node
            out = {}
            for key, value in node.items():
                if key == "__id__":
                    out[key] = renamed.setdefault(("id", value), len(renamed))
                elif key == "file" and isinstance(value, str):
                    out[key] = renamed.setdefault(("file", value), len(renamed))
                    stored.append(value)
                else:
                    out[key] = canonical(value)
            return out

        digest.update(json.dumps(canonical(schema), sort_keys=True).encode("utf-8"))
        for name in stored:
            data = archive.read(name)
            if name.endswith(".npz"):  # itself a zip with timestamps: hash its members
                import io

                with zipfile.ZipFile(io.BytesIO(data)) as inner:
                    for member in sorted(inner.namelist()):
                        digest.update(member.encode("utf-8") + inner.read(member))
            else:
                digest.update(data)
    return digest.hexdigest()


def _content_hash_of(version: str) -> str | None:
    """Content hash of a kept version (recorded, else computed), None when unreadable."""
    try:
        record = metadata(version)
        return record.get(CONTENT_HASH) or content_hash(registry_dir() / version / MODEL_FILE)
    except (RegistryError, OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None


# ---------------------------------------------------------------- register


def register(model: Any, metadata: dict[str, Any], schema: dict[str, Any]) -> str:
    """Store `model` as the next version ("v0001", ...) with its metadata and schema.

    A model identical to a kept version (same content hash) is not stored again: that version is
    returned. `metadata` should carry the lineage (see `deployment.lineage`).
    """
    dirs = _version_dirs()
    number = int(_VERSION.match(dirs[-1].name).group(1)) + 1 if dirs else 1
    version = f"v{number:04d}"
    folder = registry_dir() / version
    try:
        model_path = artifacts.save_model(folder / MODEL_FILE, model, metadata)
        digest = content_hash(model_path)
        same = next((v for v in reversed(_versions()) if _content_hash_of(v) == digest), None)
        if same is not None:
            files.remove(folder)
            return same
        artifacts.save_json(folder / SCHEMA_FILE, schema)
        record = {
            **metadata,
            "version": version,
            "registered_at": _now(),
            "model_file": MODEL_FILE,
            "model_sha256": hashlib.sha256(files.readable(model_path).read_bytes()).hexdigest(),
            CONTENT_HASH: digest,
        }
        artifacts.save_json(folder / METADATA_FILE, record)  # last: marks the version complete
    except BaseException:
        files.remove(folder)
        raise
    return version


# ---------------------------------------------------------------- production pointer


def _pointer_fix() -> str:
    return (
        f"put a version back into production with `crisp promote VERSION` (versions: {_known()}), "
        f"or re-run phase 05 ({RERUN_05})"
    )


def production() -> dict[str, Any] | None:
    """The production pointer, or None when no model was promoted yet.

    Raises CorruptRegistryError when models/production.json cannot be read.
    """
    path = _production_path()
    if not files.readable(path).exists():
        return None
    pointer = _read_json(path, _pointer_fix())
    if not isinstance(pointer, dict) or not isinstance(pointer.get("version"), str):
        raise CorruptRegistryError(f"{_shown(path)} names no production version; {_pointer_fix()}")
    return pointer


def production_version() -> str | None:
    """The production version, or None (nothing promoted yet, or an unreadable pointer)."""
    try:
        pointer = production()
    except CorruptRegistryError:
        return None
    return pointer["version"] if pointer else None


def _way_out(version: str) -> str:
    """How to get past an unreadable `version`: the other versions to promote, or phase 05."""
    others = [v for v in _versions() if v != version]
    try:
        pointer = production()
    except CorruptRegistryError:
        pointer = None
    steps = []
    if pointer and pointer.get("version") == version and pointer.get("previous"):
        steps.append(f"`crisp rollback` (back to {pointer['previous']})")
    if others:
        steps.append(f"`crisp promote VERSION` (other versions: {', '.join(others)})")
    steps.append(f"re-run phase 05 ({RERUN_05}) to register a new version")
    return "fix: " + ", or ".join(steps)


def load_version(version: str) -> tuple[Any, dict[str, Any]]:
    """(model, registry metadata) of `version`; CorruptRegistryError names a broken file."""
    record = metadata(version)
    path = registry_dir() / version / MODEL_FILE
    shown, fix = _shown(path), _way_out(version)
    path = files.readable(path)
    if not path.is_file():
        raise CorruptRegistryError(f"{shown} is missing; {fix}")
    if path.stat().st_size == 0:
        raise CorruptRegistryError(f"{shown} is empty; {fix}")
    if not zipfile.is_zipfile(path):
        raise CorruptRegistryError(f"{shown} is not a skops model file (not a zip archive); {fix}")
    _read_json(artifacts.metadata_path(path), fix)  # the sidecar load_model checks the hash with
    try:
        model, _ = artifacts.load_model(path)
    except artifacts.UntrustedModelError as exc:
        raise CorruptRegistryError(f"{exc}; or {fix.removeprefix('fix: ')}") from None
    except (zipfile.BadZipFile, ValueError, KeyError, TypeError, EOFError, OSError) as exc:
        raise CorruptRegistryError(
            f"{shown} cannot be loaded ({type(exc).__name__}: {exc}); {fix}"
        ) from None
    return model, record


def load_production() -> tuple[Any, dict[str, Any]] | None:
    """(model, registry metadata) of the production version, or None before the first promotion.

    Raises CorruptRegistryError (a RegistryError) when the pointer, the version's metadata or its
    model file cannot be read, naming the file and the fix.
    """
    pointer = production()
    if pointer is None:
        return None
    version = pointer["version"]
    if version not in _versions() and not files.readable(registry_dir() / version).is_dir():
        raise CorruptRegistryError(
            f"{_shown(_production_path())} names {version}, which is not in the registry "
            f"(versions: {_known()}); {_pointer_fix()}"
        )
    return load_version(version)


def history() -> list[dict[str, Any]]:
    """Every promotion and rollback, oldest first: at, action, version, from, by, via, reason."""
    pointer = production()
    events = (pointer or {}).get("history") or []
    return [e for e in events if isinstance(e, dict)]


def _stack(pointer: dict[str, Any] | None) -> list[str]:
    """The versions `rollback` walks back through, production last."""
    if not pointer:
        return []
    stack = pointer.get("stack")
    if not isinstance(stack, list):  # pointers written before the history had events
        stack = [h for h in pointer.get("history") or [] if isinstance(h, str)]
    return [str(v) for v in stack] or [pointer["version"]]


def _write_pointer(
    stack: list[str], current: dict[str, Any] | None, event: dict[str, Any]
) -> dict[str, Any]:
    # The stack keeps only registered versions, without repeats in a row (e.g. after pruning).
    registered = set(_versions())
    kept: list[str] = []
    for v in stack:
        if v in registered and (not kept or kept[-1] != v):
            kept.append(v)
    version = kept[-1]
    events = [e for e in (current or {}).get("history") or [] if isinstance(e, dict)]
    record = metadata(version)
    pointer = {
        "version": version,
        "previous": kept[-2] if len(kept) > 1 else None,
        "promoted_at": event["at"],
        "promoted_by": event["by"],
        "via": event["via"],
        "reason": event["reason"],
        "model_name": record.get("model_name"),
        "stack": kept,
        "history": [*events, event],
    }
    if event["action"] == "rollback":
        pointer["rolled_back_from"] = event["from"]
    # Not logged as a phase output: `crisp promote` and `crisp rollback` change the pointer
    # outside the pipeline, and that must not make phase 05 outdated (its re-run would promote
    # its challenger again, undoing the user's choice).
    files.atomic_write_text(_production_path(), files.to_json(pointer))
    return pointer


def _event(action: str, version: str, previous: str | None, via: str, reason: str) -> dict:
    return {
        "at": _now(),
        "action": action,
        "version": version,
        "from": previous,
        "by": _user(),
        "via": via,
        "reason": reason.strip() or "no reason given",
    }


def promote(version: str, *, via: str = "registry.promote", reason: str = "") -> dict[str, Any]:
    """Make `version` the production model; the one it replaces becomes `previous`.

    `via` says through what (`crisp run <run-id>`, `crisp promote`), `reason` why; both go into
    the history with the user and the time. Works also when the pointer is unreadable (it is
    then written anew), so `crisp promote` is the way out of a corrupt models/production.json.
    """
    _version_dir(version)
    metadata(version)  # promote only what can be described
    try:
        current = production()
    except CorruptRegistryError:
        current = None
    stack = _stack(current)
    if stack and stack[-1] == version and current and current.get("version") == version:
        return current
    event = _event("promote", version, current["version"] if current else None, via, reason)
    return _write_pointer([*stack, version], current, event)


def rollback(*, via: str = "registry.rollback", reason: str = "") -> dict[str, Any]:
    """Put the previous production version back into production (recorded in the history)."""
    current = production()
    if current is None:
        raise RegistryError("There is no production model to roll back; promote a version first.")
    stack = _stack(current)
    registered = set(_versions())
    rolled_back = stack.pop()
    while stack and stack[-1] not in registered:
        stack.pop()  # pruned by hand: skip it
    if not stack:
        others = [v for v in _versions() if v != rolled_back]
        hint = f" (versions: {', '.join(others)})" if others else ""
        raise RegistryError(
            f"Production ({rolled_back}) has no previous version to roll back to; "
            f"promote another version instead: `crisp promote VERSION`{hint}."
        )
    event = _event("rollback", stack[-1], rolled_back, via, reason)
    return _write_pointer(stack, current, event)


def prune(keep: int) -> list[str]:
    """Delete the oldest versions beyond `keep`, never production or previous; returns them.

    Nothing is deleted while the production pointer is unreadable.
    """
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise RegistryError(f"deployment.keep_versions is {keep!r}; it must be an integer >= 1.")
    try:
        pointer = production()
    except CorruptRegistryError:
        return []
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


def write_model_card(
    version: str, card: model_card.Card | str, figures: dict[str, bytes] | None = None
) -> tuple[Path, Path]:
    """Save the model card of `version` (model_card.md with its figures, model_card.html): a
    rendered Card (its links made relative to the version's folder) or Markdown as it is."""
    folder = _version_dir(version)
    record = metadata(version)
    title = f"Model card: {record.get('model_name') or 'model'} {version}"
    if isinstance(card, model_card.Card):
        markdown, figures = card.markdown(paths.relative(folder)), card.figures
    else:
        markdown, figures = card, figures or {}
    for name, png in figures.items():
        artifacts.save_bytes(folder / model_card.FIGURES_DIR / name, png)
    md = artifacts.save_text(folder / "model_card.md", markdown)
    html = artifacts.save_text(
        folder / "model_card.html", model_card.to_html(markdown, title, figures)
    )
    return md, html
