"""Bake every combination of the options that change files and check what a user gets."""

from __future__ import annotations

import ast
import datetime as dt
import fnmatch
import hashlib
import itertools
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

from conftest import (
    CHOICES,
    COPY_WITHOUT_RENDER,
    LICENSES,
    PROBLEM_TYPES,
    PROJECT_TEMPLATE,
    TEMPLATE_ROOT,
    Bake,
    default_answers,
    explain,
    project_files,
    run,
    tracked_files,
)

# Every option that changes the files or their contents, in every combination.
OPTIONS = ("problem_type", "open_source_license", "experiment_tracking", "environment_manager")
COMBINATIONS = list(itertools.product(*(CHOICES[option] for option in OPTIONS)))
# (problem_type, license, baked project, all answers)
Combination = tuple[str, str, Path, dict[str, str]]

# Files every generated project has, whatever the options (the layout docs/design.md describes).
# The complete file set is derived from the template itself (expected_files), not listed here.
LAYOUT = {
    "Makefile",
    "README.md",
    "params.yaml",
    "pyproject.toml",
    "docs/architecture.md",
    "notebooks/00_business_understanding.ipynb",
    "notebooks/06_monitoring.ipynb",
    "src/customer_churn/__init__.py",
    "src/customer_churn/commands.py",
    "runner/pyproject.toml",
    "runner/README.md",
    "runner/src/crisp/__init__.py",
    "runner/src/crisp/cli.py",
    "tests/conftest.py",
}
# Open-source licenses get a LICENSE file; "none" gets none (the post-gen hook removes it).
LICENSE_FILES = {"none": set()} | {name: {"LICENSE"} for name in LICENSES if name != "none"}
# MLflow tracking adds its module and its test; "none" has neither (the post-gen hook removes them).
TRACKING_FILES = {
    "none": set(),
    "mlflow": {"src/customer_churn/tracking.py", "tests/test_tracking.py"},
}
# What each license's text must contain besides the copyright line.
LICENSE_MARKERS = {
    "MIT": ("MIT License", "Permission is hereby granted, free of charge"),
    "BSD-3-Clause": ("BSD 3-Clause License", "Neither the name of the copyright holder"),
    "Apache-2.0": ("Apache License\n                           Version 2.0, January 2004",),
}
COPYRIGHT_LINES = {
    "MIT": "Copyright (c) {year} {author}",
    "BSD-3-Clause": "Copyright (c) {year}, {author}",
    "Apache-2.0": "   Copyright {year} {author}",
}
# MD5 of the canonical text of https://www.apache.org/licenses/LICENSE-2.0.txt (with its
# placeholder copyright line), as published in many package metadata checks.
APACHE_CANONICAL_MD5 = "3b83ef96387f14655fc854ddc3c6bd57"
APACHE_PLACEHOLDER = "   Copyright [yyyy] [name of copyright owner]"


def template_files() -> set[str]:
    """The files git tracks in the template's project folder and in the runner it links to, by
    the path they get in a project with the default names."""
    package = default_answers()["package_name"]
    files = set()
    for name in tracked_files(TEMPLATE_ROOT):
        if name.startswith(f"{PROJECT_TEMPLATE}/") and name != f"{PROJECT_TEMPLATE}/runner":
            relative = name.removeprefix(f"{PROJECT_TEMPLATE}/")
        elif name.startswith("runner/"):
            relative = name
        else:
            continue
        files.add(relative.replace("{{cookiecutter.package_name}}", package))
    return files


def expected_files(answers: dict[str, str]) -> set[str]:
    """The exact file set of a project baked with these options and default names: the
    template's files, less those the options remove (LICENSE, the MLflow module and its test).

    The problem type and the environment manager change file contents, not the file set.
    """
    optional = set().union(*LICENSE_FILES.values(), *TRACKING_FILES.values())
    chosen = (
        LICENSE_FILES[answers["open_source_license"]]
        | TRACKING_FILES[answers["experiment_tracking"]]
    )
    return template_files() - (optional - chosen)


