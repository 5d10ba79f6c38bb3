"""`crisp monitor` and `crisp predict` on a data file they cannot use: one line naming the file,
what is wrong and the fix, exit 2, and nothing written (no run started, earlier files intact)."""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pandas as pd
import pytest
from crisp import cli
from sklearn.linear_model import LogisticRegression

from {{ cookiecutter.package_name }} import artifacts, data, modelling, preparation, registry, schema

KEY = data.DEMO_ID_COLUMNS["classification"]
TARGET = data.DEMO_TARGETS["classification"]


@cache
def _demo() -> pd.DataFrame:
    return data.make_demo_data("classification", 200, seed=0)


@cache
def _fitted() -> tuple[object, dict]:
    """A small classifier on the demo data, and its training schema."""
    frame = _demo().drop(columns=[KEY])
    feature_schema = schema.infer_schema(frame, TARGET, "classification")
    X, y = preparation.xy(frame, TARGET)
    model = modelling.make_pipeline(
        preparation.build_preprocessor(feature_schema), LogisticRegression()
    ).fit(X, y)
    return model, feature_schema


def _parquet_bytes() -> bytes:
    buffer = io.BytesIO()
    _demo().to_parquet(buffer, index=False)
    return buffer.getvalue()


@pytest.fixture
def project(tmp_project: Path) -> Path:
    """tmp_project as after a pipeline run and one monitoring check: a production model, the
    training split and its schema, a drift report."""
    (tmp_project / "params.yaml").write_text(
        f"data_preparation:\n  drop_columns: [{KEY}]\n", encoding="utf-8"
    )
    frame = _demo().drop(columns=[KEY])
    model, feature_schema = _fitted()
    metadata = {"model_name": "small", "problem_type": "classification"}
    registry.promote(registry.register(model, metadata, feature_schema))
    artifacts.save_json("feature_schema", feature_schema)
    artifacts.save_table("train", frame)
    artifacts.save_json("drift_report", {"recommendation": {"status": "ok"}})
    return tmp_project


def _write(content: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(content)


BAD_FILES: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "empty": ("current.csv", _write(b""), "is empty: export the data again"),
    "blank lines": ("current.csv", _write(b"\n\n\n"), "is empty: export the data again"),
    "header only": ("current.csv", _write(b"tenure_months,age\n"), "has no data rows"),
    "parquet named .csv": (
        "current.csv",
        lambda path: path.write_bytes(_parquet_bytes()),
        "is a Parquet file, not CSV text: rename it to current.parquet",
    ),
    "csv named .parquet": (
        "current.parquet",
        _write(b"tenure_months,age\n3,40\n"),
        "is not a Parquet file (it does not begin with Parquet's 'PAR1' marker): it looks like "
        "text: if it is CSV, rename it to .csv",
    ),
    "binary named .parquet": (
        "current.parquet",
        _write(bytes(range(256)) * 4),
        "is not a Parquet file (it does not begin with Parquet's 'PAR1' marker): export it again",
    ),
    "cut parquet": (
        "current.parquet",
        lambda path: path.write_bytes(_parquet_bytes()[: len(_parquet_bytes()) // 2]),
        "is not a readable Parquet file (",
    ),
    "neither utf-8 nor windows-1252": (
        "current.csv",
        _write("name\ncaf\u00e9\n".encode("cp1252") + b"\x81\n"),
        "is not UTF-8 text (byte b'\\xe9' at 8) nor Windows-1252: re-save it as UTF-8",
    ),
    "no delimiter": ("current.csv", _write(b"x\n1\n2\n"), "has a single column ('x')"),
    "a directory": (
        "current.csv",
        lambda path: path.mkdir(),
        "is a directory: name one CSV or Parquet file",
    ),
}


def _guarded(root: Path) -> dict[str, bytes]:
    """The files a failed command must leave as they were."""
    names = ["drift_report", "production", "train", "feature_schema"]
    return {name: artifacts.path(name).read_bytes() for name in names}


@pytest.mark.parametrize("command", ["monitor", "predict"])
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_file_that_cannot_be_read_stops_in_one_line(
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    case: str,
) -> None:
    name, make, message = BAD_FILES[case]
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    current = incoming / name
    make(current)
    before = _guarded(project)

    code = cli.main([command, str(current)])

    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"crisp {command}: error: ")
    assert str(current) in err and message in err
    assert _guarded(project) == before
    assert not (project / "reports").exists(), "no run was started"
    assert list(incoming.iterdir()) == [current], "no predictions were written"


def test_monitor_refuses_a_table_without_any_feature_column(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    current = tmp_path / "orders.csv"
    pd.DataFrame({"order_id": [1, 2, 3], "amount": [9.5, 3.0, 7.25]}).to_csv(current, index=False)
    before = _guarded(project)

    code = cli.main(["monitor", str(current)])

    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1
    assert f"current data file {current} has none of the model's feature columns (" in err
    assert "its columns are order_id, amount: check that it is the right file" in err
    assert _guarded(project) == before
    assert not (project / "reports").exists()
