"""params.py: loading params.yaml, --set overrides, per-phase parameters, their types and ranges."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from {{ cookiecutter.package_name }}.params import (
    BOUNDS,
    ORDERED,
    SUM_BELOW,
    ParamsError,
    apply_overrides,
    check_range,
    check_relations,
    declared_parameters,
    load_params,
    phase_parameters,
)

PROJECT_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"

PARAMS = """\
shared:
  target: churned
  random_seed: 42
modelling:
  cv_folds: 5
  max_cv_std: 0.05
  candidates: [a, b]
"""

DECLARED = {
    "target": {"inferred_type_name": "str", "default": '"x"', "help": ""},
    "random_seed": {"inferred_type_name": "int", "default": "1", "help": ""},
    "cv_folds": {"inferred_type_name": "int", "default": "5", "help": ""},
    "max_cv_std": {"inferred_type_name": "float", "default": "0.05", "help": ""},
    "candidates": {"inferred_type_name": "list", "default": "[]", "help": ""},
}


@pytest.fixture
def params_file(tmp_path: Path) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS, encoding="utf-8")
    return path


def test_load_params_reads_sections(params_file: Path) -> None:
    params = load_params(params_file)
    assert params["modelling"]["cv_folds"] == 5
    assert params["shared"]["target"] == "churned"


def test_load_params_defaults_to_project_root(params_file: Path, monkeypatch) -> None:
    monkeypatch.setenv("CRISP_PROJECT_ROOT", str(params_file.parent))
    assert load_params()["modelling"]["candidates"] == ["a", "b"]


def test_invalid_yaml_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("shared:\n  target: churned\n  bad: [1, 2\nmodelling: {}\n", encoding="utf-8")
    with pytest.raises(ParamsError) as info:
        load_params(path)
    message = str(info.value)
    assert str(path) in message
    assert "line 4" in message and "column" in message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ParamsError, match="mapping of sections"):
        load_params(path)


def test_section_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("shared: 3\n", encoding="utf-8")
    with pytest.raises(ParamsError, match="section 'shared'"):
        load_params(path)


def test_missing_file_is_a_params_error(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")


def test_overrides_parse_yaml_values(params_file: Path) -> None:
    params = load_params(params_file)
    result = apply_overrides(
        params,
        ["modelling.cv_folds=3", "modelling.candidates=[x, y]", "shared.target=  price "],
    )
    assert result["modelling"]["cv_folds"] == 3
    assert result["modelling"]["candidates"] == ["x", "y"]
    assert result["shared"]["target"] == "price"
    assert params["modelling"]["cv_folds"] == 5, "the input must not be modified"


def test_empty_override_value_is_an_empty_string(params_file: Path) -> None:
    result = apply_overrides(load_params(params_file), ["shared.target="])
    assert result["shared"]["target"] == ""


@pytest.mark.parametrize("override", ["modelling.cv_folds", "cv_folds=3", "=3", ".cv_folds=3"])
def test_malformed_override_shows_expected_form(params_file: Path, override: str) -> None:
    with pytest.raises(ParamsError, match=r"SECTION\.KEY=VALUE"):
        apply_overrides(load_params(params_file), [override])


def test_unknown_key_suggests_closest(params_file: Path) -> None:
    with pytest.raises(ParamsError) as info:
        apply_overrides(load_params(params_file), ["modelling.cv_fold=3"])
    message = str(info.value)
    assert "unknown parameter modelling.cv_fold; did you mean cv_folds?" in message
    assert "valid: candidates, cv_folds, max_cv_std" in message


def test_unknown_section_suggests_closest(params_file: Path) -> None:
    with pytest.raises(ParamsError, match="did you mean modelling"):
        apply_overrides(load_params(params_file), ["modeling.cv_folds=3"])


def test_phase_parameters_takes_declared_shared_and_own_section(params_file: Path) -> None:
    params = load_params(params_file)
    params["shared"]["undeclared_shared"] = 1
    chosen = phase_parameters(params, "modelling", DECLARED)
    assert chosen == {
        "target": "churned",
        "random_seed": 42,
        "cv_folds": 5,
        "max_cv_std": 0.05,
        "candidates": ["a", "b"],
    }


def test_section_key_not_declared_is_an_error(params_file: Path) -> None:
    params = load_params(params_file)
    declared = {k: v for k, v in DECLARED.items() if k != "cv_folds"}
    with pytest.raises(ParamsError, match="modelling.cv_folds is not declared"):
        phase_parameters(params, "modelling", declared)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("cv_folds", "five", "int"),
        ("cv_folds", 2.5, "int"),
        ("cv_folds", True, "int"),
        ("max_cv_std", "low", "float"),
        ("max_cv_std", False, "float"),
        ("candidates", "a", "list"),
    ],
)
def test_type_mismatch_names_parameter_value_and_type(
    params_file: Path, key: str, value: object, expected: str
) -> None:
    params = load_params(params_file)
    params["modelling"][key] = value
    with pytest.raises(ParamsError) as info:
        phase_parameters(params, "modelling", DECLARED)
    message = str(info.value)
    assert f"modelling.{key}" in message and repr(value) in message
    assert f"expected {expected}" in message


def test_int_is_accepted_for_float(params_file: Path) -> None:
    params = load_params(params_file)
    params["modelling"]["max_cv_std"] = 1
    assert phase_parameters(params, "modelling", DECLARED)["max_cv_std"] == 1


def test_unannotated_parameter_is_checked_against_its_default(params_file: Path) -> None:
    params = load_params(params_file)
    declared = {**DECLARED, "cv_folds": {"inferred_type_name": "None", "default": "5"}}
    params["modelling"]["cv_folds"] = "many"
    with pytest.raises(ParamsError, match="expected int"):
        phase_parameters(params, "modelling", declared)


def test_declared_parameters_reads_the_parameters_cell(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(
        'cv_folds: int = 5  # folds of cross-validation\nnames: list[str] = ["a"]  # the names\n'
    )
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), cell]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path / "03_modelling.ipynb"
    nbformat.write(nb, str(path))
    declared = declared_parameters(path)
    assert declared["cv_folds"] == {
        "inferred_type_name": "int",
        "default": "5",
        "help": "folds of cross-validation",
    }
    assert declared["names"]["inferred_type_name"] == "list[str]"
    params = {"shared": {}, "modelling": {"cv_folds": 3, "names": ["b"]}}
    assert phase_parameters(params, "modelling", declared) == {"cv_folds": 3, "names": ["b"]}


def _declared_as(values: dict[str, object]) -> dict[str, dict[str, str]]:
    """A parameters cell declaring each key with the type of its value."""
    return {
        key: {"inferred_type_name": type(value).__name__, "default": repr(value), "help": ""}
        for key, value in values.items()
    }


def _phase(section: str, values: dict[str, object]) -> dict[str, object]:
    return phase_parameters({"shared": {}, section: values}, section, _declared_as(values))


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
    params = {"shared": {"random_seed": seed}, "modelling": {}}
    declared = _declared_as({"random_seed": 1})
    if ok:
        assert phase_parameters(params, "modelling", declared) == {"random_seed": seed}
    else:
        with pytest.raises(
            ParamsError, match=r"^shared\.random_seed=.* must be in \[0, 4294967295\]"
        ):
            phase_parameters(params, "modelling", declared)


def test_split_shares_must_leave_rows_to_train_on() -> None:
    assert _phase("data_preparation", {"test_size": 0.4, "valid_size": 0.4})
    with pytest.raises(ParamsError) as info:
        _phase("data_preparation", {"test_size": 0.5, "valid_size": 0.4})
    assert str(info.value) == (
        "data_preparation.test_size + data_preparation.valid_size=0.9 is out of range: "
        "must be < 0.9; fix it in params.yaml or with --set"
    )


def test_psi_bands_must_be_ordered() -> None:
    assert _phase("monitoring", {"psi_warning": 0.25, "psi_alert": 0.25})
    with pytest.raises(ParamsError) as info:
        _phase("monitoring", {"psi_warning": 0.3, "psi_alert": 0.25})
    assert str(info.value) == (
        "monitoring.psi_warning=0.3 is out of range: must be <= monitoring.psi_alert (0.25); "
        "fix it in params.yaml or with --set"
    )


def test_range_applies_to_set_overrides(params_file: Path) -> None:
    params = apply_overrides(load_params(params_file), ["modelling.cv_folds=1"])
    with pytest.raises(ParamsError) as info:
        phase_parameters(params, "modelling", DECLARED)
    assert str(info.value) == (
        "modelling.cv_folds=1 is out of range: must be >= 2; fix it in params.yaml or with --set"
    )
    fixed = apply_overrides(params, ["modelling.cv_folds=3"])
    assert phase_parameters(fixed, "modelling", DECLARED)["cv_folds"] == 3


def test_type_is_checked_before_range(params_file: Path) -> None:
    params = apply_overrides(load_params(params_file), ["modelling.cv_folds=0.5"])
    with pytest.raises(ParamsError, match="expected int"):
        phase_parameters(params, "modelling", DECLARED)


def test_bounds_name_parameters_of_params_yaml_whose_values_are_in_range() -> None:
    params = load_params(PROJECT_PARAMS)
    values = {f"{section}.{key}": v for section, keys in params.items() for key, v in keys.items()}
    related = {name for pair in [*SUM_BELOW, *ORDERED] for name in pair}
    assert set(BOUNDS) | related <= set(values)
    for name in BOUNDS:
        check_range(name, values[name])
    check_relations(values)
