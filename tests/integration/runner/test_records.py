"""Run records on the tiny three-phase project of test_runner: lineage that is true when phases are
up to date, what `crisp compare` says about the data, runs joined by `--run-id`, what a phase's
cells print reaching the console, the summary card's data, and a closed pipe after `crisp runs`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest
from crisp import cli, context
from crisp.console import ConsoleProgress
from crisp.records import PhaseRecord
from test_runner import build_project, use_project

PRINTING_CELL = (
    "import pathlib, time\n"
    "print('step 1 of 2: waiting for go', flush=True)\n"
    "go = pathlib.Path(GO_FILE)\n"
    "while GO_FILE and not go.exists():\n"
    "    time.sleep(0.05)\n"
    "print('step 2 of 2', flush=True)"
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh three-phase project, never run (01_middle is its data phase)."""
    return use_project(build_project(tmp_path / "project"), monkeypatch)


def crisp(*args: str) -> int:
    return cli.main(list(args))


def record_of(root: Path, run_id: str = "latest") -> dict:
    return json.loads((root / "reports" / run_id / "run.json").read_text(encoding="utf-8"))


def by_name(record: dict) -> dict[str, dict]:
    return {phase["name"]: phase for phase in record["phases"]}


# ------------------------------------------------------------------ lineage


def test_up_to_date_phases_keep_the_lineage_of_their_last_run(project: Path, capsys) -> None:
    """The issue's case: a run where the data phase is up to date records the same data
    fingerprint as the run that read the data, and compare says the data is the same."""
    assert crisp("run") == 0
    first = record_of(project)
    assert first["data_fingerprint"], "the first run fingerprints what 01_middle read"
    assert crisp("run", "--set", "late.suffix=?!") == 0
    second = record_of(project)
    phases = by_name(second)
    assert phases["01_middle"]["status"] == "up to date"
    assert phases["02_late"]["status"] == "succeeded"
    assert second["data_fingerprint"] == first["data_fingerprint"]
    for name in ("00_source", "01_middle"):
        assert phases[name]["reads"] == by_name(first)[name]["reads"]
        assert phases[name]["writes"] == by_name(first)[name]["writes"]
    capsys.readouterr()
    assert crisp("compare", first["run_id"], "latest") == 0
    out = capsys.readouterr().out
    assert "input data: the same" in out and "differs" not in out
    changed = [line.split() for line in out.splitlines() if " suffix " in line]
    assert changed == [["02_late", "suffix", "!", "?!"]]

    # A run without the data phase takes the fingerprint of its last run.
    assert crisp("run", "--from", "02", "--force") == 0
    assert record_of(project)["data_fingerprint"] == first["data_fingerprint"]


def test_compare_names_the_data_file_that_changed(project: Path, capsys) -> None:
    assert crisp("run") == 0
    first = record_of(project)
    (project / "data" / "raw" / "input.txt").write_text("xyz ", encoding="utf-8")
    assert crisp("run") == 0
    second = record_of(project)
    assert second["data_fingerprint"] != first["data_fingerprint"]
    capsys.readouterr()
    assert crisp("compare", first["run_id"], second["run_id"]) == 0
    out = capsys.readouterr().out
    changed = [line for line in out.splitlines() if line.startswith("input data differs")]
    assert changed == [
        "input data differs: data/interim/a.txt "
        f"({first['data_fingerprint']['data/interim/a.txt'][:12]} -> "
        f"{second['data_fingerprint']['data/interim/a.txt'][:12]})"
    ]


def test_compare_with_a_record_lacking_a_fingerprint_says_so(project: Path, capsys) -> None:
    assert crisp("run") == 0
    older = project / "reports" / "20200101-000000-0000"
    older.mkdir()
    record = {**record_of(project), "run_id": older.name, "started": "2020-01-01T00:00:00+00:00"}
    record["data_fingerprint"] = None  # as records made before fingerprints were kept
    (older / "run.json").write_text(json.dumps(record), encoding="utf-8")
    capsys.readouterr()
    assert crisp("compare", "2020", "latest") == 0
    out = capsys.readouterr().out
    assert "input data: no fingerprint recorded in A; cannot tell whether it differs" in out
    assert "input data differs" not in out


# ------------------------------------------------------------------ one run of several calls


def test_calls_with_one_run_id_make_one_run_record(project: Path) -> None:
    """As the Airflow tasks do: `crisp run --to PHASE --run-id ID`, one call per phase."""
    for phase in ("00", "01", "02"):
        assert crisp("run", "--to", phase, "--run-id", "20250101-000000-dag1") == 0
    runs = [p.name for p in (project / "reports").iterdir() if not p.is_symlink() and p.is_dir()]
    assert runs == ["20250101-000000-dag1"]
    record = record_of(project)
    assert record["run_id"] == "20250101-000000-dag1"
    assert [p["status"] for p in record["phases"]] == ["succeeded"] * 3
    assert all(p["duration_s"] for p in record["phases"]), "each phase keeps its duration"
    assert record["data_fingerprint"]
    assert record["duration_s"] >= sum(p["duration_s"] for p in record["phases"])
    index = (project / "reports" / "latest" / "index.html").read_text(encoding="utf-8")
    assert "02_late" in index and "00_source" in index


@pytest.mark.parametrize("bad", ["latest", "../x", "a b", "-x"])
def test_a_bad_run_id_is_a_usage_error(project: Path, capsys, bad: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        crisp("run", f"--run-id={bad}")
    assert exit_info.value.code == 2
    assert "is not a run id" in capsys.readouterr().err
    assert not (project / "reports").exists()


# ------------------------------------------------------------------ console


def _add_printing_cell(project: Path) -> None:
    """01_middle prints a line, waits for the file GO_FILE names, prints another."""
    path = project / "notebooks" / "01_middle.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[1].source += '\nGO_FILE: str = ""  # wait for this file before going on'
    nb.cells.insert(2, nbformat.v4.new_code_cell(PRINTING_CELL))
    nbformat.write(nb, str(path))
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("  count: 2\n", '  count: 2\n  GO_FILE: ""\n'))


