"""Backfill benchmark: --days days of the daily chain through Dagster as ONE run on a persistent SQLite instance,
against the same functions in a bare loop in the same process.

Dagster: the daily chain (raw_data -> features -> predictions -> risk_clusters -> risk_report -> drift_report,
`daily_job`'s assets but model_performance) over the whole range in one run: `dagster.execute_job` with the range
tags (what a launched single-run backfill executes), on a SQLite instance in a temporary DAGSTER_HOME with the
project's embedded instance settings (ml_assets.instance: BatchedSqliteStorage, DAGSTER_EVENT_BATCH_SIZE). Each asset
works a chunk of `storage.chunk_days` days at a time: it reads its inputs' days of the chunk back from the lake,
stages one parquet file per day, and the lake IO manager moves the staged days into place when the asset is done.
Bare: a loop over the same chunks, each running the six steps with the functions the assets call, each step's
frame kept in memory for the next, writing the same one parquet file per day and asset (and the same report
files); no Dagster. Overhead per partition-asset = (Dagster - bare) / (days x 6).

Data: about --rows invoices a day (31.6 customers per daily row: each customer is invoiced once a month) from
2024-01-01, as daily CSV landing files (pipeline.yaml's format), generated 100,000 customers at a time. Models:
trained first, not timed, on 10,000 customers' invoices of Jan-Mar 2024 with pipeline.yaml's settings. Both paths
run with pipeline.yaml's settings (chunks of `storage.chunk_days`, 31 days) except drift.evidently.days: none (an
Evidently HTML report costs a fixed ~15 s per run, not orchestration). The champion models, their profiles and
similar-customer data are loaded once before timing (both paths share the registry's cache). Dagster and bare
alternate --repeats times, each writing its own lake; best of each. Peak memory: the highest resident size sampled
every 50 ms during each path.

`--instance postgres` runs the Dagster path on the running production stack's instance instead (`scripts/stack up`
first: data/stack/dagster, dagster-postgres storage on the stack's PostgreSQL); the bare loop is the same.

    .venv/bin/python benchmarks/backfill.py [--days 365] [--rows 50000] [--repeats 1] [--instance sqlite|postgres]
        [--landing DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import yaml
from machine_info import machine  # benchmarks/ is on sys.path when a script runs

from ml_assets import stack
from ml_assets.core.data import lake, schemas
from ml_assets.core.data.features import SEGMENT_COLUMN, build_features
from ml_assets.core.data.lake import DATE_DIMENSION
from ml_assets.core.data.sources import date_chunks, days_between
from ml_assets.core.data.synthetic import generate_invoices, write_landing_files
from ml_assets.core.monitoring.daily_tables import drift_by_day
from ml_assets.core.monitoring.drift import ReferenceProfile
from ml_assets.core.scoring import clustering, similar
from ml_assets.core.scoring import risk_report as reporting
from ml_assets.core.scoring.scores import SCORE_COLUMN
from ml_assets.core.scoring.segment_scoring import score_segment
from ml_assets.definitions import CONFIG_ENV, DAILY_JOB, INGEST_JOB, TRAINING_JOB, build_definitions
from ml_assets.defs.monitoring import drift_inputs
from ml_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from ml_assets.instance import EVENT_BATCH_ENV, instance_yaml
from ml_assets.resources.registry import CHAMPION, LoadedModel, ModelRegistry
from ml_assets.resources.source import DataSource
from ml_assets.resources.storage import split_by_date
from ml_assets.spec import PipelineSpec, load_spec, substitute_env

PROJECT_ROOT = Path(__file__).resolve().parents[1]
START = date(2024, 1, 1)
CHAIN = ["raw_data", "features", "predictions", "risk_clusters", "risk_report", "drift_report"]
CUSTOMERS_PER_DAILY_ROW = 31.6
TRAIN_CUSTOMERS, TRAIN_LAST, TRAIN_AS_OF = 10_000, date(2024, 3, 31), date(2024, 6, 14)
CUSTOMER_BLOCK = 100_000  # customers generated at once, so the year's data is never in memory whole
PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def write_config(home: Path, landing: Path) -> Path:
    """pipeline.yaml with outputs under `home`, landing files in `landing` and no Evidently reports."""
    os.environ |= {"ML_ASSETS_HOME": str(home), "ML_ASSETS_LANDING": str(landing)}
    raw = substitute_env(yaml.safe_load((PROJECT_ROOT / "pipeline.yaml").read_text()))
    raw["drift"]["evidently"]["days"] = "none"
    raw["dataset"]["end_date"] = None  # daily partitions up to today: the year runs past the demo's last day
    path = home / f"pipeline_{landing.name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def train_champions(home: Path) -> None:
    """Champion models of every segment from a small, separate landing folder (not timed)."""
    landing = home / "landing_training"
    write_landing_files(generate_invoices(TRAIN_CUSTOMERS, START, TRAIN_LAST, seed=1), landing)
    defs = build_definitions(load_spec(write_config(home, landing)))
    with dg.DagsterInstance.ephemeral() as instance:
        for job, first, last, config in [
                (INGEST_JOB, START.isoformat(), TRAIN_LAST.isoformat(), {}),
                (TRAINING_JOB, "domestic", "industrial", {"ops": {"training_set": {"config": {
                    "as_of": TRAIN_AS_OF.isoformat()}}}})]:
            result = defs.resolve_job_def(job).execute_in_process(
                instance=instance, run_config=config, tags={RANGE_START_TAG: first, RANGE_END_TAG: last})
            assert result.success, job


def write_year_of_landing_files(customers: int, first: date, last: date, directory: Path) -> int:
    """The demo invoices of `customers` customers, first..last, as one CSV per day, generated CUSTOMER_BLOCK
    customers at a time (each block its own seed and customer numbers) and appended day by day; returns the rows."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = 0
    for block, offset in enumerate(range(0, customers, CUSTOMER_BLOCK)):
        invoices = generate_invoices(min(CUSTOMER_BLOCK, customers - offset), first, last, seed=block)
        invoices["invoice_id"] += offset * 100_000  # invoice_id = customer number * 100000 + month
        invoices["customer_id"] = "C" + (invoices["invoice_id"] // 100_000).astype(str).str.zfill(7)
        for day, day_rows in invoices.groupby("invoice_date", sort=True):
            path = directory / f"invoices_{pd.Timestamp(day):%Y-%m-%d}.csv"
            day_rows.to_csv(path, mode="a", header=not path.exists(), index=False, date_format="%Y-%m-%d")
        rows += len(invoices)
    return rows


def landing_files(directory: Path, customers: int, first: date, last: date) -> int:
    """The invoice rows of the landing files in `directory`: generated (and timed) unless it holds them all,
    one per day first..last, already."""
    if len(list(directory.glob("invoices_*.csv"))) == len(days_between(first, last)):
        rows = sum(sum(1 for _ in path.open()) - 1 for path in directory.glob("invoices_*.csv"))
        print(f"reused {rows:,} invoices in {directory}")
        return rows
    started = time.perf_counter()
    rows = write_year_of_landing_files(customers, first, last, directory)
    print(f"generated {rows:,} invoices ({rows / len(days_between(first, last)):,.0f} a day) in "
          f"{time.perf_counter() - started:.0f} s")
    return rows


def resident_mb() -> float:
    """This process's resident memory now, in MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_MB


@contextmanager
def peak_resident(peaks: list[float]) -> Iterator[None]:
    """Append to `peaks` the highest resident MB sampled every 50 ms while the block runs."""
    peak, done = [resident_mb()], threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], resident_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield
    finally:
        done.set()
        sampler.join()
        peaks.append(max(peak[0], resident_mb()))


def daily_job() -> dg.JobDefinition:
    """The daily job of the config $ML_ASSETS_CONFIG points at (reconstructable: execute_job reloads it)."""
    return build_definitions(load_spec(os.environ[CONFIG_ENV])).resolve_job_def(DAILY_JOB)


def run_dagster(instance: dg.DagsterInstance, first: date, last: date) -> tuple[float, float, dict[str, float]]:
    """The daily chain over first..last in one run (checked); wall and CPU seconds, and seconds per step."""
    runs_before = len(instance.get_runs())
    started, cpu = time.perf_counter(), time.process_time()
    with dg.execute_job(dg.reconstructable(daily_job), instance=instance,
                        asset_selection=[dg.AssetKey(asset) for asset in CHAIN],
                        tags={RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()}) as result:
        assert result.success, [event.message for event in result.get_step_failure_events()]
        run_id = result.run_id
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert len(instance.get_runs()) == runs_before + 1, "the backfill must be one run"
    steps = {stats.step_key: stats.end_time - stats.start_time for stats in instance.get_run_step_stats(run_id)}
    return seconds, cpu, steps


def store(spec: PipelineSpec, asset: str, frame: pd.DataFrame, first: date, last: date) -> None:
    """One parquet file per day first..last, as the lake IO manager stores a daily asset."""
    keys = [day.isoformat() for day in days_between(first, last)]
    for key, part in split_by_date(frame, spec.dataset.date, keys).items():
        lake.write_frame(lake.partition_dir(spec.lake_dir, asset, DATE_DIMENSION, key), part)


def champions(spec: PipelineSpec, registry: ModelRegistry) -> dict[str, LoadedModel]:
    """The champion of every segment (cached by the registry after the first load)."""
    return {segment: registry.load_alias(spec.registered_model_name(segment), CHAMPION)
            for segment in spec.segment_names}


@dataclass
class RunModels:
    """What a run loads once, as the assets do: champions, similar-customer indexes, reference profiles and
    cut-points."""

    champions: dict[str, LoadedModel]
    indexes: dict[str, similar.SimilarIndex]
    profiles: dict[str, ReferenceProfile]
    cutpoints: dict[tuple[str, str], list[float]]

    @classmethod
    def load(cls, spec: PipelineSpec, registry: ModelRegistry) -> RunModels:
        models, neighbours = champions(spec, registry), spec.scoring.similar_customers
        return cls(models,
                   {seg: similar.build_index(registry.similar_reference(model), spec.dataset, neighbours)
                    for seg, model in models.items()},
                   {seg: registry.reference_profile(model) for seg, model in models.items()},
                   {(spec.registered_model_name(seg), str(model.version)): model.meta.cutpoints
                    for seg, model in models.items()})


def bare_raw_data(spec: PipelineSpec, first: date, last: date, soft: schemas.SoftRuleTally) -> pd.DataFrame:
    """raw_data's work on a chunk: read the landing files, enforce the contract, count the soft rules."""
    raw = DataSource.from_spec(spec).read(first, last)
    result = schemas.enforce(schemas.raw_schema(spec.dataset, first, last), raw)
    assert result.passed
    soft.add(list(raw.columns), result.frame, spec.dataset)
    return result.frame


def bare_features(spec: PipelineSpec, raw: pd.DataFrame) -> pd.DataFrame:
    """features' work on a chunk: engineer the features and enforce their contract."""
    features = build_features(raw, spec.dataset, spec.features)
    result = schemas.enforce(schemas.features_schema(spec.dataset, spec.features), features)
    assert result.passed
    return result.frame


def bare_predictions(spec: PipelineSpec, features: pd.DataFrame, models: RunModels) -> pd.DataFrame:
    """predictions' work on a chunk: each segment's rows scored by its champion, with reasons and similar
    customers."""
    scored = [score_segment(rows, models.champions[seg].booster, models.champions[seg].meta,
                            spec.registered_model_name(seg), models.champions[seg].version, spec.scoring_sections(),
                            models.indexes[seg])
              for seg, rows in features.groupby(SEGMENT_COLUMN, sort=False)]
    return pd.concat(scored, ignore_index=True)


def bare_risk_report(spec: PipelineSpec, clusters: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """risk_report's work on a chunk: report files per date and segment, and the daily summary."""
    ds = spec.dataset
    matured = reporting.labels_matured(clusters[ds.date], ds.label_delay_days, as_of)
    reporting.write_report_files(clusters, spec.reports_dir / "risk_report", spec.dataset.date, spec.scoring)
    return reporting.risk_summary(clusters, SEGMENT_COLUMN, SCORE_COLUMN, ds.target, matured, ds.date)


def with_preceding_days(frame: pd.DataFrame, asset: str, first: date, spec: PipelineSpec,
                        columns: list[str]) -> pd.DataFrame:
    """`frame` plus the stored rows of the drift.window_days - 1 days before `first` (drift_report's trailing
    windows reach back to them through its partition mapping)."""
    stored = set(lake.stored_days(spec.lake_dir, asset))
    before = [day.isoformat() for day in days_between(first - timedelta(days=spec.drift.window_days - 1),
                                                      first - timedelta(days=1)) if day.isoformat() in stored]
    rows = lake.read_days(spec.lake_dir, asset, before, columns)
    return frame if rows.empty else pd.concat([rows, frame], ignore_index=True)


def bare_drift_report(spec: PipelineSpec, features: pd.DataFrame, predictions: pd.DataFrame, models: RunModels,
                      first: date, last: date) -> pd.DataFrame:
    """drift_report's work on a chunk: each segment's drift table per day against its champion's reference
    profile, over trailing windows that reach into the days stored before the chunk."""
    feature_columns, score_columns = drift_inputs(spec)
    features = with_preceding_days(features[feature_columns], "features", first, spec, feature_columns)
    predictions = with_preceding_days(predictions[score_columns], "predictions", first, spec, score_columns)
    tables = [drift_by_day(models.profiles[seg], features[features[SEGMENT_COLUMN] == seg],
                           predictions[predictions[SEGMENT_COLUMN] == seg], days_between(first, last),
                           spec.dataset.date, spec.features, spec.drift).assign(segment=seg,
                                                                                model_version=champion.version)
              for seg, champion in models.champions.items()]
    return pd.concat(tables, ignore_index=True)


def run_bare(spec: PipelineSpec, first: date, last: date) -> tuple[float, float, dict[str, float]]:
    """The six steps in a loop over chunks of `storage.chunk_days` days (each chunk's frames handed from step to
    step in memory), each step storing one file per day; the run risk summary and soft-rule findings at
    the end. Wall and CPU seconds, and seconds per step."""
    started, cpu = time.perf_counter(), time.process_time()
    models = RunModels.load(spec, ModelRegistry(tracking_uri=spec.tracking_uri))
    soft, summaries, as_of = schemas.SoftRuleTally(), [], pd.Timestamp(last)
    seconds = {"models": time.perf_counter() - started} | dict.fromkeys(CHAIN, 0.0)
    for chunk_first, chunk_last in date_chunks(first, last, spec.storage.chunk_days):
        frames: dict[str, pd.DataFrame] = {}
        steps: dict[str, Callable[[], pd.DataFrame]] = {
            "raw_data": lambda: bare_raw_data(spec, chunk_first, chunk_last, soft),
            "features": lambda: bare_features(spec, frames["raw_data"]),
            "predictions": lambda: bare_predictions(spec, frames["features"], models),
            "risk_clusters": lambda: clustering.cluster_table(frames["predictions"], models.cutpoints,
                                                              spec.scoring_sections()),
            "risk_report": lambda: bare_risk_report(spec, frames["risk_clusters"], as_of),
            "drift_report": lambda: bare_drift_report(spec, frames["features"], frames["predictions"], models,
                                                      chunk_first, chunk_last),
        }
        for asset, step in steps.items():
            step_started = time.perf_counter()
            frames[asset] = step()
            store(spec, asset, frames[asset], chunk_first, chunk_last)
            seconds[asset] += time.perf_counter() - step_started
        summaries.append(frames["risk_report"])
    step_started = time.perf_counter()
    soft.findings(spec.dataset)
    seconds["raw_data"] += time.perf_counter() - step_started
    step_started = time.perf_counter()
    run_summary = reporting.summary_over_days(pd.concat(summaries, ignore_index=True))
    lake.write_frame(spec.reports_dir / "run_risk_summary" / f"{first}_{last}", run_summary)
    seconds["risk_report"] += time.perf_counter() - step_started
    return time.perf_counter() - started, time.process_time() - cpu, seconds


def check_same_partitions(specs: list[PipelineSpec], first: date, last: date) -> None:
    """Both lakes hold one file per day of the range for every asset of the chain."""
    keys = [day.isoformat() for day in days_between(first, last)]
    for spec in specs:
        for asset in CHAIN:
            stored = [key for key in lake.stored_keys(spec.lake_dir, asset, DATE_DIMENSION) if keys[0] <= key <= keys[-1]]
            assert stored == keys, f"{asset} in {spec.lake_dir}: {len(stored)} of {len(keys)} days stored"


def warm_up(spec: PipelineSpec) -> None:
    """Load every champion, its profile and similar-customer data once, so neither path pays the first load."""
    registry = ModelRegistry(tracking_uri=spec.tracking_uri)
    for champion in champions(spec, registry).values():
        registry.reference_profile(champion)
        registry.similar_reference(champion)


def use_instance(kind: str, sqlite_home: Path) -> None:
    """Point DAGSTER_HOME at a new embedded SQLite instance in sqlite_home (the project's dagster.yaml), or at the
    running stack's PostgreSQL instance; Dagster's event batching on, as the project runs it (unless the environment
    sets DAGSTER_EVENT_BATCH_SIZE: 0 turns it off)."""
    for name, value in EVENT_BATCH_ENV.items():  # as the CLI, scripts/ui and scripts/stack run Dagster
        os.environ.setdefault(name, value)
    if kind == "sqlite":
        sqlite_home.mkdir()
        (sqlite_home / "dagster.yaml").write_text(instance_yaml(sqlite_home))
        os.environ["DAGSTER_HOME"] = str(sqlite_home)
        return
    ports = stack.Ports.from_env()
    if not stack.port_open(ports.postgres):
        raise SystemExit(f"--instance postgres: nothing answers on 127.0.0.1:{ports.postgres}; run scripts/stack up")
    os.environ["DAGSTER_HOME"] = str(stack.stack_dir() / "dagster")
    os.environ[stack.PASSWORD_ENV] = stack.password()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rows", type=int, default=50_000, help="invoices per day (about)")
    parser.add_argument("--repeats", type=int, default=1, help="alternate both paths this many times; best of each")
    parser.add_argument("--landing", type=Path, help="keep the landing files in this folder and reuse them when "
                        "it already holds them (from a run with the same --days and --rows); default: generated in "
                        "the run's temporary folder")
    parser.add_argument("--instance", choices=["sqlite", "postgres"], default="sqlite",
                        help="the Dagster path's instance: a temporary SQLite one, or the running scripts/stack's")
    args = parser.parse_args()
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    first, last = START, START + timedelta(days=args.days - 1)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        train_champions(home)
        landing = args.landing or home / "landing"
        rows = landing_files(landing, round(args.rows * CUSTOMERS_PER_DAILY_ROW), first, last)
        os.environ[CONFIG_ENV] = str(write_config(home, landing))
        use_instance(args.instance, home / "dagster_home")
        spec = load_spec(os.environ[CONFIG_ENV])
        warm_up(spec)
        bare_spec = spec.model_copy(update={"storage": spec.storage.model_copy(update={
            "lake": str(home / "bare" / "lake"), "reports": str(home / "bare" / "reports")})})
        timings: dict[str, list[tuple[float, float, dict[str, float]]]] = {"dagster": [], "bare": []}
        peaks: dict[str, list[float]] = {"dagster": [], "bare": []}
        with dg.DagsterInstance.get() as instance:
            for _ in range(args.repeats):
                with peak_resident(peaks["dagster"]):
                    timings["dagster"].append(run_dagster(instance, first, last))
                with peak_resident(peaks["bare"]):
                    timings["bare"].append(run_bare(bare_spec, first, last))
        (dagster_s, dagster_cpu, dagster_steps), (bare_s, bare_cpu, bare_steps) = (
            min(timings[path], key=lambda timing: timing[0]) for path in ("dagster", "bare"))
        check_same_partitions([spec, bare_spec], first, last)
    partition_assets = args.days * len(CHAIN)
    overhead_ms = (dagster_s - bare_s) / partition_assets * 1000
    result = {"benchmark": "backfill", "instance": args.instance, "days": args.days, "rows": rows, "rows_per_day": round(rows / args.days),
              "assets": len(CHAIN), "runs_per_backfill": 1, "chunk_days": spec.storage.chunk_days,
              "repeats": args.repeats, "dagster_s": round(dagster_s, 2),
              "bare_s": round(bare_s, 2), "dagster_cpu_s": round(dagster_cpu, 2), "bare_cpu_s": round(bare_cpu, 2),
              "cpu_ratio": round(dagster_cpu / bare_cpu, 3),
              "all_dagster_s": [round(t, 2) for t, _, _ in timings["dagster"]],
              "all_bare_s": [round(t, 2) for t, _, _ in timings["bare"]],
              "ratio": round(dagster_s / bare_s, 3), "overhead_ms_per_partition_asset": round(overhead_ms, 1),
              "dagster_steps_s": {k: round(v, 2) for k, v in dagster_steps.items()},
              "bare_steps_s": {k: round(v, 2) for k, v in bare_steps.items()},
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
              "peak_rss_mb_dagster": round(max(peaks["dagster"])), "peak_rss_mb_bare": round(max(peaks["bare"])),
              "machine": machine()}
    print(f"daily chain, {args.days} days x ~{result['rows_per_day']:,} rows ({rows:,} rows), {len(CHAIN)} assets, "
          f"on {result['machine']}")
    print(f"  Dagster, one run on a persistent {args.instance} instance: {dagster_s:8.1f} s (best of {args.repeats})")
    print(f"  bare loop over the same functions:                {bare_s:8.1f} s")
    print(f"  ratio {result['ratio']} (target <= 1.5); overhead {overhead_ms:.1f} ms per partition-asset (target < 50)")
    print(f"  CPU seconds {dagster_cpu:.1f} vs {bare_cpu:.1f}, ratio {result['cpu_ratio']}")
    print(f"  peak resident memory (chunks of {result['chunk_days']} days): "
          f"Dagster {result['peak_rss_mb_dagster']:,} MB, bare {result['peak_rss_mb_bare']:,} MB, "
          f"process {result['peak_rss_mb']:,} MB")
    for asset in CHAIN:
        print(f"    {asset:14s} Dagster {dagster_steps.get(asset, float('nan')):7.1f} s   bare {bare_steps[asset]:7.1f} s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
