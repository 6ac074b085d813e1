"""Scoring benchmark: 1,000,000 rows through the daily scoring path against a bare xgboost predict.

Ours: features -> predictions (calibrated scores, reason codes, similar past customers) -> risk clusters ->
risk report (row-level parquet files per date and segment, the daily summary and the run risk summary). It
calls the core functions the assets call (score_segment, cluster_table, labels_matured, write_report_files,
risk_summary, summary_over_days), not the Dagster machinery (no IO manager writing the lake, no run bookkeeping).
Bare: `booster.predict(xgb.DMatrix(matrix))` with each segment's model on the same rows (model matrix prebuilt),
in the same process. Both are timed best of --repeats, alternating, after a warm-up on a slice.

The models are trained first on the demo data (6,000 customers, Jan-Aug 2024; not timed) with pipeline.yaml's
settings. The rows are August 2024 invoices of 100,000 demo customers, resampled to --rows rows with new ids
and ordered by date, as the features of a range of days are read from the lake.
The similar-customer data is computed at training time (once per model version, as segment_model logs it) and
its index is built before timing (once per model version per process, as predictions does).

    .venv/bin/python benchmarks/scoring.py [--rows 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from machine_info import machine  # benchmarks/ is on sys.path when a script runs

from ml_assets.core.data.features import SEGMENT_COLUMN, build_features, model_matrix
from ml_assets.core.data.synthetic import generate_invoices
from ml_assets.core.scoring import clustering
from ml_assets.core.scoring import risk_report as reporting
from ml_assets.core.scoring.explain import contributions
from ml_assets.core.scoring.scores import SCORE_COLUMN
from ml_assets.core.scoring.segment_scoring import score_segment
from ml_assets.core.scoring.similar import SimilarIndex, build_index, reference_contributions
from ml_assets.core.training import modeling
from ml_assets.core.training.calibration import NO_CALIBRATION
from ml_assets.core.training.record import ScoringMeta, TrainingWindow, scoring_meta
from ml_assets.spec import PipelineSpec, load_spec

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TRAIN_START, TRAIN_END, SCORE_START = date(2024, 1, 1), date(2024, 8, 31), date(2024, 8, 1)
TRAIN_CUSTOMERS, SCORE_CUSTOMERS = 6_000, 100_000
WARMUP_ROWS, COMPARISON_ROWS = 20_000, 20_000


@dataclass(frozen=True)
class SegmentModel:
    """What scoring needs of one segment's model version, as the registry would hand it over."""

    name: str
    version: str
    booster: xgb.Booster
    meta: ScoringMeta
    index: SimilarIndex


def pipeline_spec(home: Path) -> PipelineSpec:
    """The project's pipeline.yaml with every output under `home`."""
    os.environ["ML_ASSETS_HOME"] = str(home)
    return load_spec(PROJECT_ROOT / "pipeline.yaml")


def train_models(spec: PipelineSpec, trees: int | None) -> tuple[dict[str, SegmentModel], float]:
    """One model per segment on the demo data's matured training window (with `trees`, exactly that many trees
    and no calibration instead of early stopping); also the seconds spent building the similar-customer indexes."""
    invoices = generate_invoices(TRAIN_CUSTOMERS, TRAIN_START, TRAIN_END, seed=0)
    features = build_features(invoices, spec.dataset, spec.features)
    first, last = modeling.training_window(TRAIN_END, spec.dataset.label_delay_days, spec.training.window_days)
    days = features[spec.dataset.date].dt.date
    window = features[(days >= first) & (days <= last)]
    models, index_seconds = {}, 0.0
    for segment in spec.segment_names:
        frame = window[window[SEGMENT_COLUMN] == segment].reset_index(drop=True)
        fit = modeling.fit_segment(frame, fixed_size(spec, trees).training_sections(), segment)
        model = replace(fit.model, best_iteration=trees - 1, calibration=NO_CALIBRATION) if trees else fit.model
        booster = model.booster[: model.best_iteration + 1]  # what segment_model logs
        cutpoints = fit.cutpoints if not trees else modeling.score_cutpoints(
            modeling.predict(booster, model_matrix(fit.holdout, spec.features, model.vocabulary)),
            spec.clustering.quantiles)
        meta = replace(scoring_meta(fit, segment, TrainingWindow(first, last), "benchmark"),
                       best_iteration=model.best_iteration, calibration=model.calibration, cutpoints=cutpoints)
        reference = reference_contributions(frame, model, spec.scoring_sections())
        started = time.perf_counter()
        index = build_index(reference, spec.dataset, spec.scoring.similar_customers)
        index_seconds += time.perf_counter() - started
        models[segment] = SegmentModel(spec.registered_model_name(segment), "1", booster, meta, index)
    return models, index_seconds


