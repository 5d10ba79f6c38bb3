"""Figures of a pipeline kernel render in forked children, beside the kernel (kernels/figures.py).

What a user relies on: the reports show exactly the figures Jupyter would show, none is lost or
left as a placeholder, a figure that cannot be rendered says so in its cell, and no renderer
outlives its run. The renderer relies on matplotlib and IPython internals: when they are not as
it expects, or with `--figures inline`, figures render inline and the reports are the same; it is
run against the lowest and the highest versions the project allows.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import nbformat
import papermill
import pytest
from crisp.kernels import figures as kernel_figures
from jupyter_client.manager import AsyncKernelManager
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from report_driver import coalesced
from test_runner import PACKAGE_SRC, crisp, latest_record, use_project, write_notebook
from traitlets import CaselessStrEnum

from shared_project import PROJECT, wait_until_gone

PARAMS = "figures:\n  title: shown\n"
FIGURES = [
    "import matplotlib.pyplot as plt",
    # pyplot: shown when the cell ends
    "fig, ax = plt.subplots(figsize=(4, 3))\n"
    "ax.plot([1, 3, 2], label='line')\nax.legend()\nax.set_title(title)",
    # displayed explicitly, twice, changed in between: each display shows the figure as it was
    "from IPython.display import display\nfrom matplotlib.figure import Figure\n"
    "bars = Figure(figsize=(3, 2), layout='constrained')\n"
    "ax = bars.subplots()\nax.bar(['a', 'b'], [2, 1])\ndisplay(bars)\n"
    "print('between')\nax.set_title('changed')\ndisplay(bars)",
    # what drawing prints (a warning, say) comes before the figure
    "import sys\nfrom matplotlib.artist import Artist\n\n\nclass Noisy(Artist):\n"
    "    def draw(self, renderer):\n        print('drawn', file=sys.stderr)\n\n\n"
    "fig, ax = plt.subplots(figsize=(2, 2))\nax.add_artist(Noisy());",
    # several pyplot figures in one cell, with an explicit show
    "for n in range(1, 3):\n    plt.figure(figsize=(2, 2))\n"
    "    plt.scatter(range(n + 1), range(n + 1))\n"
    "plt.show()\nplt.figure(figsize=(2, 1))\nplt.hist([1, 1, 2])",
    # returned complete, as the project's plots are: no redraw after the cell, drawn for the PNG
    "done, ax = plt.subplots(figsize=(3, 2), layout='constrained')\n"
    "ax.plot([1, 2])\nax.set_title(title)\ndone.stale = False",
]
UNRENDERABLE = """\
import matplotlib.pyplot as plt

fig, ax = plt.subplots()
ax.set_title("$\\\\frac{$")  # bad mathtext: fails when drawn"""
SLOW = """\
import matplotlib.pyplot as plt
from matplotlib.artist import Artist


class Slow(Artist):
    def draw(self, renderer):
        time.sleep(120)


fig, ax = plt.subplots()
ax.add_artist(Slow())"""


def figures_project(root: Path, cells: list[str]) -> Path:
    """A one-phase project, `00_figures`, whose notebook runs `cells`."""
    (root / "notebooks").mkdir(parents=True)
    (root / "src").mkdir()
    (root / "params.yaml").write_text(PARAMS, encoding="utf-8")
    write_notebook(root / "notebooks" / "00_figures.ipynb", 'title: str = "x"', cells)
    return root


def outputs(notebook: Path) -> list[list[dict]]:
    """The outputs of each cell of the notebook's own code (not its parameters), comparable:
    stream chunks joined (a loaded machine splits a stream into more messages)."""
    nb = nbformat.read(str(notebook), as_version=4)
    parameters = {"parameters", "injected-parameters"}
    code = [c for c in nb.cells if c.cell_type == "code"]
    cells = [c for c in code if not parameters & set(c.metadata.get("tags", []))]
    return [coalesced(cell.outputs) for cell in cells]


class UnixSocketKernelManager(AsyncKernelManager):
    """A stock kernel on Unix sockets: jupyter_client picks free TCP ports before the kernel binds
    them, and under parallel tests another process can take one in between (the kernel then dies
    with "Address already in use" and papermill waits a minute for it)."""

    transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)


