"""Synthetic billing data: schema, determinism, customer history, learnable risk, drift, landing files."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from ml_assets.core.data.synthetic import (
    DriftInjection,
    SignalChange,
    default_probability,
    generate_invoices,
    write_landing_files,
)

START, END = date(2024, 1, 1), date(2024, 3, 31)
EXPECTED_DTYPES = {
    "invoice_id": "int64", "invoice_date": "datetime64[ns]", "customer_id": "object", "tariff": "object",
    "estrato": "int64", "region": "object", "connection_date": "datetime64[ns]", "consumption_kwh": "float64",
    "amount": "float64",
    **{f"amount_prev_{k}": "float64" for k in range(1, 7)},
    **{f"days_late_prev_{k}": "float64" for k in range(1, 7)},
    "arrears": "float64", "defaulted": "int64",
}


@pytest.fixture(scope="module")
def invoices() -> pd.DataFrame:
    return generate_invoices(600, START, END, seed=3)


@pytest.fixture(scope="module")
def nine_months() -> pd.DataFrame:
    return generate_invoices(3000, date(2024, 1, 1), date(2024, 9, 30), seed=7)


def model_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric model inputs: the numeric columns plus tariff, tenure and calendar month."""
    features = frame.drop(columns=["invoice_id", "invoice_date", "customer_id", "tariff", "region",
                                   "connection_date", "defaulted"])
    features["industrial"] = (frame["tariff"] == "industrial").astype(int)
    features["tenure_days"] = (frame["invoice_date"] - frame["connection_date"]).dt.days
    features["month"] = frame["invoice_date"].dt.month
    return features


