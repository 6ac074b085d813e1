"""Deterministic utility-billing demo data: monthly invoices per customer with a known default risk.

Each customer is invoiced once a month at a fixed position in the billing month (so every calendar
day has about n_customers / 30 invoices). `defaulted` (still unpaid 60 days after the due date,
which is 15 days after the invoice) is Bernoulli(sigmoid(logit)), the logit being a known
non-linear function of the invoice's own columns (`_risk_logit`), domestic | industrial:
  lateness  2.0 * tanh(max(L - 2, 0) / 8) | 2.2 * tanh(max(L - 4, 0) / 12), L = mean days_late_prev_*
  arrears   0.8 | 1.6 * log1p(arrears / amount)
  jump      2.5 * [estrato <= 2] | 1.2, times clip(amount / mean(amount_prev_*) - 1, 0, 1)
  new       1.6 | 0.9 * exp(-tenure_days / 180);  season 0.3 * cos(2 pi month / 12);  intercept -3.6 | -4.0
Days late come from a persistent latent payment propensity per customer, so history predicts default.
A `SignalChange` scales the logit's terms (all but the intercept) before and from a date, planting a model
quality change: trained on the weak early signal a model ranks worse than one trained on the later, stronger one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ml_assets.core.data.lake import write_local_atomic

DUE_DAYS = 15
DEFAULT_AFTER_DUE_DAYS = 60
HISTORY_MONTHS = 6
WARMUP_MONTHS = 12
TARIFFS = ("domestic", "industrial")
INDUSTRIAL_SHARE = 0.15
NEW_CUSTOMER_SHARE = 0.15
CONNECTS_IN_RANGE_SHARE = 0.07

REGION_SPELLINGS = {
    "Bogotá": ["Bogotá", " bogota", "BOGOTA ", "Bogota"],
    "Medellín": ["Medellín", "medellin", "MEDELLIN", " Medellin "],
    "Cali": ["Cali", "CALI", " cali"],
    "Barranquilla": ["Barranquilla", "barranquilla ", "BARRANQUILLA"],
    "Bucaramanga": ["Bucaramanga", "bucaramanga", " BUCARAMANGA"],
}
REGION_SHARES = [0.35, 0.25, 0.15, 0.15, 0.10]
ESTRATO_SHARES = {
    "domestic": [0.22, 0.32, 0.26, 0.10, 0.06, 0.04],
    "industrial": [0.02, 0.03, 0.05, 0.30, 0.30, 0.30],
}
DOMESTIC_PRICE_BY_ESTRATO = np.array([0.0, 520.0, 600.0, 720.0, 850.0, 1020.0, 1020.0])  # COP/kWh, subsidies 1-3
DOMESTIC_KWH_BY_ESTRATO = np.array([0.0, 130.0, 140.0, 155.0, 170.0, 190.0, 220.0])
INDUSTRIAL_PRICE = 960.0
INDUSTRIAL_KWH = 9000.0
FIXED_CHARGE = {"domestic": 9_500.0, "industrial": 95_000.0}
INTERCEPT = {"domestic": -3.6, "industrial": -4.0}  # of the risk logit


@dataclass(frozen=True)
class DriftInjection:
    """A tariff price shock for all customers plus a payment-behaviour change in one segment."""

    start: date                         # from this invoice date on, drift applies
    segment: str = "domestic"           # tariff whose payment behaviour changes
    price_shock: float = 1.35           # multiplier on the invoice amounts of all tariffs
    lateness_shift_days: float = 12.0   # extra days late for the segment's invoices


@dataclass(frozen=True)
class SignalChange:
    """The default-risk signal made stronger from `start` on: the risk logit's terms (not its intercept) are
    multiplied by `before` for invoices dated before `start` and by `after` from `start` on."""

    start: date
    before: float = 0.6
    after: float = 1.5


@dataclass(frozen=True)
class _Customers:
    """Per-customer attributes drawn once (arrays of length n_customers)."""

    number: np.ndarray
    industrial: np.ndarray
    estrato: np.ndarray
    region: np.ndarray
    connection: np.ndarray
    billing_position: np.ndarray
    kwh_scale: np.ndarray
    delay_mean: np.ndarray
    delay_sd: np.ndarray


@dataclass(frozen=True)
class _Noise:
    """Per-customer, per-month random draws (arrays of shape n_customers x n_months)."""

    consumption: np.ndarray
    delay: np.ndarray
    default: np.ndarray
    default_extra_days: np.ndarray


def generate_invoices(n_customers: int, start: date, end: date, seed: int = 0,
                      drift: DriftInjection | None = None, signal: SignalChange | None = None) -> pd.DataFrame:
    """One row per monthly invoice dated start..end (inclusive); same arguments give the same frame."""
    _check_arguments(n_customers, start, end, drift)
    rng = np.random.default_rng(seed)
    months = _billing_months(start, end)
    customers = _draw_customers(n_customers, start, end, rng)
    noise = _draw_noise(n_customers, len(months), rng)
    dates = _invoice_dates(customers.billing_position, months)
    active = dates > customers.connection[:, None]
    drifted = _drift_mask(dates, drift)
    consumption = np.where(active, _consumption(customers, months, noise.consumption), np.nan)
    amount = _amount(customers, consumption, drifted, drift)
    days_late, observed_late, arrears = _simulate_payments(customers, months, dates, amount, noise,
                                                           _delay_shift(customers, drifted, drift),
                                                           _signal_scale(dates, signal))
    keep = active & (dates >= np.datetime64(start, "D")) & (dates <= np.datetime64(end, "D"))
    return _to_frame(customers, months, dates, consumption, amount, observed_late, arrears,
                     days_late > DEFAULT_AFTER_DUE_DAYS, keep)


def _check_arguments(n_customers: int, start: date, end: date, drift: DriftInjection | None) -> None:
    """Fail early, saying which argument to change."""
    if n_customers < 1:
        raise ValueError(f"n_customers must be at least 1, got {n_customers}")
    if end < start:
        raise ValueError(f"end ({end}) is before start ({start}); swap them")
    if drift is not None and drift.segment not in TARIFFS:
        raise ValueError(f"drift.segment {drift.segment!r} is not a tariff; use one of {list(TARIFFS)}")


def write_landing_files(invoices: pd.DataFrame, directory: Path) -> list[Path]:
    """One CSV per invoice date: directory / f"invoices_{YYYY-MM-DD}.csv"; atomic (write temp then os.replace)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for day, rows in invoices.groupby("invoice_date", sort=True):
        path = directory / f"invoices_{pd.Timestamp(day):%Y-%m-%d}.csv"
        write_local_atomic(path, lambda tmp, rows=rows: rows.to_csv(tmp, index=False, date_format="%Y-%m-%d"))
        paths.append(path)
    return paths


