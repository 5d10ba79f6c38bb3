"""Demo data (shape, learnability, drift), reading CSV/Parquet input, and the data fingerprint."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pandas as pd
import public_tables
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }} import artifacts, data, preparation, schema, sources
from {{ cookiecutter.package_name }}.data import DataError

DEMO = {
    "classification": {
        "id": "customer_id",
        "target": "churned",
        "numeric": ["tenure_months", "monthly_charges", "support_calls", "age", "data_usage_gb"],
        "categorical": ["contract", "payment_method", "region"],
        "with_missing": ["monthly_charges", "data_usage_gb", "age", "payment_method"],
    },
    "regression": {
        "id": "listing_id",
        "target": "price",
        "numeric": ["area_m2", "rooms", "age_years", "distance_to_center_km", "lot_size_m2"],
        "categorical": ["neighbourhood", "condition", "heating"],
        "with_missing": ["lot_size_m2", "age_years", "heating", "condition"],
    },
}


# ---------------------------------------------------------------- demo data


@pytest.mark.parametrize("problem_type", ["classification", "regression"])
def test_demo_data_columns_types_and_missing_values(problem_type):
    spec = DEMO[problem_type]
    df = data.make_demo_data(problem_type, 3000, seed=1)
    columns = [spec["id"], *spec["numeric"], *spec["categorical"], spec["target"]]
    assert sorted(df.columns) == sorted(columns)
    assert len(df) == 3000 and df[spec["id"]].is_unique
    for column in spec["numeric"] + [spec["target"]]:
        assert pd.api.types.is_numeric_dtype(df[column]), column
    for column in spec["categorical"]:
        assert pd.api.types.is_string_dtype(df[column]), column
        assert df[column].nunique() >= 3, column
    for column in spec["with_missing"]:
        assert 0.02 <= df[column].isna().mean() <= 0.09, column
    assert df[[spec["id"], spec["target"]]].notna().all().all()
    assert data.DEMO_TARGETS[problem_type] == spec["target"]
    assert data.DEMO_ID_COLUMNS[problem_type] == spec["id"]


def test_demo_churn_target_is_binary_with_a_realistic_positive_rate():
    y = data.make_demo_data("classification", 3000, seed=2)["churned"]
    assert y.dtype == "int64" and set(y.unique()) == {0, 1}
    assert 0.24 <= y.mean() <= 0.31


def test_demo_data_is_seeded():
    first = data.make_demo_data("regression", 50, seed=7)
    pd.testing.assert_frame_equal(first, data.make_demo_data("regression", 50, seed=7))
    assert not first.equals(data.make_demo_data("regression", 50, seed=8))


def _holdout_score(problem_type: str) -> float:
    spec = DEMO[problem_type]
    df = data.make_demo_data(problem_type, 2000, seed=0)
    inferred = schema.infer_schema(df, spec["target"], problem_type, [spec["id"]])
    X, y = preparation.xy(df.drop(columns=[spec["id"]]), spec["target"])
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    estimator = LogisticRegression(max_iter=500) if problem_type == "classification" else Ridge()
    model = Pipeline(
        [("preprocess", preparation.build_preprocessor(inferred)), ("model", estimator)]
    )
    model.fit(X_train, y_train)
    if problem_type == "classification":
        return roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
    return r2_score(y_test, model.predict(X_test))


def test_demo_churn_is_learnable_to_the_stated_auc():
    assert 0.80 <= _holdout_score("classification") <= 0.88


def test_demo_prices_are_learnable_to_the_stated_r2():
    assert 0.70 <= _holdout_score("regression") <= 0.85


@pytest.mark.parametrize(
    ("problem_type", "up", "down", "category", "level", "unshifted"),
    [
        (
            "classification",
            "monthly_charges",
            "tenure_months",
            "contract",
            "month-to-month",
            ["age", "region"],
        ),
        ("regression", "area_m2", None, "neighbourhood", "outskirts", ["age_years", "heating"]),
    ],
)
def test_shift_moves_the_documented_features(problem_type, up, down, category, level, unshifted):
    assert {up, category} <= set(data.DEMO_SHIFTED_FEATURES[problem_type])
    base = data.make_demo_data(problem_type, 3000, seed=3)
    moved = data.make_demo_data(problem_type, 3000, seed=3, shift=1.0)
    assert moved[up].mean() - base[up].mean() > 0.6 * base[up].std()
    if down:
        assert moved[down].mean() - base[down].mean() < -0.5 * base[down].std()
    share_before = (base[category] == level).mean()
    share_after = (moved[category] == level).mean()
    assert share_after - share_before > 0.3 * (1 - share_before)
    numeric_kept, categorical_kept = unshifted
    assert (
        abs(moved[numeric_kept].mean() - base[numeric_kept].mean()) < 0.1 * base[numeric_kept].std()
    )
    shares = pd.concat(
        [
            base[categorical_kept].value_counts(normalize=True),
            moved[categorical_kept].value_counts(normalize=True),
        ],
        axis=1,
    )
    assert (shares.iloc[:, 0] - shares.iloc[:, 1]).abs().max() < 0.05


def test_regression_shift_moves_distance_too():
    base = data.make_demo_data("regression", 2000, seed=4)
    moved = data.make_demo_data("regression", 2000, seed=4, shift=1.0)
    column = "distance_to_center_km"
    assert column in data.DEMO_SHIFTED_FEATURES["regression"]
    assert moved[column].mean() - base[column].mean() > 0.6 * base[column].std()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"problem_type": "clustering"},
            "problem_type 'clustering' is not supported; use one of: classification, regression",
        ),
        ({"n_rows": 5}, "n_rows=5 must be an integer of at least 10"),
        ({"n_rows": 100.5}, "n_rows=100.5 must be an integer"),
        ({"seed": "x"}, "seed='x' must be an integer"),
        ({"shift": -1.0}, r"shift=-1.0 must be a number >= 0"),
        ({"shift": float("nan")}, r"shift=nan must be a number >= 0"),
    ],
)
def test_demo_data_arguments_are_validated(kwargs, message):
    arguments = {"problem_type": "classification", "n_rows": 100, "seed": 0, **kwargs}
    with pytest.raises(DataError, match=message):
        data.make_demo_data(**arguments)


# ---------------------------------------------------------------- reading data


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".pq"])
def test_read_table_reads_csv_and_parquet(tmp_project, demo_frame_regression, suffix):
    target = tmp_project / "data" / "raw" / f"houses{suffix}"
    target.parent.mkdir(parents=True)
    if suffix == ".csv":
        demo_frame_regression.to_csv(target, index=False)
    else:
        demo_frame_regression.to_parquet(target, index=False)
    df = data.read_table(f"data/raw/houses{suffix}")
    pd.testing.assert_frame_equal(df, demo_frame_regression, check_dtype=False)


def test_read_table_accepts_a_utf8_bom(tmp_project):
    target = tmp_project / "excel.csv"
    target.write_bytes("\ufeffname,value\ncafé,1\n".encode())
    assert data.read_table(target).columns.tolist() == ["name", "value"]


def test_read_table_logs_the_read(run_phase_dir, tmp_project):
    target = tmp_project / "x.csv"
    target.write_text("a,b\n1,2\n")
    data.read_table(target)
    logged = json.loads((run_phase_dir / "io.jsonl").read_text())
    assert logged == {
        "op": "read",
        "path": "x.csv",
        "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
    }


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("data.xlsx", b"PK", "unsupported file type '.xlsx'; supported: .csv, .parquet, .pq"),
        ("empty.csv", b"", "is empty: export the data again"),
        ("blank.csv", b"\n\n", "is empty"),
        ("header.csv", b"a,b\n", "has no data rows"),
        (
            "neither.csv",
            "name\ncaf\u00e9\n".encode("cp1252") + b"\x81\n",
            "is not UTF-8 text .*nor Windows-1252: re-save it as UTF-8",
        ),
        ("dupes.csv", b"a,b,a,c,b\n1,2,3,4,5\n", "duplicated column names: a, b; rename them"),
        ("broken.parquet", b"not parquet at all", "is not a Parquet file .*rename it to .csv"),
        ("cut.parquet", b"PAR1" + b"\0" * 20, "is not a readable Parquet file .*export it again"),
        ("table.csv", b"PAR1" + b"\0" * 20, "is a Parquet file, not CSV text: rename it to table"),
    ],
)
def test_read_table_errors_name_the_cause_and_fix(tmp_project, name, content, message):
    (tmp_project / name).write_bytes(content)
    with pytest.raises(DataError, match=message):
        data.read_table(name)


def test_read_table_missing_file_gives_path_and_hint(tmp_project):
    expected = str(tmp_project / "data" / "raw" / "churn.csv")
    with pytest.raises(DataError) as caught:
        data.read_table("data/raw/churn.csv")
    assert expected in str(caught.value)
    assert "put your file in data/raw/ and set shared.data_path in params.yaml" in str(caught.value)


def test_read_table_refuses_a_file_far_larger_than_memory_before_reading(tmp_project):
    huge = tmp_project / "huge.csv"
    huge.touch()
    os.truncate(huge, 2**40)  # 1 TiB, sparse: no disk used
    try:
        with pytest.raises(DataError) as caught:
            data.read_table("huge.csv")
    finally:
        huge.unlink()
    message = str(caught.value)
    assert message.startswith(
        f"data file {huge} (1.0 TiB) needs about 2.0 TiB of memory, but only "
    )
    assert "is available: use a sample of its rows, or convert it to Parquet" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("available", "refused"), [(1000, True), (1999, True), (2000, False), (None, False)]
)
def test_csv_memory_estimate_is_size_times_factor(tmp_project, monkeypatch, available, refused):
    target = tmp_project / "small.csv"
    target.write_bytes(b"a,b\n" + b"1,2\n" * 249)  # 1000 bytes -> 2000 in memory
    assert data.memory_estimate(target) == 1000 * data.CSV_MEMORY_FACTOR == 2000
    monkeypatch.setattr(data, "available_memory", lambda: available)
    if refused:
        with pytest.raises(DataError, match=r"\(1000 B\) needs about 2.0 KiB of memory, but only"):
            data.read_table(target)
    else:
        assert len(data.read_table(target)) == 249


def test_parquet_memory_estimate_is_its_uncompressed_size(
    tmp_project, monkeypatch, demo_frame_classification
):
    import pyarrow.parquet as pq

    target = tmp_project / "data.parquet"
    demo_frame_classification.to_parquet(target, compression="zstd")
    metadata = pq.read_metadata(target)
    uncompressed = sum(
        metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups)
    )
    assert uncompressed > target.stat().st_size
    assert data.memory_estimate(target) == uncompressed
    monkeypatch.setattr(data, "available_memory", lambda: uncompressed - 1)
    with pytest.raises(DataError, match="data.parquet .* of memory, but only"):
        data.read_table(target)
    broken = tmp_project / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    assert data.memory_estimate(broken) == broken.stat().st_size


def test_available_memory_is_reported_here():
    available = data.available_memory()
    assert available is None or available > 0
    if os.path.exists("/proc/meminfo"):
        assert available is not None and available > 2**20


def test_load_dataset_writes_the_demo_data_once(tmp_project):
    dataset = data.load_dataset("", "classification", 200, 5)
    path = dataset.path
    assert path == artifacts.path("demo_data") and path.is_file()
    assert dataset.rows == 200 and "churned" in dataset.columns and not dataset.streamed
    before = path.stat().st_mtime_ns, path.read_bytes()
    again = data.load_dataset("  ", "classification", 200, 5)
    pd.testing.assert_frame_equal(again.frame, dataset.frame)
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before
    other = data.load_dataset("", "classification", 200, 6)
    assert not other.frame.equals(dataset.frame)


def test_load_dataset_reads_the_configured_file(tmp_project, demo_frame_classification):
    (tmp_project / "data" / "raw").mkdir(parents=True)
    demo_frame_classification.to_csv(tmp_project / "data" / "raw" / "churn.csv", index=False)
    dataset = data.load_dataset("data/raw/churn.csv", "classification", 200, 5)
    assert dataset.path == tmp_project / "data" / "raw" / "churn.csv"
    assert dataset.rows == len(demo_frame_classification) == len(dataset.sample)
    assert dataset.sampled_note() == ""
    assert not artifacts.path("demo_data").exists()


def test_fingerprint(tmp_project, demo_frame_classification):
    target = artifacts.save_table("demo_data", demo_frame_classification)
    dtypes = {c: str(t) for c, t in demo_frame_classification.dtypes.items()}
    result = data.fingerprint(target, len(demo_frame_classification), dtypes)
    assert result == {
        "path": "data/raw/demo.parquet",
        "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
        "bytes": target.stat().st_size,
        "rows": 400,
        "columns": 10,
        "dtypes": dtypes,
    }


# ---------------------------------------------------------------- files as they come


def test_demo_columns_are_known_without_making_the_data():
    for problem_type in ("classification", "regression"):
        made = data.make_demo_data(problem_type, 10, seed=0)
        assert list(made.columns) == sources.DEMO_COLUMNS[problem_type]


@pytest.mark.parametrize(
    ("name", "delimiter", "decimal", "note"),
    [
        ("iris", ";", ",", "delimiter: semicolon"),
        ("wine", "\t", ".", "delimiter: tab"),
        ("diabetes", "|", ".", "delimiter: pipe"),
        ("breast_cancer", ",", ".", None),
    ],
)
def test_csv_delimiter_and_decimal_mark_are_sniffed(tmp_project, name, delimiter, decimal, note):
    frame = public_tables.table(name)
    target = tmp_project / f"{name}.csv"
    frame.to_csv(target, sep=delimiter, decimal=decimal, index=False)
    df = data.read_table(target)
    pd.testing.assert_frame_equal(df, frame, check_dtype=False)
    notes = df.attrs["notes"]
    assert (note is None and notes == []) or any(note in n for n in notes)
    if decimal == ",":
        assert any("decimal mark: comma" in n for n in notes)
    assert sources.header(target) == list(frame.columns)


def test_windows_1252_csv_is_read_with_a_note(tmp_project):
    target = tmp_project / "excel.csv"
    target.write_bytes("name;value\ncaf\u00e9;1,5\nth\u00e9;2\n".encode("cp1252"))
    df = data.read_table(target)
    assert df["name"].tolist() == ["caf\u00e9", "th\u00e9"]
    assert df["value"].tolist() == [1.5, 2.0]
    assert any("not UTF-8" in n and "Windows-1252" in n for n in df.attrs["notes"])


def test_a_utf16_tab_separated_csv_is_read_with_a_note(tmp_project):
    """Excel's "Unicode Text" export: UTF-16 with a byte order mark, tab-separated."""
    target = tmp_project / "unicode.csv"
    frame = pd.DataFrame({"name": ["caf\u00e9", "th\u00e9"], "value": [1.5, 2.0], "y": [0, 1]})
    frame.to_csv(target, sep="\t", index=False, encoding="utf-16")
    df = data.read_table(target)
    pd.testing.assert_frame_equal(df, frame, check_dtype=False)
    assert "unicode.csv: read as UTF-16 (byte order mark)" in df.attrs["notes"]
    assert "unicode.csv: delimiter: tab" in df.attrs["notes"]


