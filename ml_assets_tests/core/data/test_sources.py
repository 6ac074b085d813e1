"""Landing files: reading a range of days, and errors that name the file and say what to do."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from ml_assets.core.data.sources import (
    date_chunks,
    days_between,
    read_daily_files,
    read_file_range,
    read_landing_file,
    redact_url,
)


def day_location(folder: Path, suffix: str = ".csv"):
    return lambda day: str(folder / f"invoices_{day.isoformat()}{suffix}")


def write_csv(location: str, frame: pd.DataFrame) -> None:
    frame.to_csv(location, index=False)


def test_days_between_is_inclusive():
    assert days_between(date(2024, 2, 28), date(2024, 3, 1)) == [date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1)]
    assert days_between(date(2024, 1, 1), date(2024, 1, 1)) == [date(2024, 1, 1)]


def test_date_chunks_cover_the_range_once_in_order():
    chunks = date_chunks(date(2024, 1, 1), date(2024, 12, 30), 31)
    assert len(chunks) == 12 and chunks[0] == (date(2024, 1, 1), date(2024, 1, 31))
    assert chunks[-1] == (date(2024, 12, 7), date(2024, 12, 30))
    covered = [day for first, last in chunks for day in days_between(first, last)]
    assert covered == days_between(date(2024, 1, 1), date(2024, 12, 30))
    assert date_chunks(date(2024, 1, 1), date(2024, 1, 3), 31) == [(date(2024, 1, 1), date(2024, 1, 3))]
    with pytest.raises(ValueError, match="at least one day"):
        date_chunks(date(2024, 1, 1), date(2024, 1, 3), 0)


# --- read_daily_files ----------------------------------------------------------------------------

def test_read_daily_files_concatenates_days_in_order(tmp_path):
    location = day_location(tmp_path)
    write_csv(location(date(2024, 1, 1)), pd.DataFrame({"id": [1, 2], "day": ["2024-01-01"] * 2}))
    write_csv(location(date(2024, 1, 2)), pd.DataFrame({"id": [3], "day": ["2024-01-02"]}))
    write_csv(location(date(2024, 1, 3)), pd.DataFrame({"id": [4, 5], "day": ["2024-01-03"] * 2}))
    frame = read_daily_files(location, date(2024, 1, 1), date(2024, 1, 3))
    assert frame["id"].tolist() == [1, 2, 3, 4, 5]
    assert frame["day"].tolist() == ["2024-01-01"] * 2 + ["2024-01-02"] + ["2024-01-03"] * 2
    assert frame.index.tolist() == [0, 1, 2, 3, 4]
    assert read_daily_files(location, date(2024, 1, 2), date(2024, 1, 2))["id"].tolist() == [3]


def test_read_daily_files_header_only_day_adds_no_rows(tmp_path):
    location = day_location(tmp_path)
    write_csv(location(date(2024, 1, 1)), pd.DataFrame({"id": [1]}))
    Path(location(date(2024, 1, 2))).write_text("id\n")  # a day without records
    write_csv(location(date(2024, 1, 3)), pd.DataFrame({"id": [2]}))
    assert read_daily_files(location, date(2024, 1, 1), date(2024, 1, 3))["id"].tolist() == [1, 2]


def test_read_daily_files_all_header_only_keeps_columns(tmp_path):
    location = day_location(tmp_path)
    Path(location(date(2024, 1, 1))).write_text("id,amount\n")
    frame = read_daily_files(location, date(2024, 1, 1), date(2024, 1, 1))
    assert frame.empty
    assert list(frame.columns) == ["id", "amount"]


def test_read_daily_files_missing_day_names_the_path(tmp_path):
    location = day_location(tmp_path)
    write_csv(location(date(2024, 1, 1)), pd.DataFrame({"id": [1]}))
    with pytest.raises(FileNotFoundError) as error:
        read_daily_files(location, date(2024, 1, 1), date(2024, 1, 2))
    assert str(error.value).startswith(location(date(2024, 1, 2)))
    assert "landing file not found" in str(error.value)


# --- read_landing_file ---------------------------------------------------------------------------

def test_header_only_csv_gives_an_empty_frame_with_its_columns(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("invoice_id,amount\n")
    frame = read_landing_file(str(path))
    assert frame.empty
    assert list(frame.columns) == ["invoice_id", "amount"]


def test_zero_byte_csv_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "invoices_2024-01-01.csv"
    path.write_text("")
    with pytest.raises(ValueError) as error:
        read_landing_file(str(path))
    assert str(error.value).startswith(str(path))
    assert "0 bytes" in str(error.value)


def test_csv_gz_and_parquet_are_read(tmp_path):
    frame = pd.DataFrame({"id": [1, 2], "amount": [1.5, np.nan]})
    frame.to_csv(tmp_path / "a.csv.gz", index=False)
    frame.to_parquet(tmp_path / "a.parquet", index=False)
    assert_frame_equal(read_landing_file(str(tmp_path / "a.csv.gz")), frame)
    assert_frame_equal(read_landing_file(str(tmp_path / "a.parquet")), frame)


def test_other_delimiter_is_read_when_configured(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("id;amount\n1;2.5\n2;3.5\n")
    frame = read_landing_file(str(path), delimiter=";")
    assert frame["amount"].tolist() == [2.5, 3.5]


def test_wrong_delimiter_suggests_the_right_one(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("id;amount\n1;2.5\n")
    with pytest.raises(ValueError) as error:
        read_landing_file(str(path))
    assert str(error.value).startswith(str(path))
    assert "delimiter: ';'" in str(error.value)


def test_wrong_encoding_says_which_setting_to_change(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes("region\nBogotá\n".encode("latin-1"))
    with pytest.raises(ValueError) as error:
        read_landing_file(str(path))
    assert str(error.value).startswith(str(path))
    assert "encoding" in str(error.value)
    assert read_landing_file(str(path), encoding="latin-1")["region"].tolist() == ["Bogotá"]


def test_corrupt_parquet_raises_value_error_naming_the_file(tmp_path):
    path = tmp_path / "invoices_2024-01-01.parquet"
    path.write_bytes(np.random.default_rng(0).bytes(256))
    with pytest.raises(ValueError) as error:
        read_landing_file(str(path))
    message = str(error.value)
    assert message.startswith(str(path))
    assert "cannot be read" in message


def test_truncated_parquet_raises_value_error(tmp_path):
    good = tmp_path / "good.parquet"
    pd.DataFrame({"id": range(100)}).to_parquet(good)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(good.read_bytes()[:-20])
    with pytest.raises(ValueError, match="bad.parquet: cannot be read"):
        read_landing_file(str(bad))


def test_unsupported_suffix_names_the_file_and_the_choices(tmp_path):
    path = tmp_path / "invoices_2024-01-01.xlsx"
    path.write_bytes(b"not really excel")
    with pytest.raises(ValueError) as error:
        read_landing_file(str(path))
    message = str(error.value)
    assert message.startswith(str(path))
    assert "unsupported file type" in message
    assert ".csv, .csv.gz or .parquet" in message


# --- read_file_range -----------------------------------------------------------------------------

def test_read_file_range_keeps_rows_inside_the_range_and_unparseable_dates(tmp_path):
    path = tmp_path / "all.csv"
    write_csv(str(path), pd.DataFrame({
        "id": [1, 2, 3, 4, 5],
        "day": ["2023-12-31", "2024-01-01", "2024-01-02", "2024-01-03", "not a date"],
    }))
    frame = read_file_range(str(path), "day", date(2024, 1, 1), date(2024, 1, 2))
    assert frame["id"].tolist() == [2, 3, 5]
    assert frame.index.tolist() == [0, 1, 2]


def test_read_file_range_includes_the_whole_last_day(tmp_path):
    path = tmp_path / "all.csv"
    write_csv(str(path), pd.DataFrame({
        "id": [1, 2, 3],
        "day": ["2024-01-01 00:00", "2024-01-02 23:30", "2024-01-03 00:00"],
    }))
    assert read_file_range(str(path), "day", date(2024, 1, 1), date(2024, 1, 2))["id"].tolist() == [1, 2]


def test_read_file_range_without_the_date_column_returns_every_row(tmp_path):
    path = tmp_path / "all.csv"
    write_csv(str(path), pd.DataFrame({"id": [1, 2]}))
    assert read_file_range(str(path), "day", date(2024, 1, 1), date(2024, 1, 2))["id"].tolist() == [1, 2]


def test_redact_url_masks_every_password_and_keeps_the_rest() -> None:
    text = "postgresql://etl:p@ss@db.internal:5432/wh failed; retried http://ops:hunter2@127.0.0.1:5000/api"
    assert redact_url(text) == ("postgresql://etl:***@db.internal:5432/wh failed; retried "
                                "http://ops:***@127.0.0.1:5000/api")
    assert redact_url("sqlite:////tmp/x.db and https://host/path?q=1") == "sqlite:////tmp/x.db and https://host/path?q=1"
