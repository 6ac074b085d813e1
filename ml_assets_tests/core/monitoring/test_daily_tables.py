"""Each day's monitoring table of a chunk: the matured cohort judged on a day and the fresh cohort estimated on it
are exactly the rows their windows name (oracles: sklearn's ROC AUC and a plain mean on those rows)."""

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from ml_assets.core.data.features import SEGMENT_COLUMN
from ml_assets.core.monitoring.daily_tables import estimates_by_day, latest_day, performance_by_day
from ml_assets.core.scoring.scores import SCORE_COLUMN
from ml_assets.core.training.record import TrainingWindow
from ml_assets_tests.conftest import make_spec

VERSION = ("utility_risk-domestic", "3")
FIRST = date(2024, 1, 1)


def scored_days(days: int, rows_per_day: int = 40, seed: int = 5) -> pd.DataFrame:
    """Predictions of one segment and version over `days` days, labels drawn from the scores."""
    rng = np.random.default_rng(seed)
    dates = np.repeat(pd.date_range(FIRST, periods=days), rows_per_day)
    scores = rng.uniform(0.02, 0.9, len(dates))
    return pd.DataFrame({"invoice_date": dates, SEGMENT_COLUMN: "domestic", "model_name": VERSION[0],
                         "model_version": VERSION[1], SCORE_COLUMN: scores,
                         "unpaid": (rng.uniform(size=len(dates)) < scores).astype(float)})


def test_each_day_judges_the_cohort_whose_labels_matured_on_it(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, monitoring={"performance": {"window_days": 5, "min_rows": 50}})
    ds, performance = spec.dataset.model_copy(update={"date": "invoice_date", "target": "unpaid",
                                                      "label_delay_days": 10}), spec.monitoring.performance
    predictions = scored_days(30)
    days = [FIRST + timedelta(days=d) for d in (14, 20, 29)]
    window = TrainingWindow(FIRST - timedelta(days=90), FIRST - timedelta(days=1))
    table = performance_by_day(predictions, days, {VERSION: {"roc_auc": 0.7}}, {VERSION: window}, ds, performance,
                               0.99, spec.monitoring.estimation)
    assert table["invoice_date"].dt.date.tolist() == days
    for day, row in zip(days, table.itertuples()):
        last = day - timedelta(days=10)
        cohort = predictions[predictions["invoice_date"].dt.date.between(last - timedelta(days=4), last)]
        assert (row.cohort_first, row.cohort_last) == ((last - timedelta(days=4)).isoformat(), last.isoformat())
        assert row.rows == len(cohort) == 200
        assert row.roc_auc == pytest.approx(roc_auc_score(cohort["unpaid"], cohort[SCORE_COLUMN]), abs=1e-12)
        assert row.training_roc_auc == 0.7 and not row.in_sample and row.below_floor
    assert latest_day(table, "invoice_date")["invoice_date"].dt.date.tolist() == [days[-1]]


def test_a_day_without_a_matured_cohort_has_no_row(tmp_path: Path) -> None:
    spec = make_spec(tmp_path)
    table = performance_by_day(scored_days(5), [FIRST + timedelta(days=2)], {}, {}, spec.dataset.model_copy(
        update={"date": "invoice_date", "target": "unpaid"}), spec.monitoring.performance, 0.6,
        spec.monitoring.estimation)
    assert table.empty and "roc_auc" in table.columns


def test_each_day_estimates_the_cohort_of_the_window_ending_on_it(tmp_path: Path) -> None:
    spec = make_spec(tmp_path)
    predictions = scored_days(12, rows_per_day=25)
    days = [FIRST + timedelta(days=d) for d in (0, 6, 11)]
    window = TrainingWindow(FIRST - timedelta(days=30), FIRST)  # touches the first day only
    table = estimates_by_day(predictions, days, {VERSION: window}, "invoice_date", 7, spec.monitoring.estimation)
    for day, row in zip(days, table.itertuples()):
        cohort = predictions[predictions["invoice_date"].dt.date.between(max(FIRST, day - timedelta(days=6)), day)]
        assert row.rows == len(cohort)
        assert row.estimated_default_rate == pytest.approx(cohort[SCORE_COLUMN].mean(), abs=1e-12)
        assert row.in_sample == (day - timedelta(days=6) <= FIRST)
    assert table["rows"].tolist() == [25, 175, 175]
