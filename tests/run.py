"""Run the template's two test groups side by side, one per core, and report both.

- template: the template's own tests (baking, hooks, cruft, environment managers), in this
  environment (the template's .venv).
- integration: the runner's tests and the tests on real tables, in the environment of the project
  `make test` baked and set up (CRISP_TEST_PROJECT).

Each group's output is shown when it ends; the exit code is non-zero when either group failed.
Arguments are passed to both pytest runs (e.g. `-k cruft`); `--only GROUP` runs one group.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def commands(project: Path, extra: list[str]) -> dict[str, list[str]]:
    """The pytest command line of each group."""
    return {
        "template": [sys.executable, "-m", "pytest", str(TESTS / "template"), *extra],
        "integration": [
            str(project / ".venv" / "bin" / "python"),
            *("-m", "pytest", str(TESTS / "integration"), *extra),
        ],
    }


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
    started = time.monotonic()
    running = {}
    for name, command in chosen.items():
        log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed below
        print(f"[{name}] {' '.join(command)}", flush=True)
        running[name] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log)
    failed = []
    for name, (process, log) in running.items():
        code = process.wait()
        log.seek(0)
        print(f"\n===== {name}: exit {code} ({time.monotonic() - started:.0f} s) =====", flush=True)
        sys.stdout.write(log.read())
        log.close()
        if code != 0:
            failed.append(name)
    print(f"\ntest groups failed: {', '.join(failed)}" if failed else "\nall test groups passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
