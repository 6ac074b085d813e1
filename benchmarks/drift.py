"""Drift benchmark: our drift table against Evidently's DataDriftPreset on the same frames, in one process.

Reference and current frames of --rows rows x 40 numeric + 10 categorical columns (normal, log-normal,
integer-valued with ties, some missing values; a quarter of the columns shifted in the current frame, some
categories unseen in the reference). Ours: `feature_drift_table` = build the reference profile (sort each
column once, quantile bins, category counts) + compare the current frame with it (PSI, KS with its p-value,
Wasserstein, chi-square), columns in threads. Evidently: `Report([DataDriftPreset(columns=...)]).run(...)`
on the same columns with a DataDefinition (the run only: no HTML rendering, import not timed). Peak memory
is the highest resident size sampled every 5 ms during each call, minus the size before it (the two frames
are already resident). Ours runs first.

    .venv/bin/python benchmarks/drift.py [--rows 1000000] [--skip-evidently]

The last line is JSON: {"benchmark": "drift", "rows": ..., "ours_s": ..., "evidently_s": ..., "speedup": ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ml_assets.core.monitoring.drift import SEVERITIES, build_profile, profile_drift_table
from ml_assets.spec import ThresholdSpec

NUMERIC, CATEGORICAL = 40, 10
PSI = ThresholdSpec(low=0.05, moderate=0.1, high=0.25)
KS = ThresholdSpec(low=0.05, moderate=0.1, high=0.2)
PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def resident_mb() -> float:
    """Current resident set size of this process, in MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_MB


def measured(call: Callable[[], Any]) -> tuple[Any, float, float, float]:
    """Result, wall seconds, CPU seconds (all threads) and peak extra resident MB (sampled every 5 ms) of one
    call. CPU seconds say more than wall seconds on a machine shared with other work."""
    before, peak, done = resident_mb(), [0.0], threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], resident_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        result = call()
    finally:
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        done.set()
        sampler.join()
    return result, elapsed, cpu, max(peak[0], resident_mb()) - before


def numeric_column(rng: np.random.Generator, i: int, rows: int, shifted: bool) -> np.ndarray:
    """One numeric column; the kind cycles through normal, log-normal, integers with ties, normal with NaN."""
    shift = 0.15 if shifted else 0.0
    kind = i % 4
    if kind == 0:
        return rng.normal(shift, 1.0, rows)
    if kind == 1:
        return rng.lognormal(3.0 + shift, 0.8, rows)
    if kind == 2:
        return rng.poisson(4.0 + 10 * shift, rows).astype("float64")
    values = rng.normal(10 * shift, 5.0, rows)
    values[rng.random(rows) < 0.03] = np.nan
    return values


def categorical_column(rng: np.random.Generator, i: int, rows: int, shifted: bool) -> np.ndarray:
    """One categorical column of 5..50 categories (object strings), some missing; shifted columns move
    weight to the last categories and add two the reference never saw."""
    k = 5 + 5 * i
    names = np.array([f"c{i}_{j}" for j in range(k + 2)], dtype=object)
    weights = np.linspace(1.0, 2.0 if shifted else 1.0, k)
    weights = np.append(weights, [0.05, 0.05] if shifted else [0.0, 0.0])
    values = names[rng.choice(k + 2, size=rows, p=weights / weights.sum())]
    values[rng.random(rows) < 0.01] = None
    return values


def make_frame(rows: int, current: bool, seed: int) -> pd.DataFrame:
    """Reference (current=False) or current frame; every fourth column drifts in the current one."""
    rng = np.random.default_rng(seed)
    columns = {f"num_{i:02d}": numeric_column(rng, i, rows, current and i % 4 == 3) for i in range(NUMERIC)}
    columns |= {f"cat_{i:02d}": categorical_column(rng, i, rows, current and i % 4 == 1) for i in range(CATEGORICAL)}
    return pd.DataFrame(columns)


