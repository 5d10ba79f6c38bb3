"""The REST API over real HTTP: `crisp serve` started on a free port of the trained project."""

from __future__ import annotations

import http.client
import json
import math
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from crisp.files import to_jsonable
from trained_project import KEY_COLUMNS, PROBLEM_TYPE, TARGET, crisp_command, env, trained

from {{ cookiecutter.package_name }} import artifacts, data, prediction

pytestmark = pytest.mark.slow  # runs the pipeline or a Jupyter server: minutes

MAX_BATCH = 5
MAX_BODY_BYTES = 20_000
STARTUP_SECONDS = 120


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained(tmp_path_factory)


@pytest.fixture(scope="module")
def server(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of `crisp serve` on the trained project; stopped after the module."""
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    command = crisp_command(
        "serve",
        f"--port={port}",
        f"--max-batch={MAX_BATCH}",
        f"--max-body-bytes={MAX_BODY_BYTES}",
    )
    with open(log, "w") as output:
        process = subprocess.Popen(
            command, cwd=project, env=env(project), stdout=output, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"crisp serve exited with {process.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"crisp serve did not answer in time:\n{log.read_text()}")
                time.sleep(0.25)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert "Traceback" not in log.read_text()


def _request(url: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    """(status, decoded JSON) of GET `url`, or POST of `body` as JSON (or `raw` bytes)."""
    payload = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=payload)
    if payload is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        assert "Traceback" not in text
        return error.code, json.loads(text)


def _records(rows: int, seed: int = 31) -> list[dict[str, Any]]:
    """Demo rows as JSON records: features and key column, NaN as null."""
    frame = data.make_demo_data(PROBLEM_TYPE, max(rows, 10), seed=seed).head(rows)
    frame = frame.drop(columns=[TARGET]).astype(object)
    records = frame.to_dict(orient="records")
    return [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in record.items()}
        for record in records
    ]


def _features(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in KEY_COLUMNS}


def _feature_of_kind(project: Path, kind: str) -> str:
    schema = json.loads((project / artifacts.CATALOG["feature_schema"]).read_text())
    return next(n for n, i in schema["features"].items() if i["kind"] == kind)


def test_health(server: str) -> None:
    assert _request(f"{server}/health") == (200, {"status": "ok", "model_version": "v0001"})


def test_metadata_has_version_schema_and_metrics(server: str, project: Path) -> None:
    status, body = _request(f"{server}/metadata")
    assert status == 200
    evaluation = json.loads((project / artifacts.CATALOG["evaluation"]).read_text())
    feature_schema = json.loads((project / artifacts.CATALOG["feature_schema"]).read_text())
    assert body["model_version"] == "v0001"
    assert body["problem_type"] == PROBLEM_TYPE and body["target"] == TARGET
    assert body["metrics"] == evaluation["test_metrics"]
    assert body["schema"]["features"] == feature_schema["features"]
    assert body["key_columns"] == KEY_COLUMNS
    assert body["limits"] == {"max_batch": MAX_BATCH, "max_body_bytes": MAX_BODY_BYTES}


def test_predict_one_record_like_the_batch_command(
    server: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = _features(_records(1)[0])
    status, body = _request(f"{server}/predict", record)
    assert status == 200, body
    assert body["model_version"] == "v0001" and len(body["predictions"]) == 1
    served = body["predictions"][0]

    monkeypatch.setenv("CRISP_PROJECT_ROOT", str(project))
    model, _, schema = prediction.production_model()
    local = prediction.predict_frame(model, pd.DataFrame([record]), schema, PROBLEM_TYPE)
    expected = to_jsonable(local.to_dict(orient="records"))[0]
    assert served.keys() == expected.keys()
    for column, value in expected.items():
        assert served[column] == pytest.approx(value)
    if PROBLEM_TYPE == "classification":
        assert sum(v for k, v in served.items() if k.startswith("proba_")) == pytest.approx(1.0)


def test_predict_a_batch_echoes_the_keys(server: str) -> None:
    records = _records(3)
    status, body = _request(f"{server}/predict", {"records": records})
    assert status == 200, body
    key = KEY_COLUMNS[0]
    assert [p[key] for p in body["predictions"]] == [r[key] for r in records]
    assert all("prediction" in p for p in body["predictions"])


def test_unseen_category_is_predicted_with_a_warning(server: str, project: Path) -> None:
    column = _feature_of_kind(project, "categorical")
    record = {**_features(_records(1)[0]), column: "brand-new"}
    status, body = _request(f"{server}/predict", record)
    assert status == 200
    assert len(body["predictions"]) == 1
    assert any(f"column '{column}' has categories not seen" in w for w in body["warnings"])


def test_bad_records_get_422_with_one_entry_per_field(server: str, project: Path) -> None:
    numeric = _feature_of_kind(project, "numeric")
    categorical = _feature_of_kind(project, "categorical")
    record = _features(_records(1)[0])
    bad = {**record, numeric: "lots", categorical: 3, "surprise": 1}
    del bad[next(k for k in record if k not in (numeric, categorical))]

    status, body = _request(f"{server}/predict", bad)

    assert status == 422
    errors = {e["field"]: e for e in body["detail"]}
    missing = next(k for k in record if k not in (numeric, categorical))
    assert set(errors) == {numeric, categorical, "surprise", missing}
    assert errors[numeric]["type"] == "float_parsing"
    assert errors[categorical]["type"] == "string_type"
    assert errors["surprise"]["msg"] == "Extra inputs are not permitted"
    assert errors[missing]["msg"] == "Field required"


def test_a_bad_record_in_a_batch_is_located(server: str, project: Path) -> None:
    numeric = _feature_of_kind(project, "numeric")
    records = [_features(r) for r in _records(2)]
    records[1][numeric] = "n/a"
    status, body = _request(f"{server}/predict", {"records": records})
    assert status == 422
    assert [e["field"] for e in body["detail"]] == [f"records[1].{numeric}"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "invalid JSON at character 1"),
        (b'{"records": []}', "List should have at least 1 item"),
        (b"[1, 2]", "valid dictionary"),
        (b'{"records": "all"}', "valid list"),
    ],
)
def test_malformed_bodies_get_422(server: str, raw: bytes, message: str) -> None:
    status, body = _request(f"{server}/predict", raw=raw)
    assert status == 422
    assert message in body["detail"][0]["msg"]


def test_too_many_records_get_413(server: str) -> None:
    status, body = _request(f"{server}/predict", {"records": _records(MAX_BATCH + 1)})
    assert status == 413
    expected = f"{MAX_BATCH + 1} records in one request; at most {MAX_BATCH}: split the batch"
    assert body["detail"] == expected


def test_too_large_bodies_get_413_declared_or_streamed(server: str) -> None:
    record = _features(_records(1)[0])
    body = json.dumps({"records": [record] * 200}).encode()
    assert len(body) > MAX_BODY_BYTES
    status, answer = _request(f"{server}/predict", raw=body)
    assert status == 413 and "larger than 20000 bytes" in answer["detail"]

    host, port = server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    chunks = iter([body[:10_000], body[10_000:]])
    headers = {"Content-Type": "application/json"}
    connection.request("POST", "/predict", body=chunks, headers=headers, encode_chunked=True)
    response = connection.getresponse()
    assert response.status == 413
    assert "larger than 20000 bytes" in json.loads(response.read())["detail"]
    connection.close()
