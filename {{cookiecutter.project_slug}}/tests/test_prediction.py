"""Predictions on new data: input checks, output columns, `crisp predict` on good and bad files."""

from __future__ import annotations

import copy
import shutil
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from crisp import cli
from sklearn.linear_model import LogisticRegression, Ridge
from trained_project import KEY_COLUMNS, PROBLEM_TYPE, TARGET, trained

from {{ cookiecutter.package_name }} import data, modelling, prediction, preparation, registry, schema

PROBLEMS = ("classification", "regression")


@cache
def _fitted(problem_type: str) -> tuple[object, dict]:
    """A small model of the project's kind on demo data, and its training schema."""
    frame = data.make_demo_data(problem_type, 300, seed=0)
    key = data.DEMO_ID_COLUMNS[problem_type]
    target = data.DEMO_TARGETS[problem_type]
    train_schema = schema.infer_schema(frame, target, problem_type, drop_columns=[key])
    X, y = preparation.xy(frame.drop(columns=[key]), target)
    estimator = LogisticRegression() if problem_type == "classification" else Ridge()
    model = modelling.make_pipeline(preparation.build_preprocessor(train_schema), estimator)
    return model.fit(X, y), train_schema


def _new(problem_type: str, rows: int = 12) -> pd.DataFrame:
    return data.make_demo_data(problem_type, max(rows, 10), seed=5).head(rows)


def _categorical(train_schema: dict) -> str:
    return next(n for n, i in train_schema["features"].items() if i["kind"] == "categorical")


def _numeric(train_schema: dict) -> str:
    return next(n for n, i in train_schema["features"].items() if i["kind"] == "numeric")


# ---------------------------------------------------------------- predict_frame


@pytest.mark.parametrize("problem_type", PROBLEMS)
def test_predictions_sit_next_to_the_key_columns(problem_type: str) -> None:
    model, train_schema = _fitted(problem_type)
    frame = _new(problem_type)
    key = data.DEMO_ID_COLUMNS[problem_type]

    result = prediction.predict_frame(model, frame, train_schema, problem_type, [key])

    assert result[key].tolist() == frame[key].tolist()
    X = frame[list(train_schema["features"])]
    np.testing.assert_array_equal(result["prediction"], model.predict(X))
    if problem_type == "classification":
        assert list(result.columns) == [key, "prediction", "proba_0", "proba_1"]
        np.testing.assert_allclose(result[["proba_0", "proba_1"]], model.predict_proba(X))
    else:
        assert list(result.columns) == [key, "prediction"]
    target = data.DEMO_TARGETS[problem_type]
    ignored = f"ignored columns (not model features): {target} (the target)"
    assert result.attrs["warnings"] == [ignored]


def test_input_is_coerced_to_the_training_types() -> None:
    model, train_schema = _fitted("classification")
    frame = _new("classification")
    as_text = frame.astype({"tenure_months": "str", "age": "str"})  # e.g. read from text
    as_text.loc[2, "age"] = np.nan
    as_text["contract"] = as_text["contract"].astype("category")  # e.g. read from Parquet

    clean, warnings = prediction.validate_input(as_text, train_schema, ["customer_id"])

    assert list(clean.columns) == list(train_schema["features"])
    assert clean["tenure_months"].dtype == "float64"
    assert clean["tenure_months"].tolist() == frame["tenure_months"].astype(float).tolist()
    assert np.isnan(clean.loc[2, "age"])
    assert clean["contract"].tolist() == frame["contract"].tolist()
    frame.loc[2, "age"] = np.nan
    np.testing.assert_allclose(model.predict_proba(clean), model.predict_proba(frame))
    assert warnings == ["ignored columns (not model features): churned (the target)"]


def test_unseen_category_is_predicted_with_a_warning() -> None:
    model, train_schema = _fitted("classification")
    column = _categorical(train_schema)
    frame = _new("classification").drop(columns=["churned"])
    frame[column] = frame[column].astype(object)
    other = frame.copy()
    frame.loc[[1, 4], column] = "never-seen"
    other.loc[[1, 4], column] = "also-new"

    result = prediction.predict_frame(model, frame, train_schema, "classification")

    assert result.attrs["warnings"] == [
        f"column '{column}' has categories not seen in training (2 rows, first at data row 2): "
        "never-seen; predicted as none of the known categories",
        "ignored columns (not model features): customer_id",
    ]
    # The encoder ignores any unseen value: every unseen category gives the same prediction.
    again = prediction.predict_frame(model, other, train_schema, "classification")
    pd.testing.assert_frame_equal(result, again)