def fixed_size(spec: PipelineSpec, trees: int | None) -> PipelineSpec:
    """The spec, or with `trees` one that trains exactly that many rounds (early stopping never triggers)."""
    if not trees:
        return spec
    return spec.model_copy(update={"model": spec.model.model_copy(
        update={"num_boost_round": trees, "early_stopping_rounds": trees})})


def scoring_rows(spec: PipelineSpec, rows: int) -> pd.DataFrame:
    """`rows` feature rows: a month of demo invoices resampled, each with its own id."""
    invoices = generate_invoices(SCORE_CUSTOMERS, SCORE_START, TRAIN_END, seed=1)
    features = build_features(invoices, spec.dataset, spec.features)
    sample = features.sample(n=rows, replace=True, random_state=0)
    sample = sample.sort_values(spec.dataset.date, kind="stable").reset_index(drop=True)  # as the lake reads days
    sample[spec.dataset.id] = np.arange(rows)
    return sample


def ours(features: pd.DataFrame, models: dict[str, SegmentModel], spec: PipelineSpec, folder: Path) -> pd.DataFrame:
    """The scoring assets' work: predictions, risk_clusters, then risk_report's files and summaries."""
    ds = spec.dataset
    scored = []
    for segment, rows in features.groupby(SEGMENT_COLUMN, sort=False):
        m = models[str(segment)]
        scored.append(score_segment(rows, m.booster, m.meta, m.name, m.version, spec.scoring_sections(), m.index))
    stored = {(m.name, m.version): m.meta.cutpoints for m in models.values()}
    clusters = clustering.cluster_table(pd.concat(scored, ignore_index=True), stored, spec.scoring_sections())
    matured = reporting.labels_matured(clusters[ds.date], ds.label_delay_days, pd.Timestamp(TRAIN_END))
    reporting.write_report_files(clusters, folder, spec.dataset.date, spec.scoring)
    summary = reporting.risk_summary(clusters, SEGMENT_COLUMN, SCORE_COLUMN, ds.target, matured, ds.date)
    reporting.summary_over_days(summary)
    return clusters


def bare(matrices: dict[str, pd.DataFrame], models: dict[str, SegmentModel]) -> list[np.ndarray]:
    """Only xgboost: each segment's booster predicting its rows."""
    return [models[s].booster.predict(xgb.DMatrix(matrix, enable_categorical=True),
                                      iteration_range=(0, models[s].meta.best_iteration + 1))
            for s, matrix in matrices.items()]


