"""The runner (`crisp run`) on a tiny three-phase project built in a temporary directory.

The notebooks here are small and import only a tiny helper package of the temporary project, so a
run takes seconds; they follow the same contract as the real notebooks (parameters cell, io.jsonl,
quality.json, metrics.json under the run directory).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import crisp
import nbformat
import pytest
from crisp import cli, sources
from crisp.phases import PhaseError, discover, select

from shared_project import kernel_pids, wait_until_gone

PACKAGE_SRC = Path(crisp.__file__).resolve().parents[1]

HELPERS = {
    "__init__.py": '"""Helpers of the test project."""\n',
    "store.py": '''\
"""Reads and writes project files through crisp.files, like the real artifacts module does."""
import os
from pathlib import Path

from crisp import context, files


def _root():
    return Path(os.environ["CRISP_PROJECT_ROOT"])


def read(rel):
    text = files.readable(_root() / rel).read_text()
    context.log_io("read", _root() / rel)
    return text


def write(rel, text):
    files.atomic_write_text(_root() / rel, text)
    context.log_io("write", _root() / rel)


def record(checks, metrics):
    target = context.phase_dir()
    if target is not None:
        target.mkdir(parents=True, exist_ok=True)
        (target / "quality.json").write_text(__import__("json").dumps(checks))
        (target / "metrics.json").write_text(__import__("json").dumps(metrics))
''',
    "late.py": '''\
"""Used by the last phase only."""


def finish(text, suffix):
    from . import fmt  # imported when called: still code the phase depends on

    return fmt.join(text, suffix)
''',
    "fmt.py": '''\
"""Imported lazily by late.py."""
import decimal  # not imported ahead of time: this module is only imported on call


def join(text, suffix):
    return text + suffix
''',
}

PARAMS = """\
shared:
  seed: 1
source:
  greeting: hello
middle:
  count: 2
  payload: plain
late:
  suffix: "!"
"""

NOTEBOOKS = {
    "00_source": (
        'seed: int = 0  # a shared parameter\ngreeting: str = "hi"  # text to add',
        [
            "from helpers import store",
            "secret_from_source = 42",
            'text = store.read("data/raw/input.txt")\n'
            'store.write("data/interim/a.txt", text + greeting)',
            'store.record([{"name": "has text", "passed": True, "message": "ok"}], {"chars": 7})',
        ],
    ),
    "01_middle": (
        'count: int = 1  # repetitions\npayload: str = ""  # any text',
        [
            "import sys\nwarmed_up = 'helpers.store' in sys.modules",
            "from helpers import store",
            "leaked = [n for n in ('secret_from_source', 'text') if n in globals()]\n"
            "assert not leaked, f'state leaked from an earlier phase: {leaked}'\n"
            "assert warmed_up, 'the warm-up did not import the helpers'",
            'import json\nstore.write("data/interim/payload.json", json.dumps(payload))',
            'if payload == "fail":\n    raise ValueError("payload asked to fail")',
            'if payload == "sleep":\n    import os, pathlib, time\n'
            '    pathlib.Path(os.environ.get("SLEEP_MARK", os.devnull)).touch()\n'
            "    time.sleep(60)",
            'if payload == "die":\n    import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)',
            'store.write("data/interim/b.txt", store.read("data/interim/a.txt") * count)',
            'store.write("data/interim/echo.txt", f"echo {count}")\n'
            'assert store.read("data/interim/echo.txt") == f"echo {count}", "reads its own writes"',
            'if payload == "big":\n    store.write("data/interim/big.txt", "x" * 4_000_000)',
            # A folder where an output goes: its phase's outputs cannot be put in place.
            'if payload == "obstruct":\n    import os\n'
            '    store.write("data/interim/new.txt", "new")\n'
            '    root = os.environ["CRISP_PROJECT_ROOT"]\n'
            '    os.makedirs(os.path.join(root, "data/interim/new.txt"))',
        ],
    ),
    "02_late": (
        'suffix: str = "?"  # end mark',
        [
            "from helpers import late, store",
            'store.write("out/c.txt", late.finish(store.read("data/interim/b.txt"), suffix))',
            'store.record([{"name": "short", "passed": False, "message": "too long"}], {})',
        ],
    ),
}


def write_notebook(path: Path, parameters: str, cells: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), params]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(path))


def build_project(root: Path) -> Path:
    """Write the three-phase test project into `root`."""
    (root / "notebooks").mkdir(parents=True)
    (root / "src" / "helpers").mkdir(parents=True)
    (root / "data" / "raw").mkdir(parents=True)
    for name, text in HELPERS.items():
        (root / "src" / "helpers" / name).write_text(text, encoding="utf-8")
    (root / "params.yaml").write_text(PARAMS, encoding="utf-8")
    (root / "data" / "raw" / "input.txt").write_text("abc ", encoding="utf-8")
    for name, (parameters, cells) in NOTEBOOKS.items():
        write_notebook(root / "notebooks" / f"{name}.ipynb", parameters, cells)
    return root


def use_project(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the runner at `root` and let its kernels import the helpers and this package."""
    monkeypatch.setenv("CRISP_PROJECT_ROOT", str(root))
    pythonpath = [str(root / "src"), str(PACKAGE_SRC), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in pythonpath if p))
    return root


