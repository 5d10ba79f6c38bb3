"""The kernel fork server: imports the pipeline's libraries once, then forks one kernel per phase.

The runner starts it (`ForkServer`) as a process of its own running `main`. It reads one
JSON command per line on stdin and answers one JSON line on its stdout:

- `{"op": "import", "modules": [...]}`: import these modules (errors ignored) -> `{"ok": true,
  "queued": N}`, N prefetched modules not imported yet (the runner sends, before each fork, what
  that phase's kernel needs when it starts)
- `{"op": "fork", "connection_file", "cwd", "env", "log", "last"}`: fork a child that becomes an
  IPython kernel (fresh namespace, run context from `env`) -> `{"pid": N}`. After the run's
  `last` kernel nothing forked later could use a prefetched import: prefetching stops.
- `{"op": "prefetch", "modules": [...]}`: no answer; import these, in order, whenever no command
  is waiting (what later phases will need, imported while the current phase runs). A command
  waits at most for the one module being imported.

Nothing here runs user code before a fork, so every kernel starts from the same clean state
with the imports already done. When stdin closes (the runner ended) or on SIGTERM, all kernels
are killed. A forked kernel is handed to the runner as an ordinary jupyter_client KernelManager
whose provisioner knows the forked process, so papermill/nbclient drive it like any other
kernel. Starting the server imports nothing heavy, so it gets going before the runner's imports.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import warnings
from collections import deque
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import imports, priority

# Started with -c, not -m: `python -m` would run this file a second time as __main__ beside the
# copy its package imports (runpy warns about that in the server's log).
_START = f"from {__name__} import main, _exit; main(); _exit()"

if TYPE_CHECKING:
    from jupyter_client import KernelManager


class ForkServerError(RuntimeError):
    """The fork server died or answered nonsense."""


class ForkServer:
    """The server process (`main` below, in a process of its own), seen from the runner."""

    def __init__(self, env: Mapping[str, str], cwd: Path, log: Path) -> None:
        self._log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as stderr:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _START],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=cwd,
                env={**os.environ, **env},
                text=True,
                start_new_session=True,  # Ctrl-C in the terminal reaches the runner only
            )
        self._lock = threading.Lock()  # held from a command to its answer
        self._write_lock = threading.Lock()  # held while a command line is written

    def _send(self, command: dict[str, Any]) -> None:
        assert self._process.stdin is not None
        try:
            with self._write_lock:
                self._process.stdin.write(json.dumps(command) + "\n")
                self._process.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise ForkServerError(
                f"the kernel fork server stopped ({exc}); its log is {self._log}"
            ) from exc

    def _receive(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise ForkServerError(
                f"the kernel fork server exited (code {self._process.poll()}); "
                f"its log is {self._log}"
            )
        return json.loads(line)

    def prefetch(self, modules: Iterable[str]) -> None:
        """Have the server import `modules`, in this order, whenever it has nothing else to do."""
        self._send({"op": "prefetch", "modules": list(dict.fromkeys(modules))})

    def imports(self, modules: Iterable[str]) -> int:
        """Import `modules` now; returns how many prefetched modules wait to be imported."""
        with self._lock:
            return self._import(modules)

    def _import(self, modules: Iterable[str]) -> int:
        self._send({"op": "import", "modules": sorted(set(modules))})
        return int(self._receive()["queued"])

    def start_kernel(
        self,
        env: Mapping[str, str],
        cwd: Path,
        log: Path,
        kernel_name: str,
        client_class: str,
        modules: Iterable[str] = (),
        last: bool = False,
    ) -> KernelManager:
        """A new kernel forked after the server imported `modules`, as a KernelManager; `last`:
        the run forks no kernel after this one (the server stops prefetching)."""
        from jupyter_client import KernelManager

        from .provisioner import ForkedProvisioner
        from .ready import write_unbound_connection_file

        km = KernelManager(kernel_name=kernel_name, client_class=client_class)
        write_unbound_connection_file(km)  # the kernel binds free ports (ready.load_bound_ports)
        log.parent.mkdir(parents=True, exist_ok=True)
        command = {
            "op": "fork",
            "connection_file": km.connection_file,
            "cwd": str(cwd),
            "env": dict(env),
            "log": str(log),
            "last": last,
        }
        with self._lock:
            self._import(modules)
            self._send(command)
            pid = int(self._receive()["pid"])
        provisioner = ForkedProvisioner(
            kernel_id=km.kernel_id or "",
            kernel_spec=km.kernel_spec,
            parent=km,
        )
        provisioner.pid = pid
        km.provisioner = provisioner
        return km

    def close(self) -> None:
        """Stop the server; it kills the kernels it forked."""
        with contextlib.suppress(OSError, ValueError):
            if self._process.stdin is not None:
                self._process.stdin.close()
        with contextlib.suppress(OSError):
            self._process.terminate()  # it may be busy importing: do not wait for that
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


# The server process ------------------------------------------------------------------------


# Loaded as matplotlib's backend inside a running kernel only: importing it here would
# configure it for a process without IPython, and figures would not be shown.
_NOT_BEFORE_FORK = (
    "matplotlib_inline",
    "ipykernel.pylab",
    # These pick their flavour at import time by looking for a running IPython.
    "tqdm.auto",
    "tqdm.autonotebook",
    "tqdm.notebook",
    "ipywidgets",
    "__main__",
    "__mp_main__",
)
# Kernel options, as nbclient passes them to kernels it starts: a pipeline kernel keeps its cell
# history in memory (not in the user's IPython history database, one write per cell) and renders
# figures in the background (figures.py).
KERNEL_ARGS = (
    "--HistoryManager.hist_file=:memory:",
    f"--IPKernelApp.extra_extensions={__package__}.figures",
)
# What every kernel imports to start: the largest part of a kernel's start-up (the last ones are
# imported while the kernel initialises, ~0.15 s per kernel when left to each kernel).
_KERNEL = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.debugger",
    "IPython.core.completerlib",
    "IPython.core.debugger",
    "IPython.core.logger",
    "IPython.core.oinspect",
    "sqlite3",
    "tornado.platform.asyncio",
    f"{__package__}.figures",
)


def _preload(modules: list[str] | tuple[str, ...]) -> None:
    for name in modules:
        if name in sys.modules or name.startswith(_NOT_BEFORE_FORK):
            continue
        with contextlib.suppress(Exception):
            importlib.import_module(name)


class _Commands:
    """JSON commands, one per line on a file descriptor; can tell whether one is waiting."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""
        self._closed = False

    def waiting(self) -> bool:
        """Whether a command (or the end of input) can be read without blocking."""
        if b"\n" in self._buffer or self._closed:
            return True
        return bool(select.select([self._fd], [], [], 0)[0])

    def next(self) -> dict[str, Any] | None:
        """The next command (blocks until it arrives); None when the input is closed."""
        while b"\n" not in self._buffer:
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                self._closed = True
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)


