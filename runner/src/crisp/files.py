"""Files the runner and the project write: atomically (temp file, fsync, rename), hashed, as JSON.

One module for both, so every writer in the project (run records, state, artifacts) goes through
the same atomic path and every reader hashes content the same way. Inside a phase's run, what the
project writes is staged until the phase succeeds (staging.py); `readable`, `is_file`, `list_dir`
and `remove` see and make changes the way the phase sees them.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import math
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import staging
from .staging import destination, list_dir, readable, remove

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "destination",
    "is_file",
    "list_dir",
    "read_json",
    "readable",
    "remove",
    "sha256_bytes",
    "sha256_file",
    "to_json",
    "to_jsonable",
]


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


@functools.cache
def _new_file_mode() -> int:
    """Mode a plain open() would give a new file (0o666 minus the umask)."""
    try:  # Linux: read the umask without changing it (os.umask would, briefly, for all threads)
        status = Path("/proc/self/status").read_text()
        mask = int(re.search(r"^Umask:\s*([0-7]+)", status, re.M).group(1), 8)  # type: ignore[union-attr]
    except (OSError, AttributeError):
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def is_file(path: str | Path) -> bool:
    """Whether `path` is a file, as the running phase sees it (its staged writes included)."""
    return readable(path).is_file()


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    """Write `data` to `path` atomically: temp file in the same folder, fsync, os.replace.

    Parent folders are created; on any failure the temp file is removed and `path` is untouched.
    `durable=False` skips the fsync (~10 ms): for a file rewritten as work progresses, whose
    last version only has to survive a crash of this process, not of the machine. Inside a
    phase's run the file is staged (staging.py). An error (a full disk, say) names `path`.
    """
    path = Path(path)
    try:
        _write(staging.destination(path), data, durable, readable(path))
    except OSError as exc:
        if exc.filename is not None and Path(exc.filename).name.startswith(f".{path.name}."):
            exc.filename = None  # our temporary file: name the file being written instead
        if exc.filename is None:
            raise type(exc)(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise


def _write(target: Path, data: bytes, durable: bool, current: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = current.stat().st_mode & 0o777 if current.exists() else _new_file_mode()
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str, durable: bool = True) -> None:
    """Write UTF-8 text to `path` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), durable)


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
        if isinstance(obj, pd.Timestamp):
            return obj.isoformat()
    if np is not None:
        if isinstance(obj, np.ndarray):
            return to_jsonable(obj.tolist())
        if isinstance(obj, np.generic):
            return to_jsonable(obj.item())
    raise TypeError(f"cannot store a value of type {type(obj).__name__} as JSON: {obj!r:.80}")


def to_json(obj: Any) -> str:
    """JSON text (indent 2, key order kept, NaN as null) of `obj`."""
    return json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def read_json(path: Path, default: Any = None) -> Any:
    """The JSON in `path` (as the running phase sees it), or `default` when there is none."""
    try:
        return json.loads(readable(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
