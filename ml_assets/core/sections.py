"""Typed bundles of the spec sections a core step reads when it needs more than one: training a segment and
scoring a day. Core functions take these (or a single section), never the whole pipeline config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # spec.py builds these records, so the section types are only named here
    from ml_assets.spec import ClusteringSpec, DatasetSpec, FeaturesSpec, ModelSpec, ScoringSpec, TrainingSpec


@dataclass(frozen=True)
class TrainingSections:
    """The spec sections a segment's training reads, and the clustering quantiles its stored cut-points cut at."""

    dataset: DatasetSpec
    features: FeaturesSpec
    model: ModelSpec
    training: TrainingSpec
    quantiles: list[float]


@dataclass(frozen=True)
class ScoringSections:
    """The spec sections daily scoring reads: the dataset's key columns, the model features, the clustering
    columns kept beside the score and the scoring section (explanations, report columns)."""

    dataset: DatasetSpec
    features: FeaturesSpec
    clustering: ClusteringSpec
    scoring: ScoringSpec
