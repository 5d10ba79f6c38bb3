"""Console progress of a run: one line per phase, `[3/7] 03_modelling ... ok 12.3s  QA 3/3`.

What a phase's cells print (progress of a long search, a line per candidate) shows while it runs,
indented under the phase's line, which is then repeated with the outcome:

    [4/7] 03_modelling ...
          logistic_regression: fold 1/5
          ...
    [4/7] 03_modelling ... ok 66.3s  QA 3/3
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from .records import PhaseRecord, RunRecord


def _short(seconds: float | None) -> str:
    return f"{seconds:.1f}s" if seconds is not None else ""


INDENT = " " * 6


def _latest(text: str) -> str:
    """What a terminal would show of a line rewritten with carriage returns: its last state."""
    return next((part for part in reversed(text.split("\r")) if part), "")


class ConsoleProgress:
    """Prints one line per phase: `[3/7] 03_modelling ... ok 12.3s  QA 3/3`, and, indented, what
    its cells print while it runs."""

    def __init__(self, root: Path, out: TextIO | None = None) -> None:
        self.root = root
        self.out = out
        self._header = ""  # `[3/7] 03_modelling ... ` of the running phase
        self._open = False  # the header is on the screen without its end of line
        self._partial = ""  # printed text not yet ended by a newline
        self._shown_partial = False  # a partial line is on the screen (terminals only)

    def _print(self, text: str, end: str = "\n") -> None:
        print(text, end=end, file=self.out or sys.stdout, flush=True)

    def _terminal(self) -> bool:
        stream = self.out or sys.stdout
        return bool(getattr(stream, "isatty", lambda: False)())

    def phase_output(self, text: str) -> None:
        """Text a cell of the running phase printed (stdout or stderr), shown line by line.

        A carriage return starts the line again (progress bars): on a terminal the latest state
        of the line is shown in place; elsewhere (a log) only the line as it ends.
        """
        if self._open:
            self._print("")  # end the phase's line: output follows under it
            self._open = False
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            self._line(_latest(line), final=True)
        latest = _latest(self._partial)
        if latest and self._terminal():
            self._line(latest, final=False)

    def _line(self, text: str, final: bool) -> None:
        if self._terminal():
            self._print(f"\r\033[K{INDENT}{text}", end="\n" if final else "")
            self._shown_partial = not final
        else:
            self._print(f"{INDENT}{text}".rstrip())

    def _end_output(self) -> None:
        """Before the phase's outcome: what is left of its output, on a line of its own."""
        rest = _latest(self._partial)
        self._partial = ""
        if rest:
            self._line(rest, final=True)
        elif self._shown_partial:
            self._print("\r\033[K", end="")
        self._shown_partial = False

    def _path(self, path: Path | str) -> str:
        """Relative to the working directory when inside it (the usual case), else absolute."""
        target = (self.root / path).resolve()
        cwd = Path.cwd().resolve()
        return str(target.relative_to(cwd)) if target.is_relative_to(cwd) else str(target)

    def run_started(self, record: RunRecord) -> None:
        self._print(f"run {record.run_id} ({self._path(record.run_dir)})")

    def phase_started(self, index: int, total: int, record: PhaseRecord) -> None:
        self._header = f"[{index}/{total}] {record.name} ... "
        self._print(self._header, end="")
        self._open = True

    def phase_finished(self, index: int, total: int, record: PhaseRecord) -> None:
        if not self._open:  # output came in between: the phase's line again, with its outcome
            self._end_output()
            self._print(self._header, end="")
        self._open = False
        qa = ""
        if record.quality:
            qa = f"  QA {record.quality['passed']}/{record.quality['total']}"
        if record.status == "up to date":
            self._print(f"up to date{qa}")
        elif record.status == "succeeded":
            self._print(f"ok {_short(record.duration_s)}{qa}")
        else:
            self._print(f"{record.status.upper()} {_short(record.duration_s)}{qa}")

    def phase_skipped(self, index: int, total: int, record: PhaseRecord) -> None:
        self.phase_started(index, total, record)
        self.phase_finished(index, total, record)

    def run_finished(self, record: RunRecord, index_html: Path) -> None:
        failed = next((p for p in record.phases if p.status in ("failed", "interrupted")), None)
        if failed is not None and failed.error:
            error = failed.error
            cell = (
                f" in cell In [{error['execution_count']}]" if error.get("execution_count") else ""
            )
            lines = str(error.get("evalue", "")).strip().splitlines() or [""]
            if lines[0].endswith(":") and len(lines) > 1:  # "N QA checks failed:" names no cause
                lines[:2] = [f"{lines[0]} {lines[1].strip()}"]
            message = lines[0] + (
                f" (+{len(lines) - 1} lines in the report)" if len(lines) > 1 else ""
            )
            self._print(f"{failed.name} failed{cell}: {error.get('ename')}: {message}")
            if failed.report:
                self._print(f"  report: {self._path(failed.report)}")
        report = self._path(index_html.relative_to(self.root))
        if all(p.status == "up to date" for p in record.phases):
            self._print("all phases up to date (crisp run --force runs them again)")
            self._print(f"last report: {report}")
            return
        not_run = [p.name for p in record.phases if p.status == "not run"]
        if not_run:
            self._print(f"not run: {', '.join(not_run)}")
        self._print(f"run {record.status}: {report}")
