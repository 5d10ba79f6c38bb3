"""Kernels ready before their phase starts, so a phase does not wait for start-up and imports.

While one phase runs, the pool prepares the next phases' kernels in background threads. Two ways:

- `fork` (default where os.fork exists): a fork server (forkserver.py) imports the libraries and
  helper modules every phase needs once; each phase's kernel is a fresh fork of it, so start-up
  and imports cost milliseconds instead of seconds per phase.
- `spawn`: a new kernel process per phase (jupyter_client), into which the modules that phase
  will import are imported ahead of time.

Either way the imports land in `sys.modules` only and every phase starts with an empty user
namespace. Kernels are killed at once after their phase, on failure, on SIGINT/SIGTERM and at
exit.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .forkserver import KERNEL_ARGS

SERVER_LOG_PREFIX = "crisp-kernels-"  # + the runner's pid; in the temporary folder

if TYPE_CHECKING:
    from jupyter_client import KernelManager

KERNEL_NAME = "python3"
# nbclient drives a kernel through km.client(): an asynchronous client is needed (with the
# blocking one, cell timeouts are never raised); this one is also ready without a 0.2 s wait.
CLIENT_CLASS = f"{__package__}.ready.ReadyKernelClient"
MODES = ("fork", "spawn")
# Kernels to prepare ahead of the running phase. Two from the fork server: it then has the next
# two phases' imports before it goes on to prefetching, which a kernel request cannot interrupt;
# one spawned kernel (each imports for itself, beside the running phase).
AHEAD = {"fork": 2, "spawn": 1}
DEFAULT_MODE = "fork" if hasattr(os, "fork") and sys.platform.startswith("linux") else "spawn"

# Runs inside a spawned kernel via exec(..., dict()): nothing lands in the notebook's namespace.
_WARMUP = """
import importlib
for name in {modules!r}:
    try:
        importlib.import_module(name)
    except Exception:
        pass
"""


# Python imports a package whose modules import each other (jupyter_client's __init__ and its
# manager) safely from one thread at a time only: a second thread importing it meanwhile can get
# it half initialised ("cannot import name ... from partially initialized module"). The pool's
# threads import jupyter_client under this lock, and the runner calls import_jupyter_client()
# before it first imports papermill or nbconvert (which import jupyter_client).
_JUPYTER_IMPORT = threading.Lock()


def import_jupyter_client() -> None:
    """Import jupyter_client, one thread at a time (see _JUPYTER_IMPORT)."""
    with _JUPYTER_IMPORT:
        import jupyter_client  # noqa: F401


_IMPORTED_SINCE_FORK = f"__import__('{__package__}.imports', fromlist=['_']).imported_since_fork()"


class KernelStartError(RuntimeError):
    """The phase's kernel could not be started (message names the kernel and the cause)."""


@dataclass(frozen=True)
class PhaseImports:
    """What a phase imports, as far as the runner can tell before it runs (see sources.py)."""

    eager: Sequence[str] = ()  # imported when the notebook's imports run
    anywhere: Sequence[str] = ()  # imported anywhere in the notebook and its helpers
    earlier_runs: Sequence[str] = field(default=())  # lazy imports of its earlier runs

    def at_start(self) -> list[str]:
        """What a forked kernel for the phase should find imported when it starts.

        The notebook's imports, and what the phase imported itself in earlier runs (what
        libraries import lazily). Function-level imports of the helpers are not waited for:
        they are prefetched.
        """
        return sorted({*self.eager, *self.earlier_runs})


def new_server_log() -> Path:
    """A new temporary file for a fork server's log, named after this process. The logs of runs
    killed outright (SIGKILL, out of memory), which could not remove theirs, are removed first."""
    for stale in Path(tempfile.gettempdir()).glob(f"{SERVER_LOG_PREFIX}*.log"):
        pid = stale.name.removeprefix(SERVER_LOG_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):  # another user's, or just removed by another run
                stale.unlink()
    handle, log = tempfile.mkstemp(prefix=f"{SERVER_LOG_PREFIX}{os.getpid()}-", suffix=".log")
    os.close(handle)
    return Path(log)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def import_order(phases: Sequence[PhaseImports]) -> list[str]:
    """Every module `phases` (in run order) may import, in the order the run needs them: each
    phase's `at_start` modules in phase order, then the helpers' function-level imports."""
    order: dict[str, None] = {}
    for phase in phases:
        order.update(dict.fromkeys(phase.at_start()))
    for phase in phases:
        order.update(dict.fromkeys(sorted(phase.anywhere)))
    return list(order)