def test_what_a_phase_prints_reaches_the_console_while_it_runs(project: Path) -> None:
    """The first line shows while the cell still waits (for a file only the test creates after
    reading that line), indented under the phase; the executed notebook keeps both lines."""
    _add_printing_cell(project)
    go = project / "go"
    process = subprocess.Popen(
        [sys.executable, "-m", "crisp", "run", "--set", f"middle.GO_FILE={json.dumps(str(go))}"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    timer = threading.Timer(300, process.kill)  # a hung run fails the test instead of hanging it
    timer.start()
    try:
        seen = []
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line.rstrip("\n"))
            if "waiting for go" in line:
                go.touch()  # only now can the phase finish
        process.wait()
    finally:
        timer.cancel()
    assert process.returncode == 0, "\n".join(seen) + process.stderr.read()
    start = seen.index("[2/3] 01_middle ... ")
    assert seen[start + 1 : start + 4] == [
        "      step 1 of 2: waiting for go",
        "      step 2 of 2",
        seen[start + 3],
    ]
    assert seen[start + 3].startswith("[2/3] 01_middle ... ok ")
    assert any(line.startswith("[1/3] 00_source ... ok ") for line in seen), "silent: one line"
    executed = (project / "reports" / "latest" / "01_middle.ipynb").read_text(encoding="utf-8")
    assert "step 1 of 2: waiting for go" in executed and "step 2 of 2" in executed


class Terminal:
    """A stream that says it is a terminal, keeping what is written."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


def test_progress_bars_update_in_place_on_a_terminal_and_end_as_one_line(tmp_path: Path) -> None:
    record = PhaseRecord(name="03_modelling", status="succeeded", duration_s=2.0)
    terminal = Terminal()
    console = ConsoleProgress(tmp_path, out=terminal)
    console.phase_started(4, 7, record)
    console.phase_output("search: 1/4\r")
    assert terminal.text.endswith("\r\033[K      search: 1/4")
    console.phase_output("search: 2/4\rsearch: 4/4\n")
    console.phase_finished(4, 7, record)
    assert terminal.text.endswith("\r\033[K      search: 4/4\n[4/7] 03_modelling ... ok 2.0s\n")

    log = tmp_path / "log.txt"
    with open(log, "w") as out:  # not a terminal: only finished lines, as they end
        console = ConsoleProgress(tmp_path, out=out)
        console.phase_started(4, 7, record)
        console.phase_output("search: 1/4\rsearch: 2/4\rsearch: 4/4\nbest: ")
        console.phase_output("forest\npartial")
        console.phase_finished(4, 7, record)
    assert log.read_text().splitlines() == [
        "[4/7] 03_modelling ... ",
        "      search: 4/4",
        "      best: forest",
        "      partial",
        "[4/7] 03_modelling ... ok 2.0s",
    ]


# ------------------------------------------------------------------ closed pipes


@pytest.mark.parametrize("command", [["runs"], ["compare", "latest", "latest"]])
def test_a_reader_that_stops_early_gets_no_traceback(project: Path, command: list[str]) -> None:
    """`crisp runs | head`: the reader is gone before crisp writes (the read end of its stdout
    is closed before it starts), as when head exits after its lines."""
    assert crisp("run", "--only", "00") == 0
    read_end, write_end = os.pipe()
    os.close(read_end)
    process = subprocess.Popen(
        [sys.executable, "-m", "crisp", *command],
        cwd=project,
        stdout=write_end,
        stderr=subprocess.PIPE,
    )
    os.close(write_end)
    assert process.stderr is not None
    error = process.stderr.read().decode()
    assert process.wait(timeout=120) == 0
    assert "Traceback" not in error and "BrokenPipeError" not in error, error


# ------------------------------------------------------------------ summary API


def test_record_summary_checks_its_arguments_in_and_outside_a_run(run_phase_dir: Path) -> None:
    with pytest.raises(ValueError, match="at least 'name' and 'value'"):
        context.record_summary(metrics=[{"name": "auc", "valu": 0.8}])
    with pytest.raises(ValueError, match="unknown key.s. prod; known: name, value"):
        context.record_summary(metrics=[{"name": "auc", "value": 0.8, "prod": 0.7}])
    with pytest.raises(ValueError, match="tone 'green' is not one of good"):
        context.record_summary(decision="promote", tone="green")
    with pytest.raises(ValueError, match="op '=>' is not one of"):
        context.record_summary(metrics=[{"name": "auc", "value": 0.8, "op": "=>"}])
    context.record_summary(decision="keep", reason="worse than production")
    context.record_summary(metrics=[{"name": "auc", "value": 0.8, "target": 0.75, "op": ">="}])
    context.record_summary(metrics=[{"name": "auc", "value": 0.81}], facts={"version": "v2"})
    saved = json.loads((run_phase_dir / "summary.json").read_text(encoding="utf-8"))
    assert saved["decision"] == {
        "value": "keep",
        "reason": "worse than production",
        "tone": "warning",
    }
    assert saved["metrics"] == [{"name": "auc", "value": 0.81}], "the same name replaces"
    assert saved["facts"] == {"version": "v2"}
    with pytest.raises(ValueError, match="matplotlib figure, PNG bytes or a PNG file"):
        context.record_figure(b"GIF89a", title="not a png")
