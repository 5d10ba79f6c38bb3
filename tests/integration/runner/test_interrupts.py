"""Honest run records and exit codes: Ctrl-C at any moment of a run, and a run whose process died.

Whenever the signal lands, the outcome printed, the exit code and run.json agree, and the run has
its index.html; a run killed with SIGKILL is recorded as `killed` the next time crisp looks.
The moments are events (text appearing in the run's output), not sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from crisp.interrupts import Interrupts
from crisp.kernels.pool import SERVER_LOG_PREFIX
from test_runner import crisp, latest_record, start_sleeping_run

from shared_project import wait_until_gone

# What `crisp run --to middle` prints, in order; the signal is sent as soon as one has appeared.
EVENTS = [
    "",  # at once: while it starts and plans
    "run ",  # the run started (its first line)
    "[1/2] 00_source ... ",
    "[1/2] 00_source ... ok",
    "[2/2] 01_middle ... ",
    "[2/2] 01_middle ... ok",
    "run succeeded",  # the outcome is printed: the signal changes nothing any more
]


def _run_until(event: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Start `crisp run --to middle`, send SIGINT once `event` is in its output, finish it."""
    stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "crisp", "run", "--to", "middle"],
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=env,
    )
    assert process.stdout is not None
    seen = b""
    while event.encode() not in seen:
        chunk = os.read(process.stdout.fileno(), 4096)
        assert chunk, f"the run ended before {event!r} appeared: {seen.decode()}"
        seen += chunk
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=300)
    stderr.seek(0)
    err = stderr.read()
    stderr.close()
    return process.returncode, (seen + rest).decode(), err


@pytest.mark.parametrize("event", EVENTS, ids=[e.strip() or "start" for e in EVENTS])
def test_ctrl_c_at_any_moment_leaves_outcome_exit_code_and_record_in_agreement(
    project: Path, event: str
) -> None:
    code, out, err = _run_until(event, dict(os.environ))
    if "run succeeded" in out:
        assert code == 0, (out, err)
    elif code != -signal.SIGINT:  # (that: Python itself was still starting)
        assert code == 130, (out, err)
        assert "crisp: interrupted; kernels stopped, run record kept" in err
    assert wait_until_gone(project) == [], "kernels survived"
    runs = [p for p in (project / "reports").glob("2*") if p.is_dir()]
    if not runs:  # stopped before the run began: nothing recorded, nothing claimed
        assert code in (130, -signal.SIGINT) and "run " not in out
        return
    record = latest_record(project)
    assert [p.name for p in runs] == [record["run_id"]]
    assert record["status"] == ("succeeded" if code == 0 else "interrupted")
    assert f"run {record['status']}: " in out
    statuses = [p["status"] for p in record["phases"]]
    assert not {"running", "pending"} & set(statuses), statuses
    assert (runs[0] / "index.html").is_file()
    assert (project / "reports" / ".lock").read_text() == "", "the run still claims the lock"


def test_a_run_whose_process_died_is_recorded_as_killed(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`kill -9` of `crisp run`: its kernels go with it; the next crisp command records the run
    as killed (run.json and index.html), the phase runs again, nothing waits for the dead run;
    the next run removes the fork server log the dead run left in the temporary folder."""
    proc = start_sleeping_run(project)
    run_dir = next(p for p in (project / "reports").glob("2*") if p.is_dir())
    proc.kill()
    proc.communicate(timeout=600)
    assert wait_until_gone(project) == [], "kernels survived their run"
    temporary = Path(tempfile.gettempdir())
    (left,) = temporary.glob(f"{SERVER_LOG_PREFIX}{proc.pid}-*.log")
    live = temporary / f"{SERVER_LOG_PREFIX}{os.getppid()}-of-a-live-run.log"
    live.write_text("kept while its process lives\n")
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    capsys.readouterr()
    assert crisp("runs") == 0
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "killed"
    assert [p["status"] for p in record["phases"]] == ["succeeded", "killed", "not run"]
    assert record["phases"][1]["error"]["ename"] == "Killed"
    assert record["finished"] and record["duration_s"] is not None
    assert "killed" in (run_dir / "index.html").read_text(encoding="utf-8")
    assert not (project / "data" / "interim" / "payload.json").exists(), "its writes are gone"
    assert crisp("status") == 0
    assert "its last run failed" in capsys.readouterr().out
    assert crisp("run") == 0
    ran = [p["name"] for p in latest_record(project)["phases"] if p["status"] == "succeeded"]
    assert ran == ["01_middle", "02_late"]
    assert not left.exists(), "the killed run's fork server log is still there"
    assert live.exists(), "a live run's log was removed"
    live.unlink()


def test_ctrl_c_during_an_import_is_raised_once_the_import_is_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Raised inside an import, KeyboardInterrupt can leave the module's import lock held, and
    the report exporter's thread then waits for it forever (a run hung at Ctrl-C under load)."""
    (tmp_path / "signalled_while_imported.py").write_text(
        "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\nlines = [1] * 1000\nDONE = True\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    raised = threading.Event()
    with Interrupts() as interrupts, interrupts.interruptible():
        try:
            import signalled_while_imported  # noqa: F401

            threading.Event().wait(timeout=60)  # the signal, delivered again, ends this wait
        except KeyboardInterrupt:
            raised.set()
    assert raised.is_set(), "the interrupt was lost"
    assert sys.modules["signalled_while_imported"].DONE, "the import was cut short"
    monkeypatch.delitem(sys.modules, "signalled_while_imported")
