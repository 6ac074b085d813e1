"""segment_drift judges only the monitored features: calendar parts are shown, not judged, unless the config
judges them against the same calendar period; the score is always judged."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ml_assets.core.monitoring import drift
from ml_assets.core.monitoring.segment_monitoring import DriftScope, drift_scope, segment_drift
from ml_assets.spec import DriftSpec
from ml_assets_tests.test_spec_drift import calendar_config, load

ROWS = 3_000


def reference_and_current(seed: int = 5) -> tuple[drift.ReferenceProfile, pd.DataFrame, pd.Series]:
    """A reference of weeks 1..17 and a current window of weeks 22..23 with the same amounts: the week drifts by
    construction, nothing else does."""
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame({"amount": rng.lognormal(3, 0.5, ROWS), "week": rng.integers(1, 18, ROWS).astype(float)})
    scores = rng.beta(2, 8, ROWS)
    profile = drift.build_profile(reference.assign(score=scores), ["amount", "week", "score"], [], bins=10)
    current = pd.DataFrame({"amount": rng.lognormal(3, 0.5, 400), "week": rng.integers(22, 24, 400).astype(float)})
    return profile, current, pd.Series(rng.beta(2, 8, 400), name="score")


def test_an_unmonitored_calendar_part_is_shown_but_never_judged() -> None:
    profile, current, scores = reference_and_current()
    scope = DriftScope(("amount", "week"), frozenset({"amount"}), frozenset(), frozenset({"week"}))
    table = segment_drift(profile, current, scores, scope, DriftSpec()).set_index("feature")
    assert table.loc["week", "psi"] > 1 and not table.loc["week", "monitored"] and not table.loc["week", "judged"]
    assert table.loc["week", "severity"] == "none"
    assert table.loc[["amount", "score"], "judged"].all() and table.loc[["amount", "score"], "monitored"].all()
    assert drift.overall_severity(table["severity"]) in ("none", "low"), "the same distributions everywhere else"


def test_a_monitored_calendar_part_is_high_against_the_whole_reference() -> None:
    profile, current, scores = reference_and_current()
    scope = DriftScope(("amount", "week"), frozenset({"amount", "week"}), frozenset(), frozenset({"week"}))
    table = segment_drift(profile, current, scores, scope, DriftSpec()).set_index("feature")
    assert table.loc["week", "judged"] and table.loc["week", "severity"] == "high"


def test_same_period_judges_a_calendar_part_only_where_the_reference_has_that_period() -> None:
    profile, current, scores = reference_and_current()
    scope = DriftScope(("amount", "week"), frozenset({"amount", "week"}), frozenset({"week"}), frozenset({"week"}))
    table = segment_drift(profile, current, scores, scope, DriftSpec()).set_index("feature")
    assert table.loc["week", "ref_rows"] == 0 and not table.loc["week", "judged"], "weeks 22-23 are not in the reference"

    in_period = current.assign(week=np.where(np.arange(400) % 2, 15.0, 16.0))
    table = segment_drift(profile, in_period, scores, scope, DriftSpec()).set_index("feature")
    same_weeks = profile.numeric["week"].sorted_values[np.isin(profile.numeric["week"].sorted_values, [15.0, 16.0])]
    expected = stats.ks_2samp(same_weeks, in_period["week"], method="asymp").statistic
    assert table.loc["week", "judged"] and table.loc["week", "ks_stat"] == pytest.approx(expected, rel=1e-9)
    assert table.loc["week", "severity"] in ("none", "low"), "an even mix of the two weeks, as in the reference"


def test_too_few_current_rows_are_shown_not_judged() -> None:
    profile, current, scores = reference_and_current()
    scope = DriftScope(("amount", "week"), frozenset({"amount"}), frozenset(), frozenset({"week"}))
    table = segment_drift(profile, current.head(50), scores.head(50), scope, DriftSpec(min_rows=200))
    assert not table["judged"].any() and set(table["severity"]) == {"none"}


@pytest.mark.parametrize(("handling", "monitored", "same_period"), [
    ("unmonitored", False, False), ("same_period", True, True), ("drop", False, False)])
def test_the_scope_follows_features_calendar_handling(tmp_path, handling: str, monitored: bool,
                                                      same_period: bool) -> None:
    spec = load(calendar_config(tmp_path, handling), tmp_path)
    scope = drift_scope(spec.features, spec.drift)
    assert ("invoice_month" in scope.features) == (handling != "drop")
    assert ("invoice_month" in scope.monitored, "invoice_month" in scope.same_period) == (monitored, same_period)
    assert "amount" in scope.monitored and "amount" not in scope.same_period
    assert scope.calendar == ({"invoice_month"} if handling != "drop" else set())


@pytest.mark.parametrize("same_period", [frozenset(), frozenset({"week"})])
def test_calendar_values_the_reference_never_held_are_named_with_their_share(same_period: frozenset[str]) -> None:
    profile, current, scores = reference_and_current()
    partly_seen = current.assign(week=np.where(np.arange(400) < 100, 17.0, current["week"]))  # 17 is in weeks 1..17
    scope = DriftScope(("amount", "week"), frozenset({"amount"}) | same_period, same_period, frozenset({"week"}))
    table = segment_drift(profile, partly_seen, scores, scope, DriftSpec()).set_index("feature")
    expected_share = float((~partly_seen["week"].isin(profile.numeric["week"].sorted_values)).mean())
    assert expected_share == 0.75
    assert table.loc["week", "unseen_share"] == expected_share and table.loc["week", "unseen_values"] == "22, 23"
    assert np.isnan(table.loc["amount", "unseen_share"]) and table.loc["amount", "unseen_values"] == ""


def test_unseen_values_of_a_categorical_calendar_part_and_of_an_empty_window() -> None:
    reference = drift.categorical_reference(pd.Series(["March", "April", "May", None]))
    found = drift.unseen_values(reference, pd.Series(["May", "June", "July", "July", None]))
    assert found == drift.UnseenValues(0.75, ("July", "June"))
    assert drift.unseen_values(reference, pd.Series(["April"])) == drift.UnseenValues(0.0, ())
    nothing = drift.unseen_values(drift.numeric_reference(np.array([1.0, 2.0])), pd.Series([np.nan]))
    assert np.isnan(nothing.share) and nothing.values == ()