def crisp(*args: str) -> int:
    return cli.main(list(args))


def latest_record(root: Path) -> dict:
    return json.loads((root / "reports" / "latest" / "run.json").read_text(encoding="utf-8"))


# ------------------------------------------------------------------ phases


def test_discover_sorts_and_ignores_other_files(project: Path) -> None:
    notebooks = project / "notebooks"
    (notebooks / ".ipynb_checkpoints").mkdir()
    (notebooks / ".ipynb_checkpoints" / "00_source-checkpoint.ipynb").write_text("{}")
    (notebooks / "scratch.ipynb").write_text("{}")
    phases = discover(notebooks)
    assert [p.name for p in phases] == ["00_source", "01_middle", "02_late"]
    assert [p.section for p in phases] == ["source", "middle", "late"]
    assert phases[1].number == 1


@pytest.mark.parametrize("ref", ["01", "1", "middle", "01_middle"])
def test_select_accepts_number_section_or_name(project: Path, ref: str) -> None:
    phases = discover(project / "notebooks")
    assert [p.name for p in select(phases, only=ref)] == ["01_middle"]
    assert [p.name for p in select(phases, start=ref)] == ["01_middle", "02_late"]
    assert [p.name for p in select(phases, stop=ref)] == ["00_source", "01_middle"]


def test_select_unknown_phase_lists_phases(project: Path) -> None:
    with pytest.raises(PhaseError, match="unknown phase 'modeling'; phases: 00_source, 01_mid"):
        select(discover(project / "notebooks"), only="modeling")


def test_sources_follow_helper_imports(project: Path) -> None:
    late = sources.dependencies(project / "notebooks" / "02_late.ipynb", project / "src")
    helpers = project / "src" / "helpers"
    names = ("__init__.py", "store.py", "late.py", "fmt.py")
    assert set(late.files) == {helpers / name for name in names}
    assert {"helpers.late", "helpers.store", "crisp.files"} <= set(late.modules)
    # fmt is imported inside a function: it counts as code, but is not imported ahead of time.
    assert "helpers.fmt" not in late.modules and "decimal" not in late.modules
    source = sources.dependencies(project / "notebooks" / "00_source.ipynb", project / "src")
    assert helpers / "late.py" not in source.files


# ------------------------------------------------------------------ kernel client


def test_ready_client_answers_once_the_kernel_does_and_notices_a_dead_one(tmp_path: Path) -> None:
    """The client papermill gets: ready when the kernel answered, an error when it died."""
    import asyncio

    from crisp.kernels.pool import CLIENT_CLASS
    from jupyter_client import KernelManager

    km = KernelManager(kernel_name="python3", client_class=CLIENT_CLASS)
    km.start_kernel(cwd=str(tmp_path))

    async def exchange() -> None:
        client = km.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=60)  # the kernel is still starting
            reply = await client.execute_interactive("print(6 * 7)", timeout=30)
            assert reply["content"]["status"] == "ok"
            client.execute("import os; os._exit(1)")
            deadline = time.monotonic() + 30
            while km.is_alive() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            with pytest.raises(RuntimeError, match="Kernel died"):
                await client.wait_for_ready(timeout=30)
        finally:
            client.stop_channels()

    try:
        asyncio.run(exchange())
    finally:
        if km.has_kernel:
            km.shutdown_kernel(now=True)


