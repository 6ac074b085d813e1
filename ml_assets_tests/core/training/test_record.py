"""The records of a trained segment: the scoring metadata stored with a model version (a JSON round trip, documents
of other schema versions refused) and segment_model's records read back as their type."""

import json
from datetime import date

import pytest

from ml_assets.core.data.fingerprint import data_fingerprint
from ml_assets.core.training.record import (
    SCHEMA_VERSION,
    ScoringMeta,
    SegmentModel,
    TrainingWindow,
    UnknownSchemaVersion,
    model_record,
    untrained_segment,
)
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


def test_segment_model_documents_read_back_as_the_record_that_wrote_them(domestic_fit) -> None:
    """A stored segment_model value is a ModelRecord or an UntrainedSegment; each reads back equal through
    SegmentModel.from_document after a JSON round trip."""
    spec, frame, fit = domestic_fit
    fingerprint = data_fingerprint(frame, spec.dataset.date, spec.dataset.target)
    trained = model_record(fit, "domestic", "m-domestic", fingerprint, None, (True, "first version"), None, "xgboost")
    untrained = untrained_segment(spec.dataset, "industrial", "m-industrial")
    for value in (trained, untrained):
        read = SegmentModel.from_document(json.loads(json.dumps(value.to_document())))
        assert type(read) is type(value) and read == value
    assert trained.window == TrainingWindow(date.fromisoformat(fingerprint.first), date.fromisoformat(fingerprint.last))
    assert untrained.to_document() == {"segment": "industrial", "model_name": "m-industrial", "version": None,
                                       "promoted": False, "reason": untrained.reason}
    assert f"dataset.segments.industrial ({spec.dataset.segments['industrial']})" in untrained.reason
