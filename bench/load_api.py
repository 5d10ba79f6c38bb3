"""Bounded load test of a generated project's REST API (`crisp serve`) on loopback.

Uses PROJECT (a generated project with a production model) or bakes the template into a temporary
directory and trains it with a small pipeline run. Starts `crisp serve` on a free loopback port,
then runs --threads client threads for --duration seconds, alternating single-record and
small-batch POST /predict requests built from the project's held-out test split. Prints
requests/s, p50/p99 latency and the error count; exits 1 on any error.

    python bench/load_api.py [--project DIR] [--threads 4] [--duration 10] [--batch 8]
"""

from __future__ import annotations

import argparse
import json
import math
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import project_env
from project_env import ProjectEnvError, bake, project_python, run_env

SMALL_RUN = [
    "--set=data_understanding.demo_rows=800",
    "--set=modelling.cv_folds=3",
    "--set=modelling.cv_repeats=1",
    "--set=modelling.search_iterations=2",
]


class LoadTestError(RuntimeError):
    """The project cannot be prepared or served."""


def crisp_command(root: Path, *args: str) -> list[str]:
    """The `crisp ARGS` command line for the project at `root`, run by the project's interpreter."""
    return [*project_env.crisp_command(project_python(root)), *args]


def bake_and_train(workdir: Path) -> Path:
    """Bake the template with default answers and run the pipeline up to deployment."""
    import yaml

    root = bake(workdir)
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    first = params["modelling"]["candidates"][0]
    args = ["run", *SMALL_RUN, f"--set=modelling.candidates=[{first}]", "--to", "05_deployment"]
    result = subprocess.run(
        crisp_command(root, *args),
        cwd=root,
        env=run_env(root),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise LoadTestError(f"training the baked project failed:\n{result.stdout}{result.stderr}")
    return root


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(url: str, payload: Any = None, timeout: float = 10) -> tuple[int, Any]:
    """(status, decoded JSON body) of a GET, or of a POST when `payload` is given."""
    data = None if payload is None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def start_server(root: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """`crisp serve` on loopback:`port`, returned once /health answers."""
    with log.open("wb") as out:
        server = subprocess.Popen(
            crisp_command(root, "serve", "--port", str(port)),
            cwd=root,
            env=run_env(root),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-5:])
            raise LoadTestError(f"crisp serve exited with {server.returncode}:\n{tail}")
        try:
            if request(f"http://127.0.0.1:{port}/health", timeout=1)[0] == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise LoadTestError(f"crisp serve did not answer /health within 60 s: see {log}")


def sample_records(root: Path, url: str, rows: int) -> list[dict[str, Any]]:
    """Up to `rows` JSON records (features and key columns) from the project's test split."""
    metadata = request(f"{url}/metadata")[1]
    columns = [*metadata["schema"]["features"], *metadata["key_columns"]]
    splits = sorted((root / "data" / "processed").glob("test*.parquet"))
    if not splits:
        raise LoadTestError(f"no data/processed/test*.parquet in {root}: run the pipeline first")
    # Read by the project's interpreter: this script runs without pandas.
    script = (
        "import json, sys\n"
        "import pandas as pd\n"
        "frame = pd.read_parquet(sys.argv[1]).head(int(sys.argv[2]))\n"
        "frame = frame[[c for c in json.loads(sys.argv[3]) if c in frame.columns]]\n"
        "print(frame.to_json(orient='records'))\n"  # NaN becomes null
    )
    result = subprocess.run(
        [str(project_python(root)), "-c", script, str(splits[0]), str(rows), json.dumps(columns)],
        capture_output=True,
        text=True,
        check=True,
    )
    records = json.loads(result.stdout)
    return records


def client(
    url: str, records: list[dict[str, Any]], batch: int, stop: float, out: list[tuple[float, str]]
) -> None:
    """Send requests until `stop`: (latency in s, '' or an error) appended to `out` per request."""
    position = 0
    while time.monotonic() < stop:
        if position % 2:
            start = position % len(records)
            body: Any = {"records": [records[(start + i) % len(records)] for i in range(batch)]}
            expected = batch
        else:
            body, expected = records[position % len(records)], 1
        position += 1
        began = time.perf_counter()
        try:
            status, answer = request(f"{url}/predict", body)
            error = "" if status == 200 else f"HTTP {status}: {answer}"
            if not error and len(answer.get("predictions", [])) != expected:
                error = f"{len(answer.get('predictions', []))} predictions for {expected} records"
        except (OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        out.append((time.perf_counter() - began, error))


def percentile(values: list[float], share: float) -> float:
    """The `share` quantile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def load(url: str, records: list[dict[str, Any]], threads: int, duration: float, batch: int) -> int:
    """Run the load, print the figures; returns the number of errors."""
    results: list[list[tuple[float, str]]] = [[] for _ in range(threads)]
    stop = time.monotonic() + duration
    workers = [
        threading.Thread(target=client, args=(url, records, batch, stop, results[i]))
        for i in range(threads)
    ]
    began = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    flat = [item for part in results for item in part]
    latencies = [latency * 1000 for latency, _ in flat]
    errors = [error for _, error in flat if error]
    print(f"threads {threads}, duration {elapsed:.1f} s, batch {batch} (every other request)")
    print(f"requests {len(flat)}, {len(flat) / elapsed:.1f} requests/s")
    if latencies:
        print(
            f"latency ms: p50 {percentile(latencies, 0.50):.1f}, "
            f"p99 {percentile(latencies, 0.99):.1f}, "
            f"mean {statistics.fmean(latencies):.1f}, max {max(latencies):.1f}"
        )
    print(f"errors {len(errors)}")
    for error in sorted(set(errors))[:5]:
        print(f"  {error}")
    return len(errors)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (1 on any request error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="generated project with a production model")
    parser.add_argument("--threads", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load (default 10)")
    parser.add_argument(
        "--batch", type=int, default=8, help="records per batch request (default 8)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="load_api_") as tmp:
        root = args.project.resolve() if args.project else bake_and_train(Path(tmp))
        if not (root / "models" / "production.json").is_file():
            raise LoadTestError(f"{root} has no production model: run `crisp run` first")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(root, port, Path(tmp) / "serve.log")
        try:
            records = sample_records(root, url, rows=64)
            errors = load(url, records, args.threads, args.duration, args.batch)
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return 1 if errors else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (LoadTestError, ProjectEnvError) as exc:
        print(f"load_api: error: {exc}", file=sys.stderr)
        sys.exit(2)
