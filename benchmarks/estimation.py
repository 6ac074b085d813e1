"""Estimation benchmark: performance estimated from calibrated scores (CBPE, the estimated_performance asset)
against the realized performance of the same cohorts from their labels, out of time, on two data sets.

Per data set: ingest through `ingest_job`, train every segment as of --as-of (`training_job`, labels matured by
then), score the --days days after it (`scoring_job`: predictions, estimated_performance, ...), all on a SQLite
Dagster instance in a temporary folder. Then, per segment and day D of those days, the asset's estimate for its
cohort (the predictions of the monitoring.performance.window_days days ending on D, only days after the as-of date)
is compared with the realized ROC AUC and default rate of the same rows from their labels (the data sets are
historical, so every label is known). Also reported: the same comparison for single-day cohorts, the estimate's
interval coverage, and the noise floor, the mean absolute error an exactly calibrated model would still show (the
mean |realized - estimate| over labels drawn as Bernoulli(score)): realized values of small cohorts are noisy.
The targets are judged on the measurable cohorts: those whose floor, computed from their scores alone, is at
most half the target (`measurable` in the JSON); every cohort is reported too. On the demo, whose generator knows
each invoice's P(target) (`synthetic.default_probability`), the estimate and the realized values are also compared
with the values that P(target) makes expected (`against_truth`): the estimate's error there is the model's
miscalibration, the realized values' is label noise.

Data: demo, the invoices of core/data/synthetic.py (--customers, 2023-01-01..2024-09-30, the price shock and lateness
change from 2024-08-01), config pipeline.yaml with the billing month as a feature (features.engineered.date_parts,
drift-judged against the same month: features.calendar.handling same_period) and training.window_days 365, so the
generator's season term (0.3 * cos(2 pi month / 12)) is learnable: with neither, P(target | features) moves out of
time, which CBPE by design does not follow (docs/performance-estimation.md); the calibration with its default folds;
hotel, the hotel bookings in ../shared/data with the config `ml-assets init` writes (leaks excluded as in the
README). Both with drift.evidently.days: none (no HTML reports; the estimates do not depend on it).

    .venv/bin/python benchmarks/estimation.py [--days 45] [--customers 6000] [--skip-hotel]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import yaml
from machine_info import machine  # benchmarks/ is on sys.path when a script runs
from sklearn.metrics import roc_auc_score

from ml_assets import Project
from ml_assets.cli import main as cli_main
from ml_assets.core.data import lake
from ml_assets.core.data.features import SEGMENT_COLUMN
from ml_assets.core.data.synthetic import DriftInjection, default_probability, generate_invoices, write_landing_files
from ml_assets.core.monitoring.estimation import estimate_performance, sampled_metrics
from ml_assets.core.monitoring.segment_monitoring import realized_performance
from ml_assets.core.scoring.scores import SCORE_COLUMN
from ml_assets.definitions import INGEST_JOB, SCORING_JOB, TRAINING_JOB, build_definitions
from ml_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from ml_assets.spec import PipelineSpec, load_spec

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# ../shared/data beside the clone (main/), or two levels up from a worktree (wt/<name>/)
HOTELS = next((folder / "shared" / "data" / "hotel_bookings.csv.gz" for folder in PROJECT_ROOT.parents[:2]
               if (folder / "shared" / "data" / "hotel_bookings.csv.gz").exists()),
              PROJECT_ROOT.parent / "shared" / "data" / "hotel_bookings.csv.gz")
NO_REPORTS = {"drift": {"evidently": {"days": "none"}}}
DEMO_START = date(2023, 1, 1)  # a year of matured labels before the as-of date: every season in the window
DEMO_SHIFT = date(2024, 8, 1)  # price shock (every tariff) and later payments (domestic): DriftInjection
# A cohort's realized value is measurable when its noise floor (from its scores only, never its labels) is at most
# half the target: AUC floor <= 0.015 (target 0.03), default-rate floor <= 10% relative (target 20%).
MEASURABLE_AUC_FLOOR, MEASURABLE_RATE_FLOOR = 0.015, 0.10


def demo_invoices(customers: int) -> pd.DataFrame:
    """The demo's invoices, 2023-01-01..2024-09-30, with the price shock and lateness change from DEMO_SHIFT."""
    return generate_invoices(customers, DEMO_START, date(2024, 9, 30), seed=0, drift=DriftInjection(start=DEMO_SHIFT))


