"""Console progress of a run: one line per phase, `[3/7] 03_modelling ... ok 12.3s  QA 3/3`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from .records import PhaseRecord, RunRecord


def _short(seconds: float | None) -> str:
    return f"{seconds:.1f}s" if seconds is not None else ""


class ConsoleProgress:
    """Prints one line per phase: `[3/7] 03_modelling ... ok 12.3s  QA 3/3`."""

    def __init__(self, root: Path, out: TextIO | None = None) -> None:
        self.root = root
        self.out = out

    def _print(self, text: str, end: str = "\n") -> None:
        print(text, end=end, file=self.out or sys.stdout, flush=True)

    def _path(self, path: Path | str) -> str:
        """Relative to the working directory when inside it (the usual case), else absolute."""
        target = (self.root / path).resolve()
        cwd = Path.cwd().resolve()
        return str(target.relative_to(cwd)) if target.is_relative_to(cwd) else str(target)

    def run_started(self, record: RunRecord) -> None:
        self._print(f"run {record.run_id} ({self._path(record.run_dir)})")

    def phase_started(self, index: int, total: int, record: PhaseRecord) -> None:
        self._print(f"[{index}/{total}] {record.name} ... ", end="")

    def phase_finished(self, index: int, total: int, record: PhaseRecord) -> None:
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
