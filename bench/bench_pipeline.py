"""Benchmark the generated project's pipeline runner against plain Python and plain papermill.

Bakes the template into a temporary directory and measures, side by side, the median of --repeat
rounds (a round runs every scenario once, each on a fresh copy of the baked project, so every run
does the same work and load from other work on the machine hits all scenarios alike; a runner
scenario runs right after the floor it is compared with):

1. plain     the notebooks' code as one plain Python process (code cells concatenated, parameters
             injected, %-magics stripped, each notebook in a fresh namespace; figures are drawn
             but not rendered to PNG, there being no report): the floor
1b           the same, rendering each figure to PNG as the reports need (for information)
2. papermill papermill with a cold kernel per notebook: the reference
3. runner    `crisp run --force` (cold: no earlier run)
3b           `crisp run --force` on a project that ran before (the fork server then also imports
             what each phase imported lazily last time)
4. no-op     `crisp run` with nothing changed (target < 0.5 s)
5. helper    `crisp run` after editing a helper module used only by the last phase

It prints wall times, the ratios 3/1 (also round by round: the machine's load drifts), 3/2, 4/3
and 5/3, and each scenario's peak memory (largest resident set of any process it started, from
resource.getrusage of the children).

    python bench/bench_pipeline.py [--repeat 3] [--problem-type regression] [--keep]
                                   [--kernel-start fork --kernel-start spawn]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from project_env import bake, crisp_command, package_of, project_python, run_env

HELPER_USED_LATE = "monitoring.py"  # imported by 06_monitoring only

PLAIN = r"""
import json, os, sys
from pathlib import Path

from crisp import staging

os.environ["MPLBACKEND"] = "Agg"
root = Path(sys.argv[1])
phases = json.loads(Path(sys.argv[2]).read_text())
run_dir = root / "reports" / "plain"
for name, code in phases:
    os.environ["CRISP_RUN_DIR"] = str(run_dir)
    os.environ["CRISP_PHASE"] = name
    os.chdir(root / "notebooks")
    exec(compile(code, f"{name}.py", "exec"), {"__name__": "__main__"})
    staging.commit(run_dir / name, root)  # the phase's staged writes, as the runner commits them
    import matplotlib.pyplot as plt
    if len(sys.argv) > 3:  # render the figures as a report would (the inline backend's way)
        import io
        for number in plt.get_fignums():
            plt.figure(number).savefig(io.BytesIO(), format="png", bbox_inches="tight")
    plt.close("all")
"""

PAPERMILL = r"""
import json, os, sys
from pathlib import Path
import papermill
from crisp import staging

root = Path(sys.argv[1])
phases = json.loads(Path(sys.argv[2]).read_text())
run_dir = root / "reports" / "papermill"
run_dir.mkdir(parents=True, exist_ok=True)
for name, parameters in phases:
    os.environ["CRISP_RUN_DIR"] = str(run_dir)
    os.environ["CRISP_PHASE"] = name
    papermill.execute_notebook(
        str(root / "notebooks" / f"{name}.ipynb"),
        str(run_dir / f"{name}.ipynb"),
        parameters=parameters,
        kernel_name="python3",
        cwd=str(root / "notebooks"),
        progress_bar=False,
    )
    staging.commit(run_dir / name, root)  # the phase's staged writes, as the runner commits them
"""


def bake_for(workdir: Path, problem_type: str) -> Path:
    """The template baked with default answers (and `problem_type`)."""
    started = time.perf_counter()
    path = bake(workdir, problem_type=problem_type)
    print(f"baked {path.name} in {time.perf_counter() - started:.2f} s")
    return path


def phase_inputs(project: Path, python: Path) -> tuple[list[list], list[list]]:
    """[(phase, code)] for the plain run and [(phase, parameters)] for papermill."""
    result = subprocess.run(
        [
            str(python),
            "-c",
            "import json, sys\n"
            "from crisp.plan import make_plan\n"
            "from crisp.project import load\n"
            "from crisp.state import State\n"
            "from pathlib import Path\n"
            "root = Path(sys.argv[1])\n"
            "plan = make_plan(load(root), State(root), force=True)\n"
            "print(json.dumps([[p.name, plan.parameters[p.name]] for p in plan.selected]))\n",
            str(project),
        ],
        capture_output=True,
        text=True,
        env=run_env(project),
        check=True,
    )
    parameters = json.loads(result.stdout)
    plain = []
    for name, values in parameters:
        nb = json.loads((project / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))
        cells = []
        for cell in nb["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            lines = [
                line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
            ]
            cells.append("\n".join(lines))
            if "parameters" in cell.get("metadata", {}).get("tags", []):
                cells.append("\n".join(f"{key} = {value!r}" for key, value in values.items()))
        plain.append([name, "\n\n".join(cells)])
    return plain, parameters


def measure(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB of the children) of `command`, run via a fresh process.

    The wrapper process waits for the command, so its children's peak covers the command's
    whole process tree (as far as processes were waited for).
    """
    wrapper = (
        "import json, resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "code = subprocess.run(sys.argv[1:]).returncode\n"
        "wall = time.perf_counter() - t\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(json.dumps([code, wall, peak]), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", wrapper, *command],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    code, wall, peak_kib = json.loads(result.stderr.strip().splitlines()[-1])
    if code != 0:
        raise SystemExit(f"benchmark command failed ({code}): {' '.join(command)}\n{result.stderr}")
    return wall, peak_kib / 1024


def fresh_copy(pristine: Path, workdir: Path, label: str) -> Path:
    target = workdir / label / pristine.name
    if target.parent.exists():
        shutil.rmtree(target.parent)
    shutil.copytree(pristine, target, symlinks=True)
    return target


