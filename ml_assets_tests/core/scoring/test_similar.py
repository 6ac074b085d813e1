"""Similar past customers: top rows per day, the contribution-space index and the readable neighbour list."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from ml_assets.core.data.features import model_matrix
from ml_assets.core.scoring.explain import contributions
from ml_assets.core.scoring.similar import (
    CONTRIBUTION_PREFIX,
    CONTRIBUTIONS_ATTR,
    REFERENCE_METHOD,
    build_index,
    describe_neighbours,
    reference_contributions,
    similar_frame,
    top_rows_per_day,
)
from ml_assets_tests.core.conftest import scoring_meta, with_scoring


def test_top_rows_per_day_takes_the_highest_scores_of_each_day():
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.7, 0.2, 0.3])
    days = pd.Series(pd.to_datetime(["2024-01-02", "2024-01-01", "2024-01-02", "2024-01-02", "2024-01-02",
                                     "2024-01-01", "2024-01-03"]))
    assert top_rows_per_day(scores, days, 2).tolist() == [1, 3, 4, 5, 6]  # day 3 has one row; ties: earlier row
    assert top_rows_per_day(scores, days, 1).tolist() == [1, 3, 6]


def test_describe_neighbours_lists_ids_dates_outcomes_and_their_rate(domestic_fit):
    spec = domestic_fit[0]
    keys = pd.DataFrame({"invoice_id": [11, 12, 13], "invoice_date": pd.to_datetime(["2024-01-05"] * 3),
                         "defaulted": [1, 0, 1]})
    texts, rates = describe_neighbours(keys, np.array([[0, 1], [2, 0]]), spec.dataset)
    assert texts == ["11 (2024-01-05): defaulted=1; 12 (2024-01-05): defaulted=0",
                     "13 (2024-01-05): defaulted=1; 11 (2024-01-05): defaulted=1"]
    assert rates.tolist() == [0.5, 1.0]


@pytest.fixture(scope="module")
def reference(domestic_fit) -> pd.DataFrame:
    spec, frame, fit = domestic_fit
    sections = with_scoring(spec, similar_customers={"index_rows": 500}).scoring_sections()
    return reference_contributions(frame, fit.model, sections)


def test_reference_holds_labeled_rows_and_their_contributions(domestic_fit, reference):
    spec, frame, _ = domestic_fit
    ds = spec.dataset
    assert len(reference) == 500
    assert list(reference.columns[:3]) == [ds.id, ds.date, ds.target]
    assert [c.removeprefix(CONTRIBUTION_PREFIX) for c in reference.columns[3:]] == spec.feature_columns()
    assert set(reference[ds.id]) <= set(frame[ds.id]) and reference[ds.target].isin([0, 1]).all()


def test_similar_frame_finds_the_row_itself_among_the_labeled_rows(domestic_fit, reference):
    spec, frame, fit = domestic_fit
    spec = with_scoring(spec, similar_customers={"top_n": 2, "k": 3})
    rows = frame[frame[spec.dataset.id].isin(reference[spec.dataset.id])].head(60).reset_index(drop=True)
    matrix = model_matrix(rows, spec.features, fit.model.vocabulary)
    scores = np.asarray(fit.model.booster.predict(xgb.DMatrix(matrix, enable_categorical=True)), dtype="float64")
    similar = similar_frame(rows, scores, fit.model.booster, scoring_meta(fit), spec.scoring_sections(),
                            build_index(reference, spec.dataset, spec.scoring.similar_customers))
    chosen = similar["similar_customers"].notna().to_numpy()
    expected = top_rows_per_day(scores, rows[spec.dataset.date], 2)
    assert np.flatnonzero(chosen).tolist() == expected.tolist()
    columns = [c for c in reference.columns if c.startswith(CONTRIBUTION_PREFIX)]
    vectors = reference.set_index(spec.dataset.id)[columns]
    for row, text in zip(rows[chosen].itertuples(), similar.loc[chosen, "similar_customers"]):
        neighbours = text.split("; ")
        assert len(neighbours) == 3
        nearest = int(neighbours[0].split(" (")[0])
        # a labeled row is its own nearest neighbour, up to rows with the very same contributions (ties)
        assert np.array_equal(vectors.loc[nearest].to_numpy(), vectors.loc[row.invoice_id].to_numpy())
    assert similar.loc[chosen, "similar_default_rate"].between(0, 1).all()
    assert similar.loc[~chosen, "similar_default_rate"].isna().all()


def test_similar_frame_without_index_or_with_other_features(domestic_fit, reference):
    spec, frame, fit = domestic_fit
    rows = frame.head(20).reset_index(drop=True)
    scores = np.linspace(0, 1, len(rows))
    unindexed = similar_frame(rows, scores, fit.model.booster, scoring_meta(fit), spec.scoring_sections(), None)
    assert unindexed.isna().all().all()
    renamed = reference.rename(columns={f"{CONTRIBUTION_PREFIX}amount": f"{CONTRIBUTION_PREFIX}price"})
    other = build_index(renamed, spec.dataset, spec.scoring.similar_customers)
    with pytest.raises(ValueError, match="retrain the segment"):
        similar_frame(rows, scores, fit.model.booster, scoring_meta(fit), spec.scoring_sections(), other)


def test_top_rows_per_day_matches_a_full_sort_on_many_ties():
    generator = np.random.default_rng(3)
    scores = generator.integers(0, 5, 2_000) / 4  # many equal scores
    days = pd.Series(pd.to_datetime("2024-01-01") + pd.to_timedelta(generator.integers(0, 7, 2_000), unit="D"))
    order = np.lexsort((np.arange(len(scores)), -scores, days.to_numpy()))  # by day, score down, row up
    ranked = pd.DataFrame({"day": days.to_numpy()[order], "row": order}).groupby("day").head(30)["row"]
    assert top_rows_per_day(scores, days, 30).tolist() == sorted(ranked)


def test_reference_names_its_contribution_method_and_keeps_it_in_parquet(domestic_fit, reference, tmp_path):
    spec, _, fit = domestic_fit
    assert reference.attrs[CONTRIBUTIONS_ATTR] == REFERENCE_METHOD == "approx"
    path = tmp_path / "similar.parquet"
    reference.to_parquet(path, index=False)
    assert build_index(pd.read_parquet(path), spec.dataset, spec.scoring.similar_customers).method == "approx"
    unnamed = reference.copy()
    unnamed.attrs.clear()
    with pytest.raises(ValueError, match="names contribution method None, not one of .*retrain the segment"):
        build_index(unnamed, spec.dataset, spec.scoring.similar_customers)
    unnamed.attrs[CONTRIBUTIONS_ATTR] = "shapley"
    with pytest.raises(ValueError, match="'shapley'.*retrain the segment"):
        build_index(unnamed, spec.dataset, spec.scoring.similar_customers)


def listed_ids(text: str) -> list[int]:
    """Neighbour ids of a similar_customers text ('id (date): target=value; ...')."""
    return [int(item.split(" (")[0]) for item in text.split("; ")]


@pytest.mark.parametrize("method", ["approx", "exact"])
def test_similar_frame_queries_in_the_space_of_its_reference(domestic_fit, reference, method):
    """Queries use the reference's contribution method, and the neighbours are the true nearest rows there."""
    spec, frame, fit = domestic_fit
    spec = with_scoring(spec, similar_customers={"top_n": 3, "k": 4})
    logged = reference.copy()
    columns = [c for c in logged.columns if c.startswith(CONTRIBUTION_PREFIX)]
    if method == "exact":  # a reference of exact contributions names that method
        keyed = frame.set_index(spec.dataset.id).loc[logged[spec.dataset.id]]
        matrix = model_matrix(keyed, spec.features, fit.model.vocabulary)
        logged[columns] = contributions(fit.model.booster, matrix, fit.model.best_iteration, approximate=False)
        logged.attrs[CONTRIBUTIONS_ATTR] = "exact"
    rows = frame.tail(80).reset_index(drop=True)
    scores = np.linspace(0, 1, len(rows))
    similar = similar_frame(rows, scores, fit.model.booster, scoring_meta(fit), spec.scoring_sections(),
                            build_index(logged, spec.dataset, spec.scoring.similar_customers))
    chosen = np.flatnonzero(similar["similar_customers"].notna().to_numpy())
    query = contributions(fit.model.booster, model_matrix(rows.iloc[chosen], spec.features, fit.model.vocabulary),
                          fit.model.best_iteration, approximate=method == "approx")
    space = logged[columns].to_numpy(dtype="float64")
    ids = logged[spec.dataset.id].to_numpy()
    for position, text in zip(range(len(chosen)), similar["similar_customers"].iloc[chosen]):
        distances = np.linalg.norm(space - query[position], axis=1)
        found = np.array([distances[ids == i].min() for i in listed_ids(text)])
        assert np.allclose(found, np.sort(distances)[:4], rtol=1e-4, atol=1e-6)
