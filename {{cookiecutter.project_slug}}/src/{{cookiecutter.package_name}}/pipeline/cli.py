"""The `crisp` command: `crisp run` runs the outdated phases, `crisp status` says which and why."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from ..params import ParamsError
from . import history, model_commands
from .kernels import DEFAULT_MODE, MODES
from .phases import PhaseError
from .records import PhaseRecord, RunRecord
from .runner import RunBusyError

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crisp",
        description="Run the CRISP-ML(Q) phase notebooks with papermill and report on them.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="run the phases in order (skipping those that are up to date)",
        description="Run the phase notebooks in order; phases whose inputs did not change since "
        "their last successful run are skipped unless --force is given.",
    )
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a parameter of params.yaml for this run (value read as YAML); repeatable",
    )
    run.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="fail a cell that runs longer than this (default: 3600)",
    )
    _add_selection(run)
    run.add_argument(
        "--force", action="store_true", help="run the selected phases even when up to date"
    )
    run.add_argument(
        "--kernel-start",
        choices=MODES,
        default=DEFAULT_MODE,
        help="how phase kernels start: forked from a server that has imported the libraries "
        "once (fast; default on Linux) or spawned fresh (default: %(default)s)",
    )
    status = commands.add_parser(
        "status",
        help="list each phase as up to date or outdated, and why",
        description="Compare each phase's notebook, parameters, helper code, input and output "
        "files with its last successful run; nothing is executed.",
    )
    status.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="as for `crisp run`: show what such a run would execute",
    )
    model_commands.add_commands(commands)
    history.add_commands(commands)
    return parser


def _add_selection(command: argparse.ArgumentParser) -> None:
    command.add_argument("--from", dest="start", metavar="PHASE", help="start at this phase")
    command.add_argument("--to", dest="stop", metavar="PHASE", help="stop after this phase")
    command.add_argument(
        "--only",
        action="append",
        metavar="PHASE",
        help="run just this phase (repeatable); PHASE is 03, 3, modelling or 03_modelling",
    )


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


def _run(args: argparse.Namespace, argv: list[str], root: Path) -> int:
    from .runner import RunOptions, run

    options = RunOptions(
        overrides=args.overrides,
        start=args.start,
        stop=args.stop,
        only=args.only,
        force=args.force,
        kernel_start=args.kernel_start,
        command=["crisp", *argv],
    )
    if args.timeout is not None:
        if args.timeout <= 0:
            raise ParamsError(f"--timeout {args.timeout:g} must be a positive number of seconds")
        options.timeout = args.timeout
    record = run(options, ConsoleProgress(root), root)
    if record.status == "interrupted":
        return EXIT_INTERRUPTED
    return 0 if record.status == "succeeded" else EXIT_FAILED


def _status(args: argparse.Namespace, root: Path) -> int:
    from .runner import RunOptions, status

    lines = status(RunOptions(overrides=args.overrides), root)
    width = max(len(name) for name, _, _ in lines)
    for name, state, why in lines:
        print(f"{name:<{width}}  {state:<10}  {why}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `crisp` and `python -m <package>.pipeline`; returns the exit code."""
    from .. import paths
    from .kernels import Terminated, raise_on_sigterm

    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    root = paths.project_root()
    raise_on_sigterm()
    try:
        if args.command == "status":
            return _status(args, root)
        if args.command in model_commands.COMMANDS:
            return model_commands.dispatch(args, argv, root)
        if args.command in history.COMMANDS:
            return history.dispatch(args, argv, root)
        return _run(args, argv, root)
    except (ParamsError, PhaseError, RunBusyError) as exc:
        print(f"crisp: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        # The phase's own handling re-raises it as PhaseInterrupted, from the original.
        terminated = any(isinstance(e, Terminated) for e in (exc, exc.__cause__, exc.__context__))
        what = "terminated (SIGTERM)" if terminated else "interrupted"
        print(f"\ncrisp: {what}; kernels stopped, run record kept", file=sys.stderr)
        return Terminated.exit_code if terminated else EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
