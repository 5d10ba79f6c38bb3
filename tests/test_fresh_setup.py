"""A baked project set up from scratch with its README's own command, as a new user would.

A dependency the generated pyproject.toml forgets to declare fails here: the environment holds only
what `make setup` installs.
"""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import bake_to, default_answers, explain, run

pytestmark = pytest.mark.slow

# Imports every module of the package (but no __main__) and every module the notebooks import, in
# the project's environment; prints the ones that fail.
IMPORT_EVERYTHING = textwrap.dedent(
    """
    import ast, importlib, json, pkgutil, sys
    from pathlib import Path

    package = importlib.import_module(sys.argv[1])
    modules = pkgutil.walk_packages(package.__path__, package.__name__ + ".")
    names = {m.name for m in modules if not m.name.endswith(".__main__")}
    for notebook in Path("notebooks").glob("*.ipynb"):
        for cell in json.loads(notebook.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            lines = "".join(cell["source"]).splitlines()
            python = [line for line in lines if not line.lstrip().startswith(("%", "!"))]
            for node in ast.walk(ast.parse("\\n".join(python))):
                if isinstance(node, ast.Import):
                    names.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.add(node.module)
    failed = {}
    for name in sorted(names):
        try:
            importlib.import_module(name)
        except Exception as error:
            failed[name] = f"{type(error).__name__}: {error}"
    print(json.dumps(failed))
    """
)


def test_make_setup_then_make_test_in_a_fresh_environment(
    template: Path, cookiecutter_config: Path, tmp_path: Path
) -> None:
    project = bake_to(template, cookiecutter_config, tmp_path)
    readme = (project / "README.md").read_text()
    assert "make setup" in readme and "make test" in readme, "README's set-up command changed"

    # PYTHON picks the interpreter the Makefile builds .venv from (the README's documented knob);
    # the environment itself is new and holds only what the project declares.
    setup = run(["make", "setup", f"PYTHON={sys.executable}"], cwd=project, timeout=900)
    assert setup.returncode == 0, explain(setup)
    python = project / ".venv" / "bin" / "python"
    assert (project / ".venv" / "bin" / "crisp").is_file()

    package = default_answers()["package_name"]
    imports = run([python, "-c", IMPORT_EVERYTHING, package], cwd=project)
    assert imports.returncode == 0, explain(imports)
    assert json.loads(imports.stdout.strip().splitlines()[-1]) == {}, imports.stdout

    lab = run([project / ".venv" / "bin" / "jupyter", "lab", "--version"], cwd=project)
    assert lab.returncode == 0, explain(lab)

    # Everything but the reliability cases (one pipeline copy each, several minutes): they run
    # with `make test` in a project, and would take CI past its time budget here.
    tests = run(["make", "test", "PYTEST_ARGS=-m 'not reliability'"], cwd=project, timeout=1200)
    assert tests.returncode == 0, explain(tests)
    assert " passed" in tests.stdout
    shutil.rmtree(project / ".venv", ignore_errors=True)
