"""Monitoring rules: which days get an Evidently report, delayed-label cohorts, realized performance,
retrain signals and their cooldown, alert texts."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from ml_assets.core.monitoring.segment_monitoring import (
    NOT_JUDGED,
    RetrainSignal,
    at_least,
    auc_floor,
    cohort_performance,
    day_verdict,
    drift_signals,
    evidently_days,
    maturity_cohort,
    performance_signals,
    plan_retraining,
    realized_performance,
    root_error,
    run_failure_text,
    windows_in_sample,
)
from ml_assets.core.training.record import TrainingWindow
from ml_assets.spec import EstimationSpec
from ml_assets_tests.conftest import make_spec

DAYS = [date(2024, 6, d) for d in range(1, 6)]
VERDICTS = pd.Series(["none", "moderate", "low", "high", "none"], index=DAYS)


@pytest.mark.parametrize(("option", "expected"), [
    ("none", []), ("last", [DAYS[-1]]), ("drifted", [DAYS[1], DAYS[3], DAYS[4]]), ("all", DAYS)])
def test_evidently_days_follow_the_option(tmp_path: Path, option: str, expected: list[date]) -> None:
    spec = make_spec(tmp_path, drift={"evidently": {"days": option, "min_severity": "moderate"}})
    assert evidently_days(VERDICTS, spec.drift.evidently) == expected


@pytest.mark.parametrize(("option", "expected"), [
    ("last", []), ("drifted", [DAYS[1], DAYS[3]]), ("all", DAYS)])
def test_evidently_days_of_an_earlier_chunk_leave_out_its_last_day(tmp_path: Path, option: str,
                                                                    expected: list[date]) -> None:
    """A chunk of a range run: 'last' is the run's last day, which a chunk before the last one does not hold."""
    spec = make_spec(tmp_path, drift={"evidently": {"days": option, "min_severity": "moderate"}})
    assert evidently_days(VERDICTS, spec.drift.evidently, run_last=date(2024, 6, 30)) == expected
    evidently = spec.drift.evidently
    assert evidently_days(VERDICTS, evidently, run_last=DAYS[-1]) == evidently_days(VERDICTS, evidently)


def test_severity_order() -> None:
    assert at_least("high", "moderate") and at_least("moderate", "moderate") and not at_least("low", "moderate")


def test_a_day_judges_the_predictions_whose_labels_just_matured(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, monitoring={"performance": {"window_days": 14}})
    assert spec.dataset.label_delay_days == 75
    assert maturity_cohort(date(2024, 6, 30), spec.dataset, spec.monitoring.performance) == (date(2024, 4, 3), date(2024, 4, 16))
    assert auc_floor(spec.monitoring.performance, spec.training) == spec.training.min_auc
    floored = make_spec(tmp_path, monitoring={"performance": {"min_auc": 0.8}})
    assert auc_floor(floored.monitoring.performance, floored.training) == 0.8


def test_realized_performance_matches_sklearn_and_is_nan_with_one_class() -> None:
    rng = np.random.default_rng(2)
    target = rng.integers(0, 2, 500).astype(float)
    scores = np.clip(0.3 * target + rng.random(500) * 0.7, 0, 1)
    realized = realized_performance(target, scores)
    assert realized["roc_auc"] == pytest.approx(roc_auc_score(target, scores), rel=1e-12)
    assert realized["default_rate"] == pytest.approx(target.mean())
    assert np.isnan(realized_performance(np.zeros(10), scores[:10])["roc_auc"])


def _cohort(rows: int, separation: float, seed: int, segment: str = "domestic") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    target = (rng.random(rows) < 0.2).astype(float)
    scores = np.clip(0.15 + separation * (target - 0.2) + rng.normal(0, 0.1, rows), 0, 1)
    return pd.DataFrame({"model_segment": segment, "model_name": f"risk-{segment}", "model_version": "3",
                         "invoice_date": pd.Timestamp("2024-05-01") + pd.to_timedelta(np.arange(rows) % 14, "D"),
                         "defaulted": target, "score": scores})


def _performance(cohort: pd.DataFrame, windows: dict[tuple[str, str], TrainingWindow]) -> pd.DataFrame:
    training = {("risk-domestic", "3"): {"roc_auc": 0.78, "ece": 0.02, "positive_rate": 0.2}}
    return cohort_performance(cohort, "model_segment", "invoice_date", "defaulted", training, windows, floor=0.65,
                              min_rows=200, estimation=EstimationSpec(samples=50)).set_index("segment")


def test_cohort_performance_judges_enough_rows_and_flags_auc_below_the_floor() -> None:
    cohort = pd.concat([_cohort(600, 0.0, 1), _cohort(80, 0.5, 2, "industrial")], ignore_index=True)
    cohort.loc[:9, "defaulted"] = np.nan  # labels not in yet
    table = _performance(cohort, {})
    domestic, industrial = table.loc["domestic"], table.loc["industrial"]
    assert domestic["rows"] == 590 and domestic["unlabeled_rows"] == 10
    assert domestic["judged"] and domestic["roc_auc"] < 0.65 and domestic["below_floor"]
    assert not domestic["in_sample"] and domestic["training_roc_auc"] == 0.78
    assert not industrial["judged"] and not industrial["below_floor"], "80 rows are shown, not judged"
    assert np.isnan(industrial["training_roc_auc"])
    labelled = cohort[cohort["defaulted"].notna() & (cohort["model_segment"] == "domestic")]
    assert domestic["estimated_default_rate"] == pytest.approx(labelled["score"].mean()), "estimate of the same rows"


