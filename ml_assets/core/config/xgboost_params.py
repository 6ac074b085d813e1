"""XGBoost's training parameters by name and value kind, so a config is checked before any training starts.

The table covers the learning-task, tree, DART and linear booster parameters of XGBoost 3 (names as
`xgboost.train` reads them, aliases included); xgboost itself is not imported, so config loading stays quick.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["number", "int", "bool", "text", "text_or_list", "constraints"]


@dataclass(frozen=True)
class XGBoostParam:
    """One parameter: its value kind, an allowed range for numbers and the allowed words for text."""

    kind: Kind
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()


def _number(low: float | None = None, high: float | None = None) -> XGBoostParam:
    return XGBoostParam("number", low, high)


def _int(low: float | None = None, high: float | None = None) -> XGBoostParam:
    return XGBoostParam("int", low, high)


def _choice(*words: str) -> XGBoostParam:
    return XGBoostParam("text", choices=words)


OBJECTIVES = ("binary:logistic", "binary:logitraw", "binary:hinge", "reg:squarederror", "reg:squaredlogerror",
              "reg:logistic", "reg:pseudohubererror", "reg:absoluteerror", "reg:quantileerror", "reg:gamma",
              "reg:tweedie", "count:poisson", "survival:cox", "survival:aft", "multi:softmax", "multi:softprob",
              "rank:ndcg", "rank:map", "rank:pairwise")

XGBOOST_PARAMS: dict[str, XGBoostParam] = {
    # general
    "booster": _choice("gbtree", "gblinear", "dart"),
    "device": XGBoostParam("text"),
    "verbosity": _int(0, 3),
    "validate_parameters": XGBoostParam("bool"),
    "nthread": _int(0),
    "n_jobs": _int(0),
    "disable_default_eval_metric": XGBoostParam("bool"),
    # tree booster
    "eta": _number(0),
    "learning_rate": _number(0),
    "gamma": _number(0),
    "min_split_loss": _number(0),
    "max_depth": _int(0),
    "min_child_weight": _number(0),
    "max_delta_step": _number(0),
    "subsample": _number(0, 1),
    "sampling_method": _choice("uniform", "gradient_based"),
    "colsample_bytree": _number(0, 1),
    "colsample_bylevel": _number(0, 1),
    "colsample_bynode": _number(0, 1),
    "lambda": _number(0),
    "reg_lambda": _number(0),
    "alpha": _number(0),
    "reg_alpha": _number(0),
    "tree_method": _choice("auto", "exact", "approx", "hist"),
    "scale_pos_weight": _number(0),
    "updater": XGBoostParam("text"),
    "refresh_leaf": XGBoostParam("bool"),
    "process_type": _choice("default", "update"),
    "grow_policy": _choice("depthwise", "lossguide"),
    "max_leaves": _int(0),
    "max_bin": _int(2),
    "num_parallel_tree": _int(1),
    "monotone_constraints": XGBoostParam("constraints"),
    "interaction_constraints": XGBoostParam("constraints"),
    "multi_strategy": _choice("one_output_per_tree", "multi_output_tree"),
    "max_cached_hist_node": _int(1),
    "max_cat_to_onehot": _int(1),
    "max_cat_threshold": _int(1),
    # DART booster
    "sample_type": _choice("uniform", "weighted"),
    "normalize_type": _choice("tree", "forest"),
    "rate_drop": _number(0, 1),
    "one_drop": XGBoostParam("bool"),
    "skip_drop": _number(0, 1),
    # linear booster
    "feature_selector": _choice("cyclic", "shuffle", "random", "greedy", "thrifty"),
    "top_k": _int(0),
    # learning task
    "objective": _choice(*OBJECTIVES),
    "base_score": _number(),
    "eval_metric": XGBoostParam("text_or_list"),
    "seed": _int(),
    "random_state": _int(),
    "seed_per_iteration": XGBoostParam("bool"),
    "tweedie_variance_power": _number(1, 2),
    "huber_slope": _number(0),
    "quantile_alpha": _number(0, 1),
    "aft_loss_distribution": _choice("normal", "logistic", "extreme"),
    "aft_loss_distribution_scale": _number(0),
    "num_class": _int(1),
    "lambdarank_pair_method": _choice("mean", "topk"),
    "lambdarank_num_pair_per_sample": _int(1),
    "lambdarank_normalization": XGBoostParam("bool"),
    "lambdarank_score_normalization": XGBoostParam("bool"),
    "lambdarank_unbiased": XGBoostParam("bool"),
    "lambdarank_bias_norm": _number(0),
    "ndcg_exp_gain": XGBoostParam("bool"),
}


def param_problems(params: Mapping[str, Any], field_path: str) -> list[str]:
    """One readable line per unknown name or badly typed value, each naming `<field_path>.<name>`."""
    problems = []
    for name, value in params.items():
        where = f"{field_path}.{name}"
        param = XGBOOST_PARAMS.get(str(name))
        if param is None:
            close = difflib.get_close_matches(str(name), list(XGBOOST_PARAMS), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else "; see https://xgboost.readthedocs.io/en/stable/parameter.html"
            problems.append(f"{where}: {name!r} is not an XGBoost parameter{hint}")
            continue
        problem = value_problem(param, value)
        if problem:
            problems.append(f"{where}: {value!r} {problem}")
    return problems


def value_problem(param: XGBoostParam, value: Any) -> str | None:
    """Why `value` does not fit the parameter (None when it does)."""
    if param.kind == "bool":
        return None if isinstance(value, bool) or value in (0, 1) else "is not true/false"
    if param.kind in ("number", "int"):
        return _number_problem(param, value)
    if param.kind == "text_or_list" and isinstance(value, list):
        return None if all(isinstance(item, str) for item in value) else "is not a text or a list of texts"
    if param.kind == "constraints" and isinstance(value, list | dict | str):
        return None
    if not isinstance(value, str):
        return "is not a text"
    if param.choices and value not in param.choices:
        close = difflib.get_close_matches(value, param.choices, n=1, cutoff=0.6)
        return f"is not one of {', '.join(param.choices)}" + (f"; did you mean {close[0]!r}?" if close else "")
    return None


def _number_problem(param: XGBoostParam, value: Any) -> str | None:
    """Kind and range of a numeric value."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "is not a number" if param.kind == "number" else "is not a whole number"
    if param.kind == "int" and not isinstance(value, int):
        return "is not a whole number"
    if param.low is not None and value < param.low:
        return f"is below the smallest allowed value {param.low:g}"
    if param.high is not None and value > param.high:
        return f"is above the largest allowed value {param.high:g}"
    return None
