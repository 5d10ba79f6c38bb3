"""crisp.params: reading params.yaml strictly, --set overrides, per-phase parameters, their types
and the constraints declared in the parameters cells; `crisp params` (check and write)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from crisp.declarations import constraint, help_without_constraint
from crisp.params import (
    ParamsError,
    apply_overrides,
    check_names,
    declared_parameters,
    load_params,
    phase_parameters,
)
from test_runner import crisp

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


# ------------------------------------------------------------------ strict reading


def _load(tmp_path: Path, text: str | bytes) -> str:
    """The ParamsError message loading `text` as params.yaml gives."""
    path = tmp_path / "params.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ParamsError) as info:
        load_params(path)
    message = str(info.value)
    assert len(message.splitlines()) == 1, message
    return message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "shared:\n  target: a\nmodelling:\n  cv_folds: 5\n  cv_folds: 3\n",
            "line 5, column 3: 'cv_folds' is given twice (lines 4 and 5); keep one",
        ),
        (
            "shared:\n  target: a\nmodelling:\n  cv_folds: 5\nshared:\n  seed: 1\n",
            "line 5, column 1: 'shared' is given twice (lines 1 and 5); keep one",
        ),
    ],
    ids=["key", "section"],
)
def test_a_key_given_twice_names_both_lines(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in _load(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        "shared:\n  a: &list [1, 2]\n  b: *list\n",
        "shared: &defaults\n  a: 1\nmodelling:\n  <<: *defaults\n",
        # a "billion laughs": nine levels of ten aliases would expand to 10**9 items
        "shared:\n  l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"  l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]\n" for n in range(1, 10)),
    ],
    ids=["alias", "merge", "billion-laughs"],
)
def test_yaml_anchors_and_aliases_are_refused(tmp_path: Path, text: str) -> None:
    message = _load(tmp_path, text)
    assert "line 2" in message or "line 1" in message
    assert (
        "YAML anchors and aliases (&name, *name) are not accepted; write the value out" in message
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "is empty; it must hold the parameters"),
        ("# only a comment\n\n", "is empty; it must hold the parameters"),
        (
            b"shared:\n  target: caf\xe9\n",
            "line 2: not UTF-8 text (byte 0xe9); save the file as UTF-8",
        ),
    ],
    ids=["empty", "comments-only", "latin-1"],
)
def test_unusable_file_is_one_line(tmp_path: Path, content: str | bytes, expected: str) -> None:
    assert expected in _load(tmp_path, content)


def test_a_directory_named_params_yaml_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").mkdir()
    with pytest.raises(ParamsError, match=r"params.yaml is a directory; the parameters must be a"):
        load_params(tmp_path / "params.yaml")


def test_an_alias_in_an_override_is_refused(params_file: Path) -> None:
    with pytest.raises(ParamsError, match="not valid YAML"):
        apply_overrides(load_params(params_file), ["modelling.candidates=[&a x, *a]"])


def test_a_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_bytes("\ufeffshared:\n  target: a\n".encode())
    assert load_params(path) == {"shared": {"target": "a"}}


NOTEBOOK_DECLARED = {"modelling": DECLARED, "evaluation": {"slice_column": DECLARED["target"]}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "shared:\n  target: a\nmodeling:\n  cv_folds: 3\n",
            "params.yaml line 3: unknown section 'modeling'; did you mean modelling? valid: "
            "shared, modelling, evaluation (one per phase notebook); fix it in params.yaml",
        ),
        (
            "shared:\n  target: a\n  random_sed: 1\n",
            "params.yaml line 3: parameter shared.random_sed is not declared in any notebook's "
            "parameters cell; did you mean random_seed?",
        ),
        (
            "shared:\n  target: a\nevaluation:\n  slice_colum: x\n",
            "params.yaml line 4: parameter evaluation.slice_colum is not declared in the "
            "notebook's parameters cell; did you mean slice_column?",
        ),
    ],
    ids=["section", "shared-key", "phase-key"],
)
def test_unknown_names_are_errors_with_the_closest_valid_name(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ParamsError) as info:
        check_names(load_params(path), NOTEBOOK_DECLARED)
    assert expected in str(info.value)


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


# ------------------------------------------------------------------ crisp params


def params_check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    """`crisp params ARGS`: its exit code and output lines."""
    capsys.readouterr()
    code = crisp("params", *args)
    return code, capsys.readouterr().out.splitlines()


def test_params_agree_with_the_cells(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert params_check(capsys) == (
        0,
        ["params.yaml agrees with the parameters cells of notebooks/"],
    )


def _edit_cell(root: Path, name: str, parameters: str) -> None:
    path = root / "notebooks" / f"{name}.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = parameters
    nbformat.write(nb, str(path))


def test_params_lists_every_disagreement(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = project / "params.yaml"
    params.write_text(
        params.read_text().replace("  count: 2\n", "  count: 2\n  extra: 1\n"), encoding="utf-8"
    )
    _edit_cell(
        project,
        "01_middle",
        'seed: int = 7  # another default\ncount: int = 1  # repetitions\npayload: str = ""  # '
        "any text\nlimit: int = 3  # a new parameter [1, inf)\nwidth: int = 2  # x = 2 breaks\n"
        "count: int = 1  # repetitions",
    )
    code, lines = params_check(capsys)
    assert code == 1
    assert lines == [
        "notebooks/01_middle.ipynb: line 5 of the parameters cell (width) is not read by "
        "papermill: a second '=' on the line, in its help text perhaps",
        "notebooks/01_middle.ipynb: line 6 of the parameters cell declares count again (first on "
        "line 2); keep one declaration",
        "params.yaml line 7: parameter middle.extra is not declared in the notebook's parameters "
        "cell; valid: count, limit, payload, seed; add it to the parameters "
        "cell or remove it from params.yaml",
        "shared parameter seed is declared differently in notebooks/00_source.ipynb and "
        "notebooks/01_middle.ipynb; declare it the same way (type, default, help) in every "
        "notebook",
        "middle.limit (declared in notebooks/01_middle.ipynb) is missing from params.yaml; add "
        "it there (its default is used meanwhile) or run `crisp params --write`",
    ]


def test_params_checks_values_against_their_declarations(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("count: 2", "count: two"), encoding="utf-8")
    code, lines = params_check(capsys)
    assert code == 1
    assert lines == [
        "parameter middle.count = 'two' is a str, expected int; fix it in params.yaml or in --set"
    ]


def test_params_write_keeps_values_adds_defaults_and_drops_unknown_keys(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = project / "params.yaml"
    params.write_text(
        params.read_text().replace("  count: 2\n", "  count: 0002\n  extra: 1\n"),
        encoding="utf-8",
    )
    _edit_cell(
        project,
        "01_middle",
        'count: int = 1  # repetitions [1, inf)\npayload: str = ""  # any text\n'
        'labels: list = ["a", "b"]  # names {a, b, c}',
    )
    code, lines = params_check(capsys, "--write")
    assert code == 0
    assert lines == [
        "dropped middle.extra: no notebook declares it",
        "wrote params.yaml from the parameters cells of notebooks/",
    ]
    text = params.read_text(encoding="utf-8")
    assert "  count: 0002" in text, "a value is kept as written"
    assert "  labels: [a, b]" in text and "# names {a, b, c}" in text
    written = yaml.safe_load(text)
    assert written == {
        "shared": {"seed": 1},
        "source": {"greeting": "hello"},
        "middle": {"count": 2, "payload": "plain", "labels": ["a", "b"]},
        "late": {"suffix": "!"},
    }
    assert params_check(capsys) == (
        0,
        ["params.yaml agrees with the parameters cells of notebooks/"],
    )


def test_params_write_from_nothing_uses_the_defaults(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "params.yaml").unlink()
    assert params_check(capsys, "--write")[0] == 0
    written = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))
    assert "shared" not in written, "a parameter of one notebook is in its own section"
    assert written["source"] == {"seed": 0, "greeting": "hi"}
    assert written["middle"] == {"count": 1, "payload": ""}
    assert json.dumps(written["late"]) == '{"suffix": "?"}'


# A command that reads the notebooks imports nbformat, whose validator imports jsonschema, which
# imports rfc3987_syntax when it is installed (jupyter_events asks for it): that builds a grammar
# at import time, about 2 s of CPU per process, for a string format nbformat never checks.
GRAMMAR_PROBE = """
import sys
from crisp import cli
code = cli.main(sys.argv[1:])
import nbformat  # what any later export would import
print(code, sys.modules.get("rfc3987_syntax", "loaded elsewhere") is None)
"""


@pytest.mark.parametrize("command", [["params"], ["status"], ["run", "--only", "00"]])
def test_commands_that_read_notebooks_leave_out_the_unused_iri_grammar(
    project: Path, command: list[str]
) -> None:
    assert importlib.util.find_spec("rfc3987_syntax"), "installed: the check means something"
    done = subprocess.run(
        [sys.executable, "-c", GRAMMAR_PROBE, *command],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.stdout.split()[-2:] == ["0", "True"], done.stdout + done.stderr
