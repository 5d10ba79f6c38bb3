"""Runner side of the kernel fork server (see zygote.py): start it, ask it for kernels.

A forked kernel is handed out as an ordinary jupyter_client KernelManager whose provisioner knows
the forked process, so papermill/nbclient drive it like any other kernel. Starting the server
imports nothing heavy, so it gets going before the runner's own imports.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jupyter_client import KernelManager

_PACKAGE = __package__.rpartition(".")[0]  # the helper package, e.g. customer_churn


class ForkServerError(RuntimeError):
    """The fork server died or answered nonsense."""


class ForkServer:
    """A `python -m <package>.pipeline.zygote` process that forks kernels."""

    def __init__(self, env: Mapping[str, str], cwd: Path, log: Path) -> None:
        self._log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as stderr:
            self._process = subprocess.Popen(
                [sys.executable, "-m", f"{_PACKAGE}.pipeline.zygote"],
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

    def start_kernel(
        self,
        env: Mapping[str, str],
        cwd: Path,
        log: Path,
        kernel_name: str,
        client_class: str,
        modules: Iterable[str] = (),
    ) -> KernelManager:
        """A new kernel forked after the server imported `modules`, as a KernelManager."""
        from jupyter_client import KernelManager

        from .provisioner import ForkedProvisioner

        km = KernelManager(kernel_name=kernel_name, client_class=client_class)
        km.write_connection_file()
        log.parent.mkdir(parents=True, exist_ok=True)
        command = {
            "op": "fork",
            "connection_file": km.connection_file,
            "cwd": str(cwd),
            "env": dict(env),
            "log": str(log),
        }
        with self._lock:
            self._send({"op": "import", "modules": sorted(set(modules))})
            self._receive()
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
