"""Config load checks model.params / segment_params against XGBoost and cron strings against Dagster's parser."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from dagster._utils.schedules import is_valid_cron_string

from ml_assets.core.config.cron import cron_problem
from ml_assets.spec import ConfigError, parse_spec
from ml_assets_tests.conftest import demo_config

# Valid settings by booster: every name must be one XGBoost uses (no "are not used" warning) and we accept.
VALID = [
    {"booster": "gbtree", "eta": 0.1, "gamma": 0.5, "max_depth": 3, "min_child_weight": 2, "max_delta_step": 1,
     "subsample": 0.9, "sampling_method": "uniform", "colsample_bytree": 0.8, "colsample_bylevel": 0.9,
     "colsample_bynode": 0.9, "lambda": 1.5, "alpha": 0.1, "tree_method": "hist", "scale_pos_weight": 2,
     "grow_policy": "lossguide", "max_leaves": 8, "max_bin": 64, "num_parallel_tree": 1, "seed": 3,
     "verbosity": 1, "nthread": 1, "eval_metric": ["auc", "logloss"], "objective": "binary:logistic",
     "base_score": 0.4, "max_cat_to_onehot": 4, "validate_parameters": True, "monotone_constraints": "(1,0,0)"},
    {"booster": "dart", "learning_rate": 0.2, "sample_type": "weighted", "normalize_type": "forest",
     "rate_drop": 0.1, "one_drop": 1, "skip_drop": 0.5, "reg_lambda": 1.0, "reg_alpha": 0.0, "random_state": 1,
     "min_split_loss": 0.0, "validate_parameters": True},
    {"booster": "gblinear", "feature_selector": "shuffle", "lambda": 0.5, "alpha": 0.1, "validate_parameters": True},
]

INVALID = [  # (params, the line our loader prints); XGBoost refuses each too
    ({"eta": "fast"}, "model.params.eta: 'fast' is not a number"),
    ({"max_depth": 4.0}, "model.params.max_depth: 4.0 is not a whole number"),
    ({"subsample": 1.5}, "model.params.subsample: 1.5 is above the largest allowed value 1"),
    ({"eta": -1}, "model.params.eta: -1 is below the smallest allowed value 0"),
    ({"max_bin": 1}, "model.params.max_bin: 1 is below the smallest allowed value 2"),
    ({"booster": "gbtre"}, "model.params.booster: 'gbtre' is not one of gbtree, gblinear, dart; did you mean 'gbtree'?"),
    ({"tree_method": "hst"}, "did you mean 'hist'?"),
    ({"objective": "binary:logistc"}, "did you mean 'binary:logistic'?"),
    ({"refresh_leaf": 2}, "model.params.refresh_leaf: 2 is not true/false"),
]


def tiny_matrix() -> xgb.DMatrix:
    rng = np.random.default_rng(0)
    features = rng.random((200, 3))
    return xgb.DMatrix(features, label=(features[:, 0] > 0.5).astype(int))


def load_with(tmp_path: Path, params: dict, segment_params: dict | None = None, automation: dict | None = None):
    config = demo_config(tmp_path)
    config["model"]["params"] = params
    config["model"]["segment_params"] = segment_params or {}
    if automation:
        config["automation"] = automation
    return parse_spec(config, base_dir=tmp_path)


def xgboost_train(params: dict) -> list[str]:
    """Train two rounds; the warnings XGBoost gives."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        xgb.train({**params}, tiny_matrix(), num_boost_round=2)
    return [str(w.message) for w in caught]


@pytest.mark.parametrize("params", VALID, ids=[p["booster"] for p in VALID])
def test_every_name_we_accept_is_one_xgboost_uses(tmp_path: Path, params: dict) -> None:
    assert load_with(tmp_path, params).model.params == params
    assert not [w for w in xgboost_train(params) if "not used" in w]


def test_a_misspelt_name_is_named_with_a_suggestion_and_xgboost_ignores_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_with(tmp_path, {"max_dept": 4}, segment_params={"industrial": {"colsample_bytre": 0.5}})
    assert "model.params.max_dept: 'max_dept' is not an XGBoost parameter; did you mean 'max_depth'?" in str(error.value)
    assert "model.segment_params.industrial.colsample_bytre: 'colsample_bytre' is not an XGBoost parameter; " \
           "did you mean 'colsample_bytree'?" in str(error.value)
    assert [w for w in xgboost_train({"max_dept": 4}) if '"max_dept" } are not used' in w]


@pytest.mark.parametrize("params, line", INVALID, ids=[next(iter(p)) for p, _ in INVALID])
def test_a_bad_value_fails_at_load_as_xgboost_would_fail_later(tmp_path: Path, params: dict, line: str) -> None:
    with pytest.raises(ConfigError, match="invalid config") as error:
        load_with(tmp_path, params)
    assert line in str(error.value)
    with pytest.raises(xgb.core.XGBoostError):
        xgboost_train(params)


CRONS = ["0 6 * * *", "*/15 * * * *", "0 25 * * *", "60 * * * *", "0 6 * *", "0 6 * * * *", "0 6 30 2 *",
         "0 6 28 2 *", "0 6 * JAN-MAR MON-FRI", "0 6 1,15 * *", "0 6 * * 7", "0 6 * * 8", "0 6 0 * *",
         "0 6 * 13 *", "0 6 * * 5-1", "a b c d e", "*/0 * * * *", "0 22-2 * * *", "0 6 L * *", "0 6 1-L * *",
         "0 6 L-2 * *", "0 6 * * mon#2", "0 6 * * 1#6", "0 6 ? * *", "? 6 * * *", "@daily", "@reboot",
         "0 6 15W * *", "0 */ * * *", "0 0-23/2 * * *", "0 6 30,31 2 *"]


@pytest.mark.parametrize("cron", CRONS)
def test_cron_check_agrees_with_dagster(cron: str) -> None:
    assert (cron_problem(cron) is None) == is_valid_cron_string(cron)


def test_a_bad_cron_is_one_line_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_with(tmp_path, {}, automation={"training": {"cron": "0 25 * * 0", "status": "stopped"}})
    assert str(error.value).splitlines()[1].strip() == (
        "automation.training.cron: cron '0 25 * * 0' is not a cron expression: hour '25' is outside 0-23 "
        "(value '0 25 * * 0')")