_children: set[int] = set()


def _reap(signum: int, frame: object) -> None:
    """Collect exited kernels (waiting also adds their resource usage to this process's)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _children.discard(pid)


def _kill_children() -> None:
    """SIGKILL to every kernel's process group (each is a session leader), with what it started."""
    for pid in list(_children):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _exit() -> None:
    """Kill the kernels and leave at once: tearing down an interpreter with pandas, scikit-learn
    and matplotlib loaded takes most of a second, and this process has nothing to clean up."""
    _kill_children()
    sys.stderr.flush()
    os._exit(0)


def _stop(signum: int, frame: object) -> None:
    """SIGTERM from the runner: leave at once, even in the middle of an import."""
    _exit()


def _become_kernel(command: dict[str, Any], protocol_fd: int) -> None:
    """In the forked child: detach, take the phase's environment, run an IPython kernel."""
    code = 1
    try:
        gc.enable()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # kernel interrupts
        os.setsid()
        os.close(protocol_fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        log = os.open(command["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.environ.update(command["env"])
        # ipykernel exits by itself when this server (its parent) goes away.
        os.environ["JPY_PARENT_PID"] = str(os.getppid())
        os.chdir(command["cwd"])
        imports.mark_fork()
        if "numpy.random" in sys.modules:
            sys.modules["numpy.random"].seed()  # a new process would not share the RNG state
        from ipykernel import kernelapp

        sys.argv = [kernelapp.__file__, "-f", command["connection_file"], *KERNEL_ARGS]
        kernelapp.IPKernelApp.launch_instance(argv=sys.argv[1:])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    finally:
        os._exit(code)


def main() -> None:
    """Serve import and fork commands until stdin closes."""
    # The protocol gets its own descriptor; fd 1 goes to stderr so stray prints cannot corrupt it.
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    protocol = os.fdopen(protocol_fd, "w", buffering=1)
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner decides when this server stops
    signal.signal(signal.SIGTERM, _stop)
    # Python's advice for fork without exec: no collections in the parent (they leave holes in
    # pages the kernels share; imports are also faster), freeze before each fork, collect in
    # the child. This process runs imports only, so there is little garbage to miss.
    gc.disable()
    commands = _Commands(sys.stdin.fileno())
    later: deque[str] = deque()  # prefetched modules not imported yet
    forked_last = False  # the run's last kernel is forked: nothing to prefetch for
    # Prefetching runs on a thread of low priority (the kernels forked from the main thread keep
    # the normal one); one module at a time, so no import is under way when a kernel is forked.
    background = ThreadPoolExecutor(1, "crisp-prefetch", initializer=priority.lower)
    try:
        _preload(_KERNEL)
        while True:
            while later and not commands.waiting():
                background.submit(_preload, [later.popleft()]).result()
            command = commands.next()
            if command is None:
                break
            if command["op"] == "prefetch":
                if not forked_last:
                    later.extend(command["modules"])
            elif command["op"] == "import":
                _preload(command["modules"])
                protocol.write(json.dumps({"ok": True, "queued": len(later)}) + "\n")
            elif command["op"] == "fork":
                gc.freeze()  # what is imported so far stays shared: the kernel's GC skips it
                with warnings.catch_warnings():  # "multi-threaded" (the idle prefetch thread)
                    warnings.simplefilter("ignore", DeprecationWarning)
                    pid = os.fork()
                if pid == 0:
                    _become_kernel(command, protocol_fd)
                _children.add(pid)
                if command.get("last"):
                    forked_last = True
                    later.clear()
                protocol.write(json.dumps({"pid": pid}) + "\n")
    finally:
        _kill_children()


if __name__ == "__main__":
    main()
    _exit()