def quantile_psi(reference: pd.Series, current: pd.Series, bins: int = 10) -> float:
    """Population stability index on the reference's quantile bins."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    ref = np.clip(np.histogram(reference, edges)[0] / len(reference), 1e-6, None)
    cur = np.clip(np.histogram(current, edges)[0] / len(current), 1e-6, None)
    return float(((cur - ref) * np.log(cur / ref)).sum())


def test_same_arguments_give_identical_frames(invoices):
    assert_frame_equal(generate_invoices(600, START, END, seed=3), invoices)


def test_another_seed_gives_other_data(invoices):
    other = generate_invoices(600, START, END, seed=4)
    assert not other["amount"].equals(invoices["amount"])


def test_columns_and_dtypes(invoices):
    assert invoices.dtypes.astype(str).to_dict() == EXPECTED_DTYPES


def test_invoice_ids_are_unique(invoices):
    assert invoices["invoice_id"].is_unique


def test_every_date_in_range_has_invoices_and_none_outside(invoices):
    days = pd.DatetimeIndex(invoices["invoice_date"].unique()).sort_values()
    assert days.equals(pd.date_range(START, END, freq="D"))
    assert (invoices["invoice_date"] == invoices["invoice_date"].dt.normalize()).all()


def test_daily_volume_is_about_customers_over_days_in_month(invoices):
    per_day = invoices.groupby("invoice_date").size()
    assert per_day.between(600 / 31 * 0.5, 600 / 28 * 1.5).all()


def test_each_customer_is_invoiced_once_a_month_after_connection(invoices):
    per_month = invoices.groupby(["customer_id", invoices["invoice_date"].dt.to_period("M")]).size()
    assert (per_month == 1).all()
    assert (invoices["invoice_date"] > invoices["connection_date"]).all()


def test_values_lie_in_their_domains(invoices):
    assert set(invoices["tariff"]) == {"domestic", "industrial"}
    assert invoices["estrato"].between(1, 6).all()
    assert invoices["customer_id"].str.fullmatch(r"C\d{7}").all()
    assert (invoices["amount"] > 0).all() and (invoices["consumption_kwh"] > 0).all()
    late = invoices.filter(like="days_late_prev_").stack()
    assert (late >= 0).all() and (invoices["arrears"] >= 0).all()
    assert set(invoices["defaulted"]) <= {0, 1}


def test_regions_are_five_places_spelled_inconsistently(invoices):
    spellings = invoices["region"].unique()
    canonical = {" ".join(s.lower().replace("á", "a").replace("í", "i").split()) for s in spellings}
    assert canonical == {"bogota", "medellin", "cali", "barranquilla", "bucaramanga"}
    assert len(spellings) > 10


def test_segments_differ_in_size_and_estrato(invoices):
    customers = invoices.drop_duplicates("customer_id").set_index("tariff")
    assert 0.10 < (customers.index == "industrial").mean() < 0.20
    medians = invoices.groupby("tariff")["amount"].median()
    assert medians["industrial"] > 20 * medians["domestic"]
    assert customers.loc["domestic", "estrato"].le(3).mean() > 0.7
    assert customers.loc["industrial", "estrato"].ge(4).mean() > 0.7


def test_connection_dates_mix_new_old_and_in_range_customers(invoices):
    connection = invoices.drop_duplicates("customer_id")["connection_date"]
    start = pd.Timestamp(START)
    assert 0.10 < connection.between(start - pd.Timedelta(days=365), start, inclusive="left").mean() < 0.22
    assert (connection >= start).any()
    assert connection.min() >= start - pd.Timedelta(days=20 * 365)


def test_previous_amount_is_the_customers_previous_invoice(invoices):
    ordered = invoices.sort_values(["customer_id", "invoice_date"])
    previous = ordered.groupby("customer_id")["amount"].shift(1)
    known = previous.notna()
    assert known.sum() > 1000
    np.testing.assert_array_equal(ordered.loc[known, "amount_prev_1"], previous[known])


@pytest.mark.parametrize("k", range(1, 7))
def test_history_is_missing_exactly_when_tenure_is_short(invoices, k):
    months_ago = invoices["invoice_date"] - pd.DateOffset(months=k)
    missing = invoices[f"amount_prev_{k}"].isna()
    # the invoice k months earlier falls within 3 days of the same day-of-month
    assert missing[invoices["connection_date"] >= months_ago + pd.Timedelta(days=3)].all()
    assert not missing[invoices["connection_date"] < months_ago - pd.Timedelta(days=3)].any()
    assert missing.equals(invoices[f"days_late_prev_{k}"].isna())


def test_customers_connected_in_range_build_history_invoice_by_invoice(invoices):
    joined = invoices[invoices["connection_date"] >= pd.Timestamp(START)].sort_values("invoice_date")
    invoice_number = joined.groupby("customer_id").cumcount()
    assert len(joined) > 20
    for k in range(1, 7):
        assert joined[f"amount_prev_{k}"].notna().equals(invoice_number >= k)


def test_lateness_seen_at_invoice_time_is_censored(invoices):
    assert invoices["days_late_prev_1"].max() <= 34 - 15
    assert invoices["days_late_prev_6"].max() > 60


def test_default_rates_per_tariff_are_plausible(nine_months):
    rates = nine_months.groupby("tariff")["defaulted"].mean()
    assert 0.08 <= rates["domestic"] <= 0.15
    assert 0.02 <= rates["industrial"] < rates["domestic"]


def test_history_predicts_default(nine_months):
    late = nine_months.filter(like="days_late_prev_").mean(axis=1) > 5
    rates = nine_months.groupby(late)["defaulted"].mean()
    assert rates[True] > 2 * rates[False]


def test_gradient_boosting_reaches_a_realistic_holdout_auc(nine_months):
    days = np.sort(nine_months["invoice_date"].unique())
    train = nine_months["invoice_date"] < days[int(len(days) * 0.7)]
    model = HistGradientBoostingClassifier(random_state=0)
    model.fit(model_features(nine_months[train]), nine_months.loc[train, "defaulted"])
    scores = model.predict_proba(model_features(nine_months[~train]))[:, 1]
    assert 0.72 <= roc_auc_score(nine_months.loc[~train, "defaulted"], scores) <= 0.90



def logit_fit(labels: pd.Series, probability: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of an unpenalized logistic regression of the labels on logit(probability): 1 and 0 when
    the labels are Bernoulli(probability)."""
    logit = np.log(probability / (1 - probability)).reshape(-1, 1)
    model = LogisticRegression(C=np.inf).fit(logit, labels)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def test_labels_are_drawn_from_the_default_probability_under_drift_and_a_signal_change():
    signal = SignalChange(start=date(2024, 5, 1))
    frame = generate_invoices(4000, START, date(2024, 9, 30), seed=11, drift=DriftInjection(start=date(2024, 7, 1)),
                              signal=signal)
    truth = default_probability(frame, signal)
    later = (frame["invoice_date"] >= pd.Timestamp(signal.start)).to_numpy()
    for period in (~later, later):
        slope, intercept = logit_fit(frame.loc[period, "defaulted"], truth[period])
        assert slope == pytest.approx(1.0, abs=0.12) and intercept == pytest.approx(0.0, abs=0.3)
        expected, drawn = truth[period].sum(), frame.loc[period, "defaulted"].sum()
        assert abs(drawn - expected) < 4 * np.sqrt((truth[period] * (1 - truth[period])).sum())
    weak_slope, _ = logit_fit(frame.loc[~later, "defaulted"], default_probability(frame)[~later])
    assert weak_slope == pytest.approx(signal.before, abs=0.12)  # without the signal: the early logit is too steep


