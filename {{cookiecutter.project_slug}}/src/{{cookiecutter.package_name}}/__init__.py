"""Helper package of this CRISP-ML(Q) project: all logic the phase notebooks call."""

from __future__ import annotations

import os
from typing import Any

__version__ = "0.1.0"


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext <this package>` in a notebook: edited helper modules reload before each cell.

    That is IPython's `%autoreload 2`, switched on when you work in JupyterLab. A pipeline run
    (`crisp run`, which sets CRISP_RUN_DIR) executes each notebook once in a fresh kernel: there is
    nothing to reload, and the check before every cell (a stat of each loaded module) is skipped.
    """
    if os.environ.get("CRISP_RUN_DIR"):
        return
    ipython.run_line_magic("load_ext", "autoreload")
    ipython.run_line_magic("autoreload", "2")