def papermill_outputs(root: Path, tmp_path: Path) -> list[list[dict]]:
    """The outputs of the project's 00_figures notebook run by papermill in a plain kernel."""
    reference = tmp_path / "papermill.ipynb"
    papermill.execute_notebook(
        str(root / "notebooks" / "00_figures.ipynb"),
        str(reference),
        parameters={"title": "shown"},
        kernel_name="python3",
        cwd=str(root / "notebooks"),
        progress_bar=False,
        kernel_manager_class=UnixSocketKernelManager,
    )
    return outputs(reference)


def png_count(cells: list[list[dict]]) -> int:
    return sum("image/png" in o.get("data", {}) for cell in cells for o in cell)


@pytest.mark.parametrize("mode", ["fork", "spawn"])
def test_reports_show_exactly_the_figures_jupyter_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """The executed notebook equals papermill's run in a plain kernel, output for output."""
    root = use_project(figures_project(tmp_path / "project", FIGURES), monkeypatch)
    assert crisp("run", "--kernel-start", mode) == 0
    run_dir = root / "reports" / latest_record(root)["run_id"]
    ran, expected = outputs(run_dir / "00_figures.ipynb"), papermill_outputs(root, tmp_path)
    assert png_count(expected) == 8
    assert any("drawn" in o.get("text", "") for o in expected[3]), "nothing printed to compare"
    assert ran == expected
    for name in ("00_figures.ipynb", "00_figures.html"):
        text = (run_dir / name).read_text(encoding="utf-8")
        assert kernel_figures.KEY not in text and kernel_figures.PLACEHOLDER not in text
    html = (run_dir / "00_figures.html").read_text(encoding="utf-8")
    assert html.count("<img") == html.count('src="data:image/png;base64,') == 8
    assert not (run_dir / "00_figures" / "figures").exists(), "rendered files are cleaned up"


@pytest.mark.parametrize("switch", ["option", "environment"])
def test_figures_inline_on_request_give_the_same_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, switch: str
) -> None:
    """`--figures inline` (or CRISP_FIGURES=inline): no renderer, the figures Jupyter shows."""
    root = use_project(figures_project(tmp_path / "project", FIGURES), monkeypatch)
    args = ["--figures", "inline"] if switch == "option" else []
    if switch == "environment":
        monkeypatch.setenv("CRISP_FIGURES", "inline")
    assert crisp("run", *args) == 0
    run_dir = root / "reports" / latest_record(root)["run_id"]
    assert outputs(run_dir / "00_figures.ipynb") == papermill_outputs(root, tmp_path)
    assert not (run_dir / "00_figures" / "figures").exists(), "the renderer was enabled"