def warmup_code(modules: Iterable[str]) -> str:
    """Code that imports `modules` into the kernel's sys.modules, leaving its namespace empty."""
    source = _WARMUP.format(modules=tuple(dict.fromkeys(modules)))
    return "exec(compile(" + repr(source) + ", '<crisp warm-up>', 'exec'), dict())"


class KernelPool:
    """Prepares kernels for the next `ahead` phases in the background; hands them out one at a time.

    In fork mode the fork server starts at once, with `server_env`. It logs to a temporary file
    that `close(log_to=...)` keeps as the run's log (the run's folder may not exist yet).
    """

    def __init__(
        self,
        cwd: Path,
        mode: str = DEFAULT_MODE,
        server_env: Mapping[str, str] | None = None,
        kernel_name: str = KERNEL_NAME,
        startup_timeout: float = 120.0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"kernel start mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.cwd = Path(cwd)
        self.mode = mode
        self.ahead = AHEAD[mode]
        self.kernel_name = kernel_name
        self.startup_timeout = startup_timeout
        self._executor = ThreadPoolExecutor(
            max_workers=self.ahead, thread_name_prefix="crisp-kernel"
        )
        self._pending: dict[str, Future[KernelManager]] = {}
        self._live: set[KernelManager] = set()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server_env = dict(server_env or {})
        self._closed = False
        self._server_log: Path | None = None
        self._server: Any = None
        self._server_error: Exception | None = None
        # Kernels are killed on their own thread: the next phase need not wait for that.
        self._reaper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crisp-reaper")
        if mode == "fork":
            # Started here, before the runner's own slow imports: it only costs a process spawn.
            from .forkserver import ForkServer

            self._server_log = new_server_log()
            try:
                self._server = ForkServer(self._server_env, self.cwd, self._server_log)
            except Exception as exc:  # each kernel then falls back to a new process
                self._server_error = exc
        atexit.register(self.close)

    def preload(self, imports: PhaseImports) -> list[str]:
        """What is imported ahead of time for a phase's kernel: before the fork, what the phase
        needs at start (the rest is prefetched); in a spawned kernel, its notebook's imports."""
        return imports.at_start() if self.mode == "fork" else sorted(imports.eager)

    def prepare(
        self,
        phase: str,
        env: Mapping[str, str],
        imports: PhaseImports | None = None,
        log: Path | None = None,
        last: bool = False,
    ) -> None:
        """Start (in the background) the kernel for `phase` with `env` added to the environment.

        What `preload` chooses of `imports` is imported ahead of time: into the kernel (spawn)
        or into the fork server before it forks the kernel (fork). `last`: no kernel is started
        after this one, so the fork server stops prefetching once it is forked.
        """
        if phase not in self._pending and not self._closing.is_set():
            modules = tuple(self.preload(imports or PhaseImports()))
            self._pending[phase] = self._executor.submit(self._start, dict(env), modules, log, last)

    def prefetch(self, modules: Iterable[str]) -> None:
        """Fork mode: the server imports `modules` (in order) while it is idle, for later phases.

        Best effort: a server that has stopped is noticed when the next kernel is started.
        """
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.prefetch(modules)

    def prefetch_for(self, phases: Sequence[PhaseImports]) -> None:
        """Prefetch what `phases` (in run order) will import, in the order they need it."""
        self.prefetch(import_order(phases))

    def take(
        self,
        phase: str,
        env: Mapping[str, str],
        imports: PhaseImports | None = None,
        log: Path | None = None,
        last: bool = False,
    ) -> KernelManager:
        """The started kernel for `phase` (started now when it was not prepared)."""
        self.prepare(phase, env, imports, log, last)
        return self._pending.pop(phase).result()

    def release(self, km: KernelManager) -> None:
        """Kill the kernel now (on a background thread): its phase is over, nothing is reused."""
        with self._lock:
            self._live.discard(km)
        try:
            self._reaper.submit(_kill, km)
        except RuntimeError:  # the pool is closing: kill it here
            _kill(km)

    def close(self, log_to: Path | None = None) -> None:
        """Kill every kernel, started or starting; no kernel process outlives the run.

        The fork server's log is copied to `log_to` (when given) and its temporary file removed.
        """
        if self._closed:
            return
        self._closed = True
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
        self._reaper.shutdown(wait=True)
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._server_log is not None:
            if log_to is not None:
                with contextlib.suppress(OSError):
                    shutil.copyfile(self._server_log, log_to)
            self._server_log.unlink(missing_ok=True)
        atexit.unregister(self.close)

    def __enter__(self) -> KernelPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(
        self, env: dict[str, str], modules: tuple[str, ...], log: Path | None, last: bool
    ) -> KernelManager:
        import_jupyter_client()
        from .ready import KernelDiedError

        for attempt in (1, 2):
            km, spawned = self._launch(env, modules, log, last)
            try:
                self._wait_ready(km, modules if spawned else ())
            except (KernelDiedError, TimeoutError) as exc:
                self.release(km)
                if attempt == 2 or self._closing.is_set():
                    where = f" (its log: {log})" if log else ""
                    raise KernelStartError(
                        f"the Jupyter kernel '{self.kernel_name}' did not start: {exc}{where}"
                    ) from exc
                continue  # once more: what killed it (a port taken meanwhile, ...) may be gone
            break
        if self._closing.is_set():
            self.release(km)
        return km

    def _launch(
        self, env: dict[str, str], modules: tuple[str, ...], log: Path | None, last: bool
    ) -> tuple[KernelManager, bool]:
        """A started kernel process, and whether it was spawned (not forked)."""
        spawned = self.mode == "spawn"
        try:
            km = self._spawn(env, log) if spawned else self._fork(env, modules, log, last)
        except Exception as exc:
            if spawned or self._closing.is_set():
                raise KernelStartError(
                    f"could not start the Jupyter kernel '{self.kernel_name}' ({self.mode}): "
                    f"{exc}; check that ipykernel is installed in this environment"
                ) from exc
            # A fork server that fails must not fail the run: start this kernel as a new
            # process instead (slower start-up, the same isolation) and say so.
            print(
                f"crisp: the fork server could not start a kernel ({exc!r}); starting it as a "
                "new process (the fork server logs to kernels.log in the run's report folder)",
                file=sys.stderr,
            )
            km, spawned = self._spawn(env, log), True
        return km, spawned

    def _fork(
        self, env: dict[str, str], modules: tuple[str, ...], log: Path | None, last: bool
    ) -> KernelManager:
        if self._server is None:
            raise self._server_error or RuntimeError("no fork server")
        km = self._server.start_kernel(
            env, self.cwd, log or Path(os.devnull), self.kernel_name, CLIENT_CLASS, modules, last
        )
        with self._lock:
            self._live.add(km)
        return km

    def _spawn(self, env: dict[str, str], log: Path | None) -> KernelManager:
        from jupyter_client import KernelManager

        km = KernelManager(kernel_name=self.kernel_name, client_class=CLIENT_CLASS)
        stderr: IO[bytes] | None = None
        try:
            if log is not None:
                log.parent.mkdir(parents=True, exist_ok=True)
                stderr = open(log, "ab")  # noqa: SIM115 - the kernel process owns it while it runs
            with self._lock:
                self._live.add(km)
            km.start_kernel(
                extra_arguments=list(KERNEL_ARGS),
                cwd=str(self.cwd),
                env={**os.environ, **env},
                stdout=stderr,
                stderr=stderr,
            )
        except Exception:
            self.release(km)
            raise
        finally:
            if stderr is not None:
                stderr.close()
        return km

    def _wait_ready(self, km: KernelManager, modules: tuple[str, ...]) -> None:
        """Wait until the kernel answers (KernelDiedError, TimeoutError), then import `modules`
        in it (best effort).

        With the runner's client (ready.py): jupyter_client's wait_for_ready would also
        wait for IOPub to fall quiet for 0.2 s, on the way of the first phases.
        """
        from .ready import load_bound_ports, ready_blocking_client  # imports jupyter_client

        if not km.shell_port:  # a forked kernel: it binds its own ports
            load_bound_ports(km, self.startup_timeout)
        client = ready_blocking_client(km)
        client.start_channels()
        try:
            try:
                client.wait_for_ready(timeout=self.startup_timeout)
            except RuntimeError as exc:
                if "didn't respond" in str(exc):
                    raise TimeoutError(str(exc)) from exc
                raise
            if not modules:
                return
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
        finally:
            client.stop_channels()


def loaded_modules(km: KernelManager, timeout: float = 10.0) -> list[str]:
    """Modules a forked kernel imported after its fork (asked without touching its namespace).

    What a finished phase imported beyond what the fork server had imported for it, including
    what libraries import lazily (pyarrow when pandas reads Parquet, ...): the fork server
    imports these before it forks the phase's kernel in later runs. [] on failure.
    """
    from .ready import ready_blocking_client  # without a heartbeat, as every runner client

    client = ready_blocking_client(km)
    client.start_channels()
    try:
        msg_id = client.execute(
            "",
            silent=True,
            store_history=False,
            # One string, not a list: IPython shortens the repr of long lists ("...").
            user_expressions={"modules": _IMPORTED_SINCE_FORK},
        )
        while True:
            reply = client.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        text = reply["content"]["user_expressions"]["modules"]["data"]["text/plain"]
        names = str(ast.literal_eval(text)).split()
        return [name for name in names if not name.startswith("__")]
    except Exception:
        return []
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