def _billing_months(start: date, end: date) -> np.ndarray:
    """Calendar months from WARMUP_MONTHS before `start` to `end` (warm-up months build history)."""
    first = np.datetime64(start, "M") - WARMUP_MONTHS
    return np.arange(first, np.datetime64(end, "M") + 1)


def _draw_customers(n: int, start: date, end: date, rng: np.random.Generator) -> _Customers:
    """Tariff, estrato, region spelling, connection date, billing position, size and payment habit."""
    industrial = rng.random(n) < INDUSTRIAL_SHARE
    estrato = np.where(industrial, rng.choice(np.arange(1, 7), n, p=ESTRATO_SHARES["industrial"]),
                       rng.choice(np.arange(1, 7), n, p=ESTRATO_SHARES["domestic"]))
    propensity = rng.standard_normal(n) + 0.25 * (3 - estrato)
    kwh_scale = np.where(industrial, INDUSTRIAL_KWH * rng.lognormal(0.0, 0.45, n),
                         DOMESTIC_KWH_BY_ESTRATO[estrato] * rng.lognormal(0.0, 0.3, n))
    return _Customers(
        number=np.arange(1, n + 1, dtype="int64"),
        industrial=industrial,
        estrato=estrato.astype("int64"),
        region=_draw_regions(n, rng),
        connection=_draw_connections(n, start, end, rng),
        billing_position=(rng.permutation(n) + rng.random(n)) / n,
        kwh_scale=kwh_scale,
        delay_mean=np.where(industrial, -8.0 + 8.0 * propensity, -9.0 + 9.0 * propensity),
        delay_sd=np.where(industrial, 4.0, 7.0),
    )


