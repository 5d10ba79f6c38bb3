"""`crisp export airflow`: a DAG file that runs the project's phases as Airflow tasks.

One task per phase, in phase order. Each task runs `crisp run --to PHASE --run-id ID` in the
project folder, ID being one id per DAG run: phases before PHASE are up to date (the earlier tasks
ran them), so each task runs its own phase, through the same incremental state, QA gates, reports
and run record as `crisp run`; the DAG run's tasks together make one run record in
reports/<ID>/. A phase that is up to date (nothing changed since the last run) is skipped by its
task as by `crisp run`. Parameters: params.yaml, as for any run; the DAG's trigger form shows
each value and passes the ones changed there as `--set` overrides.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from ..files import atomic_write_text
from ..params import SHARED, declared_parameters, help_without_constraint, load_params
from ..phases import discover
from ..project import Project

TEMPLATE = Path(__file__).with_name("airflow_dag.py.j2")
DEFAULT_RETRIES = 1
DEFAULT_RETRY_DELAY = 300.0  # seconds
DEFAULT_TIMEOUT = 3600.0  # seconds per phase (and per cell)
JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}


class ExportError(ValueError):
    """Something `crisp export airflow` cannot write (the message names what to change)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `crisp export airflow`."""
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="the DAG file to write (default: dags/<project>.py; put it, or its folder, in "
        "Airflow's dags folder)",
    )
    parser.add_argument("--dag-id", help="the DAG's id (default: the project's name)")
    parser.add_argument(
        "--schedule",
        default=None,
        help="when Airflow starts a run: a cron expression or preset such as @daily "
        "(default: none, runs are triggered)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=DEFAULT_RETRIES,
        help="retries of a phase task whose kernel died or did not start (default: "
        "%(default)s); a bad parameter, a failed QA check or an error in a cell fails at once",
    )
    parser.add_argument(
        "--retry-delay",
        type=float,
        default=DEFAULT_RETRY_DELAY,
        metavar="SECONDS",
        help="wait before a retry (default: %(default)g)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="a phase task (and each of its cells) fails after this long (default: %(default)g)",
    )
    parser.add_argument(
        "--project-root",
        metavar="PATH",
        help="where the project is on the machines running the tasks (default: here)",
    )
    parser.add_argument(
        "--crisp",
        metavar="PATH",
        help="the crisp command there (default: <project root>/.venv/bin/crisp)",
    )


def _json_type(value: Any) -> str | list[str]:
    kind = JSON_TYPES.get(type(value))
    if kind is None:
        return "object" if isinstance(value, dict) else ["null", "string"]
    return kind


def form_parameters(project: Project) -> dict[str, dict[str, Any]]:
    """`section.key` -> {default, type, description} for every value of params.yaml."""
    params = load_params(project.params_file)
    helps: dict[str, str] = {}
    for phase in discover(project.notebooks_dir):
        for name, declaration in declared_parameters(phase.notebook).items():
            text = help_without_constraint(str(declaration.get("help") or ""))
            helps.setdefault(f"{phase.section}.{name}", text)
            helps.setdefault(f"{SHARED}.{name}", text)
    form = {}
    for section, values in params.items():
        for key, value in values.items():
            name = f"{section}.{key}"
            form[name] = {
                "default": value,
                "type": _json_type(value),
                "description": helps.get(name) or name,
            }
    return form


def dag_source(project: Project, args: argparse.Namespace) -> str:
    """The DAG file's Python source."""
    import jinja2

    if args.retries < 0 or args.retry_delay < 0 or args.timeout <= 0:
        raise ExportError("--retries and --retry-delay must be >= 0 and --timeout > 0")
    phases = [phase.name for phase in discover(project.notebooks_dir)]
    if not phases:
        raise ExportError(f"no phase notebooks (NN_name.ipynb) in {project.notebooks_dir}")
    root = Path(args.project_root).expanduser() if args.project_root else project.root
    name = _project_name(project)
    dag_id = args.dag_id or re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    env = jinja2.Environment(
        keep_trailing_newline=True, autoescape=False, trim_blocks=True, lstrip_blocks=True
    )
    env.filters["py"] = lambda value: repr(value)
    env.filters["pyjson"] = lambda value: _python_literal(value)
    return env.from_string(TEMPLATE.read_text(encoding="utf-8")).render(
        project=name,
        dag_id=dag_id,
        root=str(root),
        crisp=args.crisp or str(root / ".venv" / "bin" / "crisp"),
        phases=phases,
        form=form_parameters(project),
        schedule=args.schedule,
        retries=args.retries,
        retry_delay=args.retry_delay,
        timeout=args.timeout,
        written=f"{datetime.now().astimezone():%Y-%m-%d %H:%M}",
        command=" ".join(["crisp", "export", "airflow", *sys.argv[3:]]),
    )


def _python_literal(value: Any) -> str:
    """Python source of a JSON-like value (None, True, ... not null, true)."""
    return repr(json.loads(json.dumps(value)))


def _project_name(project: Project) -> str:
    import tomllib

    try:
        data = tomllib.loads((project.root / "pyproject.toml").read_text(encoding="utf-8"))
        return str(data["project"]["name"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return project.root.name


def export(project: Project, args: argparse.Namespace) -> Path:
    """Write the DAG file; returns its path."""
    source = dag_source(project, args)
    target = Path(args.output) if args.output else Path("dags") / f"{_project_name(project)}.py"
    if not target.is_absolute():
        target = Path.cwd() / target
    atomic_write_text(target, source)
    return target