def ours(reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str],
         categorical: list[str]) -> tuple[pd.DataFrame, float, float]:
    """Our table, with the seconds spent on the reference profile and on the comparison."""
    started = time.perf_counter()
    profile = build_profile(reference, numeric, categorical, bins=10)
    profiled = time.perf_counter()
    table = profile_drift_table(profile, current, PSI, KS)
    return table, profiled - started, time.perf_counter() - profiled


def evidently_report(reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str],
                     categorical: list[str]) -> tuple[Callable[[], Any], float]:
    """A call running Evidently's DataDriftPreset on both frames, and the seconds its import took."""
    started = time.perf_counter()
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    imported = time.perf_counter() - started
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)

    def run() -> Any:
        datasets = [Dataset.from_pandas(side, data_definition=definition) for side in (current, reference)]
        return Report([DataDriftPreset(columns=numeric + categorical)]).run(*datasets)

    return run, imported


def evidently_drifted(snapshot: Any) -> int:
    """Columns Evidently's DriftedColumnsCount reports as drifted."""
    for metric in snapshot.dict()["metrics"]:
        if metric["metric_name"].startswith("DriftedColumnsCount"):
            return int(metric["value"]["count"])
    raise ValueError("Evidently's snapshot has no DriftedColumnsCount metric")


def machine() -> str:
    """CPU model and count, for the record."""
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor())
    return f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-evidently", action="store_true", help="time ours only (Evidently takes minutes at 1M rows)")
    args = parser.parse_args()

    base = resident_mb()
    reference, current = make_frame(args.rows, False, args.seed), make_frame(args.rows, True, args.seed + 1)
    numeric = [c for c in reference.columns if c.startswith("num_")]
    categorical = [c for c in reference.columns if c.startswith("cat_")]
    frames_mb = resident_mb() - base
    print(f"frames: 2 x {args.rows:,} rows x {len(numeric)} numeric + {len(categorical)} categorical "
          f"({frames_mb:,.0f} MB resident)")

    (table, profile_s, compare_s), ours_s, ours_cpu, ours_mb = measured(
        lambda: ours(reference, current, numeric, categorical))
    drifted = int((table["severity"].map(SEVERITIES.index) >= SEVERITIES.index("moderate")).sum())
    print(f"ours:      {ours_s:8.2f} s  (profile {profile_s:.2f} s + compare {compare_s:.2f} s; {ours_cpu:.2f} CPU s), "
          f"peak +{ours_mb:,.0f} MB, {drifted} columns at moderate or high drift")

    figures: dict[str, Any] = {"benchmark": "drift", "rows": args.rows, "numeric": len(numeric),
                               "categorical": len(categorical), "ours_s": round(ours_s, 3),
                               "ours_profile_s": round(profile_s, 3), "ours_compare_s": round(compare_s, 3),
                               "ours_cpu_s": round(ours_cpu, 3), "ours_peak_mb": round(ours_mb),
                               "frames_mb": round(frames_mb)}
    if not args.skip_evidently:
        run, import_s = evidently_report(reference, current, numeric, categorical)
        snapshot, evidently_s, evidently_cpu, evidently_mb = measured(run)
        print(f"evidently: {evidently_s:8.2f} s  (import {import_s:.1f} s not counted; {evidently_cpu:.1f} CPU s), "
              f"peak +{evidently_mb:,.0f} MB, {evidently_drifted(snapshot)} columns drifted by its defaults")
        print(f"speedup:   {evidently_s / ours_s:8.1f} x  (Evidently / ours)")
        figures |= {"evidently_s": round(evidently_s, 2), "evidently_cpu_s": round(evidently_cpu, 1),
                    "evidently_peak_mb": round(evidently_mb),
                    "speedup": round(evidently_s / ours_s, 1), "ratio": round(ours_s / evidently_s, 4)}
    figures["machine"] = machine()
    figures["load_average_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