def _draw_regions(n: int, rng: np.random.Generator) -> np.ndarray:
    """A region per customer, written in one of that region's inconsistent spellings."""
    spellings = list(REGION_SPELLINGS.values())
    region = rng.choice(len(spellings), n, p=REGION_SHARES)
    variant = rng.random(n)
    flat = np.array([name for names in spellings for name in names], dtype=object)
    offsets = np.cumsum([0] + [len(names) for names in spellings])[:-1]
    counts = np.array([len(names) for names in spellings])
    return flat[offsets[region] + (variant * counts[region]).astype(int)]


def _draw_connections(n: int, start: date, end: date, rng: np.random.Generator) -> np.ndarray:
    """Connection dates: new (last 12 months), connecting during start..end, or 1-20 years old."""
    origin = np.datetime64(start, "D")
    kind = rng.random(n)
    recent = origin - rng.integers(1, 366, n)
    during = origin + rng.integers(0, (end - start).days + 1, n)
    old = origin - rng.integers(366, 20 * 365 + 1, n)
    in_range = kind < NEW_CUSTOMER_SHARE + CONNECTS_IN_RANGE_SHARE
    return np.where(kind < NEW_CUSTOMER_SHARE, recent, np.where(in_range, during, old))


def _draw_noise(n: int, n_months: int, rng: np.random.Generator) -> _Noise:
    """All per-month draws at once, so drift never changes the random stream."""
    shape = (n, n_months)
    return _Noise(consumption=rng.standard_normal(shape), delay=rng.standard_normal(shape),
                  default=rng.random(shape), default_extra_days=rng.exponential(30.0, shape))


