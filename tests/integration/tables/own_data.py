"""A project copy with the user's own table in it, run through `crisp` as a user would: the file in
data/raw/, params.yaml edited (nothing else), `crisp run`, `crisp predict`, `crisp monitor`.

Each copy holds the baked project's params.yaml, notebooks and package, and runs in the shared
environment (its own `src` first on PYTHONPATH, CRISP_PROJECT_ROOT set: shared_project.env).

CRISP_TABLES_DEV_ARGS (e.g. "--set=data_understanding.min_rows=100"), never set in CI, adds
arguments to every `crisp run` here: to see, while a product fix is pending, what fails after the
first failing phase.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml

from real_tables import Variant, params_for, write_table
from shared_project import COPIED, PROJECT, crisp

PHASES = (
    "00_business_understanding",
    "01_data_understanding",
    "02_data_preparation",
    "03_modelling",
    "04_evaluation",
    "05_deployment",
    "06_monitoring",
)
RUN_TIMEOUT = 900
SERIAL = "--set=shared.n_jobs=1"


def new_project(factory: pytest.TempPathFactory, name: str) -> Path:
    """A fresh copy of the baked project (no run yet) under a new temporary folder."""
    root = factory.mktemp(name) / "project"
    root.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints")
    for item in COPIED:
        source = PROJECT / item
        if source.is_dir():
            shutil.copytree(source, root / item, ignore=ignore)
        else:
            shutil.copy2(source, root / item)
    (root / "data" / "raw").mkdir(parents=True)
    return root


def edit_params(root: Path, values: dict[str, dict[str, Any]]) -> None:
    """Set `values` (section -> key -> value) in the project's params.yaml, keeping the rest."""
    path = root / "params.yaml"
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    for section, keys in values.items():
        params.setdefault(section, {}).update(keys)
    path.write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True), encoding="utf-8")


def bring(root: Path, variant: Variant) -> None:
    """Put the variant's file in data/raw/ and point params.yaml at it."""
    relative = f"data/raw/{variant.file_name}"
    write_table(variant.frame, root / relative)
    edit_params(root, params_for(variant, relative))


def output(result: subprocess.CompletedProcess[str], tail: int = 6000) -> str:
    """A finished command's arguments and the end of its output, for assertion messages."""
    text = f"{result.stdout}\n{result.stderr}".strip()
    return f"`{' '.join(map(str, result.args[2:]))}` exited {result.returncode}:\n{text[-tail:]}"


@dataclass
class Run:
    """A finished `crisp run` on a project copy."""

    root: Path
    result: subprocess.CompletedProcess[str]

    @property
    def record(self) -> dict[str, Any]:
        """The run's run.json (the newest run's, read when the run just finished)."""
        path = self.run_dir / "run.json"
        if not path.is_file():
            pytest.fail(f"the run wrote no run.json\n{output(self.result)}")
        return json.loads(path.read_text(encoding="utf-8"))

    @property
    def run_dir(self) -> Path:
        for line in self.result.stdout.splitlines():
            if line.startswith("run ") and "(" in line:
                return self.root / line.split("(", 1)[1].rstrip(")")
        return (self.root / "reports" / "latest").resolve()

    def statuses(self) -> dict[str, str]:
        """Phase name -> status in this run (phases that did not run are absent)."""
        return {phase["name"]: phase["status"] for phase in self.record.get("phases", [])}

    def require(self, *phases: str) -> None:
        """Fail the calling test unless `phases` succeeded in this run (it needs their outputs)."""
        statuses = self.statuses() if (self.run_dir / "run.json").is_file() else {}
        missing = [phase for phase in phases if statuses.get(phase) != "succeeded"]
        if missing:
            pytest.fail(
                f"needs {', '.join(missing)}, which did not succeed in the pipeline run\n"
                f"{output(self.result, tail=1500)}",
                pytrace=False,
            )

    def notebook(self, phase: str) -> nbformat.NotebookNode:
        """The executed notebook of `phase` in this run."""
        return nbformat.read(self.run_dir / f"{phase}.ipynb", as_version=4)


def run_pipeline(root: Path, *args: str) -> Run:
    """`crisp run ARGS` on the project at `root`, in one process (the suite runs two pipelines at
    a time on two cores; parallel fits are tested in the project's test_parallel.py)."""
    extra = os.environ.get("CRISP_TABLES_DEV_ARGS", "").split()
    return Run(root, crisp(root, "run", SERIAL, *args, *extra, timeout=RUN_TIMEOUT))


def load_json(root: Path, relative: str) -> dict[str, Any]:
    """A JSON artifact of the project, or a test failure naming the missing file."""
    path = root / relative
    if not path.is_file():
        pytest.fail(f"{relative} does not exist")
    return json.loads(path.read_text(encoding="utf-8"))


class _Tables(HTMLParser):
    """Every <table> of an HTML fragment as rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(html.unescape("".join(self._cell)).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def output_tables(notebook: nbformat.NotebookNode) -> list[list[list[str]]]:
    """The HTML tables (e.g. DataFrames) a notebook's cells displayed, as rows of cell texts."""
    tables = []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            fragment = out.get("data", {}).get("text/html")
            if fragment:
                parser = _Tables()
                parser.feed("".join(fragment) if isinstance(fragment, list) else fragment)
                tables.extend(parser.tables)
    return tables


def output_text(notebook: nbformat.NotebookNode) -> str:
    """Everything a notebook's cells printed or displayed (text, markdown, HTML), in one string;
    not the notebook's own markdown."""
    parts = []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            if "text" in out:
                parts.append(out["text"])
            for kind in ("text/plain", "text/markdown", "text/html"):
                value = out.get("data", {}).get(kind)
                if value:
                    parts.append("".join(value) if isinstance(value, list) else value)
    return "\n".join(parts)
