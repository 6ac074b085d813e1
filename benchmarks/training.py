"""Training benchmark: one segment of --rows rows x 50 features through the segment_model asset, against a bare
xgboost.train of the same params on the same rows, in the same process.

Ours: `training_job` with only segment_model selected (so its checks run too), on a SQLite instance in a temporary
DAGSTER_HOME: training_set's stored partition read back by the lake IO manager, the time split, the model matrix,
XGBoost with early stopping, holdout metrics and cut-points, MLflow (dagster-mlflow parent run, nested segment run with
params, metrics, fingerprint, reference sample, similar-customer data, drift profile, the booster with signature and
input example, registration, version tags and aliases) and the quality gate; then the leakage_suspects check step
(the leakage audit: univariate AUCs and the drop-cost refits, logged into the version's run). `asset_s` runs from the
run's start to the end of the segment_model step (the version registered), `audit_s` is the check step, `segment_s`
the whole run. Model settings: pipeline.yaml's booster params,
num_boost_round and early stopping, with tuning, calibration and the logistic baseline off.
Bare: `xgb.train` with the same params, rounds and early stopping on the same training and validation rows
(DMatrix built from the prepared model matrix, timed). --calibration auto times the asset with model.calibration
auto (the bare path stays one booster, so the ratio shows what calibration costs).

Data: --rows rows over --days days (one segment), 48 numeric and 2 categorical features; the label is Bernoulli of
a known non-linear function of 8 of them. Before timing, one untimed run of each path on 10,000 rows (imports,
MLflow store creation: what a long-lived deployment has already paid). Each timed asset run registers the first
version of its own model name (no champion to compare with). Both paths alternate --repeats times; best of each.
--no-similar turns off the similar-customer search (scoring.similar_customers.top_n: 0), so segment_model skips
its reference (Saabas contributions, approx_contribs, of 20,000 rows).

    .venv/bin/python benchmarks/training.py [--rows 1000000] [--days 100] [--repeats 1] [--no-similar] [--calibration none|auto]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import yaml
from machine_info import machine  # benchmarks/ is on sys.path when a script runs

from ml_assets.core.data import lake
from ml_assets.core.data.features import SEGMENT_COLUMN, category_vocabulary
from ml_assets.core.data.lake import SEGMENT_DIMENSION
from ml_assets.core.training import modeling
from ml_assets.definitions import TRAINING_JOB, build_definitions
from ml_assets.defs.training import LEAKAGE_CHECK
from ml_assets.resources.registry import ModelRegistry
from ml_assets.spec import PipelineSpec, parse_spec

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SEGMENT = "main"
NUMERIC = [f"x{i:02d}" for i in range(48)]
CATEGORICAL = {"channel": 6, "region": 24}
START = pd.Timestamp("2024-01-01")


def benchmark_spec(home: Path, days: int, name: str, similar_customers: bool, calibration: str) -> PipelineSpec:
    """One segment, 50 features, pipeline.yaml's booster settings; tuning and baseline off; model.calibration as
    given; the similar-customer reference (contributions of 20,000 rows, logged with each version) on or off."""
    model = yaml.safe_load((PROJECT_ROOT / "pipeline.yaml").read_text())["model"]
    columns = {"row_id": "int", "day": "date", "label": "int", "segment": "str", **dict.fromkeys(NUMERIC, "float"),
               **dict.fromkeys(CATEGORICAL, "str")}
    raw = {"name": name,
           "dataset": {"source": {"kind": "files", "path": "landing/{date}.parquet"}, "columns": columns,
                       "id": "row_id", "date": "day", "target": "label", "label_delay_days": 0, "segment": "segment",
                       "segments": {SEGMENT: [SEGMENT]}, "start_date": START.date().isoformat()},
           "features": {"numeric": NUMERIC, "categorical": list(CATEGORICAL)},
           "model": {"params": model["params"], "num_boost_round": model["num_boost_round"],
                     "early_stopping_rounds": model["early_stopping_rounds"], "calibration": calibration,
                     "baseline": False, "tuning": {"enabled": False}},
           "training": {"window_days": days, "holdout_days": max(1, days // 10), "min_auc": 0.5},
           "scoring": {"similar_customers": {"top_n": 20 if similar_customers else 0}},
           "storage": {"home": str(home), "lake": str(home / "lake"), "reports": str(home / "reports")}}
    return parse_spec(raw, base_dir=home)


def training_frame(rows: int, days: int, seed: int = 0) -> pd.DataFrame:
    """A segment's training set as training_set stores it: ids, dates in order, label, segment and features."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(NUMERIC)))
    cats = {name: rng.integers(0, levels, rows) for name, levels in CATEGORICAL.items()}
    logit = (1.1 * x[:, 0] - 0.8 * x[:, 1] + 0.6 * x[:, 2] * x[:, 3] + 0.7 * np.sin(2 * x[:, 4])
             + 0.5 * np.abs(x[:, 5]) - 0.4 * np.maximum(x[:, 6], 0) + 0.3 * x[:, 7] ** 2
             + 0.4 * (cats["channel"] == 2) - 0.02 * cats["region"] - 2.2)
    frame = pd.DataFrame(x, columns=NUMERIC)
    for name, codes in cats.items():
        frame[name] = np.char.add(f"{name}_", codes.astype(str)).astype(object)
    frame.insert(0, "row_id", np.arange(rows))
    frame.insert(1, "day", START + pd.to_timedelta(np.arange(rows) * days // rows, unit="D"))
    frame.insert(2, "label", (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype("int64"))
    frame.insert(3, SEGMENT_COLUMN, SEGMENT)
    return frame


@dataclass(frozen=True)
class AssetRun:
    """One timed run of segment_model and its leakage_suspects check step: `asset_s` from the run's start to the end
    of the segment_model step (the version registered, its record stored), `audit_s` the check step's own time,
    `segment_s` the whole run (both steps)."""

    asset_s: float
    audit_s: float
    segment_s: float
    cpu_s: float
    record: dict


def run_asset(spec: PipelineSpec, instance: dg.DagsterInstance) -> AssetRun:
    """segment_model of the segment through the training job, with its leakage_suspects step; the model record is
    read from the lake partition of training_set, which must hold the segment's rows."""
    job = build_definitions(spec).resolve_job_def(TRAINING_JOB)
    started, perf, cpu = time.time(), time.perf_counter(), time.process_time()
    result = job.execute_in_process(instance=instance, partition_key=SEGMENT,
                                    asset_selection=[dg.AssetKey("segment_model")],
                                    run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
    seconds, cpu = time.perf_counter() - perf, time.process_time() - cpu
    assert result.success
    steps = {stats.step_key: stats for stats in instance.get_run_step_stats(result.run_id)}
    [audit] = [stats for key, stats in steps.items() if key.endswith(LEAKAGE_CHECK)]
    record = lake.read_partition(lake.partition_dir(spec.lake_dir, "segment_model", SEGMENT_DIMENSION, SEGMENT))
    return AssetRun(steps["segment_model"].end_time - started, audit.end_time - audit.start_time, seconds, cpu,
                    record)


def bare_inputs(frame: pd.DataFrame, spec: PipelineSpec) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """The model matrix, target and dates of the training part: the rows the asset's booster sees (not timed)."""
    train, _ = modeling.split_by_time(frame, spec.dataset.date, spec.training.holdout_days)
    vocabulary = category_vocabulary(train, spec.features.categorical)
    rows = modeling.training_rows(train, spec.training_sections(), vocabulary, SEGMENT)
    return rows.matrix, rows.target, rows.dates


def run_bare(matrix: pd.DataFrame, target: pd.Series, dates: pd.Series,
             spec: PipelineSpec) -> tuple[float, float, int]:
    """xgb.train on the same rows with the same params, rounds and early stopping; wall and CPU seconds and the
    best iteration."""
    started, cpu = time.perf_counter(), time.process_time()
    _, best_iteration = modeling.train_booster(
        matrix, target, dates, spec.model.params_for(SEGMENT), spec.model.num_boost_round,
        spec.model.early_stopping_rounds, spec.training.validation_fraction, spec.training.seed)
    return time.perf_counter() - started, time.process_time() - cpu, best_iteration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=1, help="alternate both paths this many times; best of each")
    parser.add_argument("--no-similar", action="store_true", help="similar-customer search off (no reference)")
    parser.add_argument("--calibration", choices=["none", "auto"], default="none",
                        help="model.calibration of the asset (auto: the cross-fitted calibration's cost is timed)")
    args = parser.parse_args()
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        specs = [benchmark_spec(home, args.days, f"training_benchmark_{run}", not args.no_similar,
                                args.calibration)
                 for run in range(args.repeats + 1)]
        training_set = lake.partition_dir(specs[0].lake_dir, "training_set", SEGMENT_DIMENSION, SEGMENT)
        os.environ["DAGSTER_HOME"] = str(home / "dagster_home")
        (home / "dagster_home").mkdir()
        (home / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        runs: list[AssetRun] = []
        bare_runs: list[tuple[float, float]] = []
        with dg.DagsterInstance.get() as instance:
            warm_up = training_frame(10_000, args.days, seed=1)
            lake.write_frame(training_set, warm_up)
            run_asset(specs[0], instance)
            run_bare(*bare_inputs(warm_up, specs[0]), specs[0])
            frame = training_frame(args.rows, args.days)
            lake.write_frame(training_set, frame)
            matrix, target, dates = bare_inputs(frame, specs[0])
            for spec in specs[1:]:
                runs.append(run_asset(spec, instance))
                *bare_times, bare_best = run_bare(matrix, target, dates, spec)
                bare_runs.append(tuple(bare_times))
            record = runs[-1].record
            asset_best = ModelRegistry(tracking_uri=specs[-1].tracking_uri).load(
                record["model_name"], record["version"]).meta.best_iteration
    best = min(runs, key=lambda run: run.asset_s)
    asset_s, asset_cpu, (bare_s, bare_cpu) = best.asset_s, best.cpu_s, min(bare_runs)
    segment_s = min(run.segment_s for run in runs)
    result = {"benchmark": "training", "rows": args.rows, "features": len(NUMERIC) + len(CATEGORICAL),
              "train_rows": len(matrix), "days": args.days, "repeats": args.repeats,
              "similar_customers": not args.no_similar, "calibration": args.calibration,
              "asset_s": round(asset_s, 2), "bare_s": round(bare_s, 2), "ratio": round(asset_s / bare_s, 3),
              "audit_s": round(min(run.audit_s for run in runs), 2), "segment_s": round(segment_s, 2),
              "segment_ratio": round(segment_s / bare_s, 3),
              "segment_cpu_s": round(asset_cpu, 2), "bare_cpu_s": round(bare_cpu, 2),
              "segment_cpu_ratio": round(asset_cpu / bare_cpu, 3),
              "all_asset_s": [round(run.asset_s, 2) for run in runs],
              "all_audit_s": [round(run.audit_s, 2) for run in runs],
              "all_segment_s": [round(run.segment_s, 2) for run in runs],
              "all_bare_s": [round(t, 2) for t, _ in bare_runs],
              "pair_ratios": [round(run.asset_s / b, 3) for run, (b, _) in zip(runs, bare_runs)],
              "segment_pair_ratios": [round(run.segment_s / b, 3) for run, (b, _) in zip(runs, bare_runs)],
              "holdout_auc": round(record["metrics"]["roc_auc"], 4), "asset_best_iteration": asset_best,
              "bare_best_iteration": bare_best,
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), "machine": machine(),
              "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
    print(f"one segment, {args.rows:,} rows x {result['features']} features ({len(matrix):,} training rows incl. "
          f"the early-stopping slice), on {result['machine']}")
    print(f"  segment_model asset (MLflow logging, evaluation, registration): {asset_s:7.1f} s (best of {args.repeats})")
    print(f"  leakage_suspects check step after it (the audit's refits):      {result['audit_s']:7.1f} s")
    print(f"  the whole training of the segment (both steps, one run):        {segment_s:7.1f} s")
    print(f"  bare xgb.train, same params and rows:                          {bare_s:7.1f} s")
    print(f"  ratio {result['ratio']} (target <= 1.15), whole segment {result['segment_ratio']}; CPU seconds of the "
          f"run {asset_cpu:.1f} vs {bare_cpu:.1f}; holdout AUC {result['holdout_auc']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
