"""What each phase last ran from and produced: phases whose inputs are unchanged are skipped.

A phase is up to date when, since its last successful run, its notebook, its parameters, the helper
source files it imports, the files it read and the files it wrote are unchanged (sha256 of the
content), and no phase before it ran after it. Kept in `reports/.state.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .files import atomic_write_text, sha256_file
from .sources import Dependencies

STATE_FILE = Path("reports") / ".state.json"
VERSION = 1


def _saved(cache: dict[str, Any]) -> dict[str, Any]:
    return cache.to_save() if isinstance(cache, ReuseCache) else cache


class ReuseCache(dict):
    """Entries used in this run, taken from the previous cache where it had them.

    Saving it drops entries nobody asked for (old notebook or module versions).
    """

    def __init__(self, previous: dict[str, Any], prune: bool = True) -> None:
        super().__init__()
        self.previous = previous
        self.prune = prune
        self.added = False

    def __contains__(self, key: object) -> bool:
        if dict.__contains__(self, key):
            return True
        if key in self.previous:
            self[key] = self.previous[key]
            return True
        return False

    def get(self, key: str, default: Any = None) -> Any:
        """Like dict.get, also finding the previous cache's entries."""
        if self.__contains__(key):
            return dict.__getitem__(self, key)
        return default

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in self.previous:
            self.added = True
        super().__setitem__(key, value)

    @property
    def changed(self) -> bool:
        """True when entries were added or (when pruning) previous ones went unused."""
        return self.added or (self.prune and len(self) != len(self.previous))

    def to_save(self) -> dict[str, Any]:
        """The entries to keep."""
        return dict(self) if self.prune else {**self.previous, **self}


