"""The `ml-assets` command: demo, run, validate and inspect a pipeline config.

Imports stay light here (argparse and the standard library): Dagster, MLflow and pandas load only inside the
command that needs them, so `--help` and `validate` answer quickly."""

from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import io
import logging
import os
import sys
import time
import traceback
import warnings
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from ml_assets.monitor_cli import add_monitor_command, run_monitor_command
from ml_assets.registry_cli import REGISTRY_COMMANDS, add_registry_commands, run_registry_command

if TYPE_CHECKING:
    from ml_assets.runner import RunSummary
    from ml_assets.spec import PipelineSpec

DEMO_START = date(2024, 1, 1)
DEMO_END = date(2024, 8, 31)
DEMO_DRIFT_FROM = date(2024, 8, 1)
DEMO_CUSTOMERS = 6000
NOISY_LOGGERS = ("mlflow", "alembic", "dagster", "urllib3", "distributed", "matplotlib", "py.warnings")
DATES = "Dates are YYYY-MM-DD (ISO 8601), both ends included."
EXAMPLES = {
    "demo": "example:\n  ml-assets demo                      # generate the demo data, run Jan..Aug 2024\n"
            "  ml-assets demo --end 2024-03-31 --customers 2000",
    "run": "example:\n  ml-assets run --config pipeline.yaml --start 2024-01-01 --end 2024-01-31\n\n"
           "Ingests the range, trains every segment on labels matured by --end, then scores and monitors the range;\n"
           "each job is one run (one single-run backfill of the range) listed in the Dagster UI (scripts/ui).\n"
           "The chain stops at the first job that fails, with a non-zero exit code.",
    "validate": "example:\n  ml-assets validate --config pipeline.yaml\n\n"
                "Checks every field (names, types, XGBoost params, cron strings) and the first landing file's columns.",
    "models": "example:\n  ml-assets models --config pipeline.yaml --segment domestic",
    "promote": "example:\n  ml-assets promote --segment domestic --version 3 --reason \"beats v2 on the March holdout\"",
    "rollback": "example:\n  ml-assets rollback --segment domestic --reason \"v3 mis-scores new tariffs\"",
    "monitor": "example:\n  ml-assets monitor --segment domestic --start 2024-08-01 --end 2024-08-31\n"
               "  ml-assets monitor --json                 # every stored day, as JSON objects",
    "init": "example:\n  ml-assets init --data data/hotels.csv.gz --id booking_id --date arrival_date \\\n"
            "      --target is_canceled --segment hotel --output hotels.yaml",
}
MAIN_EPILOG = ("examples:\n  scripts/demo                               # set up, then `ml-assets demo`\n"
               "  ml-assets validate --config pipeline.yaml\n"
               "  ml-assets run --config pipeline.yaml --start 2024-01-01 --end 2024-01-31\n"
               "  ml-assets models\n\n"
               f"{DATES} `ml-assets COMMAND --help` explains a command; --verbose shows library logs and traces.")


