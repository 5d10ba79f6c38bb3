"""The REST API over real HTTP: `crisp serve` started on a free port of the trained project."""

from __future__ import annotations

import http.client
import json
import math
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import uvicorn
from crisp.files import to_jsonable
from sklearn.linear_model import LogisticRegression
from trained_project import KEY_COLUMNS, PROBLEM_TYPE, TARGET, crisp_command, env, trained

from {{ cookiecutter.package_name }} import api, artifacts, data, modelling, prediction, preparation, schema

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
    assert errors[numeric]["type"] == "float_type"  # strict: text is no number
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


# ---------------------------------------------------------------- strict types, bad bodies


def _feature_info(project: Path) -> dict[str, dict[str, Any]]:
    return json.loads((project / artifacts.CATALOG["feature_schema"]).read_text())["features"]


def test_numbers_must_be_json_numbers(server: str, project: Path) -> None:
    features = _feature_info(project)
    decimal = next(
        n for n, i in features.items() if i["kind"] == "numeric" and not api.is_integer(i)
    )
    record = _features(_records(1)[0])
    for value in ("80.5", True, "NaN"):
        status, body = _request(f"{server}/predict", {**record, decimal: value})
        assert status == 422, value
        assert [(e["field"], e["type"]) for e in body["detail"]] == [(decimal, "float_type")]
    status, _ = _request(f"{server}/predict", {**record, decimal: 80})  # an integer is a number
    assert status == 200


def test_whole_number_features_refuse_fractions(server: str, project: Path) -> None:
    features = _feature_info(project)
    whole = next(n for n, i in features.items() if i["kind"] == "numeric" and api.is_integer(i))
    record = _features(_records(1)[0])
    status, body = _request(f"{server}/predict", {**record, whole: 12.7})
    assert status == 422
    (error,) = body["detail"]
    assert (error["field"], error["type"]) == (whole, "int_from_float")
    assert "whole number" in error["msg"]
    for value in (12, 12.0, None):
        status, _ = _request(f"{server}/predict", {**record, whole: value})
        assert status == 200, value


def test_categories_must_be_text_and_valid_unicode(server: str, project: Path) -> None:
    categorical = _feature_of_kind(project, "categorical")
    record = _features(_records(1)[0])
    status, body = _request(f"{server}/predict", {**record, categorical: True})
    assert status == 422 and body["detail"][0]["type"] == "string_type"
    text = json.dumps({**record, categorical: "PLACEHOLDER"}).replace("PLACEHOLDER", "\\ud800x")
    status, body = _request(f"{server}/predict", raw=text.encode())
    assert status == 422
    assert [(e["field"], e["type"]) for e in body["detail"]] == [(categorical, "string_unicode")]


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b'{"\\udcff": 1}', "string_unicode"),  # a field name no UTF-8 can carry
        (b"\xff\xfe not utf-8", "json_invalid"),
        (b'{"records": [' * 50 + b"]" * 50 + b"}" * 50, "json_invalid"),
        (b"", "missing"),
    ],
    ids=["surrogate name", "not utf-8", "unbalanced", "empty"],
)
def test_malformed_bodies_get_422_in_the_documented_format(
    server: str, raw: bytes, kind: str
) -> None:
    status, body = _request(f"{server}/predict", raw=raw)
    assert status == 422
    assert body["detail"] and all(
        set(entry) == {"field", "loc", "msg", "type"} for entry in body["detail"]
    )
    assert body["detail"][0]["type"] == kind


def test_api_docs_are_served_from_local_files(server: str) -> None:
    with urllib.request.urlopen(f"{server}/docs", timeout=30) as response:
        page = response.read().decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(src.startswith("/") for src in sources), sources
    assert "cdn" not in page.lower()
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        (url,) = [src for src in sources if src.endswith(asset)]
        with urllib.request.urlopen(f"{server}{url}", timeout=30) as response:
            assert response.status == 200 and len(response.read()) > 10_000
    with urllib.request.urlopen(f"{server}/redoc", timeout=30) as response:
        assert "cdn" not in response.read().decode().lower()


# ---------------------------------------------------------------- a multiclass model, served


@pytest.fixture(scope="module")
def multiclass_server() -> Iterator[tuple[str, list[str]]]:
    """A three-class model with text labels served by uvicorn on a free port (in a thread)."""
    rng = np.random.default_rng(0)
    classes = ["setosa", "versicolor", "virginica"]
    frame = pd.DataFrame({"width": rng.normal(size=150), "colour": rng.choice(["a", "b"], 150)})
    frame["species"] = [classes[i] for i in np.digitize(frame["width"], [-0.4, 0.4])]
    train_schema = schema.infer_schema(frame, "species", "classification")
    X, y = preparation.xy(frame, "species")
    model = modelling.make_pipeline(
        preparation.build_preprocessor(train_schema), LogisticRegression()
    ).fit(X, y)
    app = api.create_app(
        model,
        {"version": "v0007", "model_name": "iris", "problem_type": "classification"},
        train_schema,
        max_batch=10,
        max_body_bytes=10_000,
    )
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", classes
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def test_multiclass_probabilities_are_named_by_class(
    multiclass_server: tuple[str, list[str]],
) -> None:
    url, classes = multiclass_server
    status, body = _request(
        f"{url}/predict",
        {"records": [{"width": -1.0, "colour": "a"}, {"width": 1.2, "colour": "b"}]},
    )
    assert status == 200, body
    first, second = body["predictions"]
    assert list(first) == ["prediction", *(f"proba_{c}" for c in classes)]
    assert first["prediction"] == "setosa" and second["prediction"] == "virginica"
    assert sum(first[f"proba_{c}"] for c in classes) == pytest.approx(1.0)


def test_a_body_not_sent_as_json_gets_422_naming_the_header(
    multiclass_server: tuple[str, list[str]],
) -> None:
    url, _ = multiclass_server
    body = json.dumps({"width": 1.0, "colour": "a"}).encode()
    request = urllib.request.Request(
        f"{url}/predict", data=body, headers={"Content-Type": "text/plain"}
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 422
    assert json.loads(caught.value.read())["detail"] == [
        {
            "field": "(body)",
            "loc": [],
            "msg": "send the body as JSON, with the header Content-Type: application/json",
            "type": "content_type",
        }
    ]
