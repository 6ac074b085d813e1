"""Fixtures of the core tests: a small fitted model for the scoring explanations."""

from datetime import date

import pandas as pd
import pytest

from ml_assets.core.data.features import SEGMENT_COLUMN, build_features
from ml_assets.core.data.synthetic import generate_invoices
from ml_assets.core.training import record
from ml_assets.core.training.modeling import SegmentFit, fit_segment
from ml_assets.core.training.record import ScoringMeta, TrainingWindow
from ml_assets.spec import PipelineSpec
from ml_assets_tests.conftest import make_spec


@pytest.fixture(scope="session")
def domestic_fit(tmp_path_factory: pytest.TempPathFactory) -> tuple[PipelineSpec, pd.DataFrame, SegmentFit]:
    """The demo config, three months of domestic features (1,500 customers) and a model fitted on them."""
    spec = make_spec(tmp_path_factory.mktemp("explain"), training={"window_days": 60, "holdout_days": 14})
    features = build_features(generate_invoices(1500, date(2024, 1, 1), date(2024, 3, 31), seed=5), spec.dataset,
                              spec.features)
    frame = features[features[SEGMENT_COLUMN] == "domestic"].reset_index(drop=True)
    return spec, frame, fit_segment(frame, spec.training_sections(), "domestic")


def scoring_meta(fit: SegmentFit) -> ScoringMeta:
    """The scoring metadata segment_model logs, from a fit (window: the fixture's training dates)."""
    return record.scoring_meta(fit, "domestic", TrainingWindow(date(2024, 1, 1), date(2024, 3, 31)), "fixture")


def with_scoring(spec: PipelineSpec, **scoring: dict) -> PipelineSpec:
    """The spec with some scoring sections replaced."""
    return spec.model_copy(update={"scoring": spec.scoring.model_copy(update={
        name: getattr(spec.scoring, name).model_copy(update=values) for name, values in scoring.items()})})
