"""This project's parameters: each notebook's parameters cell declares its ranges (checked by
`crisp` before any phase), `checks.check_parameters` the rules relating several of them."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from crisp.declarations import constraint
from crisp.params import ParamsError, declared_parameters, load_params, phase_parameters

from {{ cookiecutter.package_name }} import business, metrics, modelling
from {{ cookiecutter.package_name }}.checks import (
    CANDIDATE_NAMES,
    MEASURE_NAMES,
    METRIC_NAMES,
    ORDERED,
    SUM_BELOW,
    check_parameters,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {p.stem.split("_", 1)[1]: p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}


@cache
def _declared(section: str) -> dict:
    return declared_parameters(NOTEBOOKS[section])


def _phase(section: str, values: dict[str, object]) -> dict[str, object]:
    shared = {k: v for k, v in values.items() if k == "random_seed"}
    own = {k: v for k, v in values.items() if k != "random_seed"}
    return phase_parameters({"shared": shared, section: own}, section, _declared(section))


OUT_OF_RANGE = [
    ("modelling", "cv_folds", 1, "must be >= 2"),
    ("modelling", "cv_repeats", 0, "must be >= 1"),
    ("modelling", "search_iterations", -3, "must be >= 1"),
    ("modelling", "max_cv_std", -0.01, "must be >= 0"),
    ("modelling", "max_cv_std", float("nan"), "must be >= 0"),
    ("data_preparation", "test_size", 0.0, "must be in (0, 0.9)"),
    ("data_preparation", "test_size", 0.9, "must be in (0, 0.9)"),
    ("data_preparation", "valid_size", -0.2, "must be in (0, 0.9)"),
    ("data_understanding", "max_missing_share", -0.1, "must be in [0, 1]"),
    ("data_understanding", "max_missing_share", 1.5, "must be in [0, 1]"),
    ("data_understanding", "demo_rows", 9, "must be >= 10"),
    ("data_understanding", "min_rows", 0, "must be >= 1"),
    ("monitoring", "p_value", 0.0, "must be in (0, 1)"),
    ("monitoring", "p_value", 1, "must be in (0, 1)"),
    ("monitoring", "psi_warning", 0.0, "must be > 0"),
    ("monitoring", "max_drifted_share", 1.01, "must be in [0, 1]"),
    ("monitoring", "demo_shift", float("-inf"), "must be >= 0"),
    ("evaluation", "noise_level", -1.0, "must be >= 0"),
    ("evaluation", "promotion_tolerance", float("inf"), "must be >= 0"),
    ("deployment", "keep_versions", 0, "must be >= 1"),
    ("business_understanding", "max_latency_ms", 0.0, "must be > 0"),
    ("business_understanding", "min_gain_over_baseline", -0.1, "must be >= 0"),
]


@pytest.mark.parametrize(("section", "key", "value", "rule"), OUT_OF_RANGE)
def test_value_out_of_range_names_parameter_value_range_and_fix(
    section: str, key: str, value: object, rule: str
) -> None:
    with pytest.raises(ParamsError) as info:
        _phase(section, {key: value})
    assert str(info.value) == (
        f"{section}.{key}={value!r} is out of range: {rule}; fix it in params.yaml or with --set"
    )


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("modelling", "cv_folds", 2),
        ("modelling", "search_iterations", 1),
        ("modelling", "max_cv_std", 0),
        ("data_preparation", "test_size", 0.01),
        ("data_preparation", "valid_size", 0.85),
        ("data_understanding", "max_missing_share", 0.0),
        ("data_understanding", "max_missing_share", 1.0),
        ("data_understanding", "demo_rows", 10),
        ("monitoring", "p_value", 0.999),
        ("monitoring", "psi_alert", 0.001),
        ("deployment", "keep_versions", 1),
    ],
)
def test_value_on_the_edge_of_its_range_is_accepted(section: str, key: str, value: object) -> None:
    assert _phase(section, {key: value}) == {key: value}


@pytest.mark.parametrize(
    ("seed", "ok"), [(-1, False), (0, True), (2**32 - 1, True), (2**32, False)]
)
def test_shared_random_seed_range(seed: int, ok: bool) -> None:
    if ok:
        assert _phase("modelling", {"random_seed": seed}) == {"random_seed": seed}
    else:
        with pytest.raises(
            ParamsError, match=r"^shared\.random_seed=.* must be in \[0, 4294967295\]"
        ):
            _phase("modelling", {"random_seed": seed})


def test_split_shares_must_leave_rows_to_train_on() -> None:
    check_parameters({"data_preparation": {"test_size": 0.4, "valid_size": 0.4}}, ROOT)
    with pytest.raises(ParamsError) as info:
        check_parameters({"data_preparation": {"test_size": 0.5, "valid_size": 0.4}}, ROOT)
    assert str(info.value) == (
        "data_preparation.test_size + data_preparation.valid_size=0.9 is out of range: "
        "must be < 0.9; fix it in params.yaml or with --set"
    )


def test_psi_bands_must_be_ordered() -> None:
    check_parameters({"monitoring": {"psi_warning": 0.25, "psi_alert": 0.25}}, ROOT)
    with pytest.raises(ParamsError) as info:
        check_parameters({"monitoring": {"psi_warning": 0.3, "psi_alert": 0.25}}, ROOT)
    assert str(info.value) == (
        "monitoring.psi_warning=0.3 is out of range: must be <= monitoring.psi_alert (0.25); "
        "fix it in params.yaml or with --set"
    )


def test_params_yaml_passes_every_declared_range_and_rule() -> None:
    params = load_params(ROOT / "params.yaml")
    for section in NOTEBOOKS:
        phase_parameters(params, section, _declared(section))
    related = {name for pair in [*SUM_BELOW, *ORDERED] for name in pair}
    values = {f"{section}.{key}" for section, keys in params.items() for key in keys}
    assert related <= values
    check_parameters(params, ROOT)


# ---------------------------------------------------------------- column names against the header


def _params(data_path: str = "", **sections: dict[str, object]) -> dict[str, dict[str, object]]:
    params: dict[str, dict[str, object]] = {
        "shared": {"problem_type": "classification", "target": "target", "data_path": data_path},
        "data_preparation": {"drop_columns": [], "keep_columns": [], "time_column": ""},
        "evaluation": {"slice_column": ""},
    }
    for section, values in sections.items():
        params.setdefault(section, {}).update(values)
    return params


@pytest.fixture
def iris_csv(tmp_path: Path) -> Path:
    import public_tables

    frame = public_tables.with_odd_names(public_tables.table("iris"))
    frame.to_csv(tmp_path / "iris.csv", sep=";", decimal=",", index=False)
    return tmp_path


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        (
            {"shared": {"target": "Target"}},
            "shared.target='Target' is not a column of iris.csv; close matches: 'target'",
        ),
        (
            {"data_preparation": {"drop_columns": ["petal width"]}},
            "data_preparation.drop_columns='petal width' is not a column of iris.csv; close "
            "matches: 'petal width (cm)'",
        ),
        (
            {"data_preparation": {"keep_columns": ["id"]}},
            "data_preparation.keep_columns='id' is not a column of iris.csv; fix it",
        ),
        (
            {"data_preparation": {"split": "time", "time_column": "date"}},
            "data_preparation.time_column='date' is not a column of iris.csv",
        ),
        (
            {"evaluation": {"slice_column": "species"}},
            "evaluation.slice_column='species' is not a column of iris.csv",
        ),
        (
            {"data_preparation": {"drop_columns": ["target"]}},
            "data_preparation.drop_columns contains the target 'target' (shared.target)",
        ),
        (
            {"data_preparation": {"split": "time"}},
            "data_preparation.split is 'time' but data_preparation.time_column is empty",
        ),
    ],
)
def test_parameters_naming_columns_are_checked_against_the_header(
    iris_csv: Path, sections: dict, message: str
) -> None:
    check_parameters(_params("iris.csv"), iris_csv)  # the semicolon file's header is read right
    with pytest.raises(ParamsError) as info:
        check_parameters(_params("iris.csv", **sections), iris_csv)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert str(info.value).endswith("fix it in params.yaml or with --set")


def test_column_names_with_spaces_dots_and_unicode_are_found(iris_csv: Path) -> None:
    params = _params("iris.csv", evaluation={"slice_column": "größe des blatts. (cm)"})
    check_parameters(params, iris_csv)


def test_parquet_header_and_demo_columns(tmp_path: Path) -> None:
    import public_tables

    public_tables.table("diabetes").to_parquet(tmp_path / "d.parquet")
    params = _params("d.parquet", shared={"problem_type": "regression"})
    check_parameters(params, tmp_path)
    params["evaluation"]["slice_column"] = "sex "
    with pytest.raises(
        ParamsError, match="'sex ' is not a column of d.parquet; close matches: 'sex'"
    ):
        check_parameters(params, tmp_path)
    demo = _params("", shared={"target": "churned"}, evaluation={"slice_column": "contract"})
    check_parameters(demo, tmp_path)
    demo["shared"]["target"] = "churn"
    with pytest.raises(ParamsError, match="'churn' is not a column of the demo data; close"):
        check_parameters(demo, tmp_path)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: None, "does not exist: put your file in data/raw/"),
        (lambda root: (root / "iris.csv").mkdir(), "is a directory"),
        (lambda root: (root / "iris.csv").write_bytes(b""), "is empty"),
    ],
    ids=["missing", "directory", "empty"],
)
def test_an_unreadable_data_path_stops_before_any_phase(tmp_path: Path, make, message) -> None:
    make(tmp_path)
    with pytest.raises(ParamsError) as info:
        check_parameters(_params("iris.csv"), tmp_path)
    assert str(info.value).startswith("shared.data_path='iris.csv': ")
    assert message in str(info.value)


def test_zero_parallel_jobs_is_refused() -> None:
    with pytest.raises(ParamsError, match=r"^shared.n_jobs=0 is out of range: -1 for every core"):
        check_parameters(_params(shared={"n_jobs": 0, "target": "churned"}), ROOT)
    check_parameters(_params(shared={"n_jobs": -1, "target": "churned"}), ROOT)
    check_parameters(_params(shared={"n_jobs": 2, "target": "churned"}), ROOT)


def test_a_data_path_climbing_out_of_the_project_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    root = tmp_path / "project"
    root.mkdir()
    with pytest.raises(ParamsError, match=r"^shared.data_path='../x.csv' escapes the project"):
        check_parameters(_params("../x.csv"), root)
    check_parameters(_params(str(tmp_path / "x.csv"), shared={"target": "b"}), root)


def test_checks_stay_cheap_to_import() -> None:
    import subprocess
    import sys

    code = (
        "import sys, {{ cookiecutter.package_name }}.checks; "
        "heavy = {'pandas', 'sklearn', 'numpy', 'pyarrow'} & set(sys.modules); "
        "sys.exit(', '.join(sorted(heavy)) or None)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- names of the registries


def test_the_name_lists_are_the_registries() -> None:
    """checks.py keeps the registries' names as plain lists (it must import cheaply)."""
    assert tuple(METRIC_NAMES) == tuple(metrics.PROBLEM_TYPES)
    for problem_type in metrics.PROBLEM_TYPES:
        assert METRIC_NAMES[problem_type] == tuple(metrics.names(problem_type))
        assert CANDIDATE_NAMES[problem_type] == tuple(modelling.CANDIDATES[problem_type])
        assert MEASURE_NAMES[problem_type] == tuple(business.BUSINESS_MEASURES[problem_type])
    for section in NOTEBOOKS:
        declared = _declared(section)
        if "problem_type" in declared:
            rule = constraint(declared["problem_type"]["help"])
            assert rule is not None and rule.values == tuple(metrics.PROBLEM_TYPES), section


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {
                "shared": {"problem_type": "classification"},
                "business_understanding": {"primary_metric": "roc-auc"},
            },
            "business_understanding.primary_metric='roc-auc' is not a classification metric "
            "(did you mean roc_auc?); must be one of: " + ", ".join(METRIC_NAMES["classification"]),
        ),
        (
            {
                "shared": {"problem_type": "regression"},
                "business_understanding": {"primary_metric": "roc_auc"},
            },
            "business_understanding.primary_metric='roc_auc' is not a regression metric; must be "
            "one of: rmse, mae, r2",
        ),
        (
            {
                "shared": {"problem_type": "classification"},
                "modelling": {"candidates": ["random_forest", "random_forrest"]},
            },
            "modelling.candidates='random_forrest' is not a classification candidate model "
            "(did you mean random_forest?); must be one of: "
            + ", ".join(CANDIDATE_NAMES["classification"]),
        ),
        (
            {
                "shared": {"problem_type": "regression"},
                "business_understanding": {"primary_metric": "r2", "business_measure": "lift"},
            },
            "business_understanding.business_measure='lift' is not a regression business measure; "
            "must be one of: within_tolerance, none",
        ),
        (
            {
                "shared": {"problem_type": "regression"},
                "business_understanding": {
                    "business_measure": "within_tolerance",
                    "business_target": 2.0,
                },
            },
            "business_understanding.business_target=2 is out of range for within_tolerance (a "
            "share of the test rows): must be in (0, 1]",
        ),
    ],
    ids=["metric", "metric-of-the-other-type", "candidate", "measure-of-the-other-type", "share"],
)
def test_a_name_not_in_its_registry_is_a_params_error(params: dict, message: str) -> None:
    with pytest.raises(ParamsError) as info:
        check_parameters(params, ROOT)
    assert str(info.value) == f"{message}; fix it in params.yaml or with --set"
