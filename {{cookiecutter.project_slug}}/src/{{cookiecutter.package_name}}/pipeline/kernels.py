"""Kernels started ahead of time, so a phase does not wait for kernel start-up and imports.

While one phase runs, the pool starts the next phase's kernel in a background thread and imports
into it the modules that phase will import (pandas, scikit-learn, matplotlib, the helper modules:
see `sources.dependencies`). The imports go into `sys.modules` only (run in a
throw-away namespace, silently), so each phase still starts with an empty user namespace.
Kernels are killed at once after their phase, on failure, on SIGINT/SIGTERM and at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from jupyter_client import KernelManager

KERNEL_NAME = "python3"

# Runs inside the kernel via exec(..., dict()): nothing lands in the notebook's namespace.
_WARMUP = """
import importlib
for name in {modules!r}:
    try:
        importlib.import_module(name)
    except Exception:
        pass
"""


class KernelStartError(RuntimeError):
    """The phase's kernel could not be started (message names the kernel and the cause)."""


def warmup_code(modules: Iterable[str]) -> str:
    """Code that imports `modules` into the kernel's sys.modules, leaving its namespace empty."""
    source = _WARMUP.format(modules=tuple(dict.fromkeys(modules)))
    return "exec(compile(" + repr(source) + ", '<crisp warm-up>', 'exec'), dict())"


class KernelPool:
    """Starts kernels for upcoming phases in the background; hands them out one at a time."""

    def __init__(
        self,
        cwd: Path,
        kernel_name: str = KERNEL_NAME,
        startup_timeout: float = 120.0,
    ) -> None:
        self.cwd = Path(cwd)
        self.kernel_name = kernel_name
        self.startup_timeout = startup_timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crisp-kernel")
        self._pending: dict[str, Future[KernelManager]] = {}
        self._live: set[KernelManager] = set()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        atexit.register(self.close)

    def prepare(
        self,
        phase: str,
        env: Mapping[str, str],
        modules: Iterable[str] = (),
        log: Path | None = None,
    ) -> None:
        """Start (in the background) the kernel for `phase` with `env` added to the environment."""
        if phase not in self._pending and not self._closing.is_set():
            self._pending[phase] = self._executor.submit(
                self._start, dict(env), tuple(modules), log
            )

    def take(
        self,
        phase: str,
        env: Mapping[str, str],
        modules: Iterable[str] = (),
        log: Path | None = None,
    ) -> KernelManager:
        """The started kernel for `phase` (started now when it was not prepared)."""
        self.prepare(phase, env, modules, log)
        return self._pending.pop(phase).result()

    def release(self, km: KernelManager) -> None:
        """Kill the kernel now: its phase is over and nothing of it is reused."""
        with self._lock:
            self._live.discard(km)
        _kill(km)

    def close(self) -> None:
        """Kill every kernel, started or starting; no kernel process outlives the run."""
        self._closing.set()
        for future in self._pending.values():
            future.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)
        for future in self._pending.values():
            if future.done() and not future.cancelled() and future.exception() is None:
                self.release(future.result())
        self._pending.clear()
        with self._lock:
            live = list(self._live)
            self._live.clear()
        for km in live:
            _kill(km)
        atexit.unregister(self.close)

    def __enter__(self) -> KernelPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(
        self, env: dict[str, str], modules: tuple[str, ...], log: Path | None
    ) -> KernelManager:
        from jupyter_client import KernelManager

        # nbclient drives the kernel through km.client(): it needs the asynchronous client
        # (with the default blocking one, cell timeouts are never raised).
        km = KernelManager(
            kernel_name=self.kernel_name,
            client_class="jupyter_client.asynchronous.AsyncKernelClient",
        )
        stderr: IO[bytes] | None = None
        try:
            if log is not None:
                log.parent.mkdir(parents=True, exist_ok=True)
                stderr = open(log, "ab")  # noqa: SIM115 - the kernel process owns it while it runs
            with self._lock:
                self._live.add(km)
            km.start_kernel(
                cwd=str(self.cwd),
                env={**os.environ, **env},
                stdout=stderr,
                stderr=stderr,
            )
        except Exception as exc:
            self.release(km)
            raise KernelStartError(
                f"could not start the Jupyter kernel '{self.kernel_name}': {exc}; "
                "check that ipykernel is installed in this environment"
            ) from exc
        finally:
            if stderr is not None:
                stderr.close()
        self._warm_up(km, modules)
        if self._closing.is_set():
            self.release(km)
        return km

    def _warm_up(self, km: KernelManager, modules: tuple[str, ...]) -> None:
        """Import `modules` in the kernel; best effort: a failure here only costs time later."""
        client = km.blocking_client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=self.startup_timeout)
            msg_id = client.execute(warmup_code(modules), silent=True, store_history=False)
            while not self._closing.is_set():
                try:
                    reply = client.get_shell_msg(timeout=0.2)
                except Exception:  # queue.Empty: still importing
                    if not km.is_alive():
                        return
                    continue
                if reply["parent_header"].get("msg_id") == msg_id:
                    return
        except Exception:
            return
        finally:
            client.stop_channels()


def _kill(km: KernelManager) -> None:
    """Shut the kernel down immediately (no graceful wait); never raises."""
    try:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    except Exception:
        provisioner = getattr(km, "provisioner", None)
        pid = getattr(provisioner, "pid", None)
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        km.cleanup_resources()


def raise_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit in the main thread, so cleanup (killing kernels) runs."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
