"""`crisp predict | serve | monitor | promote | rollback`: this project's commands, added to the
runner's `crisp` through `[tool.crisp] commands` in pyproject.toml: using, watching and choosing
the production model.

Exit codes: 0 done (monitor: no alert), 1 monitoring alert or a failed monitoring run,
2 a user error (message on stderr says what to fix), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

COMMANDS = ("predict", "serve", "monitor", "promote", "rollback")
# Project folders `crisp predict -o` never writes into: the pipeline's own data, models, artifacts.
PROTECTED_OUTPUT_DIRS = ("data/processed", "models", "artifacts")
EXIT_ALERT = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
LOOPBACK = ("127.0.0.1", "localhost", "::1")
MONITORING_PHASE = "monitoring"
# Errors a user causes (exit 2, one line), by the module of this package that defines them.
USER_ERRORS = {
    "artifacts": ("ArtifactMissingError", "UntrustedModelError"),
    "data": ("DataError",),
    "paths": ("PathError",),
    "prediction": ("PredictionInputError",),
    "registry": ("RegistryError",),
}


def add_commands(commands: Any) -> dict[str, Any]:
    """Add the model commands to the `crisp` subparsers; returns their handlers."""
    predict = commands.add_parser(
        "predict",
        help="predict a CSV or Parquet file with the production model",
        description="Check INPUT against the training schema and write predictions (and class "
        "probabilities for classifiers) next to its key columns, in the same format.",
    )
    predict.add_argument("input", metavar="INPUT", help="CSV or Parquet file of new data")
    predict.add_argument(
        "-o",
        "--output",
        metavar="OUTPUT",
        help="file to write (default: <INPUT stem>.predictions.<ext> next to INPUT); never "
        "inside data/processed/, models/ or artifacts/",
    )
    predict.add_argument(
        "--overwrite", action="store_true", help="replace OUTPUT when it exists already"
    )
    serve = commands.add_parser(
        "serve",
        help="serve the production model over HTTP (FastAPI, uvicorn)",
        description="Start a REST API: GET /health, GET /metadata, POST /predict; docs at /docs.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    serve.add_argument(
        "--max-batch", type=int, default=1000, help="most records per request (default: 1000)"
    )
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        default=1_000_000,
        help="largest request body in bytes (default: 1000000)",
    )
    monitor = commands.add_parser(
        "monitor",
        help="check new data for drift (runs the monitoring phase on it)",
        description="Run the monitoring phase on CURRENT_DATA and print the drift status; exits "
        "with 1 when the alert threshold is crossed, so cron or CI can alert.",
    )
    monitor.add_argument(
        "current_data", metavar="CURRENT_DATA", help="CSV or Parquet of new data (labels optional)"
    )
    monitor.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a parameter for this run, e.g. monitoring.max_drifted_share=0.5",
    )
    promote = commands.add_parser(
        "promote",
        help="put a registered model version into production",
        description="Make VERSION (see models/registry/) the production model; the current one "
        "becomes the version `crisp rollback` returns to. Recorded in the registry's history.",
    )
    promote.add_argument("version", metavar="VERSION", help="registry version, e.g. v0003")
    rollback = commands.add_parser(
        "rollback",
        help="put the previous production model back into production",
        description="Restore the production version that the current one replaced. Recorded in "
        "the registry's history; `crisp promote VERSION` goes forward again.",
    )
    for parser in (promote, rollback):
        parser.add_argument(
            "--reason", default="", help="why, for the registry's history (e.g. a ticket)"
        )
    return dict.fromkeys(COMMANDS, dispatch)


def dispatch(args: argparse.Namespace, argv: list[str], root: Path) -> int:
    """Run the model command `args.command`; user errors become one line on stderr, exit 2."""
    handlers = {
        "predict": _predict,
        "serve": _serve,
        "monitor": _monitor,
        "promote": _promote,
        "rollback": _rollback,
    }
    try:
        return handlers[args.command](args, argv, root)
    except Exception as exc:
        if not isinstance(exc, _user_errors()):
            raise
        print(f"crisp {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _user_errors() -> tuple[type[Exception], ...]:
    """The user-error classes of USER_ERRORS whose modules are imported (one that is not cannot
    have raised: `crisp monitor` leaves scikit-learn, which registry imports, to its kernel)."""
    from crisp.params import ParamsError

    found: list[type[Exception]] = [ParamsError]
    for module, names in USER_ERRORS.items():
        imported = sys.modules.get(f"{__package__}.{module}")
        found += [getattr(imported, name) for name in names] if imported else []
    return tuple(found)


def _shown(path: Path) -> str:
    """`path` relative to the working directory when inside it, else absolute."""
    cwd = Path.cwd().resolve()
    return str(path.relative_to(cwd)) if path.is_relative_to(cwd) else str(path)


def _data_file(name: str, what: str) -> Path:
    """Absolute path of an existing CSV/Parquet file given on the command line."""
    from .data import SUPPORTED_SUFFIXES, DataError

    path = Path(name).expanduser().resolve()
    if path.is_dir():
        raise DataError(f"{what} {name} is a directory: name one CSV or Parquet file")
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise DataError(
            f"{what} {name} is not a CSV or Parquet file; use one of: "
            f"{', '.join(SUPPORTED_SUFFIXES)}"
        )
    if not path.is_file():
        raise DataError(f"{what} {name} does not exist; check the path")
    return path


def key_columns(root: Path) -> list[str]:
    """Identifier columns copied next to predictions: params.yaml data_preparation.drop_columns."""
    from crisp.params import load_params

    columns = load_params(root / "params.yaml").get("data_preparation", {}).get("drop_columns")
    return [str(c) for c in columns or []]


def _predict(args: argparse.Namespace, argv: list[str], root: Path) -> int:
    from . import artifacts, data, prediction

    source = _data_file(args.input, "input file")
    if args.output:
        output = Path(args.output).expanduser().resolve()
    else:
        output = source.with_name(f"{source.stem}.predictions{source.suffix}")
    _check_output(output, source, root, overwrite=args.overwrite)
    model, metadata, schema = prediction.production_model()
    frame = data.read_table(source)
    problem_type = metadata.get("problem_type") or schema["problem_type"]
    result = prediction.predict_frame(model, frame, schema, problem_type, key_columns(root))
    warnings = result.attrs.pop("warnings", [])
    for warning in warnings:
        print(f"crisp predict: warning: {warning}", file=sys.stderr)
    artifacts.save_table(output, result)
    model_name = metadata.get("model_name") or "model"
    print(
        f"{len(result)} predictions by {model_name} {metadata.get('version')} "
        f"written to {_shown(output)}"
    )
    return 0


def _check_output(output: Path, source: Path, root: Path, *, overwrite: bool) -> None:
    """Refuse an output path that would replace the input, a pipeline file or an existing file."""
    from .data import SUPPORTED_SUFFIXES, DataError

    shown = _shown(output)
    if output.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise DataError(
            f"output file {shown} must end in .csv or .parquet (the format it is written in)"
        )
    if output == source:
        raise DataError(f"output file {shown} is the input file; choose another name with -o")
    project = root.resolve()
    for folder in PROTECTED_OUTPUT_DIRS:
        if output.is_relative_to(project / folder):
            raise DataError(
                f"output file {shown} is inside {folder}/, which holds the pipeline's own files; "
                "write predictions elsewhere, e.g. -o predictions/scored.csv"
            )
    if output.is_dir():
        raise DataError(f"output {shown} is a directory; name a file, e.g. -o {shown}/scored.csv")
    if output.exists() and not overwrite:
        raise DataError(
            f"output file {shown} exists already; pass --overwrite to replace it, or choose "
            "another name with -o"
        )


def _serve(args: argparse.Namespace, argv: list[str], root: Path) -> int:
    from .api import production_app
    from .data import DataError

    if not 0 <= args.port <= 65535:
        raise DataError(f"--port {args.port} is not a port number; use 1024-65535, e.g. 8000")
    if args.max_batch < 1 or args.max_body_bytes < 1:
        raise DataError("--max-batch and --max-body-bytes must be at least 1")
    import uvicorn

    app = production_app(
        max_batch=args.max_batch,
        max_body_bytes=args.max_body_bytes,
        key_columns=key_columns(root),
    )
    if args.host not in LOOPBACK:
        print(
            f"crisp serve: warning: listening on {args.host}, not only on this machine; the API "
            "has no authentication: put it behind a proxy that has",
            file=sys.stderr,
        )
    print(f"serving {app.title} on http://{args.host}:{args.port} (API docs at /docs)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def _monitor(args: argparse.Namespace, argv: list[str], root: Path) -> int:
    from crisp.console import ConsoleProgress
    from crisp.project import load as load_project
    from crisp.runner import RunOptions, run

    from . import artifacts, data, paths

    source = _data_file(args.current_data, "current data file")
    columns = data.check_table(source)  # a file the phase cannot read stops here, in one line
    for name in ("feature_schema", "train"):
        if not artifacts.path(name).is_file():
            raise artifacts.ArtifactMissingError(
                f"{name} ({paths.relative(artifacts.path(name))}) does not exist: monitoring "
                "compares with the training data; run the pipeline first (`crisp run`)"
            )
    _check_current_columns(source, columns, artifacts.load_json("feature_schema"))
    report_path = artifacts.path("drift_report")
    before = report_path.stat().st_mtime_ns if report_path.is_file() else None
    # json.dumps gives a quoted YAML string: any path survives the --set parser.
    override = f"monitoring.current_data_path={json.dumps(paths.relative(source))}"
    options = RunOptions(
        overrides=[*args.overrides, override],
        only=[MONITORING_PHASE],
        force=True,
        command=["crisp", *argv],
        history="monitoring",  # its own history: reports/latest stays the latest pipeline run
    )
    record = run(options, ConsoleProgress(root), load_project(root))
    if record.status == "interrupted":
        return EXIT_INTERRUPTED
    error = next((p.error for p in record.phases if p.error), None) or {}
    if error.get("ename") == "DataError":  # the current data, found bad further down the file
        print(f"crisp monitor: error: {error.get('evalue')}", file=sys.stderr)
        return EXIT_USAGE
    fresh = report_path.is_file() and report_path.stat().st_mtime_ns != before
    if not fresh:
        print("crisp monitor: no drift report written; see the failure above", file=sys.stderr)
        return EXIT_ALERT
    report = json.loads(report_path.read_text(encoding="utf-8"))
    recommendation = report["recommendation"]
    status = recommendation["status"]
    drifted = ", ".join(recommendation["drifted_features"]) or "none"
    print(
        f"drift status: {status} (drifted features: {drifted}; "
        f"share {recommendation['drifted_share']:.0%}; retrain: "
        f"{'yes' if recommendation['retrain'] else 'no'})"
    )
    for reason in recommendation["reasons"]:
        print(f"  {reason}")
    print(f"  drift report: {_shown(report_path)}")
    print(f"  checks over time: {_shown(root / 'reports' / 'monitoring' / 'index.html')}")
    return EXIT_ALERT if status == "alert" or record.status != "succeeded" else 0


def _check_current_columns(source: Path, columns: list[str], feature_schema: dict) -> None:
    """Refuse current data that holds none of the model's features: another table, not drift."""
    from .data import DataError
    from .schema import _listing

    features = list(feature_schema.get("features", {}))
    if features and not set(features) & set(columns):
        raise DataError(
            f"current data file {_shown(source)} has none of the model's feature columns "
            f"({_listing(features)}); its columns are {_listing(columns)}: check that it is the "
            "right file"
        )


