"""Scale benchmark: the whole pipeline at default parameters on 100k, 1M and 10M rows.

Generates tables of 20 numeric and 5 categorical columns with a binary target (CSV up to 1M rows,
Parquet beyond), bakes the template once and, for each size, runs `crisp run` on a fresh copy of the
project with the table as its own data (params.yaml: data path, target, slice column; every other
parameter at its default). Beside each run it measures, in the same invocation:

- floor: one plain HistGradientBoostingClassifier fit on the pipeline's own training rows
  (data/processed/train.parquet; categories as pandas categories, default settings), fit time only;
- the pipeline's wall time and its ratio to the floor, per-phase times from run.json;
- peak memory of all processes: the run's whole process tree (and any process started for the
  project copy) sampled every 0.2 s, summing proportional set sizes (PSS: a page shared by forked
  kernels counts once; the targets are judged on it) and, beside it, resident set sizes (RSS, a
  shared page counted in every process that maps it);
- growth of the pipeline time between sizes against the growth in rows;
- a `shared.compute=dask` run on a 2-worker distributed.LocalCluster (started here, one thread per
  worker) beside the local run of the same size: wall time, peak memory (the cluster's processes
  included), and whether the test metrics are the same.

Targets (issue 14): 1M rows <= 10x the floor, <= 300 s, <= 3 GB; 10M rows completes in <= 8 GB;
time grows no faster than rows; dask gives the same metrics as local.

    python bench/bench_scale.py                      # 100k, 1M, 10M; dask beside 100k
    python bench/bench_scale.py --rows 100000 --rows 1000000 --dask-rows 1000000
    python bench/bench_scale.py --python build/test/customer-churn/.venv/bin/python   # reuse an env

Runs from the template's .venv (cookiecutter); the project's code runs in a project environment
created with uv in the work directory (or the one given by --python: a baked project's .venv).
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from project_env import bake, project_python, run_env

DEFAULT_ROWS = (100_000, 1_000_000, 10_000_000)
PARQUET_FROM = 2_000_000  # tables with more rows are written as Parquet
TARGET = "target"
SLICE_COLUMN = "c0"
SAMPLE_SECONDS = 0.2
PHASE_LINE = re.compile(r"\[\d+/\d+\] (\d\d)_")  # the runner's console line as a phase starts
GB = 1024**3
# Targets of issue 14.
MAX_RATIO_1M = 10.0
MAX_SECONDS_1M = 300.0
MAX_PEAK_1M = 3 * GB
MAX_PEAK_10M = 8 * GB

# Run by the project's interpreter: write ROWS rows to PATH in chunks (bounded memory), seeded.
GENERATE = r"""
import sys
from pathlib import Path

import numpy as np
import pandas as pd

