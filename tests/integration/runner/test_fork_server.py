"""The kernel fork server (zygote.py): what each phase's kernel finds imported when it starts.

What a user relies on: a kernel never waits for imports meant for later phases; those run in the
server while it is otherwise idle, at a lower CPU priority than the kernels; and what a phase
imported by itself in its last run (what the imports of its notebook did not reveal) is imported
before its kernel starts the next time.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from crisp.kernels import priority
from crisp.kernels.forkserver import ForkServer
from crisp.kernels.pool import CLIENT_CLASS, KernelPool
from test_runner import PACKAGE_SRC, build_project, crisp, use_project, write_notebook

LINUX = sys.platform.startswith("linux")
# Imported by the server: takes a second, then notes which process imported it, at what priority.
SLOW_MODULE = """\
import os
import time

time.sleep(1.0)
with open(os.path.join(os.environ["MARKS"], __name__), "w") as mark:
    mark.write(f"{os.getpid()} {os.getpriority(os.PRIO_PROCESS, 0)}")
"""


def _nice(pid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, pid)


def _wait_for(condition, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _server_for_slow_modules(
    tmp_path: Path, names: list[str]
) -> tuple[ForkServer, dict[str, str], Path]:
    """A fork server that can import the modules `names` (each a SLOW_MODULE), its environment,
    and the folder where each module notes its import."""
    modules, marks = tmp_path / "modules", tmp_path / "marks"
    modules.mkdir()
    marks.mkdir()
    for name in names:
        (modules / f"{name}.py").write_text(SLOW_MODULE, encoding="utf-8")
    path = os.pathsep.join([str(modules), str(PACKAGE_SRC), os.environ.get("PYTHONPATH", "")])
    env = {"PYTHONPATH": path, "MARKS": str(marks)}
    return ForkServer(env, tmp_path, tmp_path / "server.log"), env, marks


def test_prefetching_never_holds_up_a_kernel(tmp_path: Path) -> None:
    """Asked for a kernel while it prefetches five slow modules, the server forks it after the
    module under way; the rest it imports afterwards, itself, at background priority."""
    names = [f"slow_{n}" for n in range(5)]
    server, env, marks = _server_for_slow_modules(tmp_path, names)
    km = None
    try:
        server.prefetch(names)
        km = server.start_kernel(
            env, tmp_path, tmp_path / "kernel.log", "python3", CLIENT_CLASS, modules=["json"]
        )
        done_before_fork = len(list(marks.iterdir()))
        assert done_before_fork <= 2, "the kernel waited for the prefetching"
        log = (tmp_path / "server.log").read_text
        assert _wait_for(lambda: len(list(marks.iterdir())) == len(names)), log()
        for mark in marks.iterdir():
            pid, nice = map(int, mark.read_text().split())
            assert pid == server._process.pid, "imported elsewhere than in the fork server"
            if LINUX:
                assert nice == min(_nice(0) + priority.BACKGROUND_NICE, 19)
        kernel_pid = km.provisioner.pid
        assert _nice(kernel_pid) == _nice(0), "a kernel must keep the normal priority"
    finally:
        server.close()
        if km is not None:
            km.cleanup_resources()


def test_after_the_last_kernel_the_server_prefetches_nothing(tmp_path: Path) -> None:
    """No kernel forked after the run's last one can use a prefetched import: what was still
    queued is dropped, and so is what is asked afterwards (a finished phase's lazy imports)."""
    queued = [f"queued_{n}" for n in range(4)]
    server, env, marks = _server_for_slow_modules(tmp_path, [*queued, "asked_after"])
    km = None
    try:
        server.prefetch(queued)
        km = server.start_kernel(
            env, tmp_path, tmp_path / "kernel.log", "python3", CLIENT_CLASS, ["json"], last=True
        )
        server.prefetch(["asked_after"])
        # Commands are served in order, and no import is under way while one is: what the
        # answer counts, and what was imported so far, is all the server will ever import.
        assert server.imports([]) == 0
        imported = sorted(mark.name for mark in marks.iterdir())
        assert len(imported) <= 2 and "asked_after" not in imported, imported
    finally:
        server.close()
        if km is not None:
            km.cleanup_resources()


def test_what_a_phase_imported_itself_is_ready_in_its_next_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module the notebook's imports do not reveal (imported by name at run time) is recorded
    for its phase after the run, without what the server had imported, and imported before
    the phase's kernel starts in every later run (not only the next: that kernel does not
    import it itself)."""
    root = use_project(build_project(tmp_path / "project"), monkeypatch)
    write_notebook(
        root / "notebooks" / "03_lazy.ipynb",
        "seed: int = 0  # a shared parameter",
        [
            "import sys\nready = 'wave' in sys.modules",
            "import importlib\nwave = importlib.import_module('w' + 'ave')",
            "from pathlib import Path\nPath('ready.txt').write_text(str(ready))",
        ],
    )
    ready = root / "notebooks" / "ready.txt"
    assert crisp("run", "--only", "lazy", "--kernel-start", "fork") == 0
    assert ready.read_text() == "False"
    state = json.loads((root / "reports" / ".state.json").read_text(encoding="utf-8"))
    recorded = state["phases"]["03_lazy"]["kernel_modules"]
    assert "wave" in recorded
    assert "ipykernel.kernelapp" not in recorded, "what the server imported is not recorded"
    for _ in range(2):
        assert crisp("run", "--only", "lazy", "--force", "--kernel-start", "fork") == 0
        assert ready.read_text() == "True"


def test_a_whole_run_starts_no_heartbeat_channel(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every client the runner makes (nbclient's, the readiness wait's, the one asking a finished
    phase what it imported) goes without the heartbeat: a run on a busy machine printed
    `ZMQError: Too many open files` from a heartbeat thread after 'run succeeded'."""
    from jupyter_client.channels import HBChannel

    started = []
    original = HBChannel.start
    monkeypatch.setattr(HBChannel, "start", lambda self: started.append(self) or original(self))
    assert crisp("run", "--kernel-start", "fork") == 0
    assert crisp("run", "--force", "--kernel-start", "spawn") == 0
    assert started == []


def test_the_runners_kernel_clients_start_no_heartbeat_thread(tmp_path: Path) -> None:
    """Liveness comes from the kernel's process (its manager); a heartbeat thread on a busy
    machine re-created its socket on every missed beat until zmq ran out of sockets."""
    from crisp.kernels.ready import ready_blocking_client

    with KernelPool(cwd=tmp_path, mode="fork") as pool:
        pool.prepare("00_a", {})
        km = pool.take("00_a", {})
        client = ready_blocking_client(km)
        client.start_channels()
        try:
            assert client.shell_channel.is_alive()
            assert not client.hb_channel.is_alive()
            assert client.is_alive()
        finally:
            client.stop_channels()
            pool.release(km)
