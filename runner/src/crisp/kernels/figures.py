"""Figures in a pipeline kernel: drawn and rendered beside the kernel, on another CPU core.

After each cell, Jupyter draws every figure the cell changed (pyplot's interactive redraw), then
the inline backend renders each figure shown to a PNG, drawing it again. That is 0.1-1 s per
figure, with dozens of figures per run. In a pipeline kernel (`crisp run`):

- when a figure is shown, the kernel forks a child that renders that snapshot of the figure
  exactly as Jupyter would (the redraw's layout pass first, then the inline backend's own PNG
  settings) and writes it to the phase's figures folder; the kernel goes on with the next cell
  meanwhile;
- the output holds a placeholder that names the file; `fill`, in the runner, puts each PNG in its
  place once the notebook has run, before its report is written. The PNGs are identical to the
  ones Jupyter shows.

Only PNG figures are rendered this way; other formats, and systems without `os.fork`, render in
the kernel as usual.

This reaches into IPython and matplotlib internals (the PNG formatter's class, pyplot's redraw
callback `_draw_all_if_interactive`, `Figure.draw_without_rendering`). `unexpected_internals`
checks them before each cell and before each figure; when one is not what this module expects,
the kernel goes back to rendering figures the normal inline way for the rest of the phase (and
says so in its log), so the report is right either way. `crisp run --figures inline` (or
`CRISP_FIGURES=inline`) never enables it.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import gc
import io
import json
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENV_VAR = "CRISP_FIGURES_DIR"  # set by the runner for each phase's kernel
KEY = "crisp_background_figure"  # in the placeholder's metadata: {"file": ..., "pid": ...}
# A 1x1 transparent PNG: stands in for the figure until the runner fills it in.
PLACEHOLDER = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
_PR_SET_PDEATHSIG = 1
_DRAW_FIRST = "_crisp_draw_first"  # on a figure pyplot's redraw after the cell would have drawn


# In the kernel ---------------------------------------------------------------------------------


def load_ipython_extension(ipython: Any) -> None:
    """Loaded by every pipeline kernel as it starts (the runner's kernel options)."""
    enable(ipython)


def unexpected_internals(shell: Any) -> str | None:
    """What is not as this module expects in `shell` and the libraries loaded (None: all is)."""
    events = getattr(shell, "events", None)
    if not isinstance(getattr(events, "callbacks", None), dict) or not isinstance(
        events.callbacks.get("post_execute"), list
    ):
        return "IPython's post_execute callbacks are not a list"
    figure = sys.modules.get("matplotlib.figure")
    if figure is not None and not callable(getattr(figure.Figure, "draw_without_rendering", None)):
        return "matplotlib's Figure has no draw_without_rendering"
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None and not callable(getattr(pyplot, "_draw_all_if_interactive", None)):
        return "matplotlib.pyplot has no _draw_all_if_interactive"
    if pyplot is not None and not hasattr(sys.modules.get("matplotlib._pylab_helpers"), "Gcf"):
        return "matplotlib._pylab_helpers has no Gcf"
    return None


def enable(shell: Any, directory: str | None = None) -> bool:
    """Draw and render the figures `shell` shows in forked children.

    `directory` defaults to `$CRISP_FIGURES_DIR`; without it (or without os.fork, or with
    internals other than expected), PNGs render in the kernel as usual. Returns whether they
    now render in the background.
    """
    directory = directory or os.environ.get(ENV_VAR)
    if not directory or not hasattr(os, "fork"):
        return False
    from IPython.core.formatters import PNGFormatter

    formatter = shell.display_formatter.formatters.get("image/png")
    if type(formatter) is not PNGFormatter:  # someone else's formatter: leave it alone
        return False
    problem = unexpected_internals(shell)
    if problem is not None:
        _say_inline(problem)
        return False
    Path(directory).mkdir(parents=True, exist_ok=True)
    background = _Background(shell, formatter, _Renderer(Path(directory)))

    class BackgroundPNGFormatter(PNGFormatter):  # type: ignore[misc]
        """The PNG formatter, whose figures render in a child process."""

        def __call__(self, obj: Any) -> Any:
            figure = sys.modules.get("matplotlib.figure")
            if figure is None or not isinstance(obj, figure.Figure):
                return super().__call__(obj)
            problem = unexpected_internals(shell)
            if problem is not None:
                background.stop(problem)
                return _inline(self, obj)

            def render() -> Any:
                if getattr(obj, _DRAW_FIRST, False):
                    # The redraw's layout and artist updates, without painting pixels that the
                    # PNG's own draw paints again: the same PNG, 10-15% sooner.
                    obj.draw_without_rendering()
                return PNGFormatter.__call__(self, obj)

            placeholder = background.renderer.submit(render)
            if placeholder is None:  # could not fork: here, then
                return render()
            with contextlib.suppress(AttributeError):
                delattr(obj, _DRAW_FIRST)
            return placeholder

    # The inline backend registers its figure printer on this very object, possibly later
    # (when pyplot first draws): the class changes, the registrations stay.
    formatter.__class__ = BackgroundPNGFormatter
    shell.events.register("pre_execute", background.before_cell)
    return True


def _inline(formatter: Any, figure: Any) -> Any:
    """Render `figure` here, as the inline backend does (drawn first if the redraw was left)."""
    from IPython.core.formatters import PNGFormatter

    if getattr(figure, _DRAW_FIRST, False):
        with contextlib.suppress(AttributeError):
            delattr(figure, _DRAW_FIRST)
        figure.canvas.draw()
    return PNGFormatter.__call__(formatter, figure)


def _say_inline(problem: str) -> None:
    """A line in the kernel's log (reports/<run>/<phase>/kernel.log)."""
    print(f"crisp: figures render inline in this kernel: {problem}", file=sys.__stderr__)


class _Background:
    """The background rendering of one kernel, and the way back to inline rendering."""

    def __init__(self, shell: Any, formatter: Any, renderer: _Renderer) -> None:
        self.shell = shell
        self.formatter = formatter
        self.renderer = renderer
        self.redraw: Any = None  # pyplot's own redraw, once replaced
        self.replacement: Any = None

    def before_cell(self) -> None:
        """Before each cell: check the internals (else stop), then patch pyplot's redraw."""
        problem = unexpected_internals(self.shell)
        if problem is not None:
            self.stop(problem)
            return
        _redraw_in_renderer_when_inline(self)

    def stop(self, problem: str) -> None:
        """Render inline from now on: the formatter, the redraw and the hook as they were."""
        from IPython.core.formatters import PNGFormatter

        if type(self.formatter) is PNGFormatter:
            return  # stopped already
        self.formatter.__class__ = PNGFormatter
        with contextlib.suppress(ValueError):
            self.shell.events.unregister("pre_execute", self.before_cell)
        pyplot = sys.modules.get("matplotlib.pyplot")
        if self.redraw is not None and pyplot is not None:
            pyplot._draw_all_if_interactive = self.redraw
            callbacks = self.shell.events.callbacks.get("post_execute", [])
            callbacks[:] = [self.redraw if cb is self.replacement else cb for cb in callbacks]
        # Figures left to the renderer by the redraw after the last cell are drawn when shown.
        _say_inline(problem)


def _redraw_in_renderer_when_inline(background: _Background) -> None:
    """Before each cell, once pyplot is imported: its redraw after cells leaves inline figures
    to the renderer (marked, they are drawn there first).

    pyplot registers the redraw (`_draw_all_if_interactive`) as a post-execute callback when
    its backend is set, which happens in the cell that makes the first figure; patched here, it
    registers this version instead (and one already registered is swapped).
    """
    shell = background.shell
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None or getattr(pyplot._draw_all_if_interactive, "_crisp", False):
        return
    redraw = pyplot._draw_all_if_interactive
    from matplotlib._pylab_helpers import Gcf

    def draw_all_unless_inline() -> None:
        # The raw setting: reading rcParams["backend"] would pick a backend when none is set.
        if "inline" not in str(dict.__getitem__(pyplot.rcParams, "backend")):
            redraw()
            return
        # What the redraw would have drawn is drawn by the renderer, first: the same two
        # passes of layout, so the PNG is exactly the one Jupyter would show.
        for manager in Gcf.get_all_fig_managers():
            if manager.canvas.figure.stale:
                setattr(manager.canvas.figure, _DRAW_FIRST, True)

    draw_all_unless_inline._crisp = True  # type: ignore[attr-defined]
    background.redraw, background.replacement = redraw, draw_all_unless_inline
    pyplot._draw_all_if_interactive = draw_all_unless_inline
    callbacks = shell.events.callbacks["post_execute"]
    callbacks[:] = [draw_all_unless_inline if cb is redraw else cb for cb in callbacks]


class _Renderer:
    """Forks one child per figure shown; each writes `<n>.json` into `directory`.

    At most `limit` children render at once (four per CPU: the figures of a cell or two; one per
    CPU would keep the kernel waiting): a loop that shows hundreds of figures waits for one to
    finish before the next starts, as it would wait for its own rendering, instead of forking
    hundreds of processes.
    """

    def __init__(self, directory: Path, limit: int | None = None) -> None:
        self.directory = directory
        self.limit = limit or 4 * _cpus()
        self.count = 0
        self.children: list[int] = []

    def submit(self, render: Callable[[], Any]) -> tuple[str, dict[str, Any]] | None:
        """Start rendering; the placeholder and its metadata, or None to render here."""
        self._reap()
        while len(self.children) >= self.limit:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.children[0], 0)
            del self.children[0]
        self.count += 1
        name = f"{self.count:04d}.json"
        try:
            with warnings.catch_warnings():  # "this process is multi-threaded" (Python >= 3.12)
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError:
            return None
        if pid == 0:
            _render_child(render, self.directory / name)
        self.children.append(pid)
        return PLACEHOLDER, {KEY: {"file": name, "pid": pid}}

    def _reap(self) -> None:
        """Collect children that have finished (they would stay zombies until the kernel ends)."""
        for pid in list(self.children):
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == 0:
                    continue
            self.children.remove(pid)


