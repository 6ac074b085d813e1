"""Leakage audit: figures that match bare computations, a planted leak named, a clean run without leak signals."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.metrics import roc_auc_score

from ml_assets.core.data.features import SEGMENT_COLUMN, build_features, model_matrix
from ml_assets.core.data.synthetic import generate_invoices
from ml_assets.core.training.leakage import LeakageAudit, oriented_auc, target_rate_encoding
from ml_assets.core.training.modeling import (
    SegmentFit,
    booster_params,
    fit_segment,
    rows_where,
    segment_leakage,
    split_by_time,
    training_rows,
)
from ml_assets.spec import PipelineSpec, parse_spec
from ml_assets_tests.conftest import demo_config

LEAK = "settled_flag"  # the target plus small noise: known only after the label matures


def spec_with_leak(home: Path, leak: bool) -> PipelineSpec:
    """The demo config, with the planted leak column as a numeric feature when `leak`."""
    raw = demo_config(home)
    if leak:
        raw["dataset"]["columns"][LEAK] = "float"
        raw["features"] = {**raw["features"], "numeric": [*raw["features"]["numeric"], LEAK]}
    return parse_spec(raw, base_dir=home)


@pytest.fixture(scope="module")
def audits(tmp_path_factory: pytest.TempPathFactory
           ) -> dict[str, tuple[PipelineSpec, pd.DataFrame, SegmentFit, LeakageAudit]]:
    """The domestic segment fitted, then audited, with and without the planted leak, on the same invoices."""
    invoices = generate_invoices(1500, date(2024, 1, 1), date(2024, 5, 31), seed=11)
    invoices[LEAK] = invoices["defaulted"] + np.random.default_rng(0).normal(0, 0.4, len(invoices))
    fits = {}
    for name, leak in (("clean", False), ("leaky", True)):
        spec = spec_with_leak(tmp_path_factory.mktemp(name), leak)
        features = build_features(invoices, spec.dataset, spec.features)
        frame = features[features[SEGMENT_COLUMN] == "domestic"].reset_index(drop=True)
        fit = fit_segment(frame, spec.training_sections(), "domestic")
        fits[name] = (spec, frame, fit, segment_leakage(frame, spec.training_sections(), "domestic", fit.model,
                                                        refits=True))
    return fits


def full_refit_auc(spec: PipelineSpec, frame: pd.DataFrame, fit: SegmentFit) -> float:
    """Holdout AUC of a bare xgboost refit without the leak on all the booster's rows, params and trees."""
    train, holdout = split_by_time(frame, spec.dataset.date, spec.training.holdout_days)
    rows = training_rows(train, spec.training_sections(), fit.model.vocabulary, "domestic")
    kept = [c for c in spec.feature_columns() if c != LEAK]
    matrix = model_matrix(train, spec.features, fit.model.vocabulary)[kept]
    booster = xgb.train(booster_params(fit.model.params, spec.training.seed),
                        xgb.DMatrix(rows_where(matrix, rows.fit), train[spec.dataset.target][rows.fit],
                                    enable_categorical=True), num_boost_round=fit.model.best_iteration + 1)
    without = booster.predict(xgb.DMatrix(model_matrix(holdout, spec.features, fit.model.vocabulary)[kept],
                                          enable_categorical=True))
    return float(roc_auc_score(holdout[spec.dataset.target], without))


def test_oriented_auc_matches_scikit_learn_and_skips_missing_values():
    rng = np.random.default_rng(1)
    target = (rng.random(500) < 0.3).astype(float)
    score = -target + rng.normal(0, 1, 500)  # predicts the target backwards
    score[:40] = np.nan
    auc = roc_auc_score(target[40:], score[40:])
    assert auc < 0.5 and oriented_auc(target, score) == pytest.approx(1 - auc)
    assert np.isnan(oriented_auc(np.zeros(10), np.arange(10.0)))