def best_times(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best wall time of each callable over `repeats` rounds, alternating them within each round."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return {name: min(values) for name, values in times.items()}


def contribution_methods(features: pd.DataFrame, model: SegmentModel, spec: PipelineSpec) -> dict[str, float]:
    """Rows per second of exact TreeSHAP and of approx_contribs on the highest-scoring rows, and how often
    they agree on the top reason and on the set of reasons (the features among the top `count` that push up)."""
    rows = features[features[SEGMENT_COLUMN] == "domestic"].head(200_000)
    matrix = model_matrix(rows, spec.features, model.meta.vocabulary)
    scores = model.booster.predict(xgb.DMatrix(matrix, enable_categorical=True))
    top = matrix.iloc[np.argsort(-scores)[:COMPARISON_ROWS]]
    found = {}
    for method, approximate in (("exact", False), ("approx", True)):
        started = time.perf_counter()
        found[method] = contributions(model.booster, top, model.meta.best_iteration, approximate)
        found[f"{method}_rows_per_s"] = len(top) / (time.perf_counter() - started)
    count = spec.scoring.reason_codes.count
    exact_top, approx_top = (np.argsort(-found[m], axis=1)[:, :count] for m in ("exact", "approx"))
    reasons = {m: [set(row[values[row] > 0]) for row, values in zip(top_k, found[m])]
               for m, top_k in (("exact", exact_top), ("approx", approx_top))}
    same_set = [a == b for a, b in zip(reasons["exact"], reasons["approx"])]
    return {"exact_rows_per_s": found["exact_rows_per_s"], "approx_rows_per_s": found["approx_rows_per_s"],
            "top1_agreement": float(np.mean(exact_top[:, 0] == approx_top[:, 0])),
            f"top{count}_set_agreement": float(np.mean(same_set))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trees", type=int, default=None,
                        help="train models of exactly this many trees (default: pipeline.yaml's early stopping)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = pipeline_spec(Path(tmp))
        models, index_seconds = train_models(spec, args.trees)
        features = scoring_rows(spec, args.rows)
        matrices = {str(s): model_matrix(rows, spec.features, models[str(s)].meta.vocabulary)
                    for s, rows in features.groupby(SEGMENT_COLUMN, sort=False)}
        warm = features.head(WARMUP_ROWS)
        ours(warm, models, spec, Path(tmp) / "warmup")
        bare({s: m.head(WARMUP_ROWS) for s, m in matrices.items()}, models)
        times = best_times({"ours": lambda: ours(features, models, spec, Path(tmp) / "risk_report"),
                            "bare": lambda: bare(matrices, models)}, args.repeats)
        clusters = ours(features, models, spec, Path(tmp) / "risk_report")
        methods = contribution_methods(features, models["domestic"], spec)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    explained = clusters["reason_1"].notna().mean()
    similar = clusters["similar_customers"].notna().sum()
    result = {"benchmark": "scoring", "rows": args.rows, "ours_s": round(times["ours"], 3),
              "bare_s": round(times["bare"], 3), "rows_per_s": round(args.rows / times["ours"]),
              "bare_rows_per_s": round(args.rows / times["bare"]), "ratio": round(times["ours"] / times["bare"], 2),
              "peak_rss_mb": round(peak_mb), "trees": {s: m.meta.best_iteration + 1 for s, m in models.items()},
              "reason_codes": f"{spec.scoring.reason_codes.method} for {spec.scoring.reason_codes.categories}",
              "explained_share": round(float(explained), 3), "similar_rows": int(similar),
              "index_build_s": round(index_seconds, 3), **{k: round(v, 3) for k, v in methods.items()},
              "machine": machine()}
    print(f"scoring {args.rows:,} rows on {result['machine']} (best of {args.repeats})")
    print(f"  ours (features -> predictions -> clusters -> report files): {times['ours']:.2f} s, "
          f"{result['rows_per_s']:,} rows/s")
    print(f"  bare xgboost predict of the same rows:                      {times['bare']:.2f} s, "
          f"{result['bare_rows_per_s']:,} rows/s")
    print(f"  ratio ours / bare: {result['ratio']}  (target <= 2); peak RSS {result['peak_rss_mb']:,} MB")
    print(f"  reason codes: {result['reason_codes']} on {explained:.0%} of rows; exact TreeSHAP "
          f"{methods['exact_rows_per_s']:,.0f} rows/s vs approx {methods['approx_rows_per_s']:,.0f} rows/s; "
          f"top-1 agreement {methods['top1_agreement']:.0%}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