def demo_config(home: Path, invoices: pd.DataFrame) -> Path:
    """pipeline.yaml with its outputs and the invoices' landing files under `home`."""
    write_landing_files(invoices, home / "landing")
    text = (PROJECT_ROOT / "pipeline.yaml").read_text()
    text = text.replace("${ML_ASSETS_LANDING:-data/landing}", str(home / "landing"))
    text = text.replace("${ML_ASSETS_HOME:-data}", str(home / "out")).replace("${MLFLOW_TRACKING_URI:-}", "")
    text = text.replace("${ML_ASSETS_ALERT_WEBHOOK:-}", "")
    raw = yaml.safe_load(text)
    raw["dataset"]["start_date"] = DEMO_START
    raw["dataset"]["end_date"] = date(2024, 9, 30)
    raw["features"]["engineered"]["date_parts"] = [{"name": "invoice_month", "part": "month"}]
    raw["features"]["calendar"] = {"columns": ["invoice_month"], "handling": "same_period"}
    raw["training"]["window_days"] = 365
    return with_overrides(yaml.safe_dump(raw, sort_keys=False), home / "pipeline.yaml")


def hotel_config(home: Path) -> Path:
    """The config `ml-assets init` writes for the hotel bookings (leaks excluded)."""
    config = home / "hotels.yaml"
    args = ["init", "--data", str(HOTELS), "--id", "booking_id", "--date", "arrival_date", "--target",
            "is_canceled", "--segment", "hotel", "--exclude", "reservation_status", "--exclude",
            "reservation_status_date", "--output", str(config)]
    assert cli_main(args) == 0, "ml-assets init failed"
    return with_overrides(config.read_text(), config)


def with_overrides(text: str, path: Path) -> Path:
    """Write the config text to `path` with NO_REPORTS merged in."""
    raw = yaml.safe_load(text)
    for section, values in NO_REPORTS.items():
        raw[section] = {**raw.get(section, {}), **values}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run_job(spec: PipelineSpec, job: str, instance: dg.DagsterInstance, first: str, last: str,
            **kwargs: object) -> None:
    """One run of a job over first..last (partition keys); fails loudly."""
    result = build_definitions(spec).resolve_job_def(job).execute_in_process(
        instance=instance, raise_on_error=False, tags={RANGE_START_TAG: first, RANGE_END_TAG: last},
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}, **kwargs.pop("run_config", {})},
        **kwargs)
    failures = [e for e in result.get_step_failure_events()
                if e.event_specific_data.error.cls_name != "DagsterAssetCheckFailedError"]
    assert not failures, failures[0].event_specific_data.error.message


def materialize(spec: PipelineSpec, as_of: date, days: int) -> None:
    """Ingest the training window and the scored days, train as of `as_of`, score the `days` days after it."""
    window_first = as_of - timedelta(days=spec.dataset.label_delay_days + spec.training.window_days)
    first, last = max(window_first, spec.dataset.start_date), as_of + timedelta(days=days)
    with dg.instance_for_test() as instance:
        run_job(spec, INGEST_JOB, instance, first.isoformat(), last.isoformat())
        run_job(spec, TRAINING_JOB, instance, spec.segment_names[0], spec.segment_names[-1],
                run_config={"ops": {"training_set": {"config": {"as_of": as_of.isoformat()}}}})
        run_job(spec, SCORING_JOB, instance, (as_of + timedelta(days=1)).isoformat(), last.isoformat())


def stored(spec: PipelineSpec, asset: str) -> pd.DataFrame:
    """Every stored day of an asset."""
    keys = lake.stored_keys(spec.lake_dir, asset, "date")
    return lake.read_frames([lake.partition_dir(spec.lake_dir, asset, "date", key) for key in keys])


