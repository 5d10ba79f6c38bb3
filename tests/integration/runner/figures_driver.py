"""Runs notebook cells in a Jupyter kernel of *this* interpreter's environment, with figures
rendered in the background (kernels/figures.py) or inline, and prints what a report would show.

Used by test_kernel_figures.py in throwaway environments holding the lowest and the highest
versions of matplotlib, IPython and ipykernel the project allows. Needs nbclient, nbformat and
the runner's source on PYTHONPATH (only `crisp.kernels.figures` is imported).

    python figures_driver.py CELLS_JSON {background,inline} FIGURES_DIR
"""

from __future__ import annotations

import json
import os
import sys
from importlib import metadata
from pathlib import Path

import nbformat
from jupyter_client import KernelManager
from nbclient import NotebookClient


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


def main() -> None:
    cells, mode, figures = json.loads(Path(sys.argv[1]).read_text()), sys.argv[2], sys.argv[3]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
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
    versions = {name: metadata.version(name) for name in ("matplotlib", "ipython", "ipykernel")}
    print(
        json.dumps(
            {
                "outputs": [coalesced(cell.outputs) for cell in nb.cells],
                "placeholders": placeholders,
                "versions": versions,
            }
        )
    )


if __name__ == "__main__":
    main()