def _invoice_dates(billing_position: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Invoice date per customer and month: the same relative position in every month."""
    first_days = months.astype("datetime64[D]")
    month_lengths = ((months + 1).astype("datetime64[D]") - first_days).astype("int64")
    offsets = np.floor(billing_position[:, None] * month_lengths[None, :]).astype("int64")
    return first_days[None, :] + offsets


def _drift_mask(dates: np.ndarray, drift: DriftInjection | None) -> np.ndarray:
    """True for invoices dated on or after the drift start."""
    if drift is None:
        return np.zeros(dates.shape, dtype=bool)
    return dates >= np.datetime64(drift.start, "D")


def _delay_shift(customers: _Customers, drifted: np.ndarray, drift: DriftInjection | None) -> np.ndarray:
    """Extra days late for the drifted segment's invoices (0 elsewhere)."""
    if drift is None:
        return np.zeros(drifted.shape)
    in_segment = _tariff(customers.industrial) == drift.segment
    return np.where(drifted & in_segment[:, None], drift.lateness_shift_days, 0.0)


def _signal_scale(dates: np.ndarray, signal: SignalChange | None) -> np.ndarray | None:
    """Factor on the risk logit's terms per invoice; None (the logit as it is) without a signal change."""
    if signal is None:
        return None
    return np.where(dates >= np.datetime64(signal.start, "D"), signal.after, signal.before)


def _tariff(industrial: np.ndarray) -> np.ndarray:
    """Tariff name per customer (object array of str)."""
    return np.where(industrial, "industrial", "domestic").astype(object)


def _month_of_year(months: np.ndarray) -> np.ndarray:
    """Calendar month number 1..12 of each datetime64[M]."""
    return months.astype("int64") % 12 + 1


def _consumption(customers: _Customers, months: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """kWh per invoice: customer scale x yearly seasonality x monthly noise."""
    amplitude = np.where(customers.industrial, 0.05, 0.10)
    season = np.sin(2 * np.pi * (_month_of_year(months) - 1) / 12)
    kwh = customers.kwh_scale[:, None] * (1 + amplitude[:, None] * season[None, :]) * np.exp(0.12 * noise)
    return np.round(kwh, 1)


def _amount(customers: _Customers, consumption: np.ndarray, drifted: np.ndarray,
            drift: DriftInjection | None) -> np.ndarray:
    """Invoice amount: kWh x tariff price + fixed charge, times the price shock after drift."""
    price = np.where(customers.industrial, INDUSTRIAL_PRICE, DOMESTIC_PRICE_BY_ESTRATO[customers.estrato])
    fixed = np.where(customers.industrial, FIXED_CHARGE["industrial"], FIXED_CHARGE["domestic"])
    shock = np.where(drifted, drift.price_shock if drift else 1.0, 1.0)
    return np.round((consumption * price[:, None] + fixed[:, None]) * shock, 2)


def _simulate_payments(customers: _Customers, months: np.ndarray, dates: np.ndarray, amount: np.ndarray,
                       noise: _Noise, delay_shift: np.ndarray,
                       signal_scale: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Month by month: history seen at each invoice, its default draw, and the days it is paid late.

    Returns days late per invoice, days late of the previous invoices as seen at each invoice date
    (shape HISTORY_MONTHS x n x months; censored at the days elapsed since their due date) and
    arrears (the previous HISTORY_MONTHS invoices still unpaid at the invoice date).
    """
    n, n_months = amount.shape
    days_late = np.full((n, n_months), np.nan)
    observed = np.full((HISTORY_MONTHS, n, n_months), np.nan)
    arrears = np.zeros((n, n_months))
    delay = np.round(customers.delay_mean[:, None] + customers.delay_sd[:, None] * noise.delay + delay_shift)
    previous_average = _row_mean(np.stack([_lagged(amount, k) for k in range(1, HISTORY_MONTHS + 1)]))
    month_of_year = _month_of_year(months)
    for t in range(n_months):
        for k in range(1, min(HISTORY_MONTHS, t) + 1):
            since_due = (dates[:, t] - dates[:, t - k]).astype("int64") - DUE_DAYS
            observed[k - 1, :, t] = np.minimum(days_late[:, t - k], since_due)
            arrears[:, t] += np.where(days_late[:, t - k] > since_due, amount[:, t - k], 0.0)
        logit = _risk_logit(customers.industrial, customers.estrato, amount[:, t], previous_average[:, t],
                            observed[:, :, t], arrears[:, t], (dates[:, t] - customers.connection).astype("int64"),
                            month_of_year[t])
        if signal_scale is not None:
            logit = _scaled(logit, customers.industrial, signal_scale[:, t])
        defaulted = noise.default[:, t] < 1 / (1 + np.exp(-logit))
        paid_late = np.clip(delay[:, t], 0, DEFAULT_AFTER_DUE_DAYS)
        unpaid_late = DEFAULT_AFTER_DUE_DAYS + 1 + np.floor(noise.default_extra_days[:, t])
        days_late[:, t] = np.where(np.isnan(amount[:, t]), np.nan, np.where(defaulted, unpaid_late, paid_late))
    return days_late, observed, arrears


def default_probability(invoices: pd.DataFrame, signal: SignalChange | None = None) -> np.ndarray:
    """The generator's own P(defaulted = 1) of each invoice, from the invoice's columns (and the SignalChange it was
    generated with): the truth that calibrated scores and performance estimates are judged against."""
    dates = invoices["invoice_date"].to_numpy("datetime64[D]")
    industrial = invoices["tariff"].to_numpy() == "industrial"
    previous = invoices[[f"amount_prev_{k}" for k in range(1, HISTORY_MONTHS + 1)]].to_numpy("float64").T
    observed = invoices[[f"days_late_prev_{k}" for k in range(1, HISTORY_MONTHS + 1)]].to_numpy("float64").T
    tenure_days = (dates - invoices["connection_date"].to_numpy("datetime64[D]")).astype("int64")
    logit = _risk_logit(industrial, invoices["estrato"].to_numpy(), invoices["amount"].to_numpy("float64"),
                        _row_mean(previous), observed, invoices["arrears"].to_numpy("float64"), tenure_days,
                        invoices["invoice_date"].dt.month.to_numpy())
    scale = _signal_scale(dates, signal)
    if scale is not None:
        logit = _scaled(logit, industrial, scale)
    return 1 / (1 + np.exp(-logit))


def _scaled(logit: np.ndarray, industrial: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The logit's terms (not its intercept) multiplied by a SignalChange's factor per invoice."""
    intercept = np.where(industrial, INTERCEPT["industrial"], INTERCEPT["domestic"])
    return intercept + scale * (logit - intercept)


def _risk_logit(industrial: np.ndarray, estrato: np.ndarray, amount: np.ndarray, previous_average: np.ndarray,
                observed_late: np.ndarray, arrears: np.ndarray, tenure_days: np.ndarray,
                month: int | np.ndarray) -> np.ndarray:
    """The known default-risk logit of invoices (see the module docstring)."""
    lateness = np.nan_to_num(_row_mean(observed_late), nan=0.0)
    arrears_ratio = np.log1p(arrears / amount)
    jump = np.nan_to_num(np.clip(amount / previous_average - 1, 0, 1), nan=0.0)
    novelty = np.exp(-tenure_days / 180)
    season = 0.3 * np.cos(2 * np.pi * month / 12)
    domestic_logit = (INTERCEPT["domestic"] + 2.0 * np.tanh(np.maximum(lateness - 2, 0) / 8) + 0.8 * arrears_ratio
                      + 2.5 * (estrato <= 2) * jump + 1.6 * novelty + season)
    industrial_logit = (INTERCEPT["industrial"] + 2.2 * np.tanh(np.maximum(lateness - 4, 0) / 12)
                        + 1.6 * arrears_ratio + 1.2 * jump + 0.9 * novelty + season)
    return np.where(industrial, industrial_logit, domestic_logit)


def _row_mean(values: np.ndarray) -> np.ndarray:
    """Mean over the first axis ignoring NaN (NaN where every value is NaN), without warnings."""
    present = ~np.isnan(values)
    count = present.sum(axis=0)
    total = np.where(present, values, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _to_frame(customers: _Customers, months: np.ndarray, dates: np.ndarray, consumption: np.ndarray,
              amount: np.ndarray, observed_late: np.ndarray, arrears: np.ndarray, defaulted: np.ndarray,
              keep: np.ndarray) -> pd.DataFrame:
    """Flatten the kept (customer, month) cells into rows sorted by invoice date and customer.

    invoice_id is customer number * 100000 + months since 1970, so it is stable across date ranges.
    """
    customer, month = np.nonzero(keep)
    order = np.lexsort((customer, dates[customer, month]))
    customer, month = customer[order], month[order]
    ids = np.array([f"C{number:07d}" for number in customers.number], dtype=object)
    frame = pd.DataFrame({
        "invoice_id": customers.number[customer] * 100_000 + months[month].astype("int64"),
        "invoice_date": dates[customer, month].astype("datetime64[ns]"),
        "customer_id": ids[customer],
        "tariff": _tariff(customers.industrial[customer]),
        "estrato": customers.estrato[customer],
        "region": customers.region[customer],
        "connection_date": customers.connection[customer].astype("datetime64[ns]"),
        "consumption_kwh": consumption[customer, month],
        "amount": amount[customer, month],
    })
    for k in range(1, HISTORY_MONTHS + 1):
        frame[f"amount_prev_{k}"] = _lagged(amount, k)[customer, month]
    for k in range(1, HISTORY_MONTHS + 1):
        frame[f"days_late_prev_{k}"] = observed_late[k - 1][customer, month]
    frame["arrears"] = arrears[customer, month]
    frame["defaulted"] = defaulted[customer, month].astype("int64")
    return frame


def _lagged(values: np.ndarray, k: int) -> np.ndarray:
    """values shifted k months later along the month axis (NaN for the first k months)."""
    out = np.full(values.shape, np.nan)
    out[:, k:] = values[:, :-k]
    return out