def rendered(relative: str) -> bool:
    """Whether cookiecutter renders this file (rather than copying it, or its folder, verbatim)."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return not any(
        fnmatch.fnmatch(prefix, pattern) for prefix in prefixes for pattern in COPY_WITHOUT_RENDER
    )


def text_files(project: Path) -> dict[str, str]:
    """Relative path -> text of every UTF-8 file in the project."""
    texts = {}
    for relative in sorted(project_files(project)):
        data = (project / relative).read_bytes()
        if b"\0" not in data:
            texts[relative] = data.decode("utf-8")
    return texts


def this_year() -> int:
    """The year cookiecutter's `now` tag writes."""
    return dt.datetime.now(dt.UTC).year


@pytest.fixture(params=COMBINATIONS, ids=lambda combo: "-".join(combo))
def combination(request: pytest.FixtureRequest, bake: Bake) -> Combination:
    """(problem_type, license, baked project) for each combination of the options."""
    answers = dict(zip(OPTIONS, request.param, strict=True))
    project = bake(**answers)
    return answers["problem_type"], answers["open_source_license"], project, answers


def test_file_set_is_the_templates_less_what_the_options_remove(
    combination: Combination,
) -> None:
    _, _, project, answers = combination
    expected = expected_files(answers)
    actual = project_files(project)
    assert actual == expected, (
        f"unexpected files: {sorted(actual - expected)}; missing files: {sorted(expected - actual)}"
    )
    assert actual >= LAYOUT, f"missing parts of the layout: {sorted(LAYOUT - actual)}"


def test_runner_is_its_own_package_outside_the_users(bake: Bake) -> None:
    """The runner ships as runner/ (its own distribution), copied verbatim; the user's package
    holds only the project's logic."""
    project = bake()
    shipped = [name for name in tracked_files(TEMPLATE_ROOT) if name.startswith("runner/")]
    assert "runner/src/crisp/runner.py" in shipped
    for name in shipped:
        assert (project / name).read_bytes() == (TEMPLATE_ROOT / name).read_bytes(), name
    runner_meta = tomllib.loads((project / "runner" / "pyproject.toml").read_text())
    assert runner_meta["project"]["scripts"]["crisp"] == "crisp.cli:main"
    package = project / "src" / default_answers()["package_name"]
    assert not (package / "pipeline").exists()
    assert not any("import crisp.kernels" in p.read_text() for p in package.rglob("*.py"))
    settings = tomllib.loads((project / "pyproject.toml").read_text())
    assert settings["tool"]["crisp"]["package"] == default_answers()["package_name"]
    assert "crisp-runner" in settings["project"]["dependencies"][0]


def test_no_template_syntax_left(combination: Combination) -> None:
    _, _, project, _ = combination
    leftovers = []
    for relative, text in text_files(project).items():
        markers = ["cookiecutter."] + (["{{", "{%", "{#"] if rendered(relative) else [])
        leftovers += [f"{relative}: {marker!r}" for marker in markers if marker in text]
    assert not leftovers


def test_notebooks_are_valid_and_output_free(combination: Combination) -> None:
    _, _, project, _ = combination
    notebooks = sorted(project.glob("**/*.ipynb"))
    assert notebooks
    for path in notebooks:
        notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [], f"{path.name} is stored with outputs"
                assert cell.execution_count is None, f"{path.name} is stored with counts"
        # As Jupyter and nbformat write it: a notebook saved or stripped unchanged stays unchanged.
        assert path.read_text(encoding="utf-8") == nbformat.writes(notebook) + "\n", path.name


def test_python_files_compile(combination: Combination) -> None:
    _, _, project, _ = combination
    sources = sorted(project.glob("**/*.py"))
    assert sources
    for path in sources:
        compile(path.read_text(encoding="utf-8"), str(path), "exec")


