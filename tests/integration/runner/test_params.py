"""crisp.params: loading params.yaml, --set overrides, per-phase parameters, their types and the
constraints declared in the parameters cells."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from crisp.params import (
    ParamsError,
    apply_overrides,
    constraint,
    declared_parameters,
    help_without_constraint,
    load_params,
    phase_parameters,
)

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
    "cv_folds": {"inferred_type_name": "int", "default": "5", "help": "folds [2, inf)"},
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


@pytest.mark.parametrize(
    ("help_text", "described", "inside", "outside"),
    [
        ("folds of cross-validation [2, inf)", ">= 2", [2, 10**9], [1, -1]),
        ("a rate (0, inf)", "> 0", [1e-9, 5], [0, -1]),
        ("share held out (0, 0.9)", "in (0, 0.9)", [0.01, 0.89], [0, 0.9]),
        ("a share [0, 1]", "in [0, 1]", [0, 1, 0.5], [-0.1, 1.01]),
        ("a level (0, 1)", "in (0, 1)", [0.5], [0, 1]),
        ("upper end only (-inf, 3]", "<= 3", [3, -5], [3.5]),
    ],
)
def test_constraint_in_help_text(help_text, described, inside, outside) -> None:
    rule = constraint(help_text)
    assert rule is not None and rule.describe() == described
    assert all(value in rule for value in inside)
    assert not any(value in rule for value in outside)
    assert float("nan") not in rule
    assert help_without_constraint(help_text) == help_text.rsplit(" ", 2)[0].rstrip()


@pytest.mark.parametrize("help_text", ["no constraint", "noise (in standard deviations)", ""])
def test_help_without_a_constraint(help_text: str) -> None:
    assert constraint(help_text) is None
    assert help_without_constraint(help_text) == help_text


def test_out_of_range_value_names_parameter_value_range_and_fix(params_file: Path) -> None:
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


def test_choices_name_the_allowed_values_and_the_closest() -> None:
    declared = {
        "kind": {"inferred_type_name": "str", "default": '"a"', "help": "kind {alpha, beta}"}
    }
    assert phase_parameters({"shared": {}, "s": {"kind": "beta"}}, "s", declared) == {
        "kind": "beta"
    }
    with pytest.raises(ParamsError) as info:
        phase_parameters({"shared": {}, "s": {"kind": "alpah"}}, "s", declared)
    assert str(info.value) == (
        "s.kind='alpah': 'alpah' is not allowed (did you mean alpha?); must be one of: alpha, "
        "beta; fix it in params.yaml or with --set"
    )


def test_choices_of_a_list_apply_to_each_item() -> None:
    declared = {"names": {"inferred_type_name": "list", "default": "[]", "help": "x {a, b}"}}
    assert phase_parameters({"s": {"names": ["a", "b"]}}, "s", declared) == {"names": ["a", "b"]}
    with pytest.raises(ParamsError, match="'c' is not allowed"):
        phase_parameters({"s": {"names": ["a", "c"]}}, "s", declared)
