"""The hooks: bad answers are rejected before anything is written; template bugs fail loudly."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

from conftest import (
    PROJECT_TEMPLATE,
    Bake,
    bake_to,
    default_answers,
    explain,
    project_files,
    run,
)

# Valid names to pair with a bad answer from which they would otherwise be derived, so that each
# case fails exactly one check.
VALID_NAMES = {"project_slug": "churn-demo", "package_name": "churn_demo"}
PACKAGE = {"package_name": "churn_demo"}

# (id, answers, the line the pre-gen hook must print). Each answer passes through cookiecutter's
# extra_context, so the hook is the only thing that can reject it.
BAD_ANSWERS = [
    ("empty-name", {**VALID_NAMES, "project_name": ""}, "project_name '' is empty"),
    ("blank-name", {**VALID_NAMES, "project_name": "   "}, "project_name '   ' is empty"),
    (
        "slug-uppercase",
        {**PACKAGE, "project_slug": "Churn-Demo"},
        "project_slug 'Churn-Demo' is not",
    ),
    ("slug-underscore", {**PACKAGE, "project_slug": "churn_demo"}, "use e.g. 'churn-demo'"),
    ("slug-space", {**PACKAGE, "project_slug": "churn demo"}, "project_slug 'churn demo' is not"),
    ("slug-leading-digit", {**PACKAGE, "project_slug": "2churn"}, "use e.g. 'project-2churn'"),
    (
        "slug-double-hyphen",
        {**PACKAGE, "project_slug": "churn--demo"},
        "project_slug 'churn--demo' is not",
    ),
    ("slug-trailing-hyphen", {**PACKAGE, "project_slug": "churn-"}, "project_slug 'churn-' is not"),
    ("package-hyphen", {"package_name": "churn-demo"}, "is not a valid Python identifier"),
    ("package-leading-digit", {"package_name": "2churn"}, "package_name '2churn' is not a valid"),
    ("package-non-ascii", {"package_name": "café"}, "package_name 'café' is not a valid"),
    ("package-uppercase", {"package_name": "Churn"}, "package_name 'Churn' has uppercase"),
    ("package-keyword", {"package_name": "class"}, "package_name 'class' is a Python keyword"),
    ("package-stdlib", {"package_name": "json"}, "shadows the standard-library module json"),
    (
        "package-pandas",
        {"package_name": "pandas"},
        "package_name 'pandas' shadows the dependency module pandas; "
        "choose another name, e.g. 'pandas_project'",
    ),
    ("package-sklearn", {"package_name": "sklearn"}, "shadows the dependency module sklearn"),
    ("package-papermill", {"package_name": "papermill"}, "shadows the dependency module papermill"),
    ("package-yaml", {"package_name": "yaml"}, "shadows the dependency module yaml"),
    ("package-pipeline", {"package_name": "pipeline"}, "the project's own top-level name pipeline"),
    ("package-tests", {"package_name": "tests"}, "the project's own top-level name tests"),
    ("python-3.10", {"python_version": "3.10"}, "python_version '3.10' is not supported"),
    ("python-2.7", {"python_version": "2.7"}, "python_version '2.7' is not supported"),
    ("python-3.15", {"python_version": "3.15"}, "python_version '3.15' is not supported"),
    ("python-patch", {"python_version": "3.11.4"}, "use one of 3.11, 3.12, 3.13, 3.14"),
    ("python-word", {"python_version": "latest"}, "python_version 'latest' is not supported"),
]
# Choice answers: cookiecutter itself rejects these in extra_context, but a replayed answer file
# (and a hand-edited .cruft.json) reaches the hook unchecked.
BAD_CHOICES = [
    ("problem-type", {"problem_type": "clustering"}, "problem_type 'clustering' is not a choice"),
    (
        "license",
        {"open_source_license": "GPL-3.0"},
        "open_source_license 'GPL-3.0' is not a choice; use one of MIT, BSD-3-Clause",
    ),
]


def ids(cases: list[tuple[str, dict, str]]) -> list[str]:
    """Test ids of a case list."""
    return [case[0] for case in cases]


def write_replay(path: Path, answers: dict[str, str]) -> Path:
    """A cookiecutter replay file holding the default answers with `answers` applied."""
    context = default_answers() | answers
    path.write_text(json.dumps({"cookiecutter": context}))
    return path


def cli(config: Path, output: Path, *args: str | Path):
    """Run the cookiecutter command line with the isolated configuration."""
    command = [sys.executable, "-m", "cookiecutter", "--config-file", config, "-o", output, *args]
    return run(command)


@pytest.mark.parametrize(("answers", "message"), [c[1:] for c in BAD_ANSWERS], ids=ids(BAD_ANSWERS))
def test_api_rejects_bad_answer(
    template: Path,
    cookiecutter_config: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    answers: dict[str, str],
    message: str,
) -> None:
    with pytest.raises(FailedHookException):
        bake_to(template, cookiecutter_config, tmp_path, **answers)
    assert message in capfd.readouterr().err
    assert list(tmp_path.iterdir()) == [], "a rejected answer left a project behind"


@pytest.mark.parametrize(("answers", "message"), [c[1:] for c in BAD_ANSWERS], ids=ids(BAD_ANSWERS))
def test_cli_rejects_bad_answer(
    template: Path, cookiecutter_config: Path, tmp_path: Path, answers: dict[str, str], message: str
) -> None:
    pairs = [f"{key}={value}" for key, value in answers.items()]
    result = cli(cookiecutter_config, tmp_path, "--no-input", template, *pairs)
    assert result.returncode != 0, explain(result)
    hook_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(hook_lines) == 1 and message in hook_lines[0], result.stderr
    assert list(tmp_path.iterdir()) == [], "a rejected answer left a project behind"


@pytest.mark.parametrize(("answers", "message"), [c[1:] for c in BAD_CHOICES], ids=ids(BAD_CHOICES))
def test_replayed_bad_choice_is_rejected(
    template: Path,
    cookiecutter_config: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    answers: dict[str, str],
    message: str,
) -> None:
    replay = write_replay(tmp_path / "replay.json", answers)
    output = tmp_path / "out"
    with pytest.raises(FailedHookException):
        cookiecutter(
            str(template),
            replay=str(replay),
            output_dir=str(output),
            config_file=str(cookiecutter_config),
        )
    assert message in capfd.readouterr().err
    assert not output.exists() or list(output.iterdir()) == []

    result = cli(cookiecutter_config, output, "--replay-file", replay, template)
    assert result.returncode != 0, explain(result)
    assert message in result.stderr
    assert not output.exists() or list(output.iterdir()) == []


def test_every_problem_is_reported_at_once(
    template: Path, cookiecutter_config: Path, tmp_path: Path
) -> None:
    answers = {"project_slug": "Bad Slug", "package_name": "numpy", "python_version": "3.9"}
    result = cli(
        cookiecutter_config,
        tmp_path,
        "--no-input",
        template,
        *(f"{key}={value}" for key, value in answers.items()),
    )
    assert result.returncode != 0
    hook_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert [line.split()[1] for line in hook_lines] == list(answers)


def test_unusual_but_valid_answers_are_accepted(bake: Bake) -> None:
    answers = {
        "project_name": "  Fraud 2 Alerts  ",
        "project_slug": "fraud2-alerts-v3",
        "package_name": "fraud2_alerts",
        "python_version": "3.14",
    }
    project = bake(**answers)
    assert project.name == "fraud2-alerts-v3"
    assert (project / "src" / "fraud2_alerts" / "__init__.py").is_file()
    assert 'requires-python = ">=3.14"' in (project / "pyproject.toml").read_text()


@pytest.fixture
def template_copy(template: Path, tmp_path: Path) -> Path:
    """A private copy of the template that a test may change."""
    copy = tmp_path / "template"
    shutil.copytree(template, copy, ignore=shutil.ignore_patterns(".git"))
    return copy


def test_post_gen_hook_fails_on_unrendered_jinja(
    template_copy: Path,
    cookiecutter_config: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    notes = template_copy / PROJECT_TEMPLATE / "docs" / "notes.md"
    notes.parent.mkdir(exist_ok=True)
    notes.write_text("# Notes\n{% raw %}Hello {{ name }}{% endraw %}\n")
    output = tmp_path / "out"
    with pytest.raises(FailedHookException):
        bake_to(template_copy, cookiecutter_config, output)
    assert "docs/notes.md:2 holds unrendered Jinja '{{'" in capfd.readouterr().err
    assert list(output.iterdir()) == [], "the broken project was left behind"


def test_post_gen_hook_leaves_copy_only_templates_alone(
    template_copy: Path, cookiecutter_config: Path, tmp_path: Path
) -> None:
    page = template_copy / PROJECT_TEMPLATE / "docs" / "page.html.j2"
    page.parent.mkdir(exist_ok=True)
    page.write_text("<h1>{{ title }}</h1>{% if x %}{% endif %}\n")
    project = bake_to(template_copy, cookiecutter_config, tmp_path, open_source_license="none")
    assert (project / "docs" / "page.html.j2").read_text() == page.read_text()
    assert "LICENSE" not in project_files(project)