def run_benchmark(repeat: int, problem_type: str, workdir: Path, kernel_modes: list[str]) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average before: {load} (other work on the machine slows every scenario)")
    pristine = bake_for(workdir, problem_type)
    pkg = package_of(pristine)
    python = project_python(pristine, workdir / "venv")
    crisp = crisp_command(python)
    plain_code, parameters = phase_inputs(pristine, python)
    inputs = workdir / "inputs"
    inputs.mkdir(exist_ok=True)
    (inputs / "plain.json").write_text(json.dumps(plain_code))
    (inputs / "papermill.json").write_text(json.dumps(parameters))
    (inputs / "run_plain.py").write_text(PLAIN)
    (inputs / "run_papermill.py").write_text(PAPERMILL)

    def run_once(project: Path, *args: str) -> None:
        subprocess.run(
            [*crisp, "run", *args],
            env=run_env(project),
            cwd=project,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def edit_helper(project: Path) -> None:
        run_once(project)
        helper = project / "src" / pkg / HELPER_USED_LATE
        helper.write_text(helper.read_text(encoding="utf-8") + "\n# edited by the benchmark\n")

    plain = [str(python), str(inputs / "run_plain.py")]
    reference = [str(python), str(inputs / "run_papermill.py")]
    # Each runner scenario right after the floor it is compared with, so that a change of load
    # on the machine between the two (minutes apart otherwise) weighs less on their ratio.
    scenarios: list[tuple[str, Callable[[Path], list[str]], Callable[[Path], None] | None]] = [
        ("1 plain", lambda p: [*plain, str(p), str(inputs / "plain.json")], None),
    ]
    for mode in kernel_modes:
        label = "3 runner" if mode == kernel_modes[0] else f"3 runner/{mode}"
        scenarios.append(
            (label, lambda p, m=mode: [*crisp, "run", "--force", "--kernel-start", m], None)
        )
    scenarios.append(
        ("1b plain+png", lambda p: [*plain, str(p), str(inputs / "plain.json"), "png"], None)
    )
    # The same work on a project that ran before: the fork server knows every phase's imports.
    scenarios.append(("3b forced rerun", lambda p: [*crisp, "run", "--force"], run_once))
    scenarios.append(
        ("2 papermill", lambda p: [*reference, str(p), str(inputs / "papermill.json")], None)
    )
    scenarios.append(("4 no-op", lambda p: [*crisp, "run"], run_once))
    scenarios.append(("5 helper", lambda p: [*crisp, "run"], edit_helper))

    # Rounds of every scenario, so that other load on the machine hits all of them alike.
    results: dict[str, list[tuple[float, float]]] = {}
    try:
        for i in range(repeat):
            for label, command_for, prepare in scenarios:
                project = fresh_copy(pristine, workdir, f"{label}-{i}")
                if prepare is not None:
                    prepare(project)
                wall, peak = measure(command_for(project), run_env(project), project)
                results.setdefault(label, []).append((wall, peak))
                print(
                    f"  round {i + 1}/{repeat} {label:<14} {wall:7.2f} s  peak {peak:5.0f} MiB",
                    flush=True,
                )
    finally:  # a scenario that failed still leaves what was measured before it
        report(results, repeat, problem_type)


# (scenario, floor, what the ratio is, its target or meaning)
RATIOS = (
    ("3 runner", "1 plain", "3/1 runner / plain", "target <= 1.2"),
    ("3 runner", "1b plain+png", "3/1b runner / plain+png", "the floor when figures are rendered"),
    ("3 runner", "2 papermill", "3/2 runner / papermill", "target <= 0.4"),
    (
        "3b forced rerun",
        "1b plain+png",
        "3b/1b forced rerun / plain+png",
        "a project that ran before",
    ),
    ("4 no-op", "3 runner", "4/3 no-op / runner", "no-op target < 0.5 s"),
    ("5 helper", "3 runner", "5/3 helper edit / runner", "a helper used late was edited"),
)


def report(results: dict[str, list[tuple[float, float]]], repeat: int, problem_type: str) -> None:
    """Print the medians of `results` and the ratios between the scenarios that were measured
    (round by round too for runner / plain: the machine's load drifts)."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nmedians of {repeat} run(s), {problem_type}, {os.cpu_count()} CPUs, load {load}:")
    median = {label: statistics.median(w for w, _ in runs) for label, runs in results.items()}
    for label, runs in sorted(results.items()):
        peak = max(p for _, p in runs)
        print(f"  {label:<15} {median[label]:7.2f} s   peak memory {peak:6.0f} MiB")
    print("ratios (of the medians):")
    for top, bottom, name, meaning in RATIOS:
        if top not in median or bottom not in median:
            continue
        note = meaning
        if (top, bottom) == ("3 runner", "1 plain"):
            rounds = _ratios(results[top], results[bottom])
            note += "; round by round: " + ", ".join(f"{r:.2f}" for r in rounds)
        print(f"  {name:<31} {median[top] / median[bottom]:6.3f}  ({note})")


def _ratios(runs: list[tuple[float, float]], floors: list[tuple[float, float]]) -> list[float]:
    """Wall-time ratio of each round's run to the same round's floor."""
    return [run / floor for (run, _), (floor, _) in zip(runs, floors, strict=False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (median)")
    parser.add_argument(
        "--problem-type", default="classification", choices=["classification", "regression"]
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--kernel-start",
        action="append",
        choices=["fork", "spawn"],
        help="runner kernel start mode(s) to measure; repeat to compare (default: fork)",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="crisp-bench-"))
    try:
        run_benchmark(args.repeat, args.problem_type, workdir, args.kernel_start or ["fork"])
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