DRIFT = DriftInjection(start=date(2024, 4, 1))


@pytest.fixture(scope="module")
def drift_runs() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """The same seed without and with drift, and which rows are on or after the drift start."""
    baseline = generate_invoices(1500, START, date(2024, 6, 30), seed=5)
    drifted = generate_invoices(1500, START, date(2024, 6, 30), seed=5, drift=DRIFT)
    return baseline, drifted, baseline["invoice_date"] >= pd.Timestamp(DRIFT.start)


def test_drift_leaves_rows_before_its_start_identical(drift_runs):
    baseline, drifted, after = drift_runs
    assert_frame_equal(drifted[~after], baseline[~after])
    assert drifted[["invoice_id", "invoice_date"]].equals(baseline[["invoice_id", "invoice_date"]])


def test_drift_raises_amounts_by_the_price_shock(drift_runs):
    baseline, drifted, after = drift_runs
    ratio = drifted.loc[after, "amount"].mean() / baseline.loc[after, "amount"].mean()
    assert ratio == pytest.approx(DRIFT.price_shock, rel=1e-3)
    assert quantile_psi(baseline.loc[after, "amount"], drifted.loc[after, "amount"]) > 0.25


def test_drifted_segment_pays_later_and_defaults_more(drift_runs):
    baseline, drifted, after = drift_runs
    segment = after & (baseline["tariff"] == DRIFT.segment)
    month_later = segment & (baseline["invoice_date"] >= pd.Timestamp(DRIFT.start) + pd.DateOffset(months=1))
    late_before, late_after = (run.loc[month_later, "days_late_prev_1"] for run in (baseline, drifted))
    assert late_after.mean() > late_before.mean() + 3
    assert (late_after > 0).mean() > 1.5 * (late_before > 0).mean()
    assert drifted.loc[segment, "defaulted"].mean() > baseline.loc[segment, "defaulted"].mean() + 0.02


def test_unknown_drift_segment_is_rejected():
    with pytest.raises(ValueError, match="not a tariff"):
        generate_invoices(10, START, END, drift=DriftInjection(start=START, segment="commercial"))


def test_write_landing_files_writes_one_readable_file_per_date(invoices, tmp_path):
    paths = write_landing_files(invoices, tmp_path / "landing")
    days = invoices["invoice_date"].drop_duplicates().sort_values()
    assert [p.name for p in paths] == [f"invoices_{d:%Y-%m-%d}.csv" for d in days]
    assert sorted(p.name for p in (tmp_path / "landing").iterdir()) == [p.name for p in paths]
    first = pd.read_csv(paths[0], parse_dates=["invoice_date", "connection_date"])
    expected = invoices[invoices["invoice_date"] == days.iloc[0]].reset_index(drop=True)
    assert list(first.columns) == list(invoices.columns)
    assert_frame_equal(first, expected, check_dtype=False)
    assert sum(len(pd.read_csv(p)) for p in paths) == len(invoices)
