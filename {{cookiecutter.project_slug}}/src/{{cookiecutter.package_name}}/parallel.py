"""Where the parallel work of phases 03-04 runs: this machine's cores, or a Dask cluster.

`start(kind, scheduler=..., n_jobs=...)` gives a `Compute`; the modelling and evaluation helpers
run their cross-validation, search and permutation importance inside `compute.parallel()`, which
points joblib (the engine under scikit-learn's `n_jobs`) at local worker processes or, for
`dask`, at a Dask cluster through joblib's Dask backend. Each worker process runs its fits on one
thread (no nested BLAS/OpenMP oversubscription); a single large fit in this process may use
every core.
"""

from __future__ import annotations

import atexit
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import joblib
from threadpoolctl import threadpool_limits

KINDS = ("local", "dask")
# Below this many rows a fit is quicker on one thread than with a thread pool (tabular data).
THREADS_FROM_ROWS = 50_000
HEARTBEAT_S = 15.0
CONNECT_TIMEOUT = "20s"  # to reach a Dask scheduler given by address


@contextmanager
def threads_for(rows: int) -> Iterator[None]:
    """OpenMP/BLAS threads for one fit or prediction on `rows` rows in this process: every core
    from THREADS_FROM_ROWS rows, one below (threads cost more than they save on few rows, and on
    a busy machine they can slow a small fit down tens of times)."""
    with threadpool_limits(limits=joblib.cpu_count() if rows >= THREADS_FROM_ROWS else 1):
        yield


class ComputeError(ValueError):
    """A compute setting that cannot be used (unknown kind, no Dask installed, no scheduler)."""


@dataclass
class Compute:
    """Parallel settings of a notebook: `kind` (local | dask), `n_jobs` parallel fits."""

    kind: str = "local"
    n_jobs: int = 1
    client: Any = None

    @contextmanager
    def parallel(self) -> Iterator[None]:
        """joblib (and so scikit-learn's `n_jobs`) inside: worker processes or the Dask cluster."""
        if self.kind == "dask":
            with joblib.parallel_config(backend="dask", n_jobs=-1):
                yield
        elif self.n_jobs == 1:
            with threadpool_limits(limits=1), joblib.parallel_config(backend="sequential"):
                yield
        else:
            with joblib.parallel_config(
                backend="loky", n_jobs=self.n_jobs, inner_max_num_threads=1
            ):
                yield

    @property
    def jobs(self) -> int:
        """`n_jobs` to hand to joblib and scikit-learn inside `parallel()`."""
        return -1 if self.kind == "dask" else self.n_jobs

    @contextmanager
    def threads(self, rows: int) -> Iterator[None]:
        """Thread limit for one fit or prediction in this process: all cores for large data."""
        with threads_for(rows):
            yield

    def describe(self) -> str:
        """One line: where the work runs."""
        if self.kind == "dask" and self.client is not None:
            workers = len(self.client.scheduler_info().get("workers", {}))
            return (
                f"compute: dask, scheduler {self.client.scheduler.address}, {workers} workers, "
                f"dashboard {self.client.dashboard_link}"
            )
        jobs = "1 process" if self.n_jobs == 1 else f"{self.n_jobs} parallel worker processes"
        return f"compute: local, {jobs} ({joblib.cpu_count()} cores)"

    def close(self) -> None:
        """Disconnect from a Dask cluster (a local one stops); the next `start` begins anew."""
        for key, started in list(_STARTED.items()):
            if started is self:
                del _STARTED[key]
        if self.client is not None:
            cluster = self.client.cluster
            self.client.close()
            if cluster is not None:
                cluster.close()
            self.client = None


_STARTED: dict[tuple[str, str, int], Compute] = {}


def _jobs(n_jobs: int) -> int:
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise ComputeError(
            f"shared.n_jobs is {n_jobs!r}; use -1 for every core or a positive number of jobs."
        )
    return joblib.cpu_count() if n_jobs == -1 else n_jobs


def _dask_client(scheduler: str, workers: int) -> Any:
    try:
        from distributed import Client, LocalCluster
    except ImportError as error:
        raise ComputeError(
            "shared.compute is dask but Dask is not installed; install the project's dask extra "
            "(uv sync --extra dask, or pip install -e '.[dask]') or set shared.compute: local."
        ) from error
    if scheduler:
        try:
            return Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as error:
            raise ComputeError(
                f"cannot reach the Dask scheduler at {scheduler!r} (shared.dask_scheduler): {error}"
            ) from error
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)
    client = Client(cluster)
    atexit.register(cluster.close)
    return client


def start(kind: str = "local", *, scheduler: str = "", n_jobs: int = -1) -> Compute:
    """The compute of this notebook (started once per process and setting), announced in a line.

    `kind`: local (joblib worker processes on this machine) or dask (a Dask cluster: the
    scheduler at `scheduler`, or an in-process LocalCluster with `n_jobs` workers when empty).
    """
    if kind not in KINDS:
        raise ComputeError(f"shared.compute is {kind!r}; use one of: {', '.join(KINDS)}.")
    jobs = _jobs(n_jobs)
    key = (kind, scheduler, jobs)
    if key not in _STARTED:
        client = _dask_client(scheduler, jobs) if kind == "dask" else None
        if client is not None:
            atexit.register(client.close)
        _STARTED[key] = Compute(kind=kind, n_jobs=jobs, client=client)
    compute = _STARTED[key]
    print(compute.describe(), flush=True)
    return compute


LOCAL = Compute()  # one process, one thread: the default of the helpers


class Progress:
    """Progress of many fits: a line now and then, so a long cell never looks stuck."""

    def __init__(self, total: int, what: str = "fits", every: float = HEARTBEAT_S) -> None:
        self.total, self.what, self.every = total, what, every
        self.done = 0
        self.started = self.last = time.perf_counter()

    def step(self) -> None:
        """One more done; prints `... 12/40 fits done (31 s)` when `every` seconds passed."""
        self.done += 1
        now = time.perf_counter()
        if now - self.last >= self.every and self.done < self.total:
            self.last = now
            print(
                f"  ... {self.done}/{self.total} {self.what} done ({now - self.started:.0f} s)",
                flush=True,
            )

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started
