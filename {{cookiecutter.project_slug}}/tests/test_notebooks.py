"""The notebooks agree with params.yaml and stay readable reports without outputs."""

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def section_of(notebook: Path) -> str:
    return notebook.stem.split("_", 1)[1]


def test_one_notebook_per_phase_in_order():
    assert [nb.stem[:2] for nb in NOTEBOOKS] == [f"{i:02d}" for i in range(7)]
    assert {section_of(nb) for nb in NOTEBOOKS} == set(PARAMS) - {"shared"}


def test_params_yaml_agrees_with_the_parameters_cells():
    """`crisp params`: params.yaml has every key the cells declare and no other, shared keys are
    declared the same in every notebook, and every value is of its declared type and range."""
    done = subprocess.run(
        [sys.executable, "-m", "crisp", "params"],
        cwd=ROOT,
        env={**os.environ, "CRISP_PROJECT_ROOT": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_parameter_is_typed_and_explained(notebook: Path):
    for name, info in papermill.inspect_notebook(str(notebook)).items():
        assert info["help"], f"{name} has no comment explaining it"
        assert info["inferred_type_name"] != "None", f"{name} has no type annotation"


def test_every_shared_parameter_is_used():
    declared = set().union(*(papermill.inspect_notebook(str(nb)) for nb in NOTEBOOKS))
    assert set(PARAMS["shared"]) <= declared


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_an_output_free_report(notebook: Path):
    nb = nbformat.read(notebook, as_version=4)
    nbformat.validate(nb)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert nb.cells[0].cell_type == "markdown" and "QA checks" in nb.cells[0].source
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert "QualityGate" in code[-1].source or "QualityGate" in code[-2].source


@pytest.mark.parametrize(
    ("run_dir", "reloads"), [(None, True), ("reports/some-run", False)], ids=["lab", "crisp-run"]
)
def test_notebook_extension_autoreloads_only_interactively(monkeypatch, run_dir, reloads):
    """`%load_ext <package>` turns on autoreload in JupyterLab, not in a pipeline run's kernel."""
    from IPython.core.interactiveshell import InteractiveShell

    if run_dir is None:
        monkeypatch.delenv("CRISP_RUN_DIR", raising=False)
    else:
        monkeypatch.setenv("CRISP_RUN_DIR", run_dir)
    shell = InteractiveShell()
    try:
        shell.run_line_magic("load_ext", "{{ cookiecutter.package_name }}")
        magics = shell.magics_manager.registry.get("AutoreloadMagics")
        enabled = magics is not None and magics._reloader.enabled and magics._reloader.check_all
        assert enabled is reloads
    finally:
        shell.history_manager.end_session()
        InteractiveShell.clear_instance()


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_cell_loads_the_notebook_extension(notebook: Path):
    first = next(c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code")
    assert "%load_ext {{ cookiecutter.package_name }}" in first.source.splitlines()
