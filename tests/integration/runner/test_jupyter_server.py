"""Interactive use: a real Jupyter server runs every notebook in order, as Run All in JupyterLab.

The server listens on loopback with a random token; each notebook gets a fresh kernel (REST), and
its code cells run one by one over the kernel's websocket (Jupyter messaging protocol), with the
notebooks' default parameters and no papermill. Outputs go to a temporary project root
(CRISP_PROJECT_ROOT), so the project's own data, models and reports are left alone.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
import websocket  # websocket-client, a dependency of jupyter_server

from shared_project import PACKAGE, PARAMS, PROJECT

pytestmark = pytest.mark.slow  # runs the pipeline or a Jupyter server: minutes

NOTEBOOKS = sorted((PROJECT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
START_TIMEOUT = 90.0  # seconds for the server to answer /api/status
CELL_TIMEOUT = 900.0  # seconds per cell (modelling with default parameters is the slowest)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Set under each parameters cell: the notebooks as a user tries them, in a fraction of the time
# (one candidate model, as the pipeline runs of the other tests: shared_project.SMALL_RUN).
QUICK = {
    "demo_rows": 800,
    "cv_folds": 3,
    "cv_repeats": 1,
    "search_iterations": 2,
    "n_jobs": 1,
    "candidates": PARAMS["modelling"]["candidates"][:1],
}


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class JupyterServer:
    """`python -m jupyter_server` on loopback, token-protected, rooted at the project."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.token={self.token}",
            f"--ServerApp.root_dir={PROJECT}",
        ]
        if os.name == "posix" and os.geteuid() == 0:  # containers and CI often run as root
            command.append("--allow-root")
        with log.open("wb") as out:
            self.process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Call the REST API; the decoded JSON answer (None when empty)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read()
        return json.loads(text) if text else None

    def wait_ready(self) -> None:
        """Poll /api/status until the server answers; fail with its log if it exits or stalls."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"jupyter_server exited with {self.process.returncode}:\n{self.logs()}")
            try:
                self.request("GET", "/api/status")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.25)
        pytest.fail(f"jupyter_server did not answer within {START_TIMEOUT:.0f}s:\n{self.logs()}")

    def logs(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-5000:]

    def stop(self) -> None:
        """Ask the server to shut down (kernels included); terminate it if it does not."""
        if self.process.poll() is None:
            try:
                self.request("POST", "/api/shutdown")
                self.process.wait(timeout=30)
            except (urllib.error.URLError, ConnectionError, subprocess.TimeoutExpired):
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()


class Kernel:
    """A kernel started through the server's REST API, driven over its websocket channel."""

    def __init__(self, server: JupyterServer, path: str = "notebooks") -> None:
        self.server = server
        self.id = server.request("POST", "/api/kernels", {"name": "python3", "path": path})["id"]
        self.session = uuid.uuid4().hex
        self.ws = websocket.create_connection(
            f"ws://127.0.0.1:{server.port}/api/kernels/{self.id}/channels"
            f"?session_id={self.session}",
            header=[f"Authorization: token {server.token}"],
            timeout=CELL_TIMEOUT,
        )

    def execute(self, code: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Run `code`; (execute_reply content, iopub messages of this request)."""
        msg_id = uuid.uuid4().hex
        self.ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "msg_type": "execute_request",
                        "session": self.session,
                        "username": "test",
                        "version": "5.3",
                        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": True,
                        "user_expressions": {},
                        "allow_stdin": False,
                        "stop_on_error": True,
                    },
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        reply: dict[str, Any] | None = None
        outputs: list[dict[str, Any]] = []
        idle = False
        while reply is None or not idle:
            frame = self.ws.recv()
            if isinstance(frame, bytes):
                continue  # messages with binary buffers (widgets, comms): not ours
            message = json.loads(frame)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message["msg_type"]
            if message["channel"] == "shell" and kind == "execute_reply":
                reply = message["content"]
            elif kind == "status":
                idle = message["content"]["execution_state"] == "idle"
            elif message["channel"] == "iopub":
                outputs.append(message)
        return reply, outputs

    def value(self, expression: str) -> str:
        """The repr of `expression` evaluated in the kernel (fails on an error)."""
        reply, outputs = self.execute(expression)
        assert reply["status"] == "ok", failure(expression, reply)
        results = [m for m in outputs if m["msg_type"] == "execute_result"]
        return results[-1]["content"]["data"]["text/plain"]

    def shutdown(self) -> None:
        self.ws.close()
        self.server.request("DELETE", f"/api/kernels/{self.id}")


def failure(source: str, reply: dict[str, Any], where: str = "") -> str:
    """The failed cell and its traceback, readable (no ANSI colours)."""
    traceback = ANSI.sub("", "\n".join(reply.get("traceback", [])))
    return (
        f"{where}cell failed: {reply.get('ename')}: {reply.get('evalue')}\n"
        f"--- cell ---\n{source}\n--- traceback ---\n{traceback}"
    )


def server_env(tmp: Path, data_root: Path) -> dict[str, str]:
    """The server's (and so its kernels') environment: isolated Jupyter dirs, a temporary root."""
    env = {k: v for k, v in os.environ.items() if k not in ("CRISP_RUN_DIR", "CRISP_PHASE")}
    python_path = [str(PROJECT / "src")]  # the package under test, even when not installed
    python_path += [os.path.abspath(p) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env.update(
        PYTHONPATH=os.pathsep.join(python_path),
        CRISP_PROJECT_ROOT=str(data_root),
        JUPYTER_CONFIG_DIR=str(tmp / "config"),  # no user configuration or kernelspecs
        JUPYTER_DATA_DIR=str(tmp / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        IPYTHONDIR=str(tmp / "ipython"),
    )
    return env


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """A running Jupyter server whose kernels write to a temporary project root."""
    tmp = tmp_path_factory.mktemp("jupyter")
    data_root = tmp / "project"
    data_root.mkdir()
    shutil.copy2(PROJECT / "params.yaml", data_root / "params.yaml")
    running = JupyterServer(server_env(tmp, data_root), tmp / "server.log")
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


def code_cells(notebook: Path) -> list[str]:
    return [c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]


def quick_settings(notebook: Path) -> str:
    """What a user types under a notebook's parameters cell to try it quickly (fewer rows, folds
    and search steps, one candidate, one process): assignments of those of QUICK the cell
    declares."""
    cell = next(
        c
        for c in nbformat.read(notebook, as_version=4).cells
        if "parameters" in c.get("metadata", {}).get("tags", [])
    )
    declared = set(re.findall(r"^(\w+)\s*(?::[^=\n]*)?=", cell.source, flags=re.MULTILINE))
    return "\n".join(f"{name} = {value!r}" for name, value in QUICK.items() if name in declared)


def test_every_notebook_runs_top_to_bottom_through_the_server(server: JupyterServer) -> None:
    assert [n.name[:2] for n in NOTEBOOKS] == ["00", "01", "02", "03", "04", "05", "06"]
    quick = quick_settings(PROJECT / "notebooks" / "03_modelling.ipynb")
    assert "cv_folds = 3" in quick and f"candidates = {QUICK['candidates']!r}" in quick
    for notebook in NOTEBOOKS:
        kernel = Kernel(server)
        cells = code_cells(notebook)
        parameters = next(i for i, c in enumerate(cells) if c.startswith("# Parameters"))
        cells.insert(parameters + 1, quick_settings(notebook))
        try:
            for number, source in enumerate(cells, start=1):
                reply, _ = kernel.execute(source)
                where = f"{notebook.name}, code cell {number}: "
                assert reply["status"] == "ok", failure(source, reply, where)
        finally:
            kernel.shutdown()
    assert server.request("GET", "/api/kernels") == []


def test_helper_edits_are_picked_up_by_autoreload(server: JupyterServer, tmp_path: Path) -> None:
    for notebook in NOTEBOOKS:
        assert f"%load_ext {PACKAGE}" in code_cells(notebook)[0], f"{notebook.name}: no autoreload"
    copy = tmp_path / "src" / PACKAGE
    shutil.copytree(PROJECT / "src" / PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    helper = copy / "business.py"
    original = helper.read_text(encoding="utf-8")

    def write_helper(result: str, bump: int) -> None:
        probe = f'\n\ndef autoreload_probe() -> str:\n    return "{result}"\n'
        helper.write_text(original + probe, encoding="utf-8")
        stamp = time.time() + bump  # a clearly newer mtime, whatever the file system's resolution
        os.utime(helper, (stamp, stamp))

    write_helper("before", 0)
    kernel = Kernel(server)
    try:
        kernel.execute(f"import sys; sys.path.insert(0, {str(copy.parent)!r})")
        setup = code_cells(NOTEBOOKS[0])[0]  # the notebook's own first cell: autoreload, imports
        reply, _ = kernel.execute(setup)
        assert reply["status"] == "ok", failure(setup, reply)
        assert kernel.value("business.__file__") == repr(str(helper))
        assert kernel.value("business.autoreload_probe()") == "'before'"
        write_helper("after", 5)
        assert kernel.value("business.autoreload_probe()") == "'after'"
    finally:
        kernel.shutdown()
