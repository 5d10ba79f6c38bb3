"""Runs notebook cells in a Jupyter kernel of *this* interpreter's environment, with figures
rendered in the background (kernels/figures.py) or inline, and prints what a report would show:
the cells' outputs, and whether the report's HTML page (crisp.notebook_html) is nbconvert's.

Used by test_kernel_figures.py in throwaway environments holding the lowest and the highest
versions of matplotlib, IPython, ipykernel and nbconvert the project allows. Needs nbclient,
nbformat, nbconvert and the runner's source on PYTHONPATH (`crisp.kernels.figures` and
`crisp.notebook_html` are imported).

    python report_driver.py CELLS_JSON {background,inline} FIGURES_DIR
"""

from __future__ import annotations

import json
import os
import sys
from importlib import metadata
from pathlib import Path

import nbformat
from bs4 import BeautifulSoup
from crisp.notebook_html import ReportExporter
from jupyter_client import KernelManager
from nbclient import NotebookClient
from nbconvert import HTMLExporter

HEADING = "# Figures\n\nA *report*, a [link](https://jupyter.org) and math: $x^2$.\n\n$$y = 2x$$"


def coalesced(outputs: list[dict]) -> list[dict]:
    """Outputs as a reader sees them: consecutive stream chunks of one stream joined (how a
    kernel splits a stream into messages depends on timing), execution counts left out."""
    result: list[dict] = []
    for output in outputs:
        output = {k: v for k, v in output.items() if k != "execution_count"}
        last = result[-1] if result else None
        if (
            output.get("output_type") == "stream"
            and last is not None
            and last.get("output_type") == "stream"
            and last.get("name") == output.get("name")
        ):
            last["text"] += output["text"]
            continue
        result.append(output)
    return result


def page(html: str) -> tuple[list[tuple], str]:
    """Every tag of `html` (name, attributes, own text) and its whole text."""
    soup = BeautifulSoup(html, features="html.parser")
    tags = [
        (
            tag.name,
            sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in tag.attrs.items()),
            tag.string,
        )
        for tag in soup.find_all(True)
    ]
    return tags, soup.get_text()


def both(nb: nbformat.NotebookNode) -> tuple[str, str]:
    """(the report's page, nbconvert's lab page) of `nb`."""
    ours, _ = ReportExporter().from_notebook_node(nb)
    theirs, _ = HTMLExporter(template_name="lab", embed_images=True).from_notebook_node(nb)
    return ours, theirs


def main() -> None:
    cells, mode, figures = json.loads(Path(sys.argv[1]).read_text()), sys.argv[2], sys.argv[3]
    nb = nbformat.v4.new_notebook()
    # A report opens with text, as every phase notebook does (markdown, with math, goes through
    # nbconvert's own markdown filter).
    nb.cells = [
        nbformat.v4.new_markdown_cell(HEADING),
        *(nbformat.v4.new_code_cell(source) for source in cells),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    arguments = []
    if mode == "background":
        os.environ["CRISP_FIGURES_DIR"] = figures
        arguments = ["--IPKernelApp.extra_extensions=crisp.kernels.figures"]
    # The kernel lives until its figures are in (the renderers die with it), as in the runner.
    km = KernelManager(kernel_name="python3")
    km.start_kernel(extra_arguments=arguments)
    try:
        NotebookClient(nb, km=km, timeout=300).execute()
        from crisp.kernels import figures as kernel_figures

        placeholders = kernel_figures.fill(nb, Path(figures)) if mode == "background" else 0
    finally:
        km.shutdown_kernel(now=True)
    ours, theirs = both(nb)
    names = ("matplotlib", "ipython", "ipykernel", "nbconvert")
    print(
        json.dumps(
            {
                "outputs": [coalesced(c.outputs) for c in nb.cells if c.cell_type == "code"],
                "placeholders": placeholders,
                "report": {
                    "same_as_nbconvert": page(ours) == page(theirs),
                    "images": ours.count("<img"),
                },
                "versions": {name: metadata.version(name) for name in names},
            }
        )
    )


if __name__ == "__main__":
    main()