@pytest.mark.parametrize(("window", "in_sample"), [
    (TrainingWindow(date(2024, 1, 1), date(2024, 4, 30)), False),   # ends the day before the cohort
    (TrainingWindow(date(2024, 1, 1), date(2024, 5, 1)), True),     # holds the cohort's first day
    (TrainingWindow(date(2024, 5, 14), date(2024, 8, 1)), True),    # holds its last day
    (TrainingWindow(date(2024, 5, 15), date(2024, 8, 1)), False)])  # starts the day after it
def test_a_cohort_inside_the_training_window_is_in_sample_and_never_below_the_floor(
        window: TrainingWindow, in_sample: bool) -> None:
    domestic = _performance(_cohort(600, 0.0, 1), {("risk-domestic", "3"): window}).loc["domestic"]
    assert domestic["in_sample"] == in_sample and domestic["judged"] and domestic["roc_auc"] < 0.65
    assert domestic["below_floor"] == (not in_sample), "an in-sample cohort is shown, never held to the floor"


def test_signals_come_from_the_materialization_metadata() -> None:
    drift_md = {"verdict": {"domestic": "high", "industrial": "moderate"}, "verdict_day": "2024-06-30",
                "model_versions": {"domestic": "1", "industrial": "2"}}
    assert drift_signals(drift_md, "high") == [RetrainSignal("domestic", "1", "2024-06-30", "drift")]
    assert [s.segment for s in drift_signals(drift_md, "moderate")] == ["domestic", "industrial"]
    performance_md = {"below_floor": {"domestic": False, "industrial": True}, "performance_day": "2024-06-30",
                      "model_versions": {"industrial": "2"}}
    assert performance_signals(performance_md) == [RetrainSignal("industrial", "2", "2024-06-30", "performance")]
    assert drift_signals({"verdict": {}}, "high") == [] and performance_signals({}) == []


def test_a_day_without_a_judged_row_is_not_judged_and_signals_nothing() -> None:
    rows = pd.DataFrame({"feature": ["amount", "score"], "severity": ["none", "none"], "judged": [False, False]})
    assert day_verdict(rows) == NOT_JUDGED
    assert day_verdict(rows.assign(judged=[True, False], severity=["moderate", "none"])) == "moderate"
    assert day_verdict(rows.assign(judged=[True, True])) == "none"
    assert not any(at_least(NOT_JUDGED, level) for level in ("none", "low", "moderate", "high"))
    assert drift_signals({"verdict": {"domestic": NOT_JUDGED, "industrial": "high"}, "verdict_day": "2024-06-30",
                          "model_versions": {"domestic": "1", "industrial": "1"}}, "low") == [
        RetrainSignal("industrial", "1", "2024-06-30", "drift")]


def test_a_drift_window_touching_the_training_window_is_in_sample_and_signals_nothing() -> None:
    days = pd.Series(pd.to_datetime(["2024-06-20", "2024-06-26", "2024-06-27", "2024-07-10"]))
    window = TrainingWindow(date(2024, 2, 1), date(2024, 6, 20))
    assert windows_in_sample(days, 7, window).tolist() == [True, True, False, False], "06-26's window starts 06-20"
    metadata = {"verdict": {"domestic": "high", "industrial": "high"}, "verdict_day": "2024-06-26",
                "model_versions": {"domestic": "1", "industrial": "1"}, "in_sample": {"domestic": True}}
    assert drift_signals(metadata, "high") == [RetrainSignal("industrial", "1", "2024-06-26", "drift")]


def test_plan_requests_the_latest_signal_per_segment_and_respects_the_cooldown() -> None:
    now = datetime(2024, 7, 1, 12, tzinfo=UTC)
    signals = [RetrainSignal("domestic", "1", "2024-06-29", "drift"), RetrainSignal("domestic", "1", "2024-06-30", "drift"),
               RetrainSignal("industrial", "2", "2024-06-30", "performance")]
    chosen, held = plan_retraining(signals, {}, now, cooldown_hours=24)
    assert [s.run_key for s in chosen] == ["drift:domestic:v1:2024-06-30", "performance:industrial:v2:2024-06-30"]
    chosen, held = plan_retraining(signals, {"domestic": now - timedelta(hours=3)}, now, cooldown_hours=24)
    assert [s.segment for s in chosen] == ["industrial"]
    assert len(held) == 1 and "domestic" in held[0] and "cooldown 24" in held[0]
    chosen, _ = plan_retraining(signals, {"domestic": now - timedelta(hours=25)}, now, cooldown_hours=24)
    assert [s.segment for s in chosen] == ["domestic", "industrial"]


def test_run_failure_text_names_the_job_run_and_failed_steps() -> None:
    text = run_failure_text("utility_risk", "scoring_job", "abc123", "Execution of run failed.",
                            [("drift_report", "1 blocking asset check failed:\ndrift_report: no_high_drift\n"),
                             ("risk_report", ""), ("features", "x" * 500)])
    assert text.splitlines() == [":x: [utility_risk] run abc123 of scoring_job failed: Execution of run failed.",
                                 "- drift_report: 1 blocking asset check failed: drift_report: no_high_drift",
                                 "- risk_report: no message", "- features: " + "x" * 297 + "..."]


def test_root_error_is_the_innermost_cause_of_a_dagster_step_error() -> None:
    @dg.op
    def fails() -> None:
        raise ValueError("the user's own error")

    result = dg.GraphDefinition("g", node_defs=[fails]).to_job().execute_in_process(raise_on_error=False)
    error = result.failure_data_for_node("fails").error
    assert error.cause is not None, "Dagster wraps the user's exception"
    assert (root_error(error).cls_name, root_error(error).message.strip()) == ("ValueError",
                                                                              "ValueError: the user's own error")
