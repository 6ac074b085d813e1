"""Config of training: tuning ranges, imbalance, CV folds, the gate; bad values fail with the field path."""

from pathlib import Path

import pytest

from ml_assets.spec import ConfigError
from ml_assets_tests.conftest import make_spec


def test_defaults_keep_the_demo_fast_and_calibrated(tmp_path: Path) -> None:
    spec = make_spec(tmp_path)
    assert spec.model.tuning.enabled is False and spec.training.cv_folds == 0
    assert spec.model.calibration == "auto" and spec.model.imbalance == "none"
    assert (spec.training.calibration_folds, spec.training.calibration_block_days,
            spec.training.calibration_gap_days) == (3, 14, 2)
    assert (spec.training.leakage.univariate_auc, spec.training.leakage.drop_cost,
            spec.training.leakage.gain_share) == (0.85, 0.03, 0.4)
    assert spec.training.gate_alpha == 0.05 and spec.training.bootstrap_samples == 1000
    assert {"max_depth", "eta"} <= set(spec.model.tuning.search_space)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"model": {"tuning": {"search_space": {"eta": {"low": 0.3, "high": 0.1}}}}},
     "model.tuning.search_space.eta: low (0.3) must be smaller than high (0.1)"),
    ({"model": {"tuning": {"search_space": {"lambda": {"low": 0, "high": 1, "log": True}}}}},
     "model.tuning.search_space.lambda: a log-scale range needs low > 0, got 0.0"),
    ({"model": {"imbalance": "scale_pos_weight", "segment_params": {"industrial": {"scale_pos_weight": 9}}}},
     "scale_pos_weight is set in segment_params.industrial and imbalance is 'scale_pos_weight'"),
    ({"model": {"calibration": "platt"}},
     "model.calibration: Input should be 'auto', 'none', 'sigmoid' or 'isotonic' (value 'platt')"),
    ({"training": {"calibration_folds": 1}}, "training.calibration_folds: Input should be greater than or equal to 2"),
    ({"training": {"leakage": {"univariate_auc": 0.4}}},
     "training.leakage.univariate_auc: Input should be greater than 0.5 (value 0.4)"),
    ({"training": {"cv_folds": 1}}, "training: cv_folds must be 0 (off) or at least 2"),
    ({"training": {"gate_alpha": 0.6}}, "training.gate_alpha: Input should be less than 0.5"),
    ({"model": {"tuning": {"n_trail": 5}}}, "model.tuning.n_trail: unknown field (value 5); did you mean 'n_trials'?"),
])
def test_bad_training_config_names_the_field(tmp_path: Path, overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        make_spec(tmp_path, **overrides)
    assert message in str(error.value)