def test_ragged_lines_name_the_delimiters_seen(tmp_project):
    target = tmp_project / "ragged.csv"
    target.write_text("a;b;c\n1;2\n3;4;5;6\n7\n")
    with pytest.raises(DataError) as caught:
        data.read_table(target)
    message = str(caught.value)
    assert "cannot tell its delimiter; seen semicolon (2 in the header)" in message
    assert "\n" not in message


def test_a_single_column_csv_is_refused(tmp_project):
    target = tmp_project / "one.csv"
    target.write_text("a b c\n1 2 3\n4 5 6\n")
    with pytest.raises(DataError, match="has a single column .*no comma, semicolon, tab or pipe"):
        data.read_table(target)


def test_a_directory_as_data_path_says_it_is_a_directory(tmp_project):
    folder = tmp_project / "data" / "raw"
    folder.mkdir(parents=True)
    (folder / "part-0.parquet").write_bytes(b"x")
    with pytest.raises(DataError) as caught:
        data.read_table("data/raw")
    assert str(caught.value) == (
        f"data path {folder} is a directory (it holds part-0.parquet): set shared.data_path to "
        "one CSV or Parquet file"
    )


def test_infinite_values_become_missing_with_a_note(tmp_project):
    frame = public_tables.with_infinite(public_tables.table("iris"))
    target = tmp_project / "iris.csv"
    frame.to_csv(target, index=False)
    dataset = data.scan(target, sample_size=1000, seed=0)
    column = public_tables.numeric_feature(frame)
    assert dataset.frame[column].isna().sum() == 3
    assert f"column '{column}': 3 infinite values read as missing" in dataset.notes
    assert dataset.stats[column].summary()["max"] < np.inf


