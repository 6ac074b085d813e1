"""Honest signals on the real hotel bookings: init's config, run 2016-01-01..2016-06-30; calibration never makes a
segment's holdout ECE worse (beyond 0.002), and the resort segment's leakage audit names `country`."""

from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from ml_assets.core.data import lake
from ml_assets.spec import load_spec

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