def test_unexpected_matplotlib_internals_fall_back_to_inline_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A matplotlib without what the renderer relies on (here a method it calls, removed after
    the first figure): the kernel renders inline from then on, says so, and the report shows
    exactly what Jupyter shows."""
    removal = "import matplotlib.figure\ndel matplotlib.figure.Figure.draw_without_rendering"
    cells = [*FIGURES[:3], removal, *FIGURES[3:]]
    root = use_project(figures_project(tmp_path / "project", cells), monkeypatch)
    assert crisp("run") == 0
    run_dir = root / "reports" / latest_record(root)["run_id"]
    ran, expected = outputs(run_dir / "00_figures.ipynb"), papermill_outputs(root, tmp_path)
    assert png_count(expected) == 8
    assert ran == expected
    log = (run_dir / "00_figures" / "kernel.log").read_text(encoding="utf-8")
    assert "figures render inline in this kernel: matplotlib's Figure has no draw_without" in log


def _uv() -> str | None:
    return shutil.which("uv") or next(
        (str(p) for p in [PROJECT / ".uv-bootstrap" / "bin" / "uv"] if p.is_file()), None
    )


def _allowed(names: tuple[str, ...]) -> list[str]:
    """The requirements on `names` in the project's and the runner's pyproject.toml."""
    found = []
    for pyproject in (PROJECT / "pyproject.toml", PACKAGE_SRC.parent / "pyproject.toml"):
        for requirement in tomllib.loads(pyproject.read_text())["project"]["dependencies"]:
            if canonicalize_name(Requirement(requirement).name) in names:
                found.append(requirement)
    return found


@pytest.mark.slow
@pytest.mark.skipif(_uv() is None, reason="needs uv (make setup bootstraps it)")
def test_figures_and_reports_at_the_lowest_and_highest_versions_the_project_allows(
    tmp_path: Path,
) -> None:
    """In throwaway environments with the lowest and the highest matplotlib, IPython, ipykernel
    and nbconvert the project's pyproject.toml allows (their own dependencies at the newest, as a
    resolver picks them), figures render in the background (the internals are as expected), the
    outputs equal inline rendering's, and each report page is nbconvert's lab page."""
    requirements = _allowed(
        (
            *("matplotlib", "numpy", "ipykernel", "ipython", "jupyter-client", "nbclient"),
            *("nbformat", "nbconvert"),
        )
    )
    for name in ("matplotlib", "ipykernel", "ipython", "nbconvert"):
        assert any(r.startswith(f"{name}>") for r in requirements), (name, requirements)
    cells = tmp_path / "cells.json"
    cells.write_text(json.dumps(['title = "shown"', *FIGURES]), encoding="utf-8")
    driver = Path(__file__).with_name("report_driver.py")
    seen = {}
    for resolution in ("lowest-direct", "highest"):
        venv = tmp_path / resolution
        uv = [_uv(), "--quiet"]
        subprocess.run([*uv, "venv", "--python", sys.executable, str(venv)], check=True)
        python = str(venv / "bin" / "python")
        install = [*uv, "pip", "install", "--python", python, "--resolution", resolution]
        subprocess.run([*install, *requirements], check=True, timeout=900)
        results = {}
        for mode in ("background", "inline"):
            figures = tmp_path / f"{resolution}-{mode}"
            figures.mkdir()
            done = subprocess.run(
                [python, str(driver), str(cells), mode, str(figures)],
                env={
                    **{k: v for k, v in os.environ.items() if k != "MPLBACKEND"},
                    "PYTHONPATH": str(PACKAGE_SRC),
                },
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert done.returncode == 0, done.stderr[-3000:]
            results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
        background, inline = results["background"], results["inline"]
        assert background["placeholders"] == 8, "the renderer fell back at " + resolution
        assert background["outputs"] == inline["outputs"], resolution
        for mode, result in results.items():
            report = result["report"]
            assert report["same_as_nbconvert"], f"{mode} report at {resolution}: not nbconvert's"
            assert report["images"] == 8, f"{mode} report at {resolution}: {report}"
        seen[resolution] = background["versions"]
    for name in ("matplotlib", "nbconvert"):
        assert seen["lowest-direct"][name] != seen["highest"][name], seen


def test_a_figure_that_cannot_be_rendered_says_so_in_its_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    cells = [UNRENDERABLE, "print('after')"]
    root = use_project(figures_project(tmp_path / "project", cells), monkeypatch)
    assert crisp("run") == 0, capsys.readouterr()
    cells = outputs(root / "reports" / "latest" / "00_figures.ipynb")
    failing = cells[0]
    assert png_count([failing]) == 0
    message = [o["text"] for o in failing if o.get("name") == "stderr"][-1]
    assert message.startswith("this figure was not rendered: ValueError:"), message
    assert cells[1] == [{"output_type": "stream", "name": "stdout", "text": "after\n"}]


def test_interrupted_while_rendering_leaves_no_renderer_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while a figure renders: the renderer dies with its kernel; the report says why."""
    marker = tmp_path / "next-cell-started"
    cells = ["import time", SLOW, f"open({str(marker)!r}, 'w').close()\ntime.sleep(120)"]
    root = use_project(figures_project(tmp_path / "project", cells), monkeypatch)
    proc = subprocess.Popen(
        [sys.executable, "-m", "crisp", "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None and not marker.exists():
        time.sleep(0.1)
    assert marker.exists(), proc.communicate(timeout=600)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, (out, err)
    assert wait_until_gone(root) == [], "a kernel or a figure renderer survived Ctrl-C"
    cells = outputs(root / "reports" / "latest" / "00_figures.ipynb")
    assert "the run stopped while it was rendering" in json.dumps(cells[1])
    assert (root / "reports" / "latest" / "00_figures.html").is_file()


# ------------------------------------------------------------------ fill, on its own


def _notebook_with_placeholder(file: str, pid: int) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("fig")
    metadata = {"image/png": {kernel_figures.KEY: {"file": file, "pid": pid}}}
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="before\n"),
        nbformat.v4.new_output(
            "display_data",
            data={"image/png": kernel_figures.PLACEHOLDER, "text/plain": "<Figure>"},
            metadata=metadata,
        ),
    ]
    nb.cells = [cell]
    return nb


