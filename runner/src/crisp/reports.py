"""HTML reports: each executed notebook exported in-process, and the run's index page."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .files import atomic_write_text
from .kernels import figures as kernel_figures

TEMPLATES = Path(__file__).parent / "templates"
_exporter: Any = None


def prepare_exporter() -> None:
    """Build the exporter and load its templates now (while the first kernel starts).

    The first export of a run otherwise pays for loading templates, filters and highlighters.
    """
    import nbformat

    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# x"), nbformat.v4.new_code_cell("x = 1")]
    )
    _html_exporter().from_notebook_node(nb)


def _html_exporter() -> Any:
    """One HTMLExporter for the whole run: building it (templates, filters) is the slow part."""
    global _exporter
    if _exporter is None:
        from .notebook_html import ReportExporter

        _exporter = ReportExporter()
    return _exporter


def export_html(notebook: Path, nb: Any = None) -> Path:
    """Write `<notebook>.html` next to the executed notebook (read from disk when `nb` is None)."""
    import nbformat

    notebook = Path(notebook)
    if nb is None:
        nb = nbformat.read(str(notebook), as_version=4)
    body, _ = _html_exporter().from_notebook_node(
        nb, resources={"metadata": {"name": notebook.stem}}
    )
    target = notebook.with_suffix(".html")
    atomic_write_text(target, body)
    return target


def _finish_report(
    notebook: Path,
    nb: Any,
    figures: Path | None,
    wait_for_figures: bool,
    release: Callable[[], None] | None,
) -> Path:
    """Fill in the figures rendered in the background, then export the notebook's HTML."""
    import nbformat

    try:
        if figures is not None:
            if nb is None:
                nb = nbformat.read(str(notebook), as_version=4)
            if kernel_figures.fill(nb, figures, wait=wait_for_figures):
                atomic_write_text(notebook, nbformat.writes(nb))
            shutil.rmtree(figures, ignore_errors=True)
    finally:
        if release is not None:
            release()
    return export_html(notebook, nb)


class BackgroundExports:
    """Reports finished on one background thread, so a report is written while the next phase runs.

    Finishing a phase's report: put in the figures its kernel rendered in the background
    (kernels/figures.py), write the notebook again, hand the kernel back (`release`: the figures'
    renderers are its children), then export the HTML.
    """

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crisp-export")
        self._futures: dict[Path, Any] = {}
        self._executor.submit(prepare_exporter)

    def submit(
        self,
        notebook: Path,
        nb: Any = None,
        figures: Path | None = None,
        wait_for_figures: bool = True,
        release: Callable[[], None] | None = None,
    ) -> Path:
        """Queue finishing the report of `notebook`; returns the report's path.

        `figures` is the folder where the phase's kernel rendered its figures, if it did;
        `wait_for_figures=False` takes only those already rendered (the run was interrupted).
        """
        self._futures[Path(notebook)] = self._executor.submit(
            _finish_report, Path(notebook), nb, figures, wait_for_figures, release
        )
        return Path(notebook).with_suffix(".html")

    def wait(self) -> dict[Path, str]:
        """Wait for all exports; `{notebook: error}` for those that failed."""
        failed = {}
        for notebook, future in self._futures.items():
            try:
                future.result()
            except Exception as exc:  # a report problem must not hide the phase's outcome
                failed[notebook] = f"{type(exc).__name__}: {exc}"
        self._executor.shutdown(wait=True)
        return failed


def _relative(target: str | Path | None, start: Path) -> str | None:
    if not target:
        return None
    return Path(os.path.relpath(Path(target), start)).as_posix()


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["number"] = _number
    return env


def _number(value: Any) -> str:
    """A figure as a reader wants it: 4 significant digits, whole numbers as such."""
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def project_root(run_dir: Path, record: dict[str, Any]) -> Path:
    """The project a run folder belongs to: reports/<id>/ or reports/<history>/<id>/."""
    run_dir = Path(run_dir)
    return run_dir.parents[2] if record.get("history") else run_dir.parents[1]


def write_index(record: dict[str, Any], run_dir: Path, root: Path | None = None) -> Path:
    """Render the run's `index.html`: the summary card (verdict, headline metrics, key figures,
    links, changes since the previous run), then the audit detail (phases, QA, lineage, code,
    parameters, environment). A run of a history of its own (`crisp monitor`) also renews that
    history's trend page.

    Report paths in `record` are project-relative; `root` defaults to the run folder's project.
    """
    from . import summary

    run_dir = Path(run_dir)
    root = Path(root) if root is not None else project_root(run_dir, record)
    phases = [
        {
            **phase,
            "report_href": _relative(phase.get("report") and root / phase["report"], run_dir),
            "notebook_href": _relative(phase.get("notebook") and root / phase["notebook"], run_dir),
        }
        for phase in record.get("phases", [])
    ]
    card = summary.card(record, run_dir, root)
    html = _environment().get_template("index.html.j2").render(run=record, phases=phases, card=card)
    target = run_dir / "index.html"
    atomic_write_text(target, html)
    if record.get("history"):
        write_history_index(root, record["history"])
    return target


def write_history_index(root: Path, history: str) -> Path:
    """`reports/<history>/index.html`: every run of that history over time (e.g. the drift share
    and alert status of each monitoring check), newest first, with a trend chart per metric."""
    from . import summary
    from .records import runs_dir

    folder = runs_dir(root, history)
    trend = summary.trend(root, history)
    html = _environment().get_template("history.html.j2").render(history=history, trend=trend)
    target = folder / "index.html"
    atomic_write_text(target, html)
    return target