def test_a_feature_without_values_is_read_as_missing_and_reported() -> None:
    model, train_schema = _fitted("regression")
    frame = _new("regression")
    column = _numeric(train_schema)
    frame[column] = np.nan

    result = prediction.predict_frame(model, frame, train_schema, "regression", ["listing_id"])

    assert result["prediction"].notna().all()
    note = f"no values in {column}: read as missing, which the model handles as in training"
    assert note in result.attrs["warnings"]


def test_missing_key_column_is_reported_not_an_error() -> None:
    model, train_schema = _fitted("classification")
    frame = _new("classification").drop(columns=["customer_id", "churned"])

    result = prediction.predict_frame(model, frame, train_schema, "classification", ["customer_id"])

    assert "customer_id" not in result.columns and len(result) == len(frame)
    assert result.attrs["warnings"] == [
        "key column customer_id not in the input: predictions are in input row order"
    ]


def test_missing_feature_columns_are_named() -> None:
    model, train_schema = _fitted("classification")
    numeric, categorical = _numeric(train_schema), _categorical(train_schema)
    frame = _new("classification").drop(columns=[numeric, categorical])

    with pytest.raises(prediction.PredictionInputError) as error:
        prediction.predict_frame(model, frame, train_schema, "classification")

    assert str(error.value) == (
        f"missing feature columns: {numeric}, {categorical}; add the column(s) under the "
        "training name (values may be empty: the model handles missing values)"
    )


def test_text_in_a_numeric_column_is_an_error_naming_column_rows_and_values() -> None:
    model, train_schema = _fitted("classification")
    frame = _new("classification").astype({"age": object})
    frame.loc[3, "age"] = "forty"
    frame.loc[7, "age"] = "n.a."

    with pytest.raises(prediction.PredictionInputError) as error:
        prediction.predict_frame(model, frame, train_schema, "classification")

    assert str(error.value) == (
        "column 'age' must be numeric but holds text (2 rows, first at data row 4): "
        "'forty', 'n.a.'; fix those values or leave them empty"
    )


def test_infinite_values_are_an_error() -> None:
    model, train_schema = _fitted("regression")
    column = _numeric(train_schema)
    frame = _new("regression")
    frame.loc[0, column] = np.inf

    with pytest.raises(prediction.PredictionInputError, match=f"'{column}' holds infinite"):
        prediction.predict_frame(model, frame, train_schema, "regression")


def test_empty_input_and_duplicated_columns_are_errors() -> None:
    model, train_schema = _fitted("classification")
    frame = _new("classification")
    with pytest.raises(prediction.PredictionInputError, match="the input has no rows"):
        prediction.predict_frame(model, frame.head(0), train_schema, "classification")
    doubled = pd.concat([frame, frame[["age"]]], axis=1)
    with pytest.raises(prediction.PredictionInputError, match="duplicated column names: age"):
        prediction.validate_input(doubled, train_schema)


# ---------------------------------------------------------------- crisp predict


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained(tmp_path_factory)


@pytest.fixture
def in_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRISP_PROJECT_ROOT", str(project))
    return project