def _exited_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_fill_puts_the_png_in_place_and_what_rendering_printed_before_it(tmp_path: Path) -> None:
    png = base64.b64encode(b"\x89PNG fake").decode()
    payload = {"data": png, "metadata": {"width": 10}, "stderr": "a warning\n"}
    (tmp_path / "0001.json").write_text(json.dumps(payload))
    nb = _notebook_with_placeholder("0001.json", _exited_pid())
    assert kernel_figures.fill(nb, tmp_path) == 1
    before, warning, figure = nb.cells[0].outputs
    assert before.text == "before\n"
    assert (warning.name, warning.text) == ("stderr", "a warning\n")
    assert figure.data == {"image/png": png, "text/plain": "<Figure>"}
    assert figure.metadata == {"image/png": {"width": 10}}
    nbformat.validate(nb)


@pytest.mark.parametrize(
    ("payload", "wait", "message"),
    [
        ({"error": "ValueError: bad", "stderr": ""}, True, "ValueError: bad"),
        (None, True, "its renderer process ended without a result"),
        (None, False, "the run stopped while it was rendering"),
    ],
    ids=["render-error", "renderer-died", "run-stopped"],
)
def test_fill_turns_a_missing_figure_into_a_message(
    tmp_path: Path, payload: dict | None, wait: bool, message: str
) -> None:
    if payload is not None:
        (tmp_path / "0001.json").write_text(json.dumps(payload))
    nb = _notebook_with_placeholder("0001.json", _exited_pid())
    assert kernel_figures.fill(nb, tmp_path, wait=wait) == 1
    before, error = nb.cells[0].outputs
    assert error.name == "stderr"
    assert error.text == f"this figure was not rendered: {message}\n"
    nbformat.validate(nb)


def test_fill_kills_a_renderer_that_takes_too_long(tmp_path: Path) -> None:
    stuck = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        nb = _notebook_with_placeholder("0001.json", stuck.pid)
        assert kernel_figures.fill(nb, tmp_path, timeout=0.5) == 1
        assert stuck.wait(timeout=10) == -signal.SIGKILL
    finally:
        stuck.kill()
    assert nb.cells[0].outputs[-1].text == (
        "this figure was not rendered: rendering took longer than 0.5 s\n"
    )


def test_no_more_figures_render_at_once_than_the_limit(tmp_path: Path) -> None:
    """A cell showing many figures: each waits for a free renderer (here 2) before it starts."""
    renderer = kernel_figures._Renderer(tmp_path, limit=2)

    def render() -> tuple[str, None]:
        started = time.time()
        time.sleep(0.2)
        return json.dumps([started, time.time()]), None

    shown = [renderer.submit(render) for _ in range(5)]
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [  # as IPython publishes a formatter's (data, metadata)
        nbformat.v4.new_output(
            "display_data", data={"image/png": data}, metadata={"image/png": metadata}
        )
        for data, metadata in filter(None, shown)
    ]
    nb.cells = [cell]
    assert kernel_figures.fill(nb, tmp_path) == 5
    spans = [json.loads(output.data["image/png"]) for output in cell.outputs]
    for start, _ in spans:
        assert sum(begin <= start < end for begin, end in spans) <= 2, spans


def test_figures_render_at_the_kernels_priority(tmp_path: Path) -> None:
    """The run waits for its figures: renderers keep the kernel's CPU priority (a lowered one gets
    almost no CPU on a machine busy with other work, and the run waited minutes for it)."""
    renderer = kernel_figures._Renderer(tmp_path)
    placeholder = renderer.submit(lambda: (str(os.getpriority(os.PRIO_PROCESS, 0)), None))
    assert placeholder is not None
    data, metadata = placeholder
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data", data={"image/png": data}, metadata={"image/png": metadata}
        )
    ]
    nb.cells = [cell]
    assert kernel_figures.fill(nb, tmp_path) == 1
    assert int(cell.outputs[0].data["image/png"]) == os.getpriority(os.PRIO_PROCESS, 0)


def test_a_notebook_without_placeholders_is_left_alone(tmp_path: Path) -> None:
    nb = _notebook_with_placeholder("0001.json", 1)
    del nb.cells[0].outputs[1].metadata["image/png"]
    before = json.dumps(nb)
    assert kernel_figures.fill(nb, tmp_path) == 0
    assert json.dumps(nb) == before
