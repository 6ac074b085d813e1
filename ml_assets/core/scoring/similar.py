"""Similar past customers: the labeled training-window rows nearest to a scored row in the model's
contribution space, i.e. customers the model saw as risky for the same reasons.

The labeled rows and their contributions are computed once per model version at training time and logged
with it as parquet (`reference_contributions`); scoring builds a NearestNeighbors index from them and queries
it with contributions of the same method, which the reference file names (`CONTRIBUTIONS_ATTR`): Saabas
contributions (approx_contribs, the method of the default reason codes), much cheaper than exact TreeSHAP.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.neighbors import NearestNeighbors

from ml_assets.core.data.features import model_matrix
from ml_assets.core.scoring.explain import contributions
from ml_assets.core.sections import ScoringSections
from ml_assets.core.training.modeling import TrainedModel
from ml_assets.core.training.record import ScoringMeta
from ml_assets.spec import DatasetSpec, SimilarCustomersSpec

CONTRIBUTION_PREFIX = "contribution__"
SIMILAR_COLUMNS = ["similar_customers", "similar_default_rate"]
CONTRIBUTIONS_ATTR = "contributions"
"""Key of the reference frame's attrs (kept in the parquet file's metadata) naming its contribution method."""
REFERENCE_METHOD = "approx"
"""Contribution method of the references logged: 'approx' (Saabas) or 'exact' (TreeSHAP)."""
METHODS = ("approx", "exact")


def reference_contributions(frame: pd.DataFrame, model: TrainedModel, spec: ScoringSections,
                            seed: int = 0) -> pd.DataFrame:
    """Up to scoring.similar_customers.index_rows labeled rows of a training window: id, date, target and the
    model's contributions (one `contribution__<feature>` column per feature) by REFERENCE_METHOD, which the
    frame's attrs name (to_parquet keeps them)."""
    ds = spec.dataset
    sample = frame.sample(n=min(len(frame), spec.scoring.similar_customers.index_rows), random_state=seed)
    matrix = model_matrix(sample, spec.features, model.vocabulary)
    values = contributions(model.booster, matrix, model.best_iteration,
                           approximate=REFERENCE_METHOD == "approx").astype("float32")
    keys = sample[[ds.id, ds.date, ds.target]].reset_index(drop=True)
    reference = pd.concat([keys, pd.DataFrame(values, columns=[CONTRIBUTION_PREFIX + c for c in matrix.columns])],
                          axis=1)
    reference.attrs[CONTRIBUTIONS_ATTR] = REFERENCE_METHOD
    return reference


def reference_method(reference: pd.DataFrame) -> str:
    """The contribution method a logged reference names (its parquet metadata)."""
    method = reference.attrs.get(CONTRIBUTIONS_ATTR)
    if method not in METHODS:
        raise ValueError(f"the similar-customer reference names contribution method {method!r}, not one of "
                         f"{list(METHODS)}; retrain the segment")
    return method


@dataclass(frozen=True)
class SimilarIndex:
    """Nearest-neighbour search over a model version's labeled reference rows, in the space of contributions by
    `method` (queries must use the same)."""

    search: NearestNeighbors
    keys: pd.DataFrame
    features: list[str]
    method: str


def build_index(reference: pd.DataFrame, ds: DatasetSpec, similar: SimilarCustomersSpec) -> SimilarIndex:
    """A NearestNeighbors index (Euclidean, k = scoring.similar_customers.k) over the reference contributions."""
    columns = [c for c in reference.columns if c.startswith(CONTRIBUTION_PREFIX)]
    k = min(similar.k, len(reference))
    search = NearestNeighbors(n_neighbors=k).fit(reference[columns].to_numpy(dtype="float32"))
    return SimilarIndex(search, reference[[ds.id, ds.date, ds.target]],
                        [c.removeprefix(CONTRIBUTION_PREFIX) for c in columns], reference_method(reference))


def top_rows_per_day(scores: np.ndarray, days: pd.Series, n: int) -> np.ndarray:
    """Sorted positions of the `n` highest scores of each day (ties: the earlier row)."""
    day_codes = pd.factorize(days)[0]
    by_day = np.argsort(day_codes, kind="stable")  # rows of a day stay in row order
    bounds = np.flatnonzero(np.diff(day_codes[by_day])) + 1
    chosen = [_top_rows(rows, np.asarray(scores, dtype="float64")[rows], n) for rows in np.split(by_day, bounds)]
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype="int64")


def _top_rows(rows: np.ndarray, scores: np.ndarray, n: int) -> np.ndarray:
    """The `n` of `rows` (ascending positions) with the highest `scores`; among equal scores the earlier rows."""
    if len(rows) <= n:
        return rows
    threshold = -np.partition(-scores, n - 1)[n - 1]
    above = rows[scores > threshold]
    return np.concatenate([above, rows[scores == threshold][: n - len(above)]])


def describe_neighbours(keys: pd.DataFrame, neighbours: np.ndarray, ds: DatasetSpec) -> tuple[list[str], np.ndarray]:
    """Per queried row, its neighbours as 'id (date): target=value; ...' and their mean target."""
    used = np.unique(neighbours)
    picked = keys.iloc[used]
    dates = pd.to_datetime(picked[ds.date]).dt.strftime("%Y-%m-%d")
    targets = keys[ds.target].to_numpy(dtype="float64")
    text = dict(zip(used, [f"{i} ({d}): {ds.target}={t:g}" for i, d, t in
                           zip(picked[ds.id], dates, picked[ds.target].to_numpy(dtype="float64"))]))
    return ["; ".join(text[j] for j in row) for row in neighbours], targets[neighbours].mean(axis=1)


def similar_frame(rows: pd.DataFrame, scores: np.ndarray, booster: xgb.Booster, meta: ScoringMeta,
                  spec: ScoringSections, index: SimilarIndex | None) -> pd.DataFrame:
    """similar_customers and similar_default_rate of one segment's rows (same order): the k nearest labeled
    training rows of the scoring.similar_customers.top_n highest scores per day, null for the other rows."""
    top_n = spec.scoring.similar_customers.top_n if index is not None else 0
    chosen = top_rows_per_day(scores, rows[spec.dataset.date], top_n) if top_n else np.zeros(0, dtype="int64")
    texts, rates = np.full(len(rows), None, dtype=object), np.full(len(rows), np.nan)
    if len(chosen):
        matrix = model_matrix(rows.iloc[chosen], spec.features, meta.vocabulary)
        if list(matrix.columns) != index.features:
            raise ValueError(f"the similar-customer index was logged for features {index.features} but the model "
                             f"scores {list(matrix.columns)}; retrain the segment")
        query = contributions(booster, matrix, meta.best_iteration, approximate=index.method == "approx")
        texts[chosen], rates[chosen] = describe_neighbours(
            index.keys, index.search.kneighbors(query, return_distance=False), spec.dataset)
    return pd.DataFrame({"similar_customers": texts, "similar_default_rate": rates})
