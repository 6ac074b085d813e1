"""The monitor's join: drift, estimate and realized performance meet on segment, cohort day and model version."""

import pandas as pd

from ml_assets.core.monitoring.monitor_view import MonitorRow, monitor_rows


def test_realized_cohorts_are_shown_on_their_last_prediction_day_beside_the_estimate() -> None:
    drift = pd.DataFrame({"segment": "a", "invoice_date": pd.Timestamp("2024-05-10"), "model_version": "2",
                          "feature": ["x", "y", "z", "score"], "severity": ["moderate", "high", "low", "none"],
                          "psi": [0.12, 0.40, 0.06, 0.01], "judged": True})
    estimated = pd.DataFrame({"invoice_date": pd.to_datetime(["2024-05-10", "2024-05-11"]), "segment": "a",
                              "model_version": "2", "in_sample": [True, False], "estimated_roc_auc": [0.8, 0.7],
                              "estimated_default_rate": [0.1, 0.2]})
    performance = pd.DataFrame({"invoice_date": pd.Timestamp("2024-07-24"), "segment": ["a"], "model_version": ["2"],
                                "cohort_last": ["2024-05-10"], "in_sample": [True], "roc_auc": [0.9],
                                "default_rate": [0.12]})
    assert monitor_rows(drift, estimated, performance, "invoice_date") == [
        MonitorRow("a", "2024-05-10", "2", "high", ["y", "x"], 0.8, 0.1, 0.9, 0.12, True),
        MonitorRow("a", "2024-05-11", "2", None, [], 0.7, 0.2, None, None, False)]


def test_nothing_stored_gives_no_rows() -> None:
    assert monitor_rows(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), "invoice_date") == []


def test_a_day_whose_window_was_too_small_to_judge_says_so() -> None:
    drift = pd.DataFrame({"segment": "a", "invoice_date": pd.Timestamp("2024-05-10"), "model_version": "2",
                          "feature": ["x", "score"], "severity": ["none", "none"], "psi": [0.3, 0.2],
                          "judged": False})
    assert monitor_rows(drift, pd.DataFrame(), pd.DataFrame(), "invoice_date") == [
        MonitorRow("a", "2024-05-10", "2", "not judged", [], None, None, None, None, None)]
