"""The `ml-assets` command: demo, run and validate a pipeline config."""

import argparse
import logging
import sys
from datetime import date
from pathlib import Path

from ml_assets.core.inference import segment_name
from ml_assets.monitor_cli import add_monitor_command, run_monitor_command
from ml_assets.registry_cli import REGISTRY_COMMANDS, add_registry_commands, run_registry_command
from ml_assets.spec import ConfigError, PipelineSpec, load_spec

DEMO_START = date(2024, 1, 1)
DEMO_END = date(2024, 8, 31)
DEMO_DRIFT_FROM = date(2024, 8, 1)
DEMO_CUSTOMERS = 6000


def _date(text: str) -> date:
    """argparse type: an ISO date with a readable error."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None


def build_parser() -> argparse.ArgumentParser:
    """Sub-commands and their flags; every one takes --config."""
    parser = argparse.ArgumentParser(prog="ml-assets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--config", type=Path, default=Path("pipeline.yaml"), help="pipeline YAML (default: %(default)s)")
        return sub

    demo = command("demo", "generate the demo data if missing and materialize the whole graph")
    demo.add_argument("--start", type=_date, default=DEMO_START)
    demo.add_argument("--end", type=_date, default=DEMO_END)
    demo.add_argument("--customers", type=int, default=DEMO_CUSTOMERS, help="customers in the demo data")
    demo.add_argument("--drift-from", type=_date, default=DEMO_DRIFT_FROM,
                      help="inject a price shock and a behaviour change in 'domestic' from this date")
    demo.add_argument("--seed", type=int, default=0)

    run = command("run", "materialize the whole graph for a date range")
    run.add_argument("--start", type=_date, required=True)
    run.add_argument("--end", type=_date, required=True)

    command("validate", "check a config (and the landing files' columns when they exist)")
    add_registry_commands(command)
    add_monitor_command(command, _date)

    init = commands.add_parser("init", help="write a pipeline config for a data file, schema inferred",
                               description="write a pipeline config for a data file, schema inferred")
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


def generate_demo_data(spec: PipelineSpec, args: argparse.Namespace) -> None:
    """Write the demo landing files unless the first day's file is already there."""
    from ml_assets.core.synthetic import DriftInjection, generate_invoices, write_landing_files

    first_file = Path(spec.source_location(args.start))
    if first_file.exists():
        print(f"demo data found in {first_file.parent}")
        return
    drift = DriftInjection(start=args.drift_from) if args.drift_from else None
    invoices = generate_invoices(args.customers, args.start, args.end, seed=args.seed, drift=drift)
    directory = first_file.parent
    files = write_landing_files(invoices, directory)
    print(f"generated {len(invoices):,} invoices of {args.customers:,} customers in {len(files)} daily files under {directory}")


def run_and_report(spec: PipelineSpec, start: date, end: date) -> None:
    """Materialize the graph and print where everything went."""
    from ml_assets.runner import persistent_instance, run_pipeline

    instance = persistent_instance(spec)
    summary = run_pipeline(spec, start, end, instance)
    models = summary.metadata.get("segment_model", {}).get("holdout_auc", {})
    verdict = summary.metadata.get("drift_report", {}).get("verdict", {})
    print(f"\nholdout AUC by segment: {models}")
    print(f"drift verdict by segment: {verdict}")
    print(f"\nlake (parquet per partition): {spec.lake_dir}")
    print(f"reports and plots:            {spec.reports_dir}")
    print(f"MLflow tracking store:        {spec.tracking_uri}")
    print(f"  browse it: .venv/bin/mlflow ui --backend-store-uri {spec.tracking_uri} --host 127.0.0.1 --port 5000")
    print(f"Dagster instance:             {Path(instance.root_directory).resolve()}")
    print("  browse it: scripts/ui   (then open http://127.0.0.1:3000)")


def validate(spec: PipelineSpec) -> None:
    """Build the definitions and compare the first landing file's header with the configured columns."""
    from ml_assets.core.sources import read_landing_file
    from ml_assets.definitions import build_definitions
    from ml_assets.resources.source import DataSource
    from ml_assets.spec import suggest_name

    build_definitions(spec)
    source = DataSource.from_spec(spec)
    if source.kind == "sql":
        print("config is valid (database source: columns are checked when raw_data runs)")
        return
    sample = spec.source_location(spec.dataset.start_date)
    if not Path(sample).exists():
        print(f"config is valid (no landing file at {sample} to check columns against)")
        return
    header = list(read_landing_file(sample, source.delimiter, source.encoding).columns)
    required = [c for c in spec.dataset.columns if c not in spec.dataset.optional]
    missing = [c for c in required if c not in header]
    if missing:
        raise ConfigError("; ".join(f"dataset.columns: {c!r} is not in {sample}{suggest_name(c, header)}" for c in missing))
    print(f"config is valid; {Path(sample).name} has every required column")


def init_config(args: argparse.Namespace) -> None:
    """Infer a config from the data file, validate it, write it (never an invalid one) with the reason for each
    column's role as comments, and print those roles as a table."""
    import yaml

    from ml_assets.core.inference import infer_config
    from ml_assets.core.sources import read_landing_file
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
                      + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    print(roles_table(inferred.choices))
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    try:
        if args.command == "init":
            init_config(args)
            return 0
        spec = load_spec(args.config)
        if args.command == "validate":
            validate(spec)
        elif args.command == "demo":
            generate_demo_data(spec, args)
            run_and_report(spec, args.start, args.end)
        elif args.command == "run":
            run_and_report(spec, args.start, args.end)
        elif args.command in REGISTRY_COMMANDS:
            run_registry_command(spec, args)
        elif args.command == "monitor":
            run_monitor_command(spec, args)
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