def _predict(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["predict", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _production_predictions(frame: pd.DataFrame) -> pd.Series:
    model, _ = registry.load_production()
    return pd.Series(model.predict(frame.drop(columns=[*KEY_COLUMNS, TARGET])), name="prediction")


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_predict_writes_the_same_format_next_to_the_input(
    in_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    frame = data.make_demo_data(PROBLEM_TYPE, 40, seed=21)
    source = tmp_path / f"new{suffix}"
    frame.to_csv(source, index=False) if suffix == ".csv" else frame.to_parquet(source)

    code, out, err = _predict(capsys, str(source))

    assert code == 0, err
    output = tmp_path / f"new.predictions{suffix}"
    assert f"40 predictions by {registry.production()['model_name']} v0001" in out
    assert str(output.name) in out
    ignored = f"ignored columns (not model features): {TARGET} (the target)"
    assert err == f"crisp predict: warning: {ignored}\n"
    result = pd.read_csv(output) if suffix == ".csv" else pd.read_parquet(output)
    assert list(result.columns[: len(KEY_COLUMNS) + 1]) == [*KEY_COLUMNS, "prediction"]
    assert result[KEY_COLUMNS[0]].tolist() == frame[KEY_COLUMNS[0]].tolist()
    expected = _production_predictions(frame)
    if PROBLEM_TYPE == "classification":
        np.testing.assert_array_equal(result["prediction"], expected)
        probabilities = result.filter(like="proba_")
        assert probabilities.shape[1] == 2
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    else:
        np.testing.assert_allclose(result["prediction"], expected, rtol=1e-9)


@pytest.mark.slow
def test_predict_output_option_and_extra_columns(
    in_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = data.make_demo_data(PROBLEM_TYPE, 15, seed=22).drop(columns=[TARGET])
    frame["note"] = "from the CRM"
    source = tmp_path / "batch.csv"
    frame.to_csv(source, index=False)
    target = tmp_path / "out" / "scored.parquet"

    code, _, err = _predict(capsys, str(source), "-o", str(target))

    assert code == 0
    assert "ignored columns (not model features): note" in err
    assert len(pd.read_parquet(target)) == 15


def _bad_file(tmp_path: Path, change) -> Path:
    frame = data.make_demo_data(PROBLEM_TYPE, 20, seed=23)
    frame = change(frame)
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    return path


def _feature_of_kind(kind: str) -> str:
    """A feature of the production model's training schema."""
    _, _, train_schema = prediction.production_model()
    return next(n for n, i in train_schema["features"].items() if i["kind"] == kind)


@pytest.mark.slow
def test_predict_refuses_a_file_without_a_feature(
    in_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    column = _feature_of_kind("numeric")
    source = _bad_file(tmp_path, lambda f: f.drop(columns=[column]))

    code, out, err = _predict(capsys, str(source))

    assert code == 2 and out == ""
    assert err.startswith(f"crisp predict: error: missing feature column: {column}; add")
    assert "Traceback" not in err
    assert not (tmp_path / "bad.predictions.csv").exists()


@pytest.mark.slow
def test_predict_refuses_text_in_a_numeric_column(
    in_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    column = _feature_of_kind("numeric")

    def spoil(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object)
        frame.loc[5, column] = "unknown"
        return frame

    code, _, err = _predict(capsys, str(_bad_file(tmp_path, spoil)))

    assert code == 2
    assert f"column '{column}' must be numeric but holds text (1 row, first at data row 6)" in err
    assert "'unknown'" in err


@pytest.mark.slow
def test_predict_warns_about_an_unseen_category(
    in_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    column = _feature_of_kind("categorical")

    def spoil(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object)
        frame.loc[0, column] = "brand-new"
        return frame

    code, _, err = _predict(capsys, str(_bad_file(tmp_path, spoil)))

    assert code == 0
    assert f"warning: column '{column}' has categories not seen in training" in err
    assert len(pd.read_csv(tmp_path / "bad.predictions.csv")) == 20


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (None, "missing.csv", "input file {path} does not exist; check the path"),
        ("a,b\n", "empty.csv", "has no data rows"),
        ("a,b\n1,2\n", "data.txt", "is not a CSV or Parquet file"),
    ],
)
@pytest.mark.slow
def test_predict_file_errors(
    in_project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    name: str,
    message: str,
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)

    code, _, err = _predict(capsys, str(path))

    assert code == 2
    assert message.format(path=path) in err and "Traceback" not in err


@pytest.mark.slow
def test_predict_without_a_production_model(
    tmp_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "new.csv"
    data.make_demo_data(PROBLEM_TYPE, 10, seed=1).to_csv(source, index=False)

    code, _, err = _predict(capsys, str(source))

    assert code == 2
    assert "there is no production model yet: run the pipeline (`crisp run`)" in err


# ---------------------------------------------------------------- class-labelled probabilities


@pytest.mark.parametrize(
    "labels",
    [["setosa", "versicolor", "virginica"], [3, 5, 8], [False, True]],
    ids=["text", "integer", "boolean"],
)
def test_one_probability_column_per_class_named_by_the_class(labels: list) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=150), "colour": rng.choice(["red", "blue"], 150)})
    codes = np.digitize(
        frame["x"], np.quantile(frame["x"], np.linspace(0, 1, len(labels) + 1)[1:-1])
    )
    frame["label"] = [labels[i] for i in codes]
    train_schema = schema.infer_schema(frame, "label", "classification")
    X, y = preparation.xy(frame, "label")
    model = modelling.make_pipeline(
        preparation.build_preprocessor(train_schema), LogisticRegression()
    ).fit(X, y)

    result = prediction.predict_frame(model, frame.head(20), train_schema, "classification")

    columns = [f"proba_{label}" for label in labels]
    assert list(result.columns) == ["prediction", *columns]
    np.testing.assert_allclose(result[columns].sum(axis=1), 1.0)
    best = result[columns].to_numpy().argmax(axis=1)
    assert result["prediction"].tolist() == [labels[i] for i in best]


def test_probability_column_names_stay_unique() -> None:
    assert prediction.probability_columns([1, "1", "x"]) == ["proba_1", "proba_1_1", "proba_x"]
    assert prediction.probability_columns(["a"], taken={"proba_a"}) == ["proba_a_0"]


# ---------------------------------------------------------------- outputs and corrupt registries


@pytest.fixture
def served(tmp_project: Path) -> Path:
    """tmp_project with a small classifier in production (v0001) and the project's params.yaml."""
    shutil.copy2(Path(__file__).resolve().parents[1] / "params.yaml", tmp_project / "params.yaml")
    model, train_schema = _fitted("classification")
    version = registry.register(model, {"model_name": "small", "problem_type": "classification"},
                                train_schema)  # fmt: skip
    registry.promote(version)
    new = tmp_project / "new.csv"
    _new("classification").to_csv(new, index=False)
    return tmp_project


@pytest.mark.parametrize("folder", ["data/processed", "models", "artifacts/monitoring"])
def test_predict_never_writes_into_the_pipelines_folders(
    served: Path, capsys: pytest.CaptureFixture[str], folder: str
) -> None:
    target = served / folder / "train.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"the pipeline's own file")

    code, out, err = _predict(capsys, str(served / "new.csv"), "-o", str(target))

    assert code == 2 and out == ""
    top = folder.split("/")[0] if folder != "data/processed" else folder
    assert f"is inside {top}/, which holds the pipeline's own files" in err
    assert err.count("\n") == 1
    assert target.read_bytes() == b"the pipeline's own file"


def test_predict_overwrites_only_when_asked(
    served: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = served / "scored.csv"
    output.write_text("keep me\n", encoding="utf-8")

    code, _, err = _predict(capsys, str(served / "new.csv"), "-o", str(output))
    assert code == 2
    assert "scored.csv exists already; pass --overwrite to replace it" in err
    assert output.read_text(encoding="utf-8") == "keep me\n"

    code, out, _ = _predict(capsys, str(served / "new.csv"), "-o", str(output), "--overwrite")
    assert code == 0 and "12 predictions by small v0001" in out
    assert len(pd.read_csv(output)) == 12

    code, _, err = _predict(capsys, str(served / "new.csv"))  # the default output, twice
    assert code == 0
    code, _, err = _predict(capsys, str(served / "new.csv"))
    assert code == 2 and "new.predictions.csv exists already" in err


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("scored.txt", "output file scored.txt must end in .csv or .parquet (the format it is"),
        ("new.csv", "output file new.csv is the input file; choose another name with -o"),
        ("out.csv", "output out.csv is a directory; name a file, e.g. -o out.csv/scored.csv"),
    ],
    ids=["suffix", "the-input", "directory"],
)
def test_predict_refuses_an_output_it_cannot_write(
    served: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    output: str,
    message: str,
) -> None:
    monkeypatch.chdir(served)  # messages show paths relative to the working directory
    (served / "out.csv").mkdir()
    before = (served / "new.csv").read_bytes()

    code, out, err = _predict(capsys, "new.csv", "-o", output)

    assert code == 2 and out == ""
    assert err.startswith(f"crisp predict: error: {message}") and err.count("\n") == 1
    assert (served / "new.csv").read_bytes() == before
    assert not (served / "new.predictions.csv").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port=70000"], "--port 70000 is not a port number; use 1024-65535, e.g. 8000"),
        (["--max-batch=0"], "--max-batch and --max-body-bytes must be at least 1"),
        (["--max-body-bytes=0"], "--max-batch and --max-body-bytes must be at least 1"),
    ],
)
def test_serve_refuses_settings_it_cannot_use(
    served: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = cli.main(["serve", *args])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err == f"crisp serve: error: {message}\n"


def _corrupt_pointer(root: Path) -> str:
    (root / "models" / "production.json").write_text('{"version": "v0', encoding="utf-8")
    return "models/production.json is not valid JSON"


def _empty_model(root: Path) -> str:
    (root / "models" / "registry" / "v0001" / "model.skops").write_bytes(b"")
    return "models/registry/v0001/model.skops is empty"


def _not_a_model(root: Path) -> str:
    (root / "models" / "registry" / "v0001" / "model.skops").write_text("hello", encoding="utf-8")
    return "models/registry/v0001/model.skops is not a skops model file"


def _no_metadata(root: Path) -> str:
    (root / "models" / "registry" / "v0001" / "metadata.json").unlink()
    return "models/registry/v0001/metadata.json is missing"


@pytest.mark.parametrize("command", ["predict", "serve"])
@pytest.mark.parametrize(
    "spoil", [_corrupt_pointer, _empty_model, _not_a_model, _no_metadata], ids=lambda f: f.__name__
)
def test_a_corrupt_registry_is_refused_in_one_line(
    served: Path, capsys: pytest.CaptureFixture[str], command: str, spoil
) -> None:
    message = spoil(served)
    args = [command, str(served / "new.csv")] if command == "predict" else [command, "--port=0"]

    code = cli.main(args)
    out, err = capsys.readouterr()

    assert code == 2 and out == ""
    assert err.startswith(f"crisp {command}: error: {message}")
    assert "crisp promote VERSION" in err or "crisp rollback" in err or "phase 05" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (served / "new.predictions.csv").exists()


def test_promote_refuses_a_version_that_cannot_be_loaded(
    served: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, train_schema = _fitted("classification")
    changed = copy.deepcopy(model).set_params(model__C=0.5)  # other content: a new version
    second = registry.register(changed, {"model_name": "small"}, train_schema)
    registry.model_file(second).write_text("hello", encoding="utf-8")
    pointer = (served / "models" / "production.json").read_bytes()

    code = cli.main(["promote", second])
    _, err = capsys.readouterr()

    assert code == 2
    assert f"models/registry/{second}/model.skops" in err and err.count("\n") == 1
    assert (served / "models" / "production.json").read_bytes() == pointer


def test_dates_text_and_words_in_numbers_are_read_as_in_training() -> None:
    rng = np.random.default_rng(1)
    n = 240
    frame = pd.DataFrame(
        {
            "signup": pd.date_range("2020-01-01", periods=n, freq="D"),
            "city": [f"city {i % 90}" for i in range(n)],
            "amount": rng.normal(size=n),
        }
    )
    y = (frame["amount"] + (frame["signup"].dt.month > 6) > 0.5).astype(int)
    train_schema = {
        "target": "y",
        "problem_type": "classification",
        "features": {
            "signup": {"kind": "categorical", "encoding": "datetime", "min": "2020-01-01"},
            "city": {"kind": "categorical", "encoding": "text", "categories": ["city 0"]},
            "amount": {"kind": "numeric", "encoding": "numeric", "text_values": "missing"},
        },
        "formats": {"signup": "%Y-%m-%d"},
    }
    model = modelling.make_pipeline(
        preparation.build_preprocessor(train_schema), LogisticRegression()
    ).fit(frame, y)
    new = pd.DataFrame(
        {
            "signup": ["2021-03-04", "someday", "2021-12-31"],
            "city": ["city 3", "a city never seen", None],
            "amount": ["0.5", "unknown", " 2 "],
        }
    )

    result = prediction.predict_frame(model, new, train_schema, "classification")

    assert len(result) == 3 and result[["proba_0", "proba_1"]].notna().all().all()
    assert result.attrs["warnings"] == [
        "column 'signup' holds values that are no date (1 row, first at data row 2): "
        "'someday'; read as missing",
        "column 'amount' holds text that is no number (1 row, first at data row 2): 'unknown'; "
        "read as missing, as in training",
    ]  # no warning for an unseen city: many-valued text takes any value
    X, _ = prediction.validate_input(new, train_schema)
    assert X["signup"].dtype.kind == "M" and X["amount"].tolist()[::2] == [0.5, 2.0]
    strict = {**train_schema["features"]["amount"], "text_values": None}
    with pytest.raises(prediction.PredictionInputError, match="'amount' must be numeric"):
        prediction.validate_input(new, {**train_schema, "features": {"amount": strict}})
