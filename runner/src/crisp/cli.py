"""The `crisp` command: `crisp run` runs the outdated phases, `crisp status` says which and why,
`crisp params` checks params.yaml against the notebooks' parameters cells (or writes it).

`crisp runs` and `crisp compare` read the run history. A project adds its own commands (predict,
serve, ...) through `[tool.crisp] commands`: a module whose `add_commands(subparsers)` adds them
and returns `{name: handler(args, argv, root) -> exit code}`.

Exit codes: 0 done, 1 a phase failed (or `crisp params` found problems), 2 a user error found
before anything ran, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import history
from .interrupts import Interrupts, Terminated, raise_on_sigterm
from .kernels import DEFAULT_MODE, MODES
from .lock import RunBusyError
from .params import ParamsError
from .phases import PhaseError
from .project import Project, ProjectError
from .project import load as load_project

Handler = Callable[[argparse.Namespace, list[str], Path], int]
RUNNER_COMMANDS = ("run", "status", "params", "export", *history.COMMANDS)

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _parser(
    project: Project | None, with_project_commands: bool
) -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
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
        "--run-id",
        type=_run_id,
        metavar="RUN_ID",
        help="record into run RUN_ID, continuing it when it exists: several `crisp run` calls "
        "(e.g. one Airflow task per phase) make one run record",
    )
    run.add_argument(
        "--kernel-start",
        choices=MODES,
        default=DEFAULT_MODE,
        help="how phase kernels start: forked from a server that has imported the libraries "
        "once (fast; default on Linux) or spawned fresh (default: %(default)s)",
    )
    from .runner import FIGURES, FIGURES_ENV_VAR, default_figures

    run.add_argument(
        "--figures",
        choices=FIGURES,
        default=default_figures(),
        help="render figures in the background, beside the kernel (fast), or inline in the "
        f"kernel as Jupyter does (default: %(default)s; ${FIGURES_ENV_VAR}=inline sets inline)",
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
    _add_selection(status)
    params = commands.add_parser(
        "params",
        help="check params.yaml against the notebooks' parameters cells (or write it)",
        description="Check that params.yaml and the notebooks' parameters cells agree: no key "
        "that no notebook declares, no declared key missing, shared keys declared the same in "
        "every notebook, every value of its declared type and range. With --write, write "
        "params.yaml from the cells, keeping the values it has.",
    )
    params.add_argument(
        "--write",
        action="store_true",
        help="write params.yaml from the parameters cells, keeping the values already set",
    )
    export = commands.add_parser(
        "export",
        help="write the pipeline for an orchestrator (`crisp export airflow`: an Airflow DAG)",
        description="Write the pipeline for an orchestrator to run.",
    )
    targets = export.add_subparsers(dest="target", required=True, metavar="TARGET")
    airflow = targets.add_parser(
        "airflow",
        help="an Airflow DAG file: one task per phase, each running `crisp run --to PHASE`",
        description="Write an Airflow DAG: one task per phase in phase order; each task runs "
        "`crisp run --to PHASE --run-id ID` in the project (one run record per DAG run).",
    )
    from .export import airflow as export_airflow

    export_airflow.add_arguments(airflow)
    handlers: dict[str, Handler] = dict(history.add_commands(commands))
    if with_project_commands and project is not None and project.commands:
        try:
            module = importlib.import_module(project.commands)
        except ImportError as exc:
            raise ProjectError(
                f"[tool.crisp] commands = {project.commands!r} cannot be imported ({exc}); "
                "fix it in pyproject.toml or rebuild the environment (`make setup`)"
            ) from None
        handlers.update(module.add_commands(commands))
    return parser, handlers


def _run_id(value: str) -> str:
    """A run id given on the command line: a folder name under reports/."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", value) or value == "latest":
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a run id: up to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (and not 'latest')"
        )
    return value


def _add_selection(command: argparse.ArgumentParser) -> None:
    command.add_argument("--from", dest="start", metavar="PHASE", help="start at this phase")
    command.add_argument("--to", dest="stop", metavar="PHASE", help="stop after this phase")
    command.add_argument(
        "--only",
        action="append",
        metavar="PHASE",
        help="run just this phase (repeatable); PHASE is 03, 3, modelling or 03_modelling",
    )


def _run(args: argparse.Namespace, argv: list[str], project: Project) -> int:
    from .console import ConsoleProgress
    from .runner import RunOptions, run

    options = RunOptions(
        overrides=args.overrides,
        start=args.start,
        stop=args.stop,
        only=args.only,
        force=args.force,
        kernel_start=args.kernel_start,
        figures=args.figures,
        command=["crisp", *argv],
        run_id=args.run_id,
    )
    if args.timeout is not None:
        if args.timeout <= 0:
            raise ParamsError(f"--timeout {args.timeout:g} must be a positive number of seconds")
        options.timeout = args.timeout
    record = run(options, ConsoleProgress(project.root), project)
    return 0 if record.status == "succeeded" else EXIT_FAILED


def _params(args: argparse.Namespace, project: Project) -> int:
    from . import paramfile

    if args.write:
        path = paramfile.write(project)
        print(f"wrote {path.name} from the parameters cells of {project.notebooks}/")
        return 0
    problems = paramfile.check(project)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {project.params}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{project.params} agrees with the parameters cells of {project.notebooks}/")
    return 0


def _status(args: argparse.Namespace, project: Project) -> int:
    from .runner import RunOptions, status

    options = RunOptions(overrides=args.overrides, start=args.start, stop=args.stop, only=args.only)
    lines = status(options, project)
    width = max(len(name) for name, _, _ in lines)
    for name, state, why in lines:
        print(f"{name:<{width}}  {state:<10}  {why}")
    return 0


def _export(args: argparse.Namespace, project: Project) -> int:
    from .export import airflow

    try:
        target = airflow.export(project, args)
    except airflow.ExportError as exc:
        print(f"crisp export: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {history.shown(target)}: put it (or its folder) in Airflow's dags folder")
    return 0


def _command_of(argv: list[str]) -> str | None:
    """The command word of `argv` (the first argument that is not an option), if any."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `crisp` and `python -m crisp`; returns the exit code.

    From the command line (no `argv`), a signal that arrives once a run has printed its outcome
    is ignored until the process exits, so the exit code matches what was printed.
    """
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        project = load_project()
    except ProjectError as exc:
        project, problem = None, exc
    # The project's commands are imported only when asked for (or for help): `crisp run` stays fast.
    wanted = _command_of(argv)
    try:
        parser, handlers = _parser(project, wanted not in RUNNER_COMMANDS)
    except ProjectError as exc:
        print(f"crisp: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(argv)
    try:
        if project is None:
            raise problem
        project.check_environment()
    except ProjectError as exc:
        print(f"crisp: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from .runner import settle_abandoned_run

    settle_abandoned_run(project.root)  # a run whose process died: recorded as killed
    if args.command != "run":
        raise_on_sigterm()
        return _dispatch(args, argv, project, handlers)
    with Interrupts(restore=not from_command_line):
        return _dispatch(args, argv, project, handlers)


def _dispatch(
    args: argparse.Namespace, argv: list[str], project: Project, handlers: dict[str, Handler]
) -> int:
    try:
        if args.command == "status":
            return _status(args, project)
        if args.command == "params":
            return _params(args, project)
        if args.command == "run":
            return _run(args, argv, project)
        if args.command == "export":
            return _export(args, project)
        return handlers[args.command](args, argv, project.root)
    except (ParamsError, PhaseError, RunBusyError, ProjectError) as exc:
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