@dataclass
class Fingerprint:
    """What a phase is run from: notebook, parameters and helper code (hashes)."""

    notebook: str
    parameters: dict[str, Any]
    code: dict[str, str]  # project-relative helper source file -> sha256


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass
class State:
    """The state file: per phase its last successful run, and a cache of parameters cells."""

    root: Path
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, dict[str, Any]] = field(default_factory=dict)
    declared: dict[str, dict[str, Any]] = field(default_factory=dict)
    imports: dict[str, list[str]] = field(default_factory=dict)
    seq: int = 0
    stamp: tuple[int, int] | None = None
    # Current file hashes: phases share inputs (the splits, the model), each is read once.
    _hashes: dict[str, str | None] = field(default_factory=dict, init=False, repr=False)

    @staticmethod
    def stamp_of(root: Path) -> tuple[int, int] | None:
        """(mtime, size) of the state file, to notice that another run changed it."""
        try:
            info = (root / STATE_FILE).stat()
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size

    @classmethod
    def load(cls, root: Path) -> State:
        """The project's state; empty when there is none or it cannot be read."""
        stamp = cls.stamp_of(root)
        try:
            data = json.loads((root / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls(root, stamp=stamp)
        if not isinstance(data, dict) or data.get("version") != VERSION:
            return cls(root, stamp=stamp)
        return cls(
            root,
            phases=data.get("phases", {}),
            failed=data.get("failed", {}),
            declared=data.get("declared", {}),
            imports=data.get("imports", {}),
            seq=int(data.get("seq", 0)),
            stamp=stamp,
        )

    def save(self) -> None:
        """Write the state file atomically."""
        data = {
            "version": VERSION,
            "seq": self.seq,
            "phases": self.phases,
            "failed": self.failed,
            "declared": _saved(self.declared),
            "imports": _saved(self.imports),
        }
        # Compact: with `indent`, json falls back to its pure-Python encoder (~10x slower), and
        # this file is written after every phase.
        text = json.dumps(data, separators=(",", ":"), default=str)
        atomic_write_text(self.root / STATE_FILE, text + "\n")

    def cache(self, name: str, prune: bool = True) -> ReuseCache:
        """A cache (`declared` or `imports`) that keeps only the entries used from now on.

        With `prune=False` (a run of some phases only) unused entries are kept too.
        """
        cache = ReuseCache(getattr(self, name), prune)
        setattr(self, name, cache)
        return cache

    @property
    def cache_changed(self) -> bool:
        """Whether a cache gained or lost entries since it was loaded."""
        return any(isinstance(c, ReuseCache) and c.changed for c in (self.declared, self.imports))

    # ------------------------------------------------------------------ fingerprints

    def fingerprint(self, dependencies: Dependencies, parameters: dict[str, Any]) -> Fingerprint:
        """Hashes of what a phase is run from."""
        code = {self._relative(path): digest for path, digest in dependencies.files.items()}
        return Fingerprint(dependencies.notebook_sha256, parameters, dict(sorted(code.items())))

    def _relative(self, path: Path) -> str:
        path = Path(path)
        return (
            path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(path)
        )

    # ------------------------------------------------------------------ decisions

    def reasons(self, name: str, fingerprint: Fingerprint, upstream: list[str]) -> list[str]:
        """Why phase `name` must run (empty when it is up to date).

        `upstream` are the names of the phases before it, in order.
        """
        entry = self.phases.get(name)
        if name in self.failed:
            return [f"its last run failed (run {self.failed[name].get('run_id')})"]
        if entry is None:
            return ["no successful run yet"]
        reasons = []
        if entry.get("notebook") != fingerprint.notebook:
            reasons.append("notebook changed")
        reasons += self._parameter_changes(entry.get("parameters", {}), fingerprint.parameters)
        reasons += self._code_changes(entry.get("code", {}), fingerprint.code)
        reasons += self._file_changes(name, entry, upstream)
        for before in upstream:
            earlier = self.phases.get(before)
            if earlier is not None and earlier.get("seq", 0) > entry.get("seq", 0):
                reasons.append(f"upstream {before} ran after it (run {earlier.get('run_id')})")
        return reasons

    @staticmethod
    def _parameter_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
        changed = []
        for key in sorted(set(old) | set(new)):
            if key not in new:
                changed.append(f"parameter {key} removed")
            elif key not in old:
                changed.append(f"parameter {key} added")
            elif json.dumps(old[key], sort_keys=True, default=str) != json.dumps(
                new[key], sort_keys=True, default=str
            ):
                changed.append(
                    f"parameter {key} changed ({_describe(old[key])} -> {_describe(new[key])})"
                )
        return changed

    @staticmethod
    def _code_changes(old: dict[str, str], new: dict[str, str]) -> list[str]:
        changed = [f"helper code changed: {path}" for path in new if old.get(path) != new[path]]
        changed += [f"helper code no longer imported: {path}" for path in old if path not in new]
        return changed

    def _file_changes(self, name: str, entry: dict[str, Any], upstream: list[str]) -> list[str]:
        """Files the phase read or wrote whose content differs from what it saw or left."""
        # Content a later phase left in a file (e.g. deployment updating the production model
        # that evaluation reads) is the pipeline's own doing, not a reason to run again.
        later = {
            (path, digest)
            for other, data in self.phases.items()
            if other != name and other not in upstream
            for path, digest in data.get("writes", {}).items()
        }
        changed = []
        writes = entry.get("writes", {})
        for path, expected in {**entry.get("reads", {}), **writes}.items():
            current = self._current_sha256(path)
            if current == expected or (path, current) in later:
                continue
            kind = "output" if path in writes else "input"
            changed.append(f"{kind} {'missing' if current is None else 'changed'}: {path}")
        return changed

    def _current_sha256(self, path: str) -> str | None:
        """sha256 of the project file `path` now (None when missing), hashed once per State."""
        if path not in self._hashes:
            try:
                self._hashes[path] = sha256_file(self.root / path)
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                self._hashes[path] = None
        return self._hashes[path]

    # ------------------------------------------------------------------ updates

    def record_success(
        self,
        name: str,
        run_id: str,
        fingerprint: Fingerprint,
        io_entries: list[dict[str, Any]],
        details: dict[str, Any],
    ) -> None:
        """Remember a successful run of `name`: what it ran from, read and wrote."""
        reads: dict[str, str] = {}
        writes: dict[str, str] = {}
        for entry in io_entries:
            path, digest = entry["path"], entry.get("sha256", "")
            if entry["op"] == "write":
                writes[path] = digest
                reads.pop(path, None)
            elif path in writes:
                writes[path] = digest
            else:
                reads[path] = digest
        self.seq += 1
        self.failed.pop(name, None)
        self.phases[name] = {
            "run_id": run_id,
            "seq": self.seq,
            "notebook": fingerprint.notebook,
            "parameters": fingerprint.parameters,
            "code": fingerprint.code,
            "reads": reads,
            "writes": writes,
            **details,
        }

    def record_failure(self, name: str, run_id: str, error: dict[str, Any] | None) -> None:
        """A failed (or interrupted) phase runs again next time, whatever changed."""
        self.failed[name] = {"run_id": run_id, "error": error}
        self.phases.pop(name, None)