# ------------------------------------------------------------------ kernels that die at start


DIE_AT_START = """\
import os, pathlib
mark = pathlib.Path(os.environ["DIE_MARK"])
if os.environ.get("DIE_ALWAYS") or not mark.exists():
    mark.touch()
    os._exit(1)
"""


@pytest.mark.parametrize("mode", ["fork", "spawn"])
@pytest.mark.parametrize("always", [False, True], ids=["once", "always"])
def test_a_kernel_dying_at_start_is_started_again_then_named(
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    mode: str,
    always: bool,
) -> None:
    """A kernel that dies before it answers (a port taken meanwhile, say; here an IPython start-up
    file that exits) is started once more; a second death fails the phase, naming its log."""
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-die.py").write_text(DIE_AT_START, encoding="utf-8")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("DIE_MARK", str(tmp_path / "died"))
    if always:
        monkeypatch.setenv("DIE_ALWAYS", "1")
    code = crisp("run", "--only", "source", "--kernel-start", mode)
    out = capsys.readouterr().out
    assert (tmp_path / "died").exists(), "the start-up file did not run"
    source = latest_record(project)["phases"][0]
    if not always:
        assert code == 0, out
        assert source["status"] == "succeeded"
    else:
        assert code == 1, out
        assert source["status"] == "failed" and source["error"]["ename"] == "KernelStartError"
        assert "00_source failed: KernelStartError: the Jupyter kernel 'python3' did not " in out
        assert "00_source/kernel.log" in out
    assert wait_until_gone(project) == []


# ------------------------------------------------------------------ crisp run


def test_run_executes_all_phases_and_reports(project: Path, capsys) -> None:
    assert crisp("run", "--set", "middle.count=3") == 0
    out = capsys.readouterr().out
    assert "[1/3] 00_source ... ok" in out and "QA 1/1" in out
    assert "[3/3] 02_late ... ok" in out
    assert (project / "out" / "c.txt").read_text() == "abc hello" * 3 + "!"

    record = latest_record(project)
    run_dir = project / "reports" / record["run_id"]
    assert record["status"] == "succeeded"
    assert record["overrides"] == ["middle.count=3"]
    assert [p["status"] for p in record["phases"]] == ["succeeded"] * 3
    source, middle, late = record["phases"]
    assert source["parameters"] == {"seed": 1, "greeting": "hello"}
    assert middle["parameters"]["count"] == 3
    assert source["quality"]["passed"] == 1 and source["metrics"] == {"chars": 7}
    assert late["quality"]["failures"] == ["too long"]
    assert {"path": "data/raw/input.txt", "sha256": source["reads"][0]["sha256"]} in source["reads"]
    # The data fingerprint is what phase 01 (data understanding in a real project) read.
    assert record["data_fingerprint"] == {r["path"]: r["sha256"] for r in middle["reads"]}
    assert record["versions"]["python"] and "scikit-learn" in record["versions"]
    for phase in ("00_source", "01_middle", "02_late"):
        assert (run_dir / f"{phase}.ipynb").is_file()
        html = (run_dir / f"{phase}.html").read_text(encoding="utf-8")
        assert "<html" in html and phase in html
    index = (run_dir / "index.html").read_text(encoding="utf-8")
    assert 'href="01_middle.html"' in index and "too long" in index
    assert "data/interim/a.txt" in index, "lineage is shown"
    assert out.strip().endswith("index.html")


def test_spawned_kernels_work_the_same(project: Path, capsys) -> None:
    """--kernel-start spawn: a new kernel process per phase, warmed up with its imports."""
    assert crisp("run", "--kernel-start", "spawn") == 0
    assert "[3/3] 02_late ... ok" in capsys.readouterr().out
    assert (project / "out" / "c.txt").read_text() == "abc hello" * 2 + "!"
    assert wait_until_gone(project) == []


