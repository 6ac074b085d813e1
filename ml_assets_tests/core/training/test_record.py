"""The scoring metadata stored with a model version: a JSON round trip, and documents of other schema versions."""

import json

import pytest

from ml_assets.core.training.record import SCHEMA_VERSION, ScoringMeta, UnknownSchemaVersion
from ml_assets_tests.core.conftest import scoring_meta


def test_scoring_meta_round_trips_through_json(domestic_fit) -> None:
    _, _, fit = domestic_fit
    meta = scoring_meta(fit)
    document = json.loads(json.dumps(meta.to_document()))
    assert document["schema_version"] == SCHEMA_VERSION
    assert ScoringMeta.from_document(document) == meta
    assert meta.best_iteration == fit.model.best_iteration and meta.cutpoints == fit.cutpoints


@pytest.mark.parametrize("found", [None, 0, SCHEMA_VERSION + 1, "1"])
def test_other_schema_versions_are_refused(domestic_fit, found) -> None:
    _, _, fit = domestic_fit
    document = scoring_meta(fit).to_document() | {"schema_version": found}
    if found is None:
        del document["schema_version"]
    with pytest.raises(UnknownSchemaVersion, match=f"has schema_version {found!r}, this ml_assets reads "
                                                   f"schema_version {SCHEMA_VERSION}"):
        ScoringMeta.from_document(document)
