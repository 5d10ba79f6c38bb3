"""Run the template's test groups side by side and report each.

- template: the template's own tests (baking, hooks, cruft, environment managers), in this
  environment (the template's .venv);
- pip-setup: the template test that sets a project up with pip from scratch. With a cold pip
  cache it waits on the package index for minutes, so it runs beside the others rather than in the
  template group's queue.
- integration: the runner's tests and the tests on real tables, in the environment of the project
  `make test` baked and set up (CRISP_TEST_PROJECT). The real-table tests read plotly's bundled
  datasets, found here (plotly is a template test tool) and passed in CRISP_TEST_DATASETS.

Each group's output is shown when it ends, with its wall and CPU time (on a shared virtual
machine CPU time rises with the load, by up to two times: compare it within one run only); the
exit code is non-zero when any group failed (a group whose tests were all deselected,
e.g. by `-k`, passes). Every group's temporary files go to one folder (TMPDIR), removed at the
end: cookiecutter leaves a rendered hook script in the temporary folder at every bake.
Arguments are passed to every pytest run (e.g. `-k cruft`); `--only GROUP` runs one group.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

TESTS = Path(__file__).resolve().parent
# The integration group is the larger (a pipeline run per real table): two workers beside the
# template group's one keep both cores busy to the end.
INTEGRATION_WORKERS = 2
PIP_SETUP = "template/test_ecosystem.py::test_pip_setup_from_scratch_then_make_test"
NO_TESTS_COLLECTED = 5  # pytest's exit code when every test was deselected


def workers(python: Path) -> list[str]:
    """pytest-xdist options for the integration group: two workers when xdist is installed (the
    Makefile installs it). `loadscope` keeps a module's tests, or a class's, on one worker: the
    real-table tests hold a test class per project copy. (Not `loadgroup`: pytest-xdist 3.8 marks
    groups by rewriting `item._nodeid`, which pytest 9.2 no longer reads.)"""
    found = subprocess.run([str(python), "-c", "import xdist"], capture_output=True, check=False)
    if found.returncode != 0:
        return []
    # In the order tests/integration/conftest.py gives, the longest scopes first (not xdist's
    # own order, by number of tests).
    return ["-n", str(INTEGRATION_WORKERS), "--dist", "loadscope", "--no-loadscope-reorder"]


def commands(project: Path, extra: list[str]) -> dict[str, list[str]]:
    """The pytest command line of each group."""
    python = project / ".venv" / "bin" / "python"
    # --deselect takes a node id as pytest writes it: relative to the template's root.
    pip_setup = (TESTS / PIP_SETUP).relative_to(TESTS.parent).as_posix()
    return {
        "template": [
            *(sys.executable, "-m", "pytest", str(TESTS / "template")),
            *("--deselect", pip_setup, *extra),
        ],
        "pip-setup": [sys.executable, "-m", "pytest", str(TESTS / PIP_SETUP), *extra],
        "integration": [
            str(python),
            *("-m", "pytest", str(TESTS / "integration"), *workers(python), *extra),
        ],
    }


def plotly_datasets() -> Path:
    """Folder of the gzipped CSVs bundled with plotly (tips, gapminder, ...), found without
    importing plotly."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("tests/run.py: plotly is missing from the .venv; run make setup")
    folder = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "datasets"
    if not (folder / "tips.csv.gz").is_file():
        raise SystemExit(f"tests/run.py: {folder} holds no tips.csv.gz; reinstall plotly")
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("template", "pip-setup", "integration"))
    args, extra = parser.parse_known_args()
    project = Path(os.environ.get("CRISP_TEST_PROJECT", "")).resolve()
    if not (project / ".venv" / "bin" / "python").is_file():
        print("tests/run.py: CRISP_TEST_PROJECT must name a set-up project; use `make test`")
        return 2
    chosen = {
        name: command
        for name, command in commands(project, extra).items()
        if args.only in (None, name)
    }
    scratch = tempfile.mkdtemp(prefix="crisp-tests-")
    environment = {
        **os.environ,
        "CRISP_TEST_DATASETS": str(plotly_datasets()),
        "TMPDIR": scratch,
    }
    # Python writes the .pyc of what it imports, once: the hundreds of processes the tests start
    # (cookiecutter, cruft, kernels) would otherwise each compile it again.
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    # Stopped (a CI timeout, kill): the groups stop too and the temporary folder goes.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    try:
        return run_groups(chosen, environment)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_groups(chosen: dict[str, list[str]], environment: dict[str, str]) -> int:
    """Run the `chosen` groups' commands side by side; 1 when any failed."""
    started = time.monotonic()
    running = {}
    for name, command in chosen.items():
        log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed below
        print(f"[{name}] {' '.join(command)}", flush=True)
        running[name] = (
            subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                start_new_session=True,  # its own process group: stopped as one below
            ),
            log,
        )
    try:
        return wait_for_groups(running, started)
    finally:
        for process, _ in running.values():
            if process.returncode is None:  # interrupted: stop the group and what it started
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                process.wait()


def wait_for_groups(
    running: dict[str, tuple[subprocess.Popen[bytes], IO[str]]], started: float
) -> int:
    """Wait for every group, showing each one's output as it ends; 1 when any failed."""
    failed, cpu = [], {}
    by_pid = {process.pid: name for name, (process, _) in running.items()}
    while by_pid:
        # wait4: each group's CPU time (its processes' user + system).
        pid, status, usage = os.wait4(-1, 0)
        if pid not in by_pid:
            continue
        name = by_pid.pop(pid)
        process, log = running[name]
        process.returncode = code = os.waitstatus_to_exitcode(status)
        code = 0 if code == NO_TESTS_COLLECTED else code
        cpu[name] = usage.ru_utime + usage.ru_stime
        log.seek(0)
        print(
            f"\n===== {name}: exit {code} (wall {time.monotonic() - started:.0f} s, "
            f"CPU {cpu[name]:.0f} s) =====",
            flush=True,
        )
        sys.stdout.write(log.read())
        log.close()
        if code != 0:
            failed.append(name)
    total = sum(cpu.values())
    print(
        f"\nwall {time.monotonic() - started:.0f} s; CPU {total:.0f} s "
        f"({', '.join(f'{name} {seconds:.0f} s' for name, seconds in cpu.items())})"
    )
    print(f"\ntest groups failed: {', '.join(failed)}" if failed else "\nall test groups passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