def _cpus() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _render_child(render: Callable[[], Any], target: Path) -> None:
    """In the forked child: render, write the result as JSON, exit without any cleanup."""
    code = 1
    try:
        gc.disable()  # a short-lived child: never finalize the kernel's objects (its sockets)
        _die_with_parent()
        captured = io.StringIO()  # the kernel's streams belong to its I/O thread, absent here
        sys.stdout = sys.stderr = captured
        try:
            result = render()
            data, metadata = result if isinstance(result, tuple) else (result, None)
            if isinstance(data, bytes):
                data = base64.b64encode(data).decode("ascii")
            payload: dict[str, Any] = {"data": data, "metadata": metadata}
        except Exception as exc:
            payload = {"error": f"{type(exc).__name__}: {exc}"}
        payload["stderr"] = captured.getvalue()
        partial = target.with_suffix(".tmp")
        partial.write_text(json.dumps(payload), encoding="utf-8")
        os.replace(partial, target)
        code = 0
    finally:
        os._exit(code)


def _die_with_parent() -> None:
    """Linux: the child is killed when the kernel is (no renderer outlives its kernel)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the kernel was already gone
        os._exit(1)


# In the runner ---------------------------------------------------------------------------------


def fill(nb: Any, directory: Path, wait: bool = True, timeout: float = 120.0) -> int:
    """Replace the placeholders in the executed notebook `nb` by the rendered figures.

    With `wait`, waits for figures still rendering (each at most `timeout` seconds, then its
    child is killed); without, takes what is done. A figure that could not be rendered becomes
    an error message in its cell; what rendering printed (warnings) comes before the figure, as
    it would have. Returns the number of placeholders replaced.
    """
    from nbformat.v4 import new_output

    replaced = 0
    for cell in nb.get("cells", []):
        if not any(_placeholder(output) for output in cell.get("outputs", [])):
            continue
        outputs = []
        for output in cell["outputs"]:
            placeholder = _placeholder(output)
            if placeholder is None:
                outputs.append(output)
                continue
            payload = _collect(directory / placeholder["file"], placeholder["pid"], wait, timeout)
            replaced += 1
            if payload.get("stderr"):
                outputs.append(new_output("stream", name="stderr", text=payload["stderr"]))
            if "data" not in payload:
                message = f"this figure was not rendered: {payload['error']}\n"
                outputs.append(new_output("stream", name="stderr", text=message))
                continue
            output["data"]["image/png"] = payload["data"]
            if payload.get("metadata"):
                output["metadata"]["image/png"] = payload["metadata"]
            else:
                del output["metadata"]["image/png"]
            outputs.append(output)
        cell["outputs"] = outputs
    return replaced


def _placeholder(output: Any) -> dict[str, Any] | None:
    return output.get("metadata", {}).get("image/png", {}).get(KEY)


def _collect(path: Path, pid: int, wait: bool, timeout: float) -> dict[str, Any]:
    """The child's JSON result, once it is there; an error when the child is gone without one."""
    deadline = time.monotonic() + timeout
    while True:
        if (result := _result(path)) is not None:
            return result
        if not wait:
            return {"error": "the run stopped while it was rendering"}
        if not _running(pid):  # it may have finished just now
            return _result(path) or {"error": "its renderer process ended without a result"}
        if time.monotonic() > deadline:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            return {"error": f"rendering took longer than {timeout:g} s"}
        time.sleep(0.005)


def _result(path: Path) -> dict[str, Any] | None:
    """The JSON a renderer wrote (it appears whole: written aside, then renamed), or None."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def _running(pid: int) -> bool:
    """Whether process `pid` is running (not gone, not a zombie awaiting its parent)."""
    if Path("/proc/self").exists():  # Linux: a zombie still exists for os.kill
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[-1].split()[0] != "Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # the pid now belongs to another user's process
        return False
    return True