@pytest.mark.parametrize("mode", ["fork", "spawn"])
def test_pipeline_cells_stay_out_of_the_ipython_history(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """Kernels of a run keep their history in memory, not in the user's history database."""
    ipython_dir = tmp_path / "ipython"
    monkeypatch.setenv("IPYTHONDIR", str(ipython_dir))
    assert crisp("run", "--only", "source", "--kernel-start", mode) == 0
    assert ipython_dir.is_dir(), "the kernel did not use IPYTHONDIR"
    assert not list(ipython_dir.rglob("history.sqlite"))


def test_injected_strings_arrive_verbatim_and_are_not_executed(project: Path) -> None:
    payload = "it's \"quoted\"\nsecond line'''\"\"\" + __import__('os').system('touch pwned') #"
    value = json.dumps(payload)  # a YAML-compatible quoted scalar
    assert crisp("run", "--to", "middle", "--set", f"middle.payload={value}") == 0
    assert json.loads((project / "data" / "interim" / "payload.json").read_text()) == payload
    assert not (project / "notebooks" / "pwned").exists()
    assert not (project / "pwned").exists()


def test_failure_stops_the_run_and_names_the_cell(project: Path, capsys) -> None:
    assert crisp("run", "--set", "middle.payload=fail") == 1
    out = capsys.readouterr().out
    assert "[2/3] 01_middle ... FAILED" in out
    assert "01_middle failed in cell In [7]: ValueError: payload asked to fail" in out
    assert "not run: 02_late" in out
    record = latest_record(project)
    middle = record["phases"][1]
    assert record["status"] == "failed"
    assert middle["error"]["ename"] == "ValueError"
    assert middle["error"]["execution_count"] == 7
    assert record["phases"][2]["status"] == "not run"
    html = (project / middle["report"]).read_text(encoding="utf-8")
    assert "payload asked to fail" in html
    assert not (project / "out" / "c.txt").exists()
    assert wait_until_gone(project) == [], "no kernel survives a failed run"


def test_an_error_of_the_runner_itself_is_recorded_as_a_failed_run(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a cell's error: the run must still not be recorded or announced as succeeded."""
    from crisp import execute

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the runner broke")

    monkeypatch.setattr(execute, "run_phase", broken)
    with pytest.raises(RuntimeError, match="the runner broke"):
        crisp("run")
    record = latest_record(project)
    assert record["status"] == "failed"
    assert [p["status"] for p in record["phases"]] == ["failed", "not run", "not run"]
    assert record["phases"][0]["error"]["ename"] == "RuntimeError"
    assert wait_until_gone(project) == []


def test_cell_timeout_is_a_failure(project: Path, capsys) -> None:
    assert crisp("run", "--only", "01", "--timeout", "2", "--set", "middle.payload=sleep") == 1
    out = capsys.readouterr().out
    assert "CellTimeoutError" in out and "--timeout" in out
    middle = latest_record(project)["phases"][0]
    assert middle["error"]["ename"] == "CellTimeoutError"
    assert "CellTimeoutError" in (project / middle["report"]).read_text(encoding="utf-8")
    assert wait_until_gone(project) == []


def test_kernel_death_is_a_failure(project: Path, capsys) -> None:
    assert crisp("run", "--only", "01", "--set", "middle.payload=die") == 1
    assert "DeadKernelError" in capsys.readouterr().out
    middle = latest_record(project)["phases"][0]
    assert middle["error"]["ename"] == "DeadKernelError"
    assert "kernel died" in (project / middle["report"]).read_text(encoding="utf-8")
    assert wait_until_gone(project) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "middle.cout=3"], "did you mean count?"),
        (["--set", "middle.count=three"], "expected int"),
        (["--set", "count=3"], "SECTION.KEY=VALUE"),
        (["--only", "modelling"], "unknown phase 'modelling'"),
    ],
)
def test_user_errors_exit_2_and_touch_nothing(
    project: Path, capsys, args: list[str], message: str
) -> None:
    assert crisp("run", *args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (project / "reports").exists()


def test_undeclared_section_key_is_a_user_error(project: Path, capsys) -> None:
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("  count: 2", "  count: 2\n  extra: 1"))
    assert crisp("run") == 2
    assert "middle.extra is not declared" in capsys.readouterr().err


def test_latest_points_at_newest_run(project: Path) -> None:
    assert crisp("run", "--only", "00") == 0
    first = latest_record(project)["run_id"]
    assert crisp("run", "--only", "00", "--force") == 0
    second = latest_record(project)["run_id"]
    assert first != second
    assert os.readlink(project / "reports" / "latest") == second


