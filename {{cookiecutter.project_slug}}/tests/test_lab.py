"""`make lab`: JupyterLab starts (also as root, as in containers) and listens on loopback only."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,  # starts a Jupyter server
    pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed"),
]

PROJECT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 120.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _status(url: str, token: str) -> dict | None:
    request = urllib.request.Request(
        f"{url}/api/status", headers={"Authorization": f"token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def test_make_lab_starts_on_loopback(tmp_path: Path) -> None:
    port, token = _free_port(), secrets.token_hex(16)
    log = tmp_path / "lab.log"
    lab_args = f"LAB_ARGS=--no-browser --ServerApp.token={token} --ServerApp.port_retries=0"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "lab", f"LAB_PORT={port}", lab_args],
            cwd=PROJECT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # make and the server it starts: one process group to stop
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while _status(url, token) is None:
            text = log.read_text(errors="replace")
            assert process.poll() is None, f"make lab exited with {process.returncode}:\n{text}"
            assert time.monotonic() < deadline, f"JupyterLab did not answer:\n{text}"
            time.sleep(0.5)
        text = log.read_text(errors="replace")
        assert f"http://127.0.0.1:{port}/lab" in text  # the address it listens on
        assert "--ServerApp.ip=127.0.0.1" in text  # the command make ran
        if os.geteuid() == 0:
            assert "--allow-root" in text and "Use --allow-root to bypass" not in text
    finally:
        request = urllib.request.Request(
            f"{url}/api/shutdown", method="POST", headers={"Authorization": f"token {token}"}
        )
        try:
            urllib.request.urlopen(request, timeout=10).close()
            process.wait(timeout=30)
        except (urllib.error.URLError, ConnectionError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