def comparison(spec: PipelineSpec, cohort_days: int, estimates: pd.DataFrame | None,
               truth: pd.Series | None) -> pd.DataFrame:
    """Per segment and day: the estimate (the asset's, or computed on single days) beside the realized values of
    the same rows, the noise floor of each, and, where the generator's P(target) per id (`truth`) is known, the
    expected values the estimate aims at."""
    ds, predictions = spec.dataset, stored(spec, "predictions")
    dates = pd.to_datetime(predictions[ds.date]).dt.date
    rows = []
    for day in sorted(set(dates)):
        cohort = predictions[(dates > day - timedelta(days=cohort_days)) & (dates <= day)]
        for segment, part in cohort.groupby(SEGMENT_COLUMN):
            scores, labels = part[SCORE_COLUMN].to_numpy(), part[ds.target].to_numpy(dtype="float64")
            realized = realized_performance(labels, scores)
            if estimates is None:
                estimate = estimate_performance(scores, spec.monitoring.estimation).columns()
            else:
                match = estimates[(estimates["segment"] == segment) & (estimates["cohort_last"] == day.isoformat())]
                assert len(match) == 1 and match["rows"].iat[0] == len(part), (segment, day)
                estimate = match.iloc[0].to_dict()
            rates, aucs = sampled_metrics(scores, 200, seed=1)
            rows.append({"segment": segment, "day": day, "rows": len(part), "realized_auc": realized["roc_auc"],
                         "realized_rate": realized["default_rate"], **{k: estimate[k] for k in (
                             "estimated_roc_auc", "estimated_roc_auc_low", "estimated_roc_auc_high",
                             "estimated_default_rate", "estimated_default_rate_low", "estimated_default_rate_high")},
                         "auc_floor": float(np.nanmean(np.abs(aucs - estimate["estimated_roc_auc"]))),
                         "rate_floor": float(np.mean(np.abs(rates - estimate["estimated_default_rate"]))
                                             / estimate["estimated_default_rate"]),
                         **({} if truth is None else expected(scores, truth.loc[part[ds.id]].to_numpy()))})
    return pd.DataFrame(rows)