def start_sleeping_run(project: Path, *args: str) -> subprocess.Popen:
    """`crisp run` in a subprocess, returned once 01_middle sits in its sleeping cell."""
    mark = project.parent / "sleeping"  # outside the project: no input of any phase
    proc = subprocess.Popen(
        [sys.executable, "-m", "crisp", "run", *args] + ["--set", "middle.payload=sleep"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SLEEP_MARK": str(mark)},
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and not mark.exists():
        time.sleep(0.05)
    assert mark.exists(), proc.communicate(timeout=600)
    assert kernel_pids(project), "expected live kernels while the run is going"
    return proc


def test_interrupted_run_leaves_no_kernels_and_keeps_a_record(project: Path) -> None:
    proc = start_sleeping_run(project)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err
    assert wait_until_gone(project) == [], "kernels survived Ctrl-C"
    record = latest_record(project)
    assert record["status"] == "interrupted"
    assert [p["status"] for p in record["phases"]] == ["succeeded", "interrupted", "not run"]
    assert (project / record["phases"][1]["report"]).is_file(), "the partial report is kept"


def test_sigterm_also_kills_kernels(project: Path, capsys) -> None:
    """Also checks `python -m <package>.pipeline` works like `crisp`, and one run at a time."""
    proc = start_sleeping_run(project, "--only", "middle")
    assert crisp("run", "--only", "source") == 2
    assert "another `crisp run` is using this project" in capsys.readouterr().err
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 128 + signal.SIGTERM, (out, err)
    assert "terminated (SIGTERM)" in err and "run succeeded" not in out
    assert wait_until_gone(project) == [], "kernels survived SIGTERM"
    record = latest_record(project)
    assert record["status"] == "interrupted"
    assert [p["status"] for p in record["phases"]] == ["interrupted"]


def test_copy_of_project_runs_elsewhere(project: Path, tmp_path: Path, monkeypatch) -> None:
    """Paths in the record are project-relative: nothing depends on where the project lives."""
    assert crisp("run", "--only", "00") == 0
    moved = tmp_path / "moved"
    shutil.copytree(project, moved, symlinks=True)
    monkeypatch.setenv("CRISP_PROJECT_ROOT", str(moved))
    record = latest_record(moved)
    assert not Path(record["phases"][0]["report"]).is_absolute()
    assert (moved / record["phases"][0]["report"]).is_file()


# ------------------------------------------------------------------ incremental runs


@pytest.fixture(scope="module")
def ran_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project after one successful run (built once; tests work on copies)."""
    root = build_project(tmp_path_factory.mktemp("ran") / "project")
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_project(root, monkeypatch)
        assert crisp("run") == 0
    return root


@pytest.fixture
def done(ran_once: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project that has run once, ready to change and run again."""
    root = tmp_path / "project"
    shutil.copytree(ran_once, root, symlinks=True)
    return use_project(root, monkeypatch)


def statuses(capsys, *args: str) -> dict[str, str]:
    """`crisp status` as {phase: "up to date" | "outdated: why"}."""
    capsys.readouterr()
    assert crisp("status", *args) == 0
    result = {}
    for line in capsys.readouterr().out.splitlines():
        name, rest = line.split(maxsplit=1)
        state, _, why = rest.partition("  ")
        result[name] = state if state == "up to date" else f"{state}: {why.strip()}"
    return result


def ran(root: Path) -> list[str]:
    """Phases that executed in the latest run."""
    return [p["name"] for p in latest_record(root)["phases"] if p["status"] == "succeeded"]


def test_unchanged_project_is_up_to_date_and_skipped(done: Path, capsys) -> None:
    before = latest_record(done)["run_id"]
    runs = sorted(p.name for p in (done / "reports").iterdir())
    assert set(statuses(capsys).values()) == {"up to date"}
    assert crisp("run") == 0
    out = capsys.readouterr().out
    assert "[2/3] 01_middle ... up to date" in out and "all phases up to date" in out
    assert out.strip().endswith(f"reports/{before}/index.html"), "points at the last report"
    assert sorted(p.name for p in (done / "reports").iterdir()) == runs, "no empty run recorded"


def _edit_notebook(root: Path) -> None:
    path = root / "notebooks" / "02_late.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("extra = 1"))
    nbformat.write(nb, str(path))


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


CHANGES = {
    "notebook": (_edit_notebook, [], "02_late", "notebook changed"),
    "parameter": (lambda root: None, ["--set", "late.suffix=END"], "02_late", "parameter suffix"),
    "helper code": (
        lambda root: _append(root / "src" / "helpers" / "fmt.py", "\n# edited\n"),
        [],
        "02_late",
        "helper code changed: src/helpers/fmt.py",
    ),
    "input data": (
        lambda root: _append(root / "data" / "raw" / "input.txt", "more "),
        [],
        "00_source",
        "input changed: data/raw/input.txt",
    ),
    "deleted output": (
        lambda root: (root / "data" / "interim" / "b.txt").unlink(),
        [],
        "01_middle",
        "output missing: data/interim/b.txt",
    ),
}


@pytest.mark.parametrize("kind", list(CHANGES))
def test_a_change_reruns_its_phase_and_everything_after(done: Path, capsys, kind: str) -> None:
    change, args, first, reason = CHANGES[kind]
    before = latest_record(done)["run_id"]
    change(done)
    assert crisp("status", *args) == 0
    report = capsys.readouterr().out
    expected_first = next(line for line in report.splitlines() if line.startswith(first))
    assert "outdated" in expected_first and reason in expected_first
    for line in report.splitlines():
        if line < first:
            assert "up to date" in line, report
        elif line > first + "~":
            assert f"upstream {first} runs again" in line, report
    assert crisp("run", *args) == 0
    names = ["00_source", "01_middle", "02_late"]
    assert ran(done) == names[names.index(first) :]
    record = latest_record(done)
    index = (done / "reports" / record["run_id"] / "index.html").read_text(encoding="utf-8")
    for skipped in record["phases"][: names.index(first)]:
        # A skipped phase is reported with the reports and lineage of its last run.
        assert skipped["status"] == "up to date" and skipped["run_id"] == before
        assert skipped["report"] == f"reports/{before}/{skipped['name']}.html"
        assert skipped["writes"] and f'href="../{before}/{skipped["name"]}.html"' in index
    assert set(statuses(capsys, *args).values()) == {"up to date"}, "the rerun made it current"


def test_a_later_phase_picks_up_what_an_earlier_one_wrote(done: Path) -> None:
    _append(done / "data" / "raw" / "input.txt", "x")
    assert crisp("run") == 0
    assert (done / "out" / "c.txt").read_text() == "abc x" + "hello" + "abc xhello" + "!"


def test_phase_run_alone_makes_later_phases_outdated(done: Path, capsys) -> None:
    assert crisp("run", "--only", "source", "--force") == 0
    assert ran(done) == ["00_source"]
    status = statuses(capsys)
    assert status["00_source"] == "up to date"
    assert status["01_middle"].startswith("outdated: upstream 00_source ran after it")
    assert crisp("run", "--to", "middle") == 0
    assert ran(done) == ["01_middle"]
    assert crisp("run", "--force", "--from", "middle") == 0
    assert ran(done) == ["01_middle", "02_late"]


def test_run_resumes_at_the_failed_phase(done: Path, capsys, monkeypatch) -> None:
    _append(done / "data" / "raw" / "input.txt", "y")
    path = done / "notebooks" / "01_middle.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    fail = "import os\nif os.environ.get('MIDDLE_FAILS'):\n    raise RuntimeError('middle fails')"
    nb.cells.insert(3, nbformat.v4.new_code_cell(fail))
    nbformat.write(nb, str(path))
    monkeypatch.setenv("MIDDLE_FAILS", "1")  # outside everything the runner fingerprints
    assert crisp("run") == 1
    statuses_now = [p["status"] for p in latest_record(done)["phases"]]
    assert statuses_now == ["succeeded", "failed", "not run"]
    assert "its last run failed" in statuses(capsys)["01_middle"]
    monkeypatch.delenv("MIDDLE_FAILS")
    assert crisp("run") == 0
    assert "[1/3] 00_source ... up to date" in capsys.readouterr().out
    assert ran(done) == ["01_middle", "02_late"]
