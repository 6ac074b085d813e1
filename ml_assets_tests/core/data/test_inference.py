"""init's choices on a table whose truth is planted: calendar parts of the date (by value and by name),
identifier-like columns, integer codes, quantities and text; each choice with its reason."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ml_assets.cli import main
from ml_assets.core.data.inference import CALENDAR, CATEGORICAL, LEFT_OUT, NUMERIC, infer_config
from ml_assets.spec import load_spec

ROWS = 3_000


def bookings(seed: int = 0) -> pd.DataFrame:
    """Bookings over 2023-01-01..2023-12-31 with planted column kinds."""
    rng = np.random.default_rng(seed)
    dates = pd.Timestamp("2023-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 365, ROWS)), unit="D")
    agents = rng.choice(rng.choice(np.arange(1, 600), 120, replace=False), ROWS)
    return pd.DataFrame({
        "booking_id": np.arange(1, ROWS + 1),
        "arrival_date": dates.strftime("%Y-%m-%d"),
        "hotel": rng.choice(["City", "Resort"], ROWS),
        "is_canceled": rng.integers(0, 2, ROWS),
        "arrival_month": dates.month_name(),                           # calendar by value (month names)
        "arrival_dow": dates.weekday,                                  # calendar by value (Monday=0)
        "arrival_week_number": (dates.dayofyear + 3) // 7 + 1,         # a week number not equal to the ISO week
        "stays_in_week_nights": rng.poisson(2.5, ROWS),                # named with 'week', a quantity
        "lead_time": rng.geometric(0.02, ROWS),                        # a quantity with a smooth histogram
        "agent": agents.astype(float),                                 # codes, named so
        "channel_ref": rng.choice(np.arange(1000, 5000, 37), ROWS),    # codes, irregular histogram only
        "ticket_seq": (np.arange(ROWS) // 2) * 5,                      # rises with the date, not unique
        "voucher": [f"V{i:06d}" for i in rng.permutation(ROWS)],       # unique text per row
        "meal": rng.choice(["BB", "HB", "FB"], ROWS),
        "source": "web",                                               # constant
    })


@pytest.fixture(scope="module")
def choices() -> dict[str, object]:
    inferred = infer_config(bookings(), name="b", source_path="b.csv", id_column="booking_id",
                            date_column="arrival_date", target="is_canceled", segment="hotel", exclude=[])
    return {c.column: c for c in inferred.choices} | {"config": inferred.config}


@pytest.mark.parametrize(("column", "role", "reason"), [
    ("arrival_month", CALENDAR, "values equal the month name of arrival_date"),
    ("arrival_dow", CALENDAR, "values equal the weekday (Monday=0) of arrival_date"),
    ("arrival_week_number", CALENDAR, "named like the week of the date"),
    ("stays_in_week_nights", NUMERIC, "int with"),
    ("lead_time", NUMERIC, "int with"),
    ("agent", CATEGORICAL, "the name says 'agent'"),
    ("channel_ref", CATEGORICAL, "neighbours' counts are unrelated"),
    ("ticket_seq", LEFT_OUT, "monotonic with arrival_date"),
    ("voucher", LEFT_OUT, "unique per row"),
    ("meal", CATEGORICAL, "text with 3 distinct values"),
    ("source", LEFT_OUT, "constant"),
])
def test_each_column_gets_the_planted_role_and_says_why(choices, column: str, role: str, reason: str) -> None:
    assert (choices[column].role, reason in choices[column].reason) == (role, True), choices[column]


def test_the_config_keeps_calendar_parts_as_unmonitored_features(choices) -> None:
    features = choices["config"]["features"]
    assert features["calendar"] == {"columns": ["arrival_month", "arrival_dow", "arrival_week_number"],
                                    "handling": "unmonitored"}
    assert {"arrival_month", "agent", "channel_ref", "meal"} == set(features["categorical"])
    assert not {"ticket_seq", "voucher", "source"} & set(features["numeric"] + features["categorical"])


def test_init_prints_every_role_and_writes_the_reasons_as_comments(tmp_path: Path, capsys) -> None:
    data = tmp_path / "bookings.csv"
    bookings().to_csv(data, index=False)
    config = tmp_path / "bookings.yaml"
    assert main(["init", "--data", str(data), "--id", "booking_id", "--date", "arrival_date", "--target",
                 "is_canceled", "--segment", "hotel", "--output", str(config)]) == 0
    printed = capsys.readouterr().out.splitlines()
    table = {line.split()[0]: line for line in printed if line and line.split()[0] in bookings().columns}
    assert set(table) == set(bookings().columns), "a line per column"
    assert "calendar part" in table["arrival_dow"] and "left out" in table["voucher"]
    comments = [line for line in config.read_text().splitlines() if line.startswith("#   ")]
    assert any(line.split()[1] == "agent" and "the name says 'agent'" in line for line in comments)
    spec = load_spec(config)
    assert "arrival_dow" in spec.feature_columns() and "arrival_dow" not in spec.monitored_features()
    assert yaml.safe_load(config.read_text())["features"]["calendar"]["handling"] == "unmonitored"
    note = next(line for line in printed if line.startswith("note: "))
    assert "3 calendar parts" in note and "window_days 120 is under a year" in note and "handling: drop" in note
    assert f"# {note}" in config.read_text().splitlines(), "the note is in the config too"


@pytest.mark.parametrize(("calendar", "window_days", "noted"), [([], 120, False), (["month"], 120, True),
                                                                 (["month"], 365, False)])
def test_the_calendar_note_comes_with_calendar_features_and_a_window_under_a_year(calendar, window_days,
                                                                                 noted) -> None:
    from ml_assets.core.data.inference import calendar_note
    note = calendar_note(calendar, window_days)
    assert (note is not None) == noted and (not noted or f"window_days {window_days} is under a year" in note)