def test_compact_dtypes_keep_every_value():
    frame = pd.DataFrame(
        {
            "measure": [5.1, 4.9, np.nan, 6.25],  # survives float32 as written
            "precise": [0.1234567891, 1.0, 2.0, 3.0],  # needs float64
            "big": [1e9 + 0.5, 1.0, 2.0, 3.0],
            "count": [1, 2, 3, 4],
            "level": ["a", "b", "a", "a"],
            "name": ["w", "x", "y", "z"],
        }
    )
    small = data.compact_dtypes(frame)
    assert small.dtypes.astype(str).to_dict() == {
        "measure": "float32",
        "precise": "float64",
        "big": "float64",
        "count": "int8",
        "level": "category",
        "name": frame["name"].dtype.name,
    }
    for column in frame.columns:
        restored = small[column].astype(frame[column].dtype)
        if frame[column].dtype.kind == "f":
            np.testing.assert_array_equal(restored.round(6), frame[column].round(6))
        else:
            pd.testing.assert_series_equal(restored, frame[column])
    assert data.plain_dtypes(small)["level"].tolist() == ["a", "b", "a", "a"]


def test_compact_dtypes_check_every_value_of_a_long_column():
    """Beyond the probe of data.FLOAT32_PROBE values: one value the probe skips still decides."""
    rows = 20 * data.FLOAT32_PROBE + 7
    values = np.round(np.random.default_rng(0).uniform(0, 100, rows), 2)
    hidden = values.copy()
    hidden[1] = 12.3456789  # needs float64; the strided probe skips position 1
    deeper = values.copy()
    deeper[1] = 12.345  # three decimals where the probe saw two: still float32-safe
    frame = pd.DataFrame({"two_decimals": values, "hidden": hidden, "deeper": deeper})
    small = data.compact_dtypes(frame)
    assert small.dtypes.astype(str).to_dict() == {
        "two_decimals": "float32",
        "hidden": "float64",
        "deeper": "float32",
    }
    np.testing.assert_array_equal(small["deeper"].astype("float64").round(3), deeper)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_streaming_counts_every_row_and_samples_a_few(tmp_project, suffix):
    frame = public_tables.table("breast_cancer")
    target = tmp_project / f"bc{suffix}"
    if suffix == ".csv":
        frame.to_csv(target, index=False)
    else:
        frame.to_parquet(target, index=False, row_group_size=100)
    whole = data.scan(target, sample_size=10_000, seed=0)
    streamed = data.scan(target, sample_size=100, seed=0, stream_data="always")
    assert streamed.streamed and streamed.frame is None and streamed.rows == len(frame)
    assert len(streamed.sample) == 100 and streamed.sample.index.is_monotonic_increasing
    assert "random sample of 100 rows" in streamed.sampled_note()
    for column in frame.columns:
        full, part = whole.stats[column].summary(), streamed.stats[column].summary()
        assert part["rows"] == full["rows"] == len(frame)
        assert part["min"] == pytest.approx(full["min"]) and part["max"] == pytest.approx(
            full["max"]
        )
        assert part["mean"] == pytest.approx(full["mean"])
    batches = list(data.iter_batches(target, batch_rows=200))
    assert [len(b) for b in batches] == [200, 200, 169]
    assert batches[2].index[0] == 400


