"""One run at a time per project, and noticing a run whose process is gone.

A run holds an exclusive lock on `reports/.lock` (flock: the system releases it when the process
ends, however it ends) and writes its pid and run id into the file. When the lock is free but the
file still names a run, that run's process died without finishing (`kill -9`, a power cut): its
record says `running` for ever unless someone settles it (`abandoned_run`).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import IO, Any

LOCK_FILE = Path("reports") / ".lock"
# How long a new run waits for the lock while it is held without a run in it (someone settling
# an abandoned run, which takes milliseconds) before it says the project is busy.
SETTLING_WAIT_S = 5.0

try:
    import fcntl
except ImportError:  # not POSIX: no lock (one run at a time is then up to the user)
    fcntl = None  # type: ignore[assignment]


class RunBusyError(RuntimeError):
    """Another run holds the project's lock."""


def _try_lock(handle: IO[str]) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _claim_of(handle: IO[str]) -> dict[str, Any]:
    handle.seek(0)
    try:
        claim = json.loads(handle.read() or "{}")
    except ValueError:
        return {}
    return claim if isinstance(claim, dict) else {}


def _write_claim(handle: IO[str], claim: dict[str, Any]) -> None:
    handle.seek(0)
    handle.truncate()
    if claim:
        handle.write(json.dumps(claim))
    handle.flush()


def _alive(pid: Any) -> bool:
    """Whether process `pid` exists."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """`with RunLock(root) as lock:` holds the project's run lock (RunBusyError when taken)."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / LOCK_FILE
        self._handle: IO[str] | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - closed in __exit__
        deadline = time.monotonic() + SETTLING_WAIT_S
        while not _try_lock(handle):
            # Held by a run, or for a moment by someone settling a dead run (see abandoned_run).
            claim = _claim_of(handle)
            running = claim.get("run") and _alive(claim.get("pid"))
            if running or time.monotonic() > deadline:
                handle.close()
                raise RunBusyError(
                    "another `crisp run` is using this project; wait for it to finish or stop it"
                )
            time.sleep(0.01)
        self._handle = handle
        return self

    def abandoned(self) -> str | None:
        """The run a dead process left in the lock file (None when it names none)."""
        assert self._handle is not None
        run = _claim_of(self._handle).get("run")
        return str(run) if run else None

    def claim(self, run: str) -> None:
        """Name the run (its folder, project-relative) that holds the lock, so that its death
        can be noticed."""
        assert self._handle is not None
        _write_claim(self._handle, {"pid": os.getpid(), "run": run})

    def release_claim(self) -> None:
        """The run finished (its record is final): the lock names no run any more."""
        if self._handle is not None:
            _write_claim(self._handle, {})

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()  # releases the flock
            self._handle = None


def abandoned_run(root: Path) -> tuple[RunLock, str] | None:
    """When no run holds the lock but the lock file names one: that run's process is gone.

    Returns the held lock (exit it when the run is settled) and the run id, else None.
    """
    path = Path(root) / LOCK_FILE
    try:
        if path.stat().st_size == 0:
            return None  # the usual case: no run, nothing to settle (no lock taken)
    except OSError:
        return None
    lock = RunLock(root)
    try:
        lock.__enter__()
    except (RunBusyError, OSError):
        return None  # a live run holds it
    run = lock.abandoned()
    if run is None:
        lock.__exit__()
        return None
    assert lock._handle is not None
    _write_claim(lock._handle, {"pid": os.getpid(), "settling": run})
    return lock, run
