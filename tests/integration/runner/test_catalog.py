"""The artifact catalog (crisp.catalog): declared once, with the producing phase of each artifact;
the runner derives from it which phase to run first when an input is missing, before any phase
runs. The project's own catalog is checked against a real run in its tests
(test_paths_artifacts.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from crisp.catalog import Catalog, CatalogError, PhaseFiles, UnknownArtifactError
from test_runner import crisp, write_notebook

CATALOG_MODULE = """\
from crisp.catalog import Catalog, PhaseFiles

CATALOG = Catalog({
    "00_source": PhaseFiles(writes={"a": "data/interim/a.txt"}),
    "01_middle": PhaseFiles(
        writes={"b": "data/interim/b.txt", "payload": "data/interim/payload.json"},
        reads=("a",),
    ),
    "02_late": PhaseFiles(writes={"c": "out/c.txt"}, reads=("b",)),
    "03_check": PhaseFiles(
        writes={"report": "out/report.txt", "result": "out/result.txt"},
        reads=("c",),
        kept_on_failure=("report",),
    ),
})
"""
CHECK_CELLS = [
    "from helpers import store",
    'store.write("out/report.txt", f"checked: {verdict}")',
    'store.write("out/result.txt", f"result: {verdict}")',
    'if verdict == "alert":\n    raise RuntimeError("the check raised an alert")',
]


def test_catalog_maps_names_to_paths_and_paths_to_phases() -> None:
    catalog = Catalog(
        {
            "01_data": PhaseFiles(writes={"table": "data/t.parquet"}),
            "05_deployment": PhaseFiles(
                writes={"registry": "models/registry/", "production": "models/production.json"},
                reads=("table",),
            ),
        }
    )
    assert dict(catalog) == {
        "table": "data/t.parquet",
        "registry": "models/registry/",
        "production": "models/production.json",
    }
    assert catalog.producer("models/registry/v0001/model.skops") == "05_deployment"
    assert catalog.producer("data/t.parquet") == "01_data"
    assert catalog.producer("data/other.csv") is None
    with pytest.raises(UnknownArtifactError, match="unknown artifact 'tabel'; known artifacts:"):
        catalog["tabel"]


@pytest.mark.parametrize(
    ("phases", "message"),
    [
        (
            {
                "01_a": PhaseFiles(writes={"x": "x.csv"}),
                "02_b": PhaseFiles(writes={"x": "y.csv"}),
            },
            "catalog name 'x' is written by 01_a and 02_b",
        ),
        ({"01_a": PhaseFiles(reads=("nothing",))}, "phase 01_a reads 'nothing', which no phase"),
        (
            {"01_a": PhaseFiles(writes={"x": "x.csv"}, kept_on_failure=("y",))},
            "phase 01_a keeps 'y' when it fails, but does not write it",
        ),
        (
            {"01_a": PhaseFiles(writes={"x": "x.csv"}, unlogged=("y",))},
            "phase 01_a lists 'y' as unlogged, but does not write it",
        ),
        (
            {
                "01_a": PhaseFiles(writes={"x": "x.csv"}, reads=("y",)),
                "02_b": PhaseFiles(writes={"y": "y.csv"}),
            },
            "phase 01_a reads 'y', written by 02_b, which does not run before it",
        ),
    ],
    ids=["name-twice", "read-unknown", "kept-not-written", "unlogged-not-written", "read-later"],
)
def test_a_catalog_that_contradicts_itself_is_refused(
    phases: dict[str, PhaseFiles], message: str
) -> None:
    with pytest.raises(CatalogError, match=message):
        Catalog(phases)


def test_a_later_phase_may_read_what_an_earlier_run_left() -> None:
    """The production model: written by deployment, compared with in evaluation next run."""
    catalog = Catalog(
        {
            "04_evaluation": PhaseFiles(writes={"e": "e.json"}, may_read=("production",)),
            "05_deployment": PhaseFiles(writes={"production": "models/production.json"}),
        }
    )
    assert catalog.producer("models/production.json") == "05_deployment"


@pytest.fixture
def cataloged(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The three-phase project with an artifact catalog named in its pyproject.toml."""
    (project / "src" / "helpers" / "catalog.py").write_text(CATALOG_MODULE, encoding="utf-8")
    (project / "pyproject.toml").write_text(
        '[tool.crisp]\ncatalog = "helpers.catalog:CATALOG"\n', encoding="utf-8"
    )
    check = 'verdict: str = "ok"  # what the check finds'
    write_notebook(project / "notebooks" / "03_check.ipynb", check, CHECK_CELLS)
    with open(project / "params.yaml", "a", encoding="utf-8") as params:
        params.write("check:\n  verdict: ok\n")
    monkeypatch.syspath_prepend(str(project / "src"))
    for name in [n for n in sys.modules if n == "helpers" or n.startswith("helpers.")]:
        monkeypatch.delitem(sys.modules, name)  # another test's project of the same name
    return project


def test_a_phase_whose_input_is_missing_names_the_phase_to_run_first(
    cataloged: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert crisp("run", "--only", "late") == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "crisp: error: phase 02_late reads b (data/interim/b.txt), which does not exist: run "
        "phase 01_middle first (crisp run --from 01_middle)"
    )
    assert not (cataloged / "reports").exists() or not list((cataloged / "reports").glob("2*"))
    assert crisp("status", "--only", "late") == 0
    assert "02_late  blocked     phase 02_late reads b" in capsys.readouterr().out
    # Run together with the phase that writes it, it is found.
    assert crisp("run", "--to", "middle") == 0
    assert crisp("run", "--only", "late") == 0


def test_a_failed_phase_puts_in_place_only_what_it_keeps_on_failure(cataloged: Path) -> None:
    """Its checks' report (kept on failure) is written; its other outputs are not."""
    assert crisp("run") == 0
    assert crisp("run", "--only", "check", "--set", "check.verdict=alert") == 1
    assert (cataloged / "out" / "report.txt").read_text() == "checked: alert"
    assert (cataloged / "out" / "result.txt").read_text() == "result: ok"


def test_a_catalog_naming_a_phase_without_notebook_is_one_line(
    cataloged: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = cataloged / "src" / "helpers" / "catalog.py"
    module.write_text(module.read_text().replace('"02_late"', '"02_lat"'), encoding="utf-8")
    assert crisp("run") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("crisp: error: [tool.crisp] catalog = 'helpers.catalog:CATALOG': ")
    assert "names phase(s) 02_lat, which have no notebook; phases: 00_source" in err
    assert len(err.splitlines()) == 1