path, rows = Path(sys.argv[1]), int(sys.argv[2])
NUMERIC, LEVELS, CHUNK = 20, (3, 5, 8, 20, 100), 500_000
weights = np.random.default_rng(0).normal(0.0, 0.6, NUMERIC) * (np.arange(NUMERIC) < 12)
effects = [np.random.default_rng(1 + i).normal(0.0, 0.5, n) for i, n in enumerate(LEVELS)]
writer = None
for start in range(0, rows, CHUNK):
    n = min(CHUNK, rows - start)
    rng = np.random.default_rng(1000 + start // CHUNK)
    x = rng.normal(0.0, 1.0, (n, NUMERIC))
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(NUMERIC)])
    logit = x @ weights + 0.8 * x[:, 0] * x[:, 1] - 1.0
    for i, n_levels in enumerate(LEVELS):
        codes = rng.zipf(1.6, n) % n_levels
        frame[f"c{i}"] = pd.Categorical.from_codes(codes, [f"l{i}_{j}" for j in range(n_levels)])
        logit += effects[i][codes]
    for i in (3, 7, 21):  # a few missing values, as real tables have
        column = frame.columns[i]
        frame.loc[rng.random(n) < 0.03, column] = None
    frame["target"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int8")
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    else:
        frame.to_csv(path, mode="a" if start else "w", header=not start, index=False,
                     float_format="%.7g")
if writer is not None:
    writer.close()
"""

# Run by the project's interpreter in the project copy: one plain HistGradientBoostingClassifier
# fit on the pipeline's training split, timed; prints JSON.
FLOOR = r"""
import json, sys, time
from pathlib import Path

import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

root, target = Path(sys.argv[1]), sys.argv[2]
def xy(name):
    frame = pd.read_parquet(root / "data" / "processed" / f"{name}.parquet")
    X = frame.drop(columns=[target])
    for column in X.columns:
        if X[column].dtype == object or str(X[column].dtype) in ("string", "str"):
            X[column] = X[column].astype("category")
    return X, frame[target]
X, y = xy("train")
model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
started = time.perf_counter()
model.fit(X, y)
fit_s = time.perf_counter() - started
X_test, y_test = xy("test")
for column in X_test.columns:
    if isinstance(X[column].dtype, pd.CategoricalDtype):
        known = X[column].cat.categories
        values = X_test[column].astype(object)
        X_test[column] = pd.Categorical(values.where(values.isin(known)), categories=known)
score = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
print(json.dumps({"fit_s": fit_s, "train_rows": len(X), "test_roc_auc": score}))
"""

# Run by the project's interpreter: a 2-worker LocalCluster until stdin closes; prints its address.
CLUSTER = r"""
import sys
from distributed import LocalCluster

cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
with cluster:
    print(cluster.scheduler_address, flush=True)
    sys.stdin.read()
"""


# ---------------------------------------------------------------- memory of a process tree


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids of every live process."""
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                parent = int(stat.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def _tagged(marker: bytes) -> set[int]:
    """Processes whose environment holds `marker` (e.g. CRISP_PROJECT_ROOT=<copy>)."""
    found = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/environ", "rb") as environ:
                    if marker in environ.read().split(b"\0"):
                        found.add(int(entry.name))
            except OSError:
                continue
    return found


def _memory(pid: int) -> tuple[int, int]:
    """(resident set, proportional set) of `pid` in bytes; (0, 0) when it is gone. The
    proportional set shares each page among the processes mapping it, so forked kernels that
    share their parent's pages are not counted twice."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            fields = dict(line.split(b":", 1) for line in rollup.read().splitlines()[1:])
        return int(fields[b"Rss"].split()[0]) * 1024, int(fields[b"Pss"].split()[0]) * 1024
    except (OSError, KeyError, ValueError, IndexError):
        return 0, 0


class TreeMemory:
    """Samples the memory of the process trees under `roots` (and of processes tagged with
    `marker`) in a thread: `peak` is the largest sum of proportional sets seen (the memory the
    processes really hold), `peak_rss` the largest sum of resident sets (shared pages counted once
    per process)."""

    def __init__(self, roots: Iterable[int], marker: bytes | None = None) -> None:
        self.roots = set(roots)
        self.marker = marker
        self.peak = 0
        self.peak_rss = 0
        self.phase = ""  # set by the caller as phases start: `phase_peaks` then names the phase
        self.phase_peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            tree = _children()
            pids, todo = set(), list(self.roots | (_tagged(self.marker) if self.marker else set()))
            while todo:
                pid = todo.pop()
                if pid not in pids:
                    pids.add(pid)
                    todo.extend(tree.get(pid, []))
            sizes = [_memory(pid) for pid in pids]
            self.peak_rss = max(self.peak_rss, sum(rss for rss, _ in sizes))
            pss = sum(pss for _, pss in sizes)
            self.peak = max(self.peak, pss)
            if self.phase:
                self.phase_peaks[self.phase] = max(self.phase_peaks.get(self.phase, 0), pss)
            self._stop.wait(SAMPLE_SECONDS)


# ---------------------------------------------------------------- one pipeline run


@dataclass
class Result:
    """One `crisp run` on a table and what was measured beside it."""

    rows: int
    mode: str  # local | dask
    wall_s: float = 0.0
    status: str = ""
    peak_bytes: int = 0  # proportional sets summed
    peak_rss_bytes: int = 0  # resident sets summed
    phase_peaks: dict[str, int] = field(default_factory=dict)  # peak PSS while each phase ran
    phases: dict[str, float] = field(default_factory=dict)
    test_metrics: dict[str, float] = field(default_factory=dict)
    floor: dict[str, float] = field(default_factory=dict)
    floor_peak_bytes: int = 0
    error: str = ""

    @property
    def ratio(self) -> float | None:
        return self.wall_s / self.floor["fit_s"] if self.floor.get("fit_s") else None


def bake_fresh(workdir: Path) -> Path:
    """The template baked with its default answers, into a fresh `workdir/baked`."""
    shutil.rmtree(workdir / "baked", ignore_errors=True)
    return bake(workdir / "baked")


def with_extras(root: Path, python: Path, extras: list[str]) -> None:
    """Install the project's optional extras (e.g. dask) into `python`'s environment."""
    declared = tomllib.loads((root / "pyproject.toml").read_text())["project"].get(
        "optional-dependencies", {}
    )
    wanted = [extra for extra in extras if extra in declared]
    if not wanted:
        return
    command = [sys.executable, "-m", "uv", "pip", "install", "--quiet", "--python", str(python)]
    subprocess.run([*command, "-e", f"{root}[dev,{','.join(wanted)}]"], check=True)


def table_file(workdir: Path, python: Path, rows: int) -> Path:
    """The generated table of `rows` rows (made once per work directory)."""
    suffix = ".parquet" if rows >= PARQUET_FROM else ".csv"
    path = workdir / "tables" / f"scale_{rows}{suffix}"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        partial = path.with_name(f".{path.name}")
        subprocess.run([str(python), "-c", GENERATE, str(partial), str(rows)], check=True)
        partial.rename(path)
        size = path.stat().st_size / 1024**2
        print(f"generated {path.name}: {size:.0f} MB in {time.perf_counter() - started:.0f} s")
    return path


def project_copy(pristine: Path, workdir: Path, name: str, table: Path) -> Path:
    """A fresh copy of the baked project whose params.yaml points at `table` (linked in)."""
    import yaml

    root = workdir / "runs" / name
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(pristine, root, symlinks=True, ignore=shutil.ignore_patterns(".venv"))
    raw = root / "data" / "raw" / table.name
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.symlink_to(table)
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    params["shared"].update(
        data_path=f"data/raw/{table.name}", target=TARGET, problem_type="classification"
    )
    params["data_preparation"]["drop_columns"] = []
    params["evaluation"]["slice_column"] = SLICE_COLUMN
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return root


def run_pipeline(
    root: Path, python: Path, result: Result, overrides: list[str], timeout: float, extra: set[int]
) -> None:
    """`crisp run` on `root` (output shown as it comes), measuring wall time and memory."""
    command = [str(python), "-m", "crisp", "run", *(f"--set={o}" for o in overrides)]
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=root,
        env=run_env(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: a timeout stops every process it started
    )
    marker = f"CRISP_PROJECT_ROOT={root}".encode()
    timer = threading.Timer(timeout, os.killpg, (process.pid, signal.SIGTERM))
    timer.start()
    tail: list[str] = []
    pending, decoder = "", codecs.getincrementaldecoder("utf-8")(errors="replace")
    assert process.stdout is not None
    output = process.stdout.fileno()
    with TreeMemory({process.pid, *extra}, marker) as memory:
        # Read as it comes, not by line: the runner ends a phase's line ("[2/7] 01_... ok") only
        # when the phase prints or ends, and its memory belongs to it from its start.
        while chunk := os.read(output, 65536):
            pending += decoder.decode(chunk)
            for started_phase in PHASE_LINE.finditer(pending):
                memory.phase = started_phase.group(1)
            *lines, pending = pending.split("\n")
            for line in lines:
                print(f"  [{result.mode} {result.rows:,}] {line}", flush=True)
            tail = [*tail, *lines][-20:]
        if pending:
            print(f"  [{result.mode} {result.rows:,}] {pending}", flush=True)
            tail.append(pending)
        process.wait()
    timer.cancel()
    result.wall_s = time.perf_counter() - started
    result.peak_bytes, result.peak_rss_bytes = memory.peak, memory.peak_rss
    result.phase_peaks = dict(memory.phase_peaks)
    result.status = "succeeded" if process.returncode == 0 else f"exit {process.returncode}"
    if process.returncode != 0:
        result.error = "\n".join(tail[-3:]).strip()
    record = root / "reports" / "latest" / "run.json"
    if record.is_file():
        for phase in json.loads(record.read_text(encoding="utf-8")).get("phases", []):
            result.phases[phase["name"][:2]] = phase.get("duration_s") or 0.0
    evaluation = root / "artifacts" / "evaluation" / "evaluation.json"
    if evaluation.is_file():
        result.test_metrics = json.loads(evaluation.read_text(encoding="utf-8"))["test_metrics"]


def measure_floor(root: Path, python: Path, result: Result) -> None:
    """One plain HistGradientBoostingClassifier fit on the run's training split."""
    if not (root / "data" / "processed" / "train.parquet").is_file():
        return
    process = subprocess.Popen(
        [str(python), "-c", FLOOR, str(root), TARGET], stdout=subprocess.PIPE, text=True
    )
    with TreeMemory({process.pid}) as memory:
        stdout, _ = process.communicate()
    if process.returncode == 0:
        result.floor = json.loads(stdout.strip().splitlines()[-1])
        result.floor_peak_bytes = memory.peak


class Cluster:
    """A 2-worker distributed.LocalCluster in a process of its own (the project's interpreter)."""

    def __init__(self, python: Path) -> None:
        self.process = subprocess.Popen(
            [str(python), "-c", CLUSTER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.address = (self.process.stdout.readline() if self.process.stdout else "").strip()
        if not self.address:
            self.process.wait()
            raise RuntimeError("the LocalCluster did not start")

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def has_module(python: Path, module: str) -> bool:
    check = [str(python), "-c", f"import {module}"]
    return subprocess.run(check, capture_output=True, check=False).returncode == 0


# ---------------------------------------------------------------- report


def _gb(size: int) -> str:
    return f"{size / GB:.2f} GB" if size else "-"


def _s(seconds: float | None) -> str:
    return f"{seconds:.1f} s" if seconds else "-"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("ok" if ok else "MISSED")


def report(results: list[Result]) -> list[str]:
    """The side-by-side table, growth ratios, dask beside local, and the targets."""
    lines = [
        "",
        f"{'rows':>11} {'mode':<6} {'status':<10} {'pipeline':>9} {'HGB fit':>8} {'ratio':>6} "
        f"{'peak PSS':>9} {'peak RSS':>9} {'HGB peak':>9}  phases 00..06 (s)",
    ]
    for r in results:
        phases = " ".join(f"{r.phases.get(f'{i:02d}', 0):.0f}" for i in range(7))
        ratio = f"{r.ratio:.1f}x" if r.ratio else "-"
        lines.append(
            f"{r.rows:>11,} {r.mode:<6} {r.status:<10} {_s(r.wall_s):>9} "
            f"{_s(r.floor.get('fit_s')):>8} {ratio:>6} {_gb(r.peak_bytes):>9} "
            f"{_gb(r.peak_rss_bytes):>9} {_gb(r.floor_peak_bytes):>9}  {phases}"
        )
        if r.phase_peaks:
            peaks = " ".join(f"{name} {_gb(size)}" for name, size in sorted(r.phase_peaks.items()))
            lines.append(f"{'':>12}peak PSS while each phase ran: {peaks}")
        if r.error:
            lines.extend(f"{'':>12}{line}" for line in r.error.splitlines())
    local = sorted((r for r in results if r.mode == "local" and r.wall_s), key=lambda r: r.rows)
    if len(local) > 1:
        lines.append("")
        for small, large in zip(local, local[1:], strict=False):
            growth = large.wall_s / small.wall_s
            rows = large.rows / small.rows
            lines.append(
                f"growth {small.rows:,} -> {large.rows:,} rows (x{rows:.0f}): time x{growth:.1f} "
                f"({'no faster than linear' if growth <= rows else 'FASTER THAN LINEAR'})"
            )
    by_rows = {r.rows: r for r in local}
    for dask in (r for r in results if r.mode == "dask"):
        base = by_rows.get(dask.rows)
        if base is None:
            continue
        compared = bool(dask.test_metrics and base.test_metrics)
        same = compared and all(
            abs(dask.test_metrics.get(k, float("nan")) - v) < 1e-9
            for k, v in base.test_metrics.items()
        )
        lines.append(
            f"dask at {dask.rows:,} rows: {_s(dask.wall_s)} vs local {_s(base.wall_s)}; peak "
            f"{_gb(dask.peak_bytes)} vs {_gb(base.peak_bytes)}; test metrics "
            f"{'the same' if same else 'DIFFER' if compared else 'not compared (a run failed)'}: "
            f"dask {dask.test_metrics}, "
            f"local {base.test_metrics}"
        )
    million = by_rows.get(1_000_000)
    ten = by_rows.get(10_000_000)
    ok_1m = million is not None and million.status == "succeeded"
    lines += [
        "",
        "targets (issue 14):",
        f"  1M rows <= {MAX_RATIO_1M:.0f}x one HGB fit: "
        f"{_verdict(million.ratio <= MAX_RATIO_1M if ok_1m and million.ratio else None)}",
        f"  1M rows <= {MAX_SECONDS_1M:.0f} s: "
        f"{_verdict(million.wall_s <= MAX_SECONDS_1M if ok_1m else None)}",
        "  1M rows peak (PSS) <= 3 GB: "
        + _verdict(million.peak_bytes <= MAX_PEAK_1M if ok_1m else None),
        "  10M rows completes, peak (PSS) <= 8 GB: "
        + _verdict(ten.status == "succeeded" and ten.peak_bytes <= MAX_PEAK_10M if ten else None),
    ]
    return lines


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, action="append", help="table size(s) (default: 100k, 1M and 10M)"
    )
    parser.add_argument(
        "--dask-rows",
        type=int,
        action="append",
        help="size(s) also run with shared.compute=dask (default: the smallest size); 0: none",
    )
    parser.add_argument(
        "--dask-set",
        action="append",
        metavar="SECTION.KEY=VALUE",
        help="parameters of the dask run (default: shared.compute=dask and "
        "shared.dask_scheduler=<the LocalCluster started here>)",
    )
    parser.add_argument("--python", type=Path, help="a set-up project environment's python")
    parser.add_argument("--timeout", type=float, default=3 * 3600, help="per run, in seconds")
    parser.add_argument("--workdir", type=Path, help="work directory (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args()
    sizes = sorted(set(args.rows or DEFAULT_ROWS))
    dask_sizes = [s for s in (args.dask_rows or [sizes[0]]) if s]
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="crisp-bench-scale-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    try:
        pristine = bake_fresh(workdir)
        python = (
            args.python.absolute() if args.python else project_python(pristine, workdir / "venv")
        )
        if dask_sizes and not has_module(python, "distributed"):
            with_extras(pristine, python, ["dask"])
        for rows in sorted(set(sizes) | set(dask_sizes)):
            table = table_file(workdir, python, rows)
            for mode in ["local", "dask"] if rows in dask_sizes else ["local"]:
                result = Result(rows=rows, mode=mode)
                results.append(result)
                root = project_copy(pristine, workdir, f"{mode}_{rows}", table)
                overrides: list[str] = []
                cluster = None
                if mode == "dask":
                    if not has_module(python, "distributed"):
                        result.status, result.error = "skipped", "dask is not installed"
                        continue
                    cluster = Cluster(python)
                    overrides = args.dask_set or [
                        "shared.compute=dask",
                        f"shared.dask_scheduler={cluster.address}",
                    ]
                try:
                    extra = {cluster.process.pid} if cluster else set()
                    run_pipeline(root, python, result, overrides, args.timeout, extra)
                finally:
                    if cluster:
                        cluster.close()
                if mode == "local":
                    measure_floor(root, python, result)
                print("\n".join(report([result])[1:3]), flush=True)
                if not args.keep:
                    shutil.rmtree(root, ignore_errors=True)
    finally:
        lines = report(results)
        print("\n".join(lines))
        if args.json:
            args.json.write_text(
                json.dumps([r.__dict__ for r in results], indent=1), encoding="utf-8"
            )
        if args.keep:
            print(f"kept {workdir}")
        elif not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(r.status == "succeeded" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
