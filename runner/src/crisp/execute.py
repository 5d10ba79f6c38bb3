"""Execute one phase's notebook with papermill in a kernel the pool started for it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import papermill
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.exceptions import PapermillExecutionError
from papermill.log import logger
from papermill.utils import merge_kwargs, remove_args

from .notebooks import stable_injected_id
from .phases import Phase

if TYPE_CHECKING:
    from jupyter_client import KernelManager

ENGINE = "crisp"


@dataclass
class PhaseResult:
    """Outcome of executing one phase: status, timing, the executed notebook, the error if any."""

    phase: str
    status: str  # "succeeded" | "failed"
    duration_s: float
    notebook: Path
    error: dict[str, Any] | None = None
    nb: Any = field(default=None, repr=False)  # the executed NotebookNode, for the HTML export


class PhaseInterrupted(KeyboardInterrupt):
    """Ctrl-C during a phase; carries the notebook executed so far."""

    def __init__(self, nb: Any) -> None:
        super().__init__("interrupted")
        self.nb = nb


def _mark_failed(nb: Any, ename: str, evalue: str) -> None:
    """Put an error output into the cell that was running, as if the cell had raised."""
    started = [
        cell
        for cell in nb.cells
        if cell.get("cell_type") == "code" and cell.metadata.get("papermill", {}).get("start_time")
    ]
    if not started:
        return
    cell = started[-1]
    cell.outputs.append(
        nbformat.v4.new_output(
            "error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]
        )
    )
    cell.metadata.papermill["exception"] = True
    cell.metadata.papermill["status"] = "failed"
    nb.metadata.papermill["exception"] = True


class _Engine(NBClientEngine):
    """papermill's nbclient engine for a kernel the runner owns.

    Differences: a dead kernel or a cell timeout becomes an error output in the cell that was
    running (papermill then writes the notebook with the error where it happened and raises
    PapermillExecutionError, as for an exception in the notebook's code); and the kernel client
    is closed afterwards (nbclient leaves it open when it does not own the kernel).
    """

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: float = 60,
        execution_timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        # As NBClientEngine.execute_managed_notebook, keeping hold of the client.
        stable_injected_id(nb_man.nb)  # the same id in every run: diffs show real changes only
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        client = PapermillNotebookClient(
            nb_man,
            **merge_kwargs(
                safe_kwargs,
                timeout=execution_timeout or kwargs.get("timeout"),
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log=logger,
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
            ),
        )
        try:
            return client.execute()
        except CellTimeoutError:
            _mark_failed(
                nb_man.nb,
                "CellTimeoutError",
                f"the cell ran longer than the timeout of {execution_timeout:g} s; "
                "raise it with `crisp run --timeout SECONDS`",
            )
        except DeadKernelError as exc:
            _mark_failed(
                nb_man.nb,
                "DeadKernelError",
                f"the kernel died while running this cell (out of memory or a crash): {exc}",
            )
        except KeyboardInterrupt as exc:
            _mark_failed(nb_man.nb, "KeyboardInterrupt", "the run was interrupted")
            raise PhaseInterrupted(nb_man.nb) from exc
        finally:
            if client.kc is not None:
                client.kc.stop_channels()
        return nb_man.nb


papermill_engines.register(ENGINE, _Engine)


class _Forward:
    """A file-like object handing what is written to it to `write` (papermill's stdout_file)."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write

    def flush(self) -> None:
        """Nothing is buffered here."""


def run_phase(
    phase: Phase,
    parameters: dict[str, Any],
    run_dir: Path,
    km: KernelManager,
    timeout: float | None,
    printed: Callable[[str], None] | None = None,
    kernel_name: str = "python3",
) -> PhaseResult:
    """Run `phase` into `<run_dir>/<phase>.ipynb`; failures are captured, not raised.

    `printed` receives what the cells print (stdout and stderr) as they run; the executed notebook
    keeps it too. KeyboardInterrupt is re-raised after the partly executed notebook is written.
    """
    streams = {}
    if printed is not None:
        streams = {"stdout_file": _Forward(printed), "stderr_file": _Forward(printed)}
    output = Path(run_dir) / f"{phase.name}.ipynb"
    started = time.perf_counter()
    nb = None
    error = None
    try:
        nb = papermill.execute_notebook(
            str(phase.notebook),
            str(output),
            parameters=parameters,
            engine_name=ENGINE,
            kernel_name=kernel_name,
            km=km,
            progress_bar=False,
            # One save at the end (or at the failure) instead of two per cell.
            request_save_on_cell_execute=False,
            execution_timeout=timeout,
            **streams,
        )
    except PapermillExecutionError as exc:
        error = {
            "cell": exc.cell_index,
            "execution_count": exc.exec_count,
            "ename": exc.ename,
            "evalue": exc.evalue,
        }
    except PhaseInterrupted as exc:
        nbformat.write(exc.nb, str(output))
        raise
    duration = time.perf_counter() - started
    return PhaseResult(
        phase=phase.name,
        status="failed" if error else "succeeded",
        duration_s=round(duration, 3),
        notebook=output,
        error=error,
        nb=nb,
    )
