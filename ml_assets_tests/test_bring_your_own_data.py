"""Any table from a config alone: `ml-assets init` on real hotel bookings, then the whole graph with `run`."""

import os
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from ml_assets.cli import main
from ml_assets.core.data import lake
from ml_assets.spec import load_spec

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# ../shared/data beside the clone (main/), or two levels up from a worktree (wt/<name>/), as benchmarks/ find it
HOTELS = next((folder / "shared" / "data" / "hotel_bookings.csv.gz" for folder in PROJECT_ROOT.parents[:2]
               if (folder / "shared" / "data" / "hotel_bookings.csv.gz").exists()),
              PROJECT_ROOT.parent / "shared" / "data" / "hotel_bookings.csv.gz")
LEAKS = ["reservation_status", "reservation_status_date"]


def require_hotels() -> None:
    """Skip without the hotel data, except under CI, where a missing file is a broken setup (CI clones main
    beside shared/)."""
    if not HOTELS.exists():
        message = f"{HOTELS} is not on this machine (the repository's ../shared/data)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def init_and_run_hotels(folder: Path, start: str, end: str) -> Path:
    """`ml-assets init` as the README's "your own data" does it, then `run` over start..end; the config path."""
    require_hotels()
    config = folder / "hotels.yaml"
    init = ["init", "--data", str(HOTELS), "--id", "booking_id", "--date", "arrival_date", "--target",
            "is_canceled", "--segment", "hotel", "--output", str(config)]
    assert main(init + [arg for column in LEAKS for arg in ("--exclude", column)]) == 0
    assert main(["run", "--config", str(config), "--start", start, "--end", end]) == 0
    return config


@pytest.fixture(scope="module")
def hotel_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """init + run over three months of arrivals; returns the config path."""
    return init_and_run_hotels(tmp_path_factory.mktemp("hotels"), "2016-01-01", "2016-03-31")


def test_init_infers_schema_and_leaves_out_the_leaks(hotel_run: Path) -> None:
    config = yaml.safe_load(hotel_run.read_text())
    columns = config["dataset"]["columns"]
    assert not set(LEAKS) & set(columns)
    assert columns["lead_time"] == "int" and columns["adr"] == "float" and columns["country"] == "str"
    assert set(config["dataset"]["optional"]) == {"children", "country", "agent", "company"}
    assert config["dataset"]["segments"] == {"city_hotel": ["City Hotel"], "resort_hotel": ["Resort Hotel"]}
    assert "deposit_type" in config["features"]["categorical"] and "lead_time" in config["features"]["numeric"]


def test_whole_graph_runs_on_the_hotel_table(hotel_run: Path) -> None:
    spec = load_spec(hotel_run)
    assert len(lake.stored_keys(spec.lake_dir, "predictions", "date")) == 91
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    for segment in ("city_hotel", "resort_hotel"):
        champion = client.get_model_version_by_alias(f"hotel_bookings-{segment}", "champion")
        auc = client.get_run(champion.run_id).data.metrics["holdout_roc_auc"]
        assert auc > 0.8, (segment, auc)
    predictions = lake.read_frames([lake.partition_dir(spec.lake_dir, "predictions", "date", key)
                                    for key in lake.stored_keys(spec.lake_dir, "predictions", "date")])
    raw = pd.read_csv(HOTELS, usecols=["arrival_date"])
    assert len(predictions) == int(raw["arrival_date"].between("2016-01-01", "2016-03-31").sum())
    drift = lake.read_partition(lake.partition_dir(spec.lake_dir, "drift_report", "date", "2016-03-31"))
    assert {"lead_time", "deposit_type", "score"} <= set(drift["feature"])


def test_no_hotel_day_is_judged_on_a_calendar_part_of_the_date(hotel_run: Path) -> None:
    """init recognises arrival_date_year/_month/_week_number/_day_of_month; with its defaults they are model
    features whose drift is shown, never judged, so no day's verdict comes from them."""
    spec = load_spec(hotel_run)
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
