"""The references a segment's run logs beside its model: the drift reference (a bounded sample of the training
window with the holdout scores, and its profile) and the labeled rows of similar-customer search."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ml_assets.core.monitoring.drift import ReferenceProfile
from ml_assets.core.monitoring.profile import save_profile
from ml_assets.core.monitoring.segment_monitoring import with_score_reference
from ml_assets.core.scoring.similar import reference_contributions
from ml_assets.core.sections import ScoringSections
from ml_assets.core.training.modeling import SegmentFit
from ml_assets.spec import DriftSpec, FeaturesSpec

REFERENCE_MAX_ROWS = 50_000


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write a frame as parquet, dictionary-encoding all but its float columns (float values rarely repeat, so
    trying a dictionary of them only slows the write)."""
    keep_plain = {column for column, dtype in frame.dtypes.items() if pd.api.types.is_float_dtype(dtype)}
    frame.to_parquet(path, index=False, use_dictionary=[c for c in frame.columns if c not in keep_plain])


def reference_sample(frame: pd.DataFrame, fit: SegmentFit, features: FeaturesSpec) -> pd.DataFrame:
    """Training-window features (bounded sample) plus the holdout scores, the drift reference."""
    sample = frame.sample(n=min(len(frame), REFERENCE_MAX_ROWS), random_state=0)[features.model_columns()]
    scores = pd.Series(fit.holdout_scores, index=fit.holdout.index, name="score")
    return sample.join(scores).reset_index(drop=True)


def write_drift_references(frame: pd.DataFrame, fit: SegmentFit, features: FeaturesSpec, drift: DriftSpec,
                           profile: ReferenceProfile, sample_path: Path, profile_dir: Path) -> None:
    """The drift reference sample (at `sample_path`) and the reference profile (`profile` of the features plus
    the holdout scores, into `profile_dir`)."""
    write_parquet(reference_sample(frame, fit, features), sample_path)
    save_profile(with_score_reference(profile, fit.holdout_scores, drift), profile_dir)


def write_similar_reference(frame: pd.DataFrame, fit: SegmentFit, scoring: ScoringSections, path: Path) -> None:
    """Labeled rows and their contributions for similar-customer search, written at `path`."""
    write_parquet(reference_contributions(frame, fit.model, scoring), path)