def expected(scores: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """What a cohort's default rate and ROC AUC are expected to be when its labels are Bernoulli(probability): the
    mean probability, and sklearn's AUC of the scores over each row counted as a positive weighted p and a negative
    weighted 1 - p (the quantity CBPE estimates with p = score)."""
    both = np.concatenate([np.ones(len(scores)), np.zeros(len(scores))])
    weights = np.concatenate([probability, 1 - probability])
    return {"expected_rate": float(probability.mean()),
            "expected_auc": float(roc_auc_score(both, np.concatenate([scores, scores]), sample_weight=weights))}


def figures(table: pd.DataFrame) -> dict[str, float]:
    """Mean absolute errors (AUC; default rate relative to the realized rate), their noise floors, interval coverage."""
    auc_error = (table["estimated_roc_auc"] - table["realized_auc"]).abs()
    rate_error = (table["estimated_default_rate"] - table["realized_rate"]).abs() / table["realized_rate"]
    defined = table["realized_auc"].notna()
    return {
        "cohorts": len(table), "mean_rows": round(float(table["rows"].mean()), 1),
        "auc_mae": round(float(auc_error[defined].mean()), 4),
        "auc_mae_floor": round(float(table.loc[defined, "auc_floor"].mean()), 4),
        "rate_rel_mae": round(float(rate_error[table["realized_rate"] > 0].mean()), 4),
        "rate_rel_mae_floor": round(float(table["rate_floor"].mean()), 4),
        "auc_bias": round(float((table["estimated_roc_auc"] - table["realized_auc"])[defined].mean()), 4),
        "rate_bias": round(float((table["estimated_default_rate"] - table["realized_rate"]).mean()), 4),
        "auc_coverage": round(float(table.loc[defined].pipe(lambda t: t["realized_auc"].between(
            t["estimated_roc_auc_low"], t["estimated_roc_auc_high"])).mean()), 3),
        "rate_coverage": round(float(table["realized_rate"].between(
            table["estimated_default_rate_low"], table["estimated_default_rate_high"]).mean()), 3),
        "measurable": measurable(auc_error[defined], rate_error[table["realized_rate"] > 0], table),
        **({"against_truth": against_truth(table)} if "expected_rate" in table else {}),
    }


def against_truth(table: pd.DataFrame) -> dict[str, float]:
    """The estimate's and the realized values' errors from the expected values under the generator's P(target): the
    estimate's are the model's miscalibration (what CBPE cannot see), the realized values' are label noise."""
    rate, auc = table["expected_rate"], table["expected_auc"]
    return {"estimate_auc_mae": round(float((table["estimated_roc_auc"] - auc).abs().mean()), 4),
            "estimate_auc_bias": round(float((table["estimated_roc_auc"] - auc).mean()), 4),
            "estimate_rate_rel_mae": round(float(((table["estimated_default_rate"] - rate).abs() / rate).mean()), 4),
            "estimate_rate_rel_bias": round(float(((table["estimated_default_rate"] - rate) / rate).mean()), 4),
            "realized_auc_mae": round(float((table["realized_auc"] - auc).abs().mean()), 4),
            "realized_rate_rel_mae": round(float(((table["realized_rate"] - rate).abs() / rate).mean()), 4)}


def measurable(auc_error: pd.Series, rate_error: pd.Series, table: pd.DataFrame) -> dict[str, float | int]:
    """The errors over the cohorts whose realized AUC / default rate is measurable (noise floor at most half the
    target: MEASURABLE_AUC_FLOOR, MEASURABLE_RATE_FLOOR), the cohorts the targets are judged on."""
    auc_rows = table.loc[auc_error.index, "auc_floor"] <= MEASURABLE_AUC_FLOOR
    rate_rows = table.loc[rate_error.index, "rate_floor"] <= MEASURABLE_RATE_FLOOR
    return {"auc_cohorts": int(auc_rows.sum()),
            "auc_mae": round(float(auc_error[auc_rows].mean()), 4) if auc_rows.any() else None,
            "auc_mae_floor": round(float(table.loc[auc_rows[auc_rows].index, "auc_floor"].mean()), 4)
            if auc_rows.any() else None,
            "rate_cohorts": int(rate_rows.sum()),
            "rate_rel_mae": round(float(rate_error[rate_rows].mean()), 4) if rate_rows.any() else None,
            "rate_rel_mae_floor": round(float(table.loc[rate_rows[rate_rows].index, "rate_floor"].mean()), 4)
            if rate_rows.any() else None}


def data_set(spec: PipelineSpec, as_of: date, days: int, shift: date | None = None,
             truth: pd.Series | None = None) -> dict[str, object]:
    """Materialize, then the figures of the asset's cohorts (overall, per segment, and before / after a planted
    behaviour change `shift` when given) and of single days; against the generator's P(target) when known."""
    materialize(spec, as_of, days)
    estimates = stored(spec, "estimated_performance")
    window = spec.monitoring.performance.window_days
    pooled = comparison(spec, window, estimates, truth)
    daily = comparison(spec, 1, None, truth)
    periods = {} if shift is None else {
        "before_shift": figures(pooled[pooled["day"] < shift]),
        "after_shift": figures(pooled[pooled["day"] >= shift + timedelta(days=window - 1)])}
    return {"as_of": as_of.isoformat(), "days": days, "cohort_days": window, "calibration": spec.model.calibration,
            "versions": trained_versions(spec), **figures(pooled),
            "by_segment": {str(s): figures(t) for s, t in pooled.groupby("segment")},
            **periods, "single_day": figures(daily)}


def trained_versions(spec: PipelineSpec) -> dict[str, dict[str, object]]:
    """Per segment, the trained version's applied calibration and its holdout AUC and ECE (calibrated and raw)."""
    models = Project(spec).models()
    return {str(row["segment"]): {key: row[key] for key in ("calibration", "holdout_auc", "holdout_ece",
                                                             "holdout_ece_raw")} for _, row in models.iterrows()}


def report(name: str, result: dict[str, object]) -> None:
    """The human summary of one data set."""
    print(f"{name}: trained as of {result['as_of']} (calibration {result['calibration']}), {result['days']} later days "
          f"scored; cohorts of {result['cohort_days']} days ({result['cohorts']} segment-days, "
          f"{result['mean_rows']} rows on average)")
    print(f"  AUC  MAE {result['auc_mae']:.4f} (floor {result['auc_mae_floor']:.4f}, bias {result['auc_bias']:+.4f}, "
          f"coverage {result['auc_coverage']:.0%})")
    print(f"  rate relative MAE {result['rate_rel_mae']:.3f} (floor {result['rate_rel_mae_floor']:.3f}, "
          f"bias {result['rate_bias']:+.4f}, coverage {result['rate_coverage']:.0%})")
    for name, figures_of in [(f"segment {s}", f) for s, f in result["by_segment"].items()] + [
            (period, result[period]) for period in ("before_shift", "after_shift") if period in result]:
        print(f"  {name}: AUC MAE {figures_of['auc_mae']:.4f} (floor {figures_of['auc_mae_floor']:.4f}), rate "
              f"relative MAE {figures_of['rate_rel_mae']:.3f} (floor {figures_of['rate_rel_mae_floor']:.3f}), "
              f"{figures_of['cohorts']} cohorts")
    for segment, version in result["versions"].items():
        print(f"  {segment}: calibration {version['calibration']}, holdout AUC {version['holdout_auc']:.4f}, "
              f"ECE {version['holdout_ece']:.4f} (raw {version['holdout_ece_raw']:.4f})")
    judged = result["measurable"]
    print(f"  measurable cohorts (floor <= {MEASURABLE_AUC_FLOOR} AUC, <= {MEASURABLE_RATE_FLOOR:.0%} rate): AUC MAE "
          f"{judged['auc_mae']} over {judged['auc_cohorts']} (floor {judged['auc_mae_floor']}), rate relative MAE "
          f"{judged['rate_rel_mae']} over {judged['rate_cohorts']} (floor {judged['rate_rel_mae_floor']})")
    for name, figures_of in [("all", result)] + [(period, result[period]) for period in ("before_shift", "after_shift")
                                                  if period in result]:
        if "against_truth" in figures_of:
            truth = figures_of["against_truth"]
            print(f"  against the generator's P(target), {name}: estimate AUC MAE {truth['estimate_auc_mae']:.4f} "
                  f"(bias {truth['estimate_auc_bias']:+.4f}), rate relative MAE {truth['estimate_rate_rel_mae']:.3f} "
                  f"(bias {truth['estimate_rate_rel_bias']:+.3f}); realized (label noise) AUC "
                  f"{truth['realized_auc_mae']:.4f}, rate {truth['realized_rate_rel_mae']:.3f}")
    single = result["single_day"]
    print(f"  single days: AUC MAE {single['auc_mae']:.4f} (floor {single['auc_mae_floor']:.4f}), rate relative MAE "
          f"{single['rate_rel_mae']:.3f} (floor {single['rate_rel_mae_floor']:.3f}), {single['mean_rows']} rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=45, help="days scored after the as-of date (>= 30)")
    parser.add_argument("--customers", type=int, default=6000, help="demo customers")
    parser.add_argument("--skip-hotel", action="store_true")
    args = parser.parse_args()
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    results: dict[str, object] = {"benchmark": "estimation"}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ["DAGSTER_HOME"] = str(home)
        (home / "demo").mkdir()
        invoices = demo_invoices(args.customers)
        truth = pd.Series(default_probability(invoices), index=invoices["invoice_id"].to_numpy())
        results["demo"] = data_set(load_spec(demo_config(home / "demo", invoices)), date(2024, 7, 15), args.days,
                                   shift=DEMO_SHIFT, truth=truth)
        report("demo", results["demo"])
        if not args.skip_hotel:
            (home / "hotel").mkdir()
            results["hotel"] = data_set(load_spec(hotel_config(home / "hotel")), date(2016, 6, 30), args.days)
            report("hotel", results["hotel"])
    results["machine"] = machine()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