def _date(text: str) -> date:
    """argparse type: an ISO date with a readable error."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2024-01-31") from None


def build_parser() -> argparse.ArgumentParser:
    """Sub-commands and their flags; every one takes --config and --verbose."""
    parser = argparse.ArgumentParser(prog="ml-assets", description=__doc__.split("\n")[0], epilog=MAIN_EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbose", action="store_true", help="library logs (Dagster, MLflow) and stack traces")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, config: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, epilog=EXAMPLES.get(name),
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        if config:
            sub.add_argument("--config", type=Path, default=Path("pipeline.yaml"),
                             help="pipeline YAML (default: %(default)s)")
        sub.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="library logs (Dagster, MLflow) and stack traces")
        return sub

    demo = command("demo", "generate the demo data if missing and materialize the whole graph")
    demo.add_argument("--start", type=_date, default=DEMO_START, help="first day, YYYY-MM-DD (default: %(default)s)")
    demo.add_argument("--end", type=_date, default=DEMO_END, help="last day, YYYY-MM-DD (default: %(default)s)")
    demo.add_argument("--customers", type=int, default=DEMO_CUSTOMERS, help="customers in the demo data "
                                                                             "(default: %(default)s)")
    demo.add_argument("--drift-from", type=_date, default=DEMO_DRIFT_FROM,
                      help="inject a price shock and a behaviour change in 'domestic' from this day, YYYY-MM-DD "
                           "(default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the demo data (default: %(default)s)")

    run = command("run", "materialize the whole graph for a date range: ingest, train, score, monitor")
    run.add_argument("--start", type=_date, required=True, help="first day, YYYY-MM-DD")
    run.add_argument("--end", type=_date, required=True, help="last day, YYYY-MM-DD (training uses labels matured "
                                                              "by this day)")

    command("validate", "check a config (and the landing files' columns when they exist)")
    add_registry_commands(command)
    add_monitor_command(command, _date)

    init = command("init", "write a pipeline config for a data file, schema inferred", config=False)
    init.add_argument("--data", type=Path, required=True, help="CSV, CSV.gz or Parquet file holding every day")
    init.add_argument("--id", required=True, help="id column")
    init.add_argument("--date", required=True, help="date column (the daily partition key)")
    init.add_argument("--target", required=True, help="binary target column (0/1)")
    init.add_argument("--segment", required=True, help="column whose values get a model each")
    init.add_argument("--exclude", action="append", default=[], help="column to leave out (e.g. leaks the target)")
    init.add_argument("--label-delay-days", type=int, default=0, help="days after the date when the target is known")
    init.add_argument("--name", help="pipeline name (default: the data file's name)")
    init.add_argument("--output", "--config", dest="output", type=Path, required=True, help="config file to write")
    return parser


def quiet_libraries(verbose: bool) -> None:
    """Silence third-party INFO/WARNING output (MLflow, alembic, Dagster, Python warnings) unless verbose."""
    if verbose:
        return
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
    warnings.simplefilter("ignore")
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def generate_demo_data(spec: PipelineSpec, args: argparse.Namespace) -> None:
    """Write the demo landing files unless the first day's file is already there."""
    from ml_assets.core.data.synthetic import DriftInjection, generate_invoices, write_landing_files

    first_file = Path(spec.source_location(args.start))
    if first_file.exists():
        print(f"demo data found in {first_file.parent}")
        return
    drift = DriftInjection(start=args.drift_from) if args.drift_from else None
    invoices = generate_invoices(args.customers, args.start, args.end, seed=args.seed, drift=drift)
    directory = first_file.parent
    files = write_landing_files(invoices, directory)
    print(f"generated {len(invoices):,} invoices of {args.customers:,} customers in {len(files)} daily files under {directory}")


def run_and_report(spec: PipelineSpec, config: Path, start: date, end: date, verbose: bool) -> None:
    """Materialize the graph and print each job's outcome, the summary line and where everything went."""
    from ml_assets.core.data.sources import redact_url
    from ml_assets.runner import persistent_instance, run_pipeline

    began = time.monotonic()
    instance = persistent_instance(spec)
    # MLflow prints "Successfully registered model ..." to stderr past its loggers (and re-enables its stream
    # inside its own calls): without --verbose, stderr of the run is dropped; errors come from the run's events
    quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stderr(io.StringIO())
    with quiet:
        summary = run_pipeline(spec, start, end, instance, verbose=verbose)
    print(summary_line(summary, f"done in {time.monotonic() - began:.0f} s"))
    models = {segment: round(figures["holdout_roc_auc"], 4)
              for segment, figures in summary.metadata.get("segment_model", {}).items() if "holdout_roc_auc" in figures}
    days = summary.metadata.get("drift_report", {})
    verdict = days[max(days)].get("verdict", {}) if days else {}
    print(f"\nholdout AUC by segment: {models}")
    print(f"drift verdict by segment on {max(days) if days else 'no day'}: {verdict}")
    print(f"\nlake (parquet per partition): {spec.lake_dir}")
    print(f"reports and plots:            {spec.reports_dir}")
    print(f"MLflow tracking store:        {redact_url(spec.tracking_uri)}")
    print(f"  browse it: .venv/bin/mlflow ui --backend-store-uri {redact_url(spec.tracking_uri)} --host 127.0.0.1 --port 5000")
    print(f"Dagster instance:             {Path(instance.root_directory).resolve()}")
    print(f"  browse it: scripts/ui --config {config}   (then open the run URLs above)")


def summary_line(summary: RunSummary, head: str) -> str:
    """One line: how it ended, each job and its outcome, and the rows that got no score."""
    jobs = ", ".join(f"{o.job_name} {o.status}" for o in summary.outcomes)
    return f"\n{head}: {jobs}; unscored rows: {summary.unscored_rows:,}"


def validate(spec: PipelineSpec) -> None:
    """Compare the first landing file's header with the configured columns (the spec itself is already valid)."""
    from ml_assets.spec import ConfigError, FileSourceSpec, suggest_name

    source = spec.dataset.source
    if not isinstance(source, FileSourceSpec):
        print("config is valid (database source: columns are checked when raw_data runs)")
        return
    sample = spec.source_location(spec.dataset.start_date)
    if "://" not in sample and not Path(sample).exists():
        print(f"config is valid (no landing file at {sample} to check columns against)")
        return
    header = csv_header(sample, source.delimiter, source.encoding)
    if header is None:  # Parquet, a URL, or a file the quick read cannot parse: the reader that explains why
        from ml_assets.core.data.sources import read_landing_file

        header = list(read_landing_file(sample, source.delimiter, source.encoding).columns)
    required = [c for c in spec.dataset.columns if c not in spec.dataset.optional]
    missing = [c for c in required if c not in header]
    if missing:
        raise ConfigError("; ".join(f"dataset.columns: {c!r} is not in {sample}{suggest_name(c, header)}" for c in missing))
    print(f"config is valid; {Path(sample).name} has every required column")


