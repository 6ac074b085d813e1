"""Any table from a config alone: `ml-assets init` on real hotel bookings, then the whole graph with `run` (the
half-year run shared with test_hotel_signals.py, fixture hotel_half_year in conftest.py)."""

from pathlib import Path

import pandas as pd
import yaml
from mlflow.tracking import MlflowClient

from ml_assets.core.data import lake
from ml_assets.spec import load_spec
from ml_assets_tests.hotels import HOTELS, LEAKS


def test_init_infers_schema_and_leaves_out_the_leaks(hotel_half_year: Path) -> None:
    config = yaml.safe_load(hotel_half_year.read_text())
    columns = config["dataset"]["columns"]
    assert not set(LEAKS) & set(columns)
    assert columns["lead_time"] == "int" and columns["adr"] == "float" and columns["country"] == "str"
    assert set(config["dataset"]["optional"]) == {"children", "country", "agent", "company"}
    assert config["dataset"]["segments"] == {"city_hotel": ["City Hotel"], "resort_hotel": ["Resort Hotel"]}
    assert "deposit_type" in config["features"]["categorical"] and "lead_time" in config["features"]["numeric"]


def test_whole_graph_runs_on_the_hotel_table(hotel_half_year: Path) -> None:
    spec = load_spec(hotel_half_year)
    assert len(lake.stored_keys(spec.lake_dir, "predictions", "date")) == 182
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    for segment in ("city_hotel", "resort_hotel"):
        champion = client.get_model_version_by_alias(f"hotel_bookings-{segment}", "champion")
        auc = client.get_run(champion.run_id).data.metrics["holdout_roc_auc"]
        assert auc > 0.8, (segment, auc)
    predictions = lake.read_frames([lake.partition_dir(spec.lake_dir, "predictions", "date", key)
                                    for key in lake.stored_keys(spec.lake_dir, "predictions", "date")])
    raw = pd.read_csv(HOTELS, usecols=["arrival_date"])
    assert len(predictions) == int(raw["arrival_date"].between("2016-01-01", "2016-06-30").sum())
    drift = lake.read_partition(lake.partition_dir(spec.lake_dir, "drift_report", "date", "2016-06-30"))
    assert {"lead_time", "deposit_type", "score"} <= set(drift["feature"])


def test_no_hotel_day_is_judged_on_a_calendar_part_of_the_date(hotel_half_year: Path) -> None:
    """init recognises arrival_date_year/_month/_week_number/_day_of_month; with its defaults they are model
    features whose drift is shown, never judged, so no day's verdict comes from them."""
    spec = load_spec(hotel_half_year)
    calendar = ["arrival_date_year", "arrival_date_month", "arrival_date_week_number", "arrival_date_day_of_month"]
    assert spec.features.calendar.columns == calendar and set(calendar) <= set(spec.feature_columns())
    assert {"agent", "company"} <= set(spec.features.categorical), "agency and company ids are codes, not numbers"
    drift = lake.read_frames([lake.partition_dir(spec.lake_dir, "drift_report", "date", key)
                              for key in lake.stored_keys(spec.lake_dir, "drift_report", "date")])
    shown = drift[drift["feature"].isin(calendar)]
    assert len(shown) and not shown["judged"].any() and set(shown["severity"]) == {"none"}
    assert shown["psi"].max() > spec.drift.psi.high, "they do drift by construction: shown, not judged"
    high = drift[drift["severity"] == "high"]
    assert not set(high["feature"]) & set(calendar)
