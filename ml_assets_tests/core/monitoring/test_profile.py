"""Reference profiles written to disk and read back (real JSON and parquet files)."""

import json

import numpy as np
import pandas as pd
import pytest

from ml_assets.core.monitoring.drift import build_profile, profile_drift_table
from ml_assets.core.monitoring.profile import PROFILE_FILE, SORTED_VALUES_FILE, load_profile, save_profile
from ml_assets.spec import ThresholdSpec

THRESHOLDS = ThresholdSpec(low=0.05, moderate=0.1, high=0.25)


def _frame(rows: int, shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"amount": np.where(rng.random(rows) < 0.05, np.nan, rng.lognormal(shift, 1.0, rows)),
                         "estrato": rng.integers(1, 7, rows).astype(float),
                         "region": rng.choice(["bogota", "cali", None], rows, p=[0.6, 0.35, 0.05])})


def test_a_saved_profile_reads_back_to_the_same_drift_table(tmp_path):
    profile = build_profile(_frame(4_000, 0.0, 1), ["amount", "estrato"], ["region"], bins=10, max_sorted=1_500)
    folder = save_profile(profile, tmp_path / "reference_profile")
    assert {path.name for path in folder.iterdir()} == {PROFILE_FILE, SORTED_VALUES_FILE}
    loaded = load_profile(folder)
    current = _frame(2_000, 0.3, 2)
    pd.testing.assert_frame_equal(profile_drift_table(loaded, current, THRESHOLDS, THRESHOLDS),
                                  profile_drift_table(profile, current, THRESHOLDS, THRESHOLDS))
    np.testing.assert_array_equal(loaded.numeric["amount"].sorted_values, profile.numeric["amount"].sorted_values)
    assert loaded.categorical["region"] == profile.categorical["region"]


def test_a_profile_without_sorted_values_still_reads(tmp_path):
    profile = build_profile(pd.DataFrame({"x": [np.nan, np.nan]}), ["x"], [], bins=4)
    loaded = load_profile(save_profile(profile, tmp_path))
    assert loaded.numeric["x"].sorted_values.size == 0 and loaded.numeric["x"].counts.tolist() == [0, 2]


def test_loading_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="no reference profile.*retrain"):
        load_profile(tmp_path)
    (tmp_path / PROFILE_FILE).write_text(json.dumps({"version": 99}))
    with pytest.raises(ValueError, match="profile format 99.*retrain"):
        load_profile(tmp_path)


def test_sorted_values_written_as_text_by_earlier_versions_still_read(tmp_path):
    profile = build_profile(_frame(1_000, 0.0, 3), ["amount", "estrato"], ["region"], bins=10)
    folder = save_profile(profile, tmp_path)
    stored = pd.read_parquet(folder / SORTED_VALUES_FILE)
    assert isinstance(stored["feature"].dtype, pd.CategoricalDtype)
    stored.astype({"feature": object}).to_parquet(folder / SORTED_VALUES_FILE, index=False)
    loaded = load_profile(folder)
    for name in ("amount", "estrato"):
        np.testing.assert_array_equal(loaded.numeric[name].sorted_values, profile.numeric[name].sorted_values)
