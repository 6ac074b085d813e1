"""features.calendar and drift.monitored: which features drift judges, and clear errors for bad values."""

from pathlib import Path

import pytest

from ml_assets.spec import ConfigError, PipelineSpec, parse_spec
from ml_assets_tests.conftest import demo_config


def calendar_config(home: Path, handling: str | None = None, monitored: list[str] | None = None) -> dict:
    """The demo config with an `invoice_month` calendar-part feature (and its handling)."""
    config = demo_config(home)
    config["dataset"]["columns"]["invoice_month"] = "int"
    config["features"]["numeric"] = [*config["features"]["numeric"], "invoice_month"]
    config["features"]["calendar"] = {"columns": ["invoice_month"], **({"handling": handling} if handling else {})}
    if monitored is not None:
        config["drift"]["monitored"] = monitored
    return config


def load(config: dict, home: Path) -> PipelineSpec:
    return parse_spec(config, base_dir=home)


def test_calendar_parts_are_model_features_left_out_of_drift_by_default(tmp_path: Path) -> None:
    spec = load(calendar_config(tmp_path), tmp_path)
    assert spec.features.calendar.handling == "unmonitored"
    assert "invoice_month" in spec.feature_columns()
    assert spec.monitored_features() == [c for c in spec.feature_columns() if c != "invoice_month"]


def test_same_period_monitors_calendar_parts_and_drop_removes_them(tmp_path: Path) -> None:
    same = load(calendar_config(tmp_path, "same_period"), tmp_path)
    assert same.monitored_features() == same.feature_columns()
    dropped = load(calendar_config(tmp_path, "drop"), tmp_path)
    assert "invoice_month" not in dropped.feature_columns() and "invoice_month" not in dropped.monitored_features()
    assert dropped.features.calendar.columns == ["invoice_month"]


def test_drift_monitored_names_the_judged_features(tmp_path: Path) -> None:
    spec = load(calendar_config(tmp_path, monitored=["amount", "region"]), tmp_path)
    assert spec.monitored_features() == ["amount", "region"]


@pytest.mark.parametrize(("handling", "monitored", "calendar", "expected"), [
    (None, ["amount", "amonut_avg_6m"], None,
     "drift.monitored[1]: feature 'amonut_avg_6m' not found; did you mean 'amount_avg_6m'?"),
    (None, ["invoice_month"], None,
     "drift.monitored[0]: 'invoice_month' is a calendar part of the date, which drifts by construction"),
    ("weekly", None, None, "features.calendar.handling: Input should be 'unmonitored', 'same_period' or 'drop' "
                           "(value 'weekly')"),
    (None, None, ["invoice_mnth"], "features.calendar.columns[0]: feature (list it in features.numeric, "
                                   "features.categorical or features.engineered.date_parts) 'invoice_mnth' not found; did you mean 'invoice_month'?"),
])
def test_bad_calendar_or_monitored_config_names_field_value_and_fix(tmp_path: Path, handling, monitored, calendar,
                                                                    expected: str) -> None:
    config = calendar_config(tmp_path, handling, monitored)
    if calendar:
        config["features"]["calendar"]["columns"] = calendar
    with pytest.raises(ConfigError) as error:
        load(config, tmp_path)
    assert expected in str(error.value)
