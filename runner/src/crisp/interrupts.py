"""Ctrl-C (SIGINT) and SIGTERM during a run, so that the outcome printed, the exit code and the
run record always agree.

Inside `interruptible()` blocks (planning, waiting for a kernel, executing a notebook) either
signal stops the run at once: KeyboardInterrupt, or `Terminated` for SIGTERM. Everywhere else
(recording a phase's results, committing its outputs, writing the final record and index) a
signal is only remembered, and raised when the next interruptible block starts. Once the run is
finishing (`finishing()`), a signal changes nothing: the outcome is decided and being printed.
A signal that arrives while the main thread imports a module is raised once the import is over.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

# How soon a signal that arrived during an import is delivered again.
REDELIVER_S = 0.01
_IMPORT_MACHINERY = ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>")


class Terminated(KeyboardInterrupt):
    """SIGTERM: handled as an interrupt (kernels killed, the run recorded as interrupted)."""

    exit_code = 128 + signal.SIGTERM


def raise_on_sigterm() -> None:
    """Turn SIGTERM into `Terminated` in the main thread, so cleanup (killing kernels) runs."""

    def handler(signum: int, frame: object) -> None:
        raise Terminated()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


class Interrupts:
    """SIGINT/SIGTERM handling for one run, installed by `with Interrupts():` (main thread)."""

    _active: Interrupts | None = None

    def __init__(self, restore: bool = True) -> None:
        self.received: int | None = None  # the first signal received
        self._open = 0  # depth of interruptible blocks
        self._finishing = False
        self._restore = restore  # False: a late signal is ignored until the process exits
        self._previous: dict[int, Any] = {}

    @classmethod
    def active(cls) -> Interrupts | None:
        """The handling installed for the current run, if any."""
        return cls._active

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        Interrupts._active = self
        return self

    def __exit__(self, *exc: object) -> None:
        if self._restore:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)
        else:  # the process ends: ignored (Python would restore the default while it ends)
            self.finishing()
            for signum in self._previous:
                signal.signal(signum, signal.SIG_IGN)
        self._previous.clear()
        if Interrupts._active is self:
            Interrupts._active = None

    @property
    def terminated(self) -> bool:
        """Whether the signal received was SIGTERM."""
        return self.received == signal.SIGTERM

    def _raise(self, signum: int) -> None:
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
        if not self._open or self._finishing:
            return
        if _importing(frame):
            # Raised inside an import, the interrupt could leave the module's import lock held
            # (CPython), and a thread importing it next (the report exporter) would wait forever:
            # the signal comes again once the import is over.
            threading.Timer(REDELIVER_S, self._redeliver, (signum,)).start()
            return
        self._raise(signum)

    def _redeliver(self, signum: int) -> None:
        if Interrupts._active is self:
            signal.pthread_kill(threading.main_thread().ident, signum)

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """A block a signal stops at once (also one received before it started)."""
        if self.received is not None and not self._finishing:
            self._raise(self.received)
        self._open += 1
        try:
            yield
        finally:
            self._open -= 1

    def finishing(self) -> None:
        """From now on the run only records and prints its outcome: signals change nothing."""
        self._finishing = True
        self._open = 0


@contextmanager
def handled() -> Iterator[Interrupts]:
    """The active handling, or a new one for the duration of the block.

    Outside it (no handling installed), the block is interruptible as Python's default is.
    """
    current = Interrupts.active()
    if current is not None:
        yield current
        return
    with Interrupts() as interrupts:
        yield interrupts


def _importing(frame: FrameType | None) -> bool:
    """Whether `frame` runs inside an import (the import machinery is on its stack)."""
    while frame is not None:
        if frame.f_code.co_filename in _IMPORT_MACHINERY:
            return True
        frame = frame.f_back
    return False