def test_params_yaml_has_the_problem_type(combination: Combination) -> None:
    problem_type, _, project, _ = combination
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["shared"]["problem_type"] == problem_type


def test_license_matches_the_answer(combination: Combination) -> None:
    _, license_name, project, _ = combination
    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    if license_name == "none":
        assert not (project / "LICENSE").exists()
        assert "license" not in metadata
        return
    text = (project / "LICENSE").read_text()
    assert metadata["license"] == license_name
    for marker in LICENSE_MARKERS[license_name]:
        assert marker in text
    author = default_answers()["author_name"]
    copyright_line = COPYRIGHT_LINES[license_name].format(year=this_year(), author=author)
    assert copyright_line in text.splitlines()
    other_markers = [m for name, ms in LICENSE_MARKERS.items() if name != license_name for m in ms]
    assert not any(marker in text for marker in other_markers)
    if license_name == "Apache-2.0":
        canonical = text.replace(copyright_line, APACHE_PLACEHOLDER)
        assert hashlib.md5(canonical.encode()).hexdigest() == APACHE_CANONICAL_MD5


def test_no_input_takes_the_defaults_of_cookiecutter_json(bake: Bake) -> None:
    answers = default_answers()
    project = bake()
    assert project.name == answers["project_slug"]
    assert (project / "src" / answers["package_name"] / "__init__.py").is_file()
    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert metadata["name"] == answers["project_slug"]
    assert metadata["description"] == answers["description"]
    assert metadata["requires-python"] == f">={answers['python_version']}"
    assert {"name": answers["author_name"]} in metadata["authors"]
    assert metadata["license"] == answers["open_source_license"] == LICENSES[0]
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["shared"]["problem_type"] == answers["problem_type"] == PROBLEM_TYPES[0]
    assert answers["project_name"] in (project / "README.md").read_text()


def test_cli_bake_matches_the_api_bake(
    template: Path, cookiecutter_config: Path, bake: Bake, tmp_path: Path
) -> None:
    result = run(
        [
            *(sys.executable, "-m", "cookiecutter", "--no-input"),
            *("--config-file", cookiecutter_config, "--output-dir", tmp_path, template),
        ]
    )
    assert result.returncode == 0, explain(result)
    (project,) = tmp_path.iterdir()
    api_project = bake()
    assert project.name == api_project.name
    files = project_files(project)
    assert files == project_files(api_project)
    for relative in files:
        assert (project / relative).read_bytes() == (api_project / relative).read_bytes(), relative


def test_answers_with_quotes_and_markup_stay_data(bake: Bake) -> None:
    """Free-text answers are data: quotes, backslashes and markup must not break any file format."""
    answers = {
        "project_name": 'Churn "Pro" & <Co>',
        "project_slug": "churn-pro",
        "package_name": "churn_pro",
        "author_name": 'Ada O\'Brien \\ "Lab"',
        "description": 'Predicts churn; says "hi" \\ uses <b>markup</b> and {braces}.',
    }
    project = bake(**answers)
    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert metadata["description"] == answers["description"]
    assert {"name": answers["author_name"]} in metadata["authors"]
    yaml.safe_load((project / "params.yaml").read_text())
    for path in sorted(project.glob("notebooks/*.ipynb")):
        nbformat.validate(nbformat.read(path, as_version=nbformat.NO_CONVERT))
    for path in sorted(project.glob("**/*.py")):
        ast.parse(path.read_text(encoding="utf-8"), str(path))
    assert answers["author_name"] in (project / "LICENSE").read_text()


@pytest.mark.parametrize("problem_type", PROBLEM_TYPES)
def test_baked_project_lints_clean(bake: Bake, problem_type: str) -> None:
    project = bake(problem_type=problem_type)
    for command in (["check", "src", "tests", "notebooks"], ["format", "--check", "src", "tests"]):
        result = run([sys.executable, "-m", "ruff", *command, "--no-cache"], cwd=project)
        assert result.returncode == 0, explain(result)
