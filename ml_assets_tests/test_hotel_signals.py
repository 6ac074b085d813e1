"""Honest signals on the real hotel bookings: init's config, run 2016-01-01..2016-06-30; calibration never makes a
segment's holdout ECE worse (beyond 0.002), the resort segment's leakage audit names `country`, and drift_report
names the calendar values (January, February) the models' training window never held."""

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from ml_assets.core.data import lake
from ml_assets.spec import load_spec
from ml_assets_tests.hotels import HOTELS

ECE_TOLERANCE = 0.002


def segment_record(config: Path, segment: str, asset: str = "segment_model") -> dict:
    spec = load_spec(config)
    return lake.read_partition(lake.partition_dir(spec.lake_dir, asset, "segment", segment))


def test_calibration_never_makes_holdout_ece_worse(hotel_half_year: Path) -> None:
    spec = load_spec(hotel_half_year)
    assert spec.model.calibration == "auto"
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    for segment in spec.segment_names:
        record = segment_record(hotel_half_year, segment)
        calibrated, raw = record["metrics"]["ece"], record["raw_metrics"]["ece"]
        print(f"\n{segment}: ECE raw {raw:.4f} -> calibrated {calibrated:.4f} ({record['calibration']['reason']})")
        assert calibrated <= raw + ECE_TOLERANCE, (segment, record["calibration"]["reason"])
        assert set(record["calibration"]["selection_log_loss"]) == {"none", "sigmoid", "isotonic"}
        tags = client.get_model_version(record["model_name"], record["version"]).tags
        assert tags["calibration"] == record["calibration"]["method"]
        assert float(tags["holdout_raw_ece"]) == pytest.approx(raw, abs=1e-4)


def test_resort_leakage_audit_names_country(hotel_half_year: Path) -> None:
    config = yaml.safe_load(hotel_half_year.read_text())
    assert "country" in config["features"]["categorical"], "init keeps country as a feature"
    record = segment_record(hotel_half_year, "resort_hotel", "model_evaluation")  # the leakage_suspects step's audit
    audit = {f["feature"]: f for f in record["leakage"]["features"]}
    print(f"\nresort country: {audit['country']}")
    assert "country" in record["leakage"]["suspects"] and audit["country"]["reasons"]
    assert audit["country"]["drop_cost"] is not None, "country is among the refitted features"
    spec = load_spec(hotel_half_year)
    tags = MlflowClient(tracking_uri=spec.tracking_uri).get_model_version(record["model_name"], record["version"]).tags
    assert "country" in yaml.safe_load(tags["leakage_suspects"])


def test_drift_report_names_the_calendar_values_the_training_window_never_held(hotel_half_year: Path) -> None:
    spec = load_spec(hotel_half_year)
    bookings = pd.read_csv(HOTELS, usecols=["arrival_date", "hotel", "arrival_date_month", "arrival_date_week_number"],
                           parse_dates=["arrival_date"])
    days, checked = [date(2016, 1, 20), date(2016, 2, 29), date(2016, 3, 10), date(2016, 5, 15)], 0
    for segment, hotel in [("city_hotel", "City Hotel"), ("resort_hotel", "Resort Hotel")]:
        window = segment_record(hotel_half_year, segment)["window"]
        rows = bookings[bookings["hotel"] == hotel]
        trained = rows[rows["arrival_date"].between(window["first"], window["last"])]
        for day in days:
            table = lake.read_partition(lake.partition_dir(spec.lake_dir, "drift_report", "date", day.isoformat()))
            drift_rows = table[table["segment"] == segment].set_index("feature")
            current = rows[rows["arrival_date"].between(pd.Timestamp(day - timedelta(days=spec.drift.window_days - 1)),
                                                        pd.Timestamp(day))]
            for column in ("arrival_date_month", "arrival_date_week_number"):
                unseen = ~current[column].isin(trained[column].unique())
                values = [v.lower() if isinstance(v, str) else v for v in current.loc[unseen, column].unique()]
                expected_values = ", ".join(str(v) for v in sorted(values))  # text as the feature: init normalizes it
                assert drift_rows.loc[column, "unseen_share"] == pytest.approx(unseen.mean()), (segment, day, column)
                assert drift_rows.loc[column, "unseen_values"] == expected_values, (segment, day, column)
                checked += int(unseen.any())
    assert checked >= 4, "January and February lie outside the models' training window (March-June)"