def _mirror_to_tracking(root: Path) -> None:
    """With experiment tracking, the new production version is mirrored to MLflow's registry."""
    import importlib
    import importlib.util

    name = f"{__package__}.tracking"
    if importlib.util.find_spec(name) is not None:
        importlib.import_module(name).mirror_production_safely(root)


def _promote(args: argparse.Namespace, argv: list[str], root: Path) -> int:
    from . import registry

    before = registry.production_version()
    registry.load_version(args.version)  # never promote a version that cannot be served
    pointer = registry.promote(args.version, via="crisp promote", reason=args.reason)
    if before == pointer["version"]:
        print(f"{pointer['version']} is already in production; nothing changed")
        return 0
    replaced = f" (replacing {before}; `crisp rollback` returns to it)" if before else ""
    print(f"production is now {pointer['version']}{replaced}; restart `crisp serve` to serve it")
    _mirror_to_tracking(root)
    return 0


def _rollback(args: argparse.Namespace, argv: list[str], root: Path) -> int:
    from . import registry

    pointer = registry.rollback(via="crisp rollback", reason=args.reason)
    print(
        f"production is now {pointer['version']} (rolled back from {pointer['rolled_back_from']}; "
        f"`crisp promote {pointer['rolled_back_from']}` goes forward again); "
        "restart `crisp serve` to serve it"
    )
    _mirror_to_tracking(root)
    return 0
