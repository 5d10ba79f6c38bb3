"""cruft renders the template, records where the project came from, and applies template updates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PROJECT_TEMPLATE, Bake, explain, git_commit_all, project_files, run

ANSWERS = {"project_name": "Fraud Alerts", "problem_type": "regression"}


def cruft(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the cruft command line."""
    return run([sys.executable, "-m", "cruft", *args], cwd=cwd)


def create(template: Path, config: Path, output: Path, answers: dict[str, str]) -> Path:
    """`cruft create --no-input` with `answers`; returns the one project directory it made."""
    result = cruft(
        *("create", "--no-input", "--extra-context", json.dumps(answers)),
        *("--config-file", config, "--output-dir", output, template),
    )
    assert result.returncode == 0, explain(result)
    (project,) = output.iterdir()
    return project


@pytest.fixture(scope="module")
def cruft_project(
    template: Path, cookiecutter_config: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A project created by cruft from the session's template repository (read-only)."""
    return create(template, cookiecutter_config, tmp_path_factory.mktemp("cruft"), ANSWERS)


def head(repo: Path) -> str:
    """The commit checked out in `repo`."""
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True)
    return result.stdout.strip()


def test_cruft_json_records_template_commit_and_answers(cruft_project: Path, template: Path):
    record = json.loads((cruft_project / ".cruft.json").read_text())
    assert record["template"] == str(template)
    assert record["commit"] == head(template)
    answers = record["context"]["cookiecutter"]
    assert answers["project_name"] == "Fraud Alerts"
    assert answers["project_slug"] == "fraud-alerts" == cruft_project.name
    assert answers["package_name"] == "fraud_alerts"
    assert answers["problem_type"] == "regression"
    assert answers["_commit"] == head(template)


def test_cruft_renders_what_cookiecutter_renders(cruft_project: Path, bake: Bake):
    baked = bake(**ANSWERS)
    files = project_files(cruft_project) - {".cruft.json"}
    assert files == project_files(baked)
    for relative in files:
        assert (cruft_project / relative).read_bytes() == (baked / relative).read_bytes(), relative


def test_cruft_check_reports_up_to_date(cruft_project: Path):
    result = cruft("check", cwd=cruft_project)
    assert result.returncode == 0, explain(result)


def test_cruft_create_runs_the_pre_gen_hook(
    template: Path, cookiecutter_config: Path, tmp_path: Path
):
    result = cruft(
        *("create", "--no-input", "--extra-context", json.dumps({"package_name": "pandas"})),
        *("--config-file", cookiecutter_config, "--output-dir", tmp_path, template),
    )
    assert result.returncode != 0
    assert "package_name 'pandas' shadows the dependency module pandas" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_cruft_update_applies_a_template_change(
    template: Path, cookiecutter_config: Path, tmp_path: Path
):
    upstream = tmp_path / "upstream"
    subprocess.run(["git", "clone", "-q", str(template), str(upstream)], check=True)
    project = create(upstream, cookiecutter_config, tmp_path / "out", ANSWERS)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=project, check=True)
    git_commit_all(project, "Project as created")

    readme = upstream / PROJECT_TEMPLATE / "README.md"
    readme.write_text(readme.read_text() + "\nA line added by a template update.\n")
    # The runner lives once, in the template's runner/ (the project's runner/ links to it).
    runner_init = upstream / "runner" / "src" / "crisp" / "__init__.py"
    runner_init.write_text(runner_init.read_text() + "RUNNER_FIX = 1  # a runner update\n")
    new_commit = git_commit_all(upstream, "Template update")

    assert cruft("check", cwd=project).returncode != 0, "cruft check missed the template update"
    result = cruft("update", "--skip-apply-ask", cwd=project)
    assert result.returncode == 0, explain(result)
    assert (project / "README.md").read_text().endswith("\nA line added by a template update.\n")
    shipped = project / "runner" / "src" / "crisp" / "__init__.py"
    assert shipped.read_text().endswith("RUNNER_FIX = 1  # a runner update\n")
    assert json.loads((project / ".cruft.json").read_text())["commit"] == new_commit