def csv_header(location: str, delimiter: str, encoding: str) -> list[str] | None:
    """Column names of a local CSV / CSV.gz file read without pandas (quick); None when it cannot tell."""
    if "://" in location or not location.endswith((".csv", ".csv.gz")):
        return None
    opener = gzip.open if location.endswith(".gz") else open
    try:
        with opener(location, "rt", encoding=encoding, newline="") as handle:
            header = next(csv.reader(handle, delimiter=delimiter), [])
    except (OSError, UnicodeDecodeError, EOFError, csv.Error):
        return None
    return header if len(header) > 1 else None


def init_config(args: argparse.Namespace) -> None:
    """Infer a config from the data file, validate it, write it (never an invalid one) with the reason for each
    column's role as comments, and print those roles as a table."""
    import yaml

    from ml_assets.core.data.inference import infer_config, segment_name
    from ml_assets.core.data.sources import read_landing_file
    from ml_assets.spec import parse_spec

    frame = read_landing_file(str(args.data))
    output = args.output.resolve()
    name = args.name or segment_name(args.data.name.split(".")[0])
    data = args.data.resolve()
    source_path = str(data.relative_to(output.parent)) if data.is_relative_to(output.parent) else str(data)
    inferred = infer_config(frame, name=name, source_path=source_path,
                            id_column=args.id, date_column=args.date, target=args.target, segment=args.segment,
                            exclude=args.exclude, label_delay_days=args.label_delay_days)
    config = inferred.config
    parse_spec(config, base_dir=output.parent, origin=str(output))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(f"# ml_assets pipeline inferred from {args.data.name} by `ml-assets init`; review and edit.\n"
                      "# The role init gave each column, and why:\n" + inferred.comment_block()
                      + "".join(f"# note: {note}\n" for note in inferred.notes())
                      + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    print(roles_table(inferred.choices))
    for note in inferred.notes():
        print(f"\nnote: {note}")
    features = config["features"]
    print(f"\nwrote {output}: {len(config['dataset']['columns'])} columns, {len(features['numeric'])} numeric and "
          f"{len(features['categorical'])} categorical features ({len(features['calendar']['columns'])} calendar "
          f"parts, not drift-judged), segments {list(config['dataset']['segments'])}")
    print(f"next: ml-assets run --config {args.output} --start DATE --end DATE")


def roles_table(choices: tuple) -> str:
    """Every column with its type, the role init gave it and the reason, as aligned text."""
    rows = [("column", "type", "role", "reason")] + [(c.column, c.type, c.role, c.reason) for c in choices]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}" for a, b, c, d in rows)


def dispatch(args: argparse.Namespace) -> None:
    """Run the chosen command."""
    from ml_assets.spec import load_spec

    if args.command == "init":
        init_config(args)
        return
    spec = load_spec(args.config)
    if args.command == "validate":
        validate(spec)
    elif args.command == "demo":
        generate_demo_data(spec, args)
        run_and_report(spec, args.config, args.start, args.end, args.verbose)
    elif args.command == "run":
        run_and_report(spec, args.config, args.start, args.end, args.verbose)
    elif args.command in REGISTRY_COMMANDS:
        run_registry_command(spec, args)
    elif args.command == "monitor":
        run_monitor_command(spec, args)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code (2: bad input, 1: a job or command failed)."""
    args = build_parser().parse_args(argv)
    quiet_libraries(args.verbose)
    try:
        dispatch(args)
    except Exception as exc:  # every error ends as one readable message; the trace only under --verbose
        if args.verbose:
            traceback.print_exc()
        return report_error(exc, args.verbose)
    return 0


def report_error(exc: Exception, verbose: bool) -> int:
    """Print the error for people and return its exit code."""
    from ml_assets.spec import ConfigError

    summary = getattr(exc, "summary", None)
    if summary is not None:
        print(summary_line(summary, "stopped"), file=sys.stderr)
    if isinstance(exc, ConfigError | ValueError | FileNotFoundError):
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if isinstance(exc, RuntimeError):
        print(f"error: {exc}", file=sys.stderr)
        return 1
    hint = "" if verbose else " (rerun with --verbose for the stack trace)"
    print(f"error: {type(exc).__name__}: {exc}{hint}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
