"""`crisp export airflow`: the DAG file loads in Airflow 3's own DagBag (the real project's seven
phases, in order) and `dag.test()` runs a tiny project's DAG end to end.

Airflow is installed once per test session into a virtual environment under /tmp (uv when there
is one, else pip), removed afterwards; its metadata database is SQLite in the same folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_runner import build_project

from shared_project import PROJECT, crisp

pytestmark = pytest.mark.slow
AIRFLOW = "apache-airflow>=3.0,<4"
PHASES = sorted(p.stem for p in (PROJECT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

LOAD = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dag = next(iter(bag.dags.values()), None)
print(json.dumps({
    "errors": {str(k): str(v) for k, v in bag.import_errors.items()},
    "dag_id": dag and dag.dag_id,
    "tasks": dag and {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks},
    "retries": dag and sorted({t.retries for t in dag.tasks}),
    "timeouts": dag and sorted({t.execution_timeout.total_seconds() for t in dag.tasks}),
    "params": dag and {k: dag.params[k] for k in dag.params},
}, default=str))
"""

TEST = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
dag = next(iter(DagBag(dag_folder=sys.argv[1]).dags.values()))
run = dag.test(run_conf=json.loads(sys.argv[2]))
states = {ti.task_id: [str(ti.state), ti.try_number] for ti in run.get_task_instances()}
print("RESULT " + json.dumps({"state": str(run.state), "tasks": states}))
"""


@pytest.fixture(scope="session")
def airflow() -> Iterator[dict[str, str]]:
    """Environment variables and python of an Airflow 3 installation with a migrated database."""
    home = Path(tempfile.mkdtemp(prefix="crisp-airflow-"))
    venv = home / "venv"
    uv = shutil.which("uv") or str(PROJECT / ".uv-bootstrap" / "bin" / "uv")
    try:
        if Path(uv).is_file():
            subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(venv)], check=True)
            install = [uv, "pip", "install", "-q", "-p", str(venv / "bin" / "python"), AIRFLOW]
        else:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            install = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", AIRFLOW]
        subprocess.run(install, check=True, timeout=1200)
        variables = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("CRISP_", "AIRFLOW"))},
            "AIRFLOW_HOME": str(home / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "python": str(venv / "bin" / "python"),
        }
        migrate = subprocess.run(
            [str(venv / "bin" / "airflow"), "db", "migrate"],
            env=variables,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
        yield variables
    finally:
        shutil.rmtree(home, ignore_errors=True)


def in_airflow(airflow: dict[str, str], script: str, *args: str, **extra: str) -> dict:
    """Run `script` with Airflow's python; the JSON it prints last (after RESULT, if marked)."""
    variables = {**airflow, **extra}
    done = subprocess.run(
        [airflow["python"], "-c", script, *args],
        env=variables,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    marked = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(marked[-1][7:] if marked else done.stdout.strip().splitlines()[-1])


def test_the_dag_loads_in_airflow_with_one_task_per_phase_in_order(
    airflow: dict[str, str], tmp_path: Path
) -> None:
    dags = tmp_path / "dags"
    written = crisp(
        PROJECT,
        "export",
        "airflow",
        "-o",
        str(dags / "pipeline.py"),
        "--retries",
        "2",
        "--timeout",
        "1800",
    )
    assert written.returncode == 0, written.stderr
    assert "wrote" in written.stdout and (dags / "pipeline.py").is_file()
    loaded = in_airflow(airflow, LOAD, str(dags), AIRFLOW__CORE__DAGS_FOLDER=str(dags))
    assert loaded["errors"] == {}
    assert len(PHASES) == 7 and list(loaded["tasks"]) == PHASES
    assert loaded["tasks"] == {
        phase: ([PHASES[i - 1]] if i else []) for i, phase in enumerate(PHASES)
    }, "a chain in phase order"
    assert loaded["retries"] == [2] and loaded["timeouts"] == [1800.0]
    assert loaded["params"]["modelling.cv_folds"] == 5
    assert loaded["params"]["shared.data_path"] == ""


def test_bad_export_options_are_refused(tmp_path: Path) -> None:
    refused = crisp(PROJECT, "export", "airflow", "-o", str(tmp_path / "x.py"), "--timeout", "0")
    assert refused.returncode == 2 and "--timeout > 0" in refused.stderr
    assert not (tmp_path / "x.py").exists()


def test_dag_test_runs_the_phases_into_one_run_record(
    airflow: dict[str, str], tmp_path: Path
) -> None:
    """A tiny project's DAG, run by dag.test(): a form value becomes a --set override, the tasks
    make one run record; a failing phase fails its task at once (no retry) and stops the rest."""
    root = build_project(tmp_path / "tiny")
    (root / "pyproject.toml").write_text('[project]\nname = "tiny"\n\n[tool.crisp]\n')
    crisp_bin = str(Path(sys.executable).with_name("crisp"))
    written = subprocess.run(
        [crisp_bin, "export", "airflow", "--crisp", crisp_bin, "--retries", "1"],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root / "src")},
    )
    assert written.returncode == 0, written.stderr
    dags = root / "dags"
    assert [p.name for p in dags.iterdir()] == ["tiny.py"]
    kernels = {"AIRFLOW__CORE__DAGS_FOLDER": str(dags), "PYTHONPATH": str(root / "src")}

    result = in_airflow(airflow, TEST, str(dags), json.dumps({"middle.count": 3}), **kernels)
    assert result["state"] == "success", result
    runs = [p for p in (root / "reports").iterdir() if p.is_dir() and not p.is_symlink()]
    assert len(runs) == 1, "the DAG run's tasks make one run record"
    record = json.loads((runs[0] / "run.json").read_text())
    assert [p["status"] for p in record["phases"]] == ["succeeded"] * 3
    assert record["overrides"] == ["middle.count=3"]
    assert (root / "out" / "c.txt").read_text() == "abc hello" * 3 + "!"

    failed = in_airflow(airflow, TEST, str(dags), json.dumps({"middle.payload": "fail"}), **kernels)
    assert failed["state"] == "failed"
    assert failed["tasks"]["01_middle"] == ["failed", 1], "an error in a cell is not retried"
    assert failed["tasks"]["02_late"][0] == "upstream_failed"
    second = next(
        p
        for p in (root / "reports").iterdir()
        if p.is_dir() and not p.is_symlink() and p != runs[0]
    )
    middle = json.loads((second / "run.json").read_text())["phases"][1]
    assert middle["error"]["ename"] == "ValueError"
