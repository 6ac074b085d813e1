"""Leakage audit of a trained segment: features that predict the target too well on their own, whose removal costs
much holdout AUC, or that hold most of the booster's gain. A diagnosis for people; it removes nothing.

Univariate AUC: each feature alone scores the holdout rows where it is present (a categorical through the target
rate of each category on the training rows; unseen or missing categories get the overall rate), oriented as
max(auc, 1 - auc). Drop cost, for the features with the most gain: the holdout AUC of a booster refitted with every
feature minus that of one refitted without the feature, both on the same seeded, stratified sample of the model's
rows (`refit_rows`) with the model's params and number of trees, so the two refits differ only by the feature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from ml_assets.spec import LeakageSpec

SCHEMA_VERSION = 1

Refit = Callable[[list[str]], np.ndarray]
"""Holdout scores of the booster refitted on the given feature columns only."""


@dataclass(frozen=True)
class FeatureAudit:
    """One feature's figures; `drop_cost` is None for features not refitted, `reasons` is empty unless suspect."""

    feature: str
    univariate_auc: float
    gain_share: float
    drop_cost: float | None
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class LeakageAudit:
    """Every feature's figures (largest gain first) against the model's holdout AUC and the thresholds used;
    `refit_auc` is the holdout AUC of the refit with every feature that drop costs are measured from (None: none)."""

    holdout_auc: float
    refit_auc: float | None
    features: tuple[FeatureAudit, ...]
    thresholds: LeakageSpec

    @property
    def suspects(self) -> tuple[FeatureAudit, ...]:
        return tuple(feature for feature in self.features if feature.reasons)

    def as_dict(self) -> dict[str, Any]:
        """JSON form kept in the segment's record and logged to MLflow."""
        return {"schema_version": SCHEMA_VERSION, "holdout_auc": self.holdout_auc,
                "refit_auc": self.refit_auc,
                "thresholds": self.thresholds.model_dump(), "features": [asdict(f) | {"reasons": list(f.reasons)} for f in self.features],
                "suspects": [f.feature for f in self.suspects]}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> LeakageAudit:
        """Read the stored form (`as_dict()`); ValueError for an audit of another schema version."""
        if document.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"leakage audit has schema_version {document.get('schema_version')!r}, this ml_assets "
                             f"reads schema_version {SCHEMA_VERSION}")
        features = tuple(FeatureAudit(f["feature"], f["univariate_auc"], f["gain_share"], f["drop_cost"],
                                      tuple(f["reasons"])) for f in document["features"])
        return cls(document["holdout_auc"], document["refit_auc"], features,
                   LeakageSpec.model_validate(document["thresholds"]))


def oriented_auc(target: np.ndarray, score: np.ndarray) -> float:
    """max(AUC, 1 - AUC) of a score on the rows where it is present; NaN unless both classes remain."""
    from sklearn.metrics import roc_auc_score  # the model record reads audits where no audit runs (`ml-assets models`)

    target, score = np.asarray(target, dtype="float64"), np.asarray(score, dtype="float64")
    present = ~np.isnan(score)
    if len(np.unique(target[present])) < 2:
        return float("nan")
    auc = float(roc_auc_score(target[present], score[present]))
    return max(auc, 1.0 - auc)


def target_rate_encoding(train_values: pd.Series, train_target: np.ndarray, values: pd.Series) -> np.ndarray:
    """Each value's target rate on the training rows; values unseen there, and missing ones, get the overall rate."""
    train_target = np.asarray(train_target, dtype="float64")
    rates = pd.Series(train_target).groupby(train_values.astype(object).to_numpy(), dropna=True).mean()
    encoded = values.astype(object).map(rates).astype("float64")
    return encoded.fillna(float(train_target.mean())).to_numpy()


def univariate_auc(column: str, train: pd.DataFrame, train_target: np.ndarray, holdout: pd.DataFrame,
                   holdout_target: np.ndarray, categorical: list[str]) -> float:
    """The feature's own oriented holdout AUC (categoricals through their training target rates)."""
    if column in categorical:
        score = target_rate_encoding(train[column], train_target, holdout[column])
    else:
        score = holdout[column].to_numpy(dtype="float64")
    return oriented_auc(holdout_target, score)


def gain_shares(gains: pd.Series) -> pd.Series:
    """Each feature's share of the booster's total gain (zeros when it made no split)."""
    total = float(gains.sum())
    return gains / total if total > 0 else gains * 0.0


def reasons_of(auc: float, share: float, cost: float | None, spec: LeakageSpec) -> tuple[str, ...]:
    """The thresholds a feature crosses, each with its figure."""
    reasons = []
    if auc >= spec.univariate_auc:
        reasons.append(f"univariate AUC {auc:.3f} >= {spec.univariate_auc}")
    if cost is not None and cost >= spec.drop_cost:
        reasons.append(f"dropping it costs {cost:.3f} AUC >= {spec.drop_cost}")
    if share > spec.gain_share:
        reasons.append(f"{share:.0%} of total gain > {spec.gain_share:.0%}")
    return tuple(reasons)


def audit_leakage(train: pd.DataFrame, train_target: np.ndarray, holdout: pd.DataFrame, holdout_target: np.ndarray,
                  holdout_scores: np.ndarray, gains: pd.Series, categorical: list[str], spec: LeakageSpec,
                  refit: Refit | None) -> LeakageAudit:
    """Audit every feature of `train`/`holdout` (model matrices) against the model's raw holdout scores and gains;
    drop costs for the `spec.refit_top` features with most gain, by `refit` against its refit of every column (None:
    no drop costs)."""
    from sklearn.metrics import roc_auc_score

    columns = list(train.columns)
    shares = gain_shares(gains.reindex(columns, fill_value=0.0)).sort_values(ascending=False, kind="stable")
    holdout_auc = float(roc_auc_score(holdout_target, holdout_scores))
    refitted = [c for c in shares.index[:spec.refit_top] if shares[c] > 0] if refit and len(columns) > 1 else []
    refit_auc = float(roc_auc_score(holdout_target, refit(columns))) if refitted else None
    costs = {c: refit_auc - float(roc_auc_score(holdout_target, refit([k for k in columns if k != c])))
             for c in refitted}
    features = []
    for column in shares.index:
        auc = univariate_auc(column, train, train_target, holdout, holdout_target, categorical)
        cost = costs.get(column)
        features.append(FeatureAudit(column, auc, float(shares[column]), cost,
                                     reasons_of(auc, float(shares[column]), cost, spec)))
    return LeakageAudit(holdout_auc, refit_auc, tuple(features), spec)


def audit_table(audit: LeakageAudit) -> pd.DataFrame:
    """The audit as a table: feature, univariate AUC, gain share, drop cost, why it is suspect."""
    rows = [{"feature": f.feature, "univariate_auc": f.univariate_auc, "gain_share": f.gain_share,
             "drop_cost": f.drop_cost, "suspect": "; ".join(f.reasons) or "-"} for f in audit.features]
    return pd.DataFrame(rows).round(4)


def audit_markdown(audit: LeakageAudit) -> str:
    """The audit as the asset page shows it: the holdout AUC, then the table."""
    return f"holdout AUC {audit.holdout_auc:.4f}\n\n{audit_table(audit).to_markdown(index=False)}"


def named_suspects(audit: LeakageAudit) -> str:
    """Every suspect of an audit with the thresholds it crosses, or 'none'."""
    return "; ".join(f"{f.feature}: {', '.join(f.reasons)}" for f in audit.suspects) or "none"