def test_stream_mode_never_refuses_a_file_larger_than_memory(tmp_project, monkeypatch):
    target = tmp_project / "small.csv"
    target.write_bytes(b"a,b\n" + b"1,2\n" * 249)
    monkeypatch.setattr(data, "available_memory", lambda: 100)
    assert data.should_stream(target, "auto") is True
    with pytest.raises(DataError, match="needs about 2.0 KiB of memory, but only 100 B"):
        data.should_stream(target, "never")
    assert data.scan(target, sample_size=1000, seed=0).rows == 249
    with pytest.raises(DataError, match="shared.stream_data='sometimes' is not one of auto"):
        data.should_stream(target, "sometimes")


def test_overview_reads_the_header_and_counts_rows_without_reading_them(tmp_project):
    frame = public_tables.table("wine")
    frame.to_csv(tmp_project / "wine.csv", index=False)
    frame.to_parquet(tmp_project / "wine.parquet", index=False)
    columns = list(frame.columns)
    assert sources.overview("wine.csv", "classification", tmp_project) == (columns, 178)
    assert sources.overview("wine.parquet", "classification", tmp_project) == (columns, 178)
    big = pd.concat([frame] * 40, ignore_index=True)  # larger than the sniffed head
    big.to_csv(tmp_project / "big.csv", index=False)
    _, estimate = sources.overview("big.csv", "classification", tmp_project)
    assert abs(estimate - len(big)) < 0.05 * len(big)
    demo = sources.overview("", "regression", tmp_project)
    assert demo == (sources.DEMO_COLUMNS["regression"], None)