def test_target_rate_encoding_learns_on_training_rows_only():
    train = pd.Series(["a", "a", "b", "b", "b", None])
    target = np.array([1, 0, 1, 1, 0, 1])
    encoded = target_rate_encoding(train, target, pd.Series(["b", "a", "z", None]))
    np.testing.assert_allclose(encoded, [2 / 3, 0.5, 4 / 6, 4 / 6])


def test_planted_leak_is_named_with_its_figures(audits):
    spec, frame, fit, audit = audits["leaky"]
    [suspect] = [f for f in audit.suspects if f.feature == LEAK]
    assert audit.features[0].feature == LEAK, "the leak holds the most gain"
    assert len(suspect.reasons) == 3 and suspect.univariate_auc > 0.9 and suspect.gain_share > 0.4
    train, holdout = split_by_time(frame, spec.dataset.date, spec.training.holdout_days)
    target = holdout[spec.dataset.target].to_numpy()
    rows = training_rows(train, spec.training_sections(), fit.model.vocabulary, "domestic")
    assert suspect.univariate_auc == pytest.approx(roc_auc_score(target, holdout[LEAK]))
    # drop cost against a bare refit: the booster's rows (fewer than refit_rows: all), params and trees
    assert rows.fit.sum() <= spec.training.leakage.refit_rows
    assert audit.refit_auc == pytest.approx(audit.holdout_auc, abs=1e-9)
    assert suspect.drop_cost == pytest.approx(audit.holdout_auc - full_refit_auc(spec, frame, fit), abs=1e-9)
    assert suspect.drop_cost > 0.1
    assert audit.holdout_auc == pytest.approx(fit.raw_metrics["roc_auc"])
    assert LEAK in fit.model.feature_names, "the audit removes nothing"
    assert all(not f.reasons for f in audit.features if f.feature != LEAK), "only the leak is named"


def test_clean_run_has_no_leak_signal(audits):
    """Without the planted column no feature predicts alone above the AUC threshold or costs the drop threshold;
    only a dominant genuine feature may be named for its gain share, which the figures show."""
    spec, _, _, audit = audits["clean"]
    thresholds = spec.training.leakage
    assert max(f.univariate_auc for f in audit.features) < thresholds.univariate_auc
    costs = [f.drop_cost for f in audit.features if f.drop_cost is not None]
    assert len(costs) == thresholds.refit_top and max(costs) < thresholds.drop_cost
    assert all(reason.endswith(f"of total gain > {thresholds.gain_share:.0%}")
               for f in audit.suspects for reason in f.reasons)
    stored = audit.as_dict()
    assert stored["suspects"] == [f.feature for f in audit.suspects]
    read = LeakageAudit.from_dict(json.loads(json.dumps(stored)))
    assert read.suspects == audit.suspects and read.thresholds == audit.thresholds
    with pytest.raises(ValueError, match="schema_version 2"):
        LeakageAudit.from_dict({**stored, "schema_version": 2})
    assert sum(f["gain_share"] for f in stored["features"]) == pytest.approx(1.0)


def test_sampled_drop_cost_of_the_leak_is_close_to_the_full_data_one(audits):
    """Refits on a 1,000-row sample of the booster's rows cost the leak about what refits on all of them do."""
    spec, frame, fit, full = audits["leaky"]
    leakage = spec.training.leakage.model_copy(update={"refit_rows": 1000})
    sampled = spec.model_copy(update={"training": spec.training.model_copy(update={"leakage": leakage})})
    train = split_by_time(frame, spec.dataset.date, spec.training.holdout_days)[0]
    rows = training_rows(train, spec.training_sections(), fit.model.vocabulary, "domestic")
    assert rows.fit.sum() > 3 * 1000, "the sample is a fraction of the booster's rows"
    audit = segment_leakage(frame, sampled.training_sections(), "domestic", fit.model, refits=True)
    [leak] = [f for f in audit.features if f.feature == LEAK]
    full_cost = full.holdout_auc - full_refit_auc(spec, frame, fit)
    assert audit.refit_auc != pytest.approx(full.holdout_auc, abs=1e-6), "the refits used the sample"
    assert leak.drop_cost == pytest.approx(full_cost, abs=0.03)
    assert LEAK in [f.feature for f in audit.suspects]
