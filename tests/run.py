"""Run the template's two test groups side by side and report both.

- template: the template's own tests (baking, hooks, cruft, environment managers), in this
  environment (the template's .venv).
- integration: the runner's tests and the tests on real tables, in the environment of the project
  `make test` baked and set up (CRISP_TEST_PROJECT). The real-table tests read plotly's bundled
  datasets, found here (plotly is a template test tool) and passed in CRISP_TEST_DATASETS.

Each group's output is shown when it ends, with its wall and CPU time (CPU time barely depends
on other load on the machine: the suite's floor on an idle 2-core machine is about half of the
total); the exit code is non-zero when either group failed.
Arguments are passed to both pytest runs (e.g. `-k cruft`); `--only GROUP` runs one group.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# The integration group is the larger (a pipeline run per real table): two workers beside the
# template group's one keep both cores busy to the end.
INTEGRATION_WORKERS = 2


def workers(python: Path) -> list[str]:
    """pytest-xdist options for the integration group: two workers when xdist is installed (the
    Makefile installs it). `loadscope` keeps a module's tests, or a class's, on one worker: the
    real-table tests hold a test class per project copy. (Not `loadgroup`: pytest-xdist 3.8 marks
    groups by rewriting `item._nodeid`, which pytest 9.2 no longer reads.)"""
    found = subprocess.run([str(python), "-c", "import xdist"], capture_output=True, check=False)
    return ["-n", str(INTEGRATION_WORKERS), "--dist", "loadscope"] if found.returncode == 0 else []


def commands(project: Path, extra: list[str]) -> dict[str, list[str]]:
    """The pytest command line of each group."""
    python = project / ".venv" / "bin" / "python"
    return {
        "template": [sys.executable, "-m", "pytest", str(TESTS / "template"), *extra],
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
    parser.add_argument("--only", choices=("template", "integration"))
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
    environment = {**os.environ, "CRISP_TEST_DATASETS": str(plotly_datasets())}
    started = time.monotonic()
    running = {}
    for name, command in chosen.items():
        log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed below
        print(f"[{name}] {' '.join(command)}", flush=True)
        running[name] = (
            subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment),
            log,
        )
    failed, cpu = [], {}
    by_pid = {process.pid: name for name, (process, _) in running.items()}
    while by_pid:
        # wait4: each group's CPU time (its processes' user + system), the load-independent cost.
        pid, status, usage = os.wait4(-1, 0)
        if pid not in by_pid:
            continue
        name = by_pid.pop(pid)
        process, log = running[name]
        process.returncode = code = os.waitstatus_to_exitcode(status)
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
