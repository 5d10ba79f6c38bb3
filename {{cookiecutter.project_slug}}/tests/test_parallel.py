"""Where the parallel work runs: local worker processes, or a Dask cluster through joblib's Dask
backend (a real LocalCluster of worker processes, started here)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import joblib
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from {{ cookiecutter.package_name }} import data, evaluation, modelling, parallel, preparation, schema
from {{ cookiecutter.package_name }}.metrics import Task


def test_local_compute_uses_every_core_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    compute = parallel.start("local")
    assert compute.kind == "local" and compute.n_jobs == joblib.cpu_count()
    assert parallel.start("local", n_jobs=-1) is compute  # started once per setting
    assert parallel.start("local", n_jobs=1).jobs == 1
    assert "compute: local" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("kind", "n_jobs", "message"),
    [
        ("spark", -1, "shared.compute is 'spark'; use one of: local, dask"),
        ("local", 0, "shared.n_jobs is 0; use -1 for every core"),
        ("local", -2, "shared.n_jobs is -2"),
        ("local", True, "shared.n_jobs is True"),
    ],
)
def test_bad_compute_settings_name_the_key(kind, n_jobs, message) -> None:
    with pytest.raises(parallel.ComputeError, match=message):
        parallel.start(kind, n_jobs=n_jobs)


def test_dask_without_the_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    with pytest.raises(parallel.ComputeError, match="install the project's dask extra"):
        parallel.start("dask", n_jobs=1)


def test_an_unreachable_scheduler_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("distributed")
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(parallel.ComputeError, match="shared.dask_scheduler"):
        parallel.start("dask", scheduler="tcp://127.0.0.1:9", n_jobs=1)


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    """A real Dask cluster: a scheduler and two worker processes."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as local_cluster:
        yield local_cluster


def test_dask_gives_the_local_results_from_tasks_run_on_the_workers(
    cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    from distributed import get_task_stream

    df = data.make_demo_data("classification", 200, seed=4).drop(columns=["customer_id"])
    feature_schema = schema.infer_schema(df, "churned", "classification")
    X, y = preparation.xy(df, "churned")
    task = Task.create(problem_type="classification", metric="roc_auc", target="churned", y=y)
    preprocessor = preparation.build_preprocessor(feature_schema)
    model = modelling.make_pipeline(preprocessor, LogisticRegression()).fit(X, y)

    def work(compute: parallel.Compute) -> tuple[pd.DataFrame, dict, pd.DataFrame, pd.DataFrame]:
        cv = modelling.cross_validate_candidates(
            X,
            y,
            task=task,
            preprocessor=preprocessor,
            candidates=["logistic_regression"],
            folds=2,
            repeats=1,
            seed=7,
            compute=compute,
        )
        best, search = modelling.tune(
            "logistic_regression",
            X,
            y,
            task=task,
            preprocessor=preprocessor,
            iterations=2,
            folds=2,
            seed=7,
            compute=compute,
        )
        importance = evaluation.importance_table(
            model, X, y, task=task, seed=7, n_repeats=1, compute=compute
        )
        return cv.drop(columns="fit_time_s"), best, search.drop(columns="fit_time_s"), importance

    local = work(parallel.Compute(kind="local", n_jobs=1))
    compute = parallel.start("dask", scheduler=cluster.scheduler_address, n_jobs=2)
    try:
        announced = capsys.readouterr().out
        assert f"compute: dask, scheduler {cluster.scheduler_address}, 2 workers" in announced
        assert f"dashboard {compute.client.dashboard_link}" in announced
        with get_task_stream(compute.client) as stream:
            remote = work(compute)
        workers = set(compute.client.scheduler_info()["workers"])
        ran_on = {task_record["worker"] for task_record in stream.data}
        pids = compute.client.run(os.getpid)
    finally:
        compute.close()
    assert ran_on and ran_on <= workers, "the fits ran on the cluster's workers"
    assert os.getpid() not in pids.values(), "the workers are other processes"
    pd.testing.assert_frame_equal(local[0], remote[0])
    assert local[1] == remote[1]
    pd.testing.assert_frame_equal(local[2], remote[2])
    pd.testing.assert_frame_equal(local[3], remote[3])
