"""Records of a trained segment, typed and versioned: the scoring metadata stored with every registered model
version (scoring_meta.json) and the model record segment_model stores in the lake.

Scoring, explanations, similar customers and monitoring read a version only through `ScoringMeta`, so a field
renamed here is caught by the type checker and the tests, and a file of another schema version is refused when
it is read, not halfway through a run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from ml_assets.core.data.fingerprint import DataFingerprint
from ml_assets.core.training.calibration import Calibration, load_calibration
from ml_assets.core.training.comparison import AucComparison
from ml_assets.core.training.tuning import TuningSummary

if TYPE_CHECKING:  # the record is read where no booster is trained (the registry, `ml-assets models`)
    from ml_assets.core.training.modeling import SegmentFit
    from ml_assets.spec import DatasetSpec

SCHEMA_VERSION = 1
"""Version of scoring_meta.json this code writes and reads; bump it when a field changes meaning or name."""


CV_METRICS = ("roc_auc", "log_loss")


class UnknownSchemaVersion(ValueError):
    """A stored scoring_meta.json of a schema version this code does not read."""

    def __init__(self, found: object) -> None:
        self.found = found
        super().__init__(f"has schema_version {found!r}, this ml_assets reads schema_version {SCHEMA_VERSION}")


@dataclass(frozen=True)
class TrainingWindow:
    """First and last record date a model version was trained on (its holdout included)."""

    first: date
    last: date

    def overlaps(self, first: date, last: date) -> bool:
        """True when any day of first..last lies inside the window."""
        return first <= self.last and last >= self.first

    @classmethod
    def of(cls, fingerprint: DataFingerprint) -> TrainingWindow:
        """The window of a (non-empty) training set: its first and last record date."""
        return cls(date.fromisoformat(fingerprint.first), date.fromisoformat(fingerprint.last))


@dataclass(frozen=True)
class ScoringMeta:
    """What scoring needs to reproduce a version's inputs and calibrated scores, and what monitoring reads of its
    training: segment, window, data hash and holdout metrics."""

    segment: str
    feature_names: list[str]
    vocabulary: dict[str, list[str]]
    best_iteration: int
    calibration: Calibration
    cutpoints: list[float]
    holdout_metrics: dict[str, float]
    window: TrainingWindow
    data_hash: str

    def to_document(self) -> dict[str, Any]:
        """The JSON document logged as scoring_meta.json (no pickle), with its schema version."""
        return {"schema_version": SCHEMA_VERSION, "segment": self.segment, "feature_names": self.feature_names,
                "vocabulary": self.vocabulary, "best_iteration": self.best_iteration,
                "calibration": self.calibration.as_dict(), "cutpoints": self.cutpoints,
                "holdout_metrics": self.holdout_metrics,
                "window": {"first": self.window.first.isoformat(), "last": self.window.last.isoformat()},
                "data_hash": self.data_hash}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> ScoringMeta:
        """Read a scoring_meta.json document; UnknownSchemaVersion for another schema version, KeyError or
        ValueError for a document that does not hold the fields of its version."""
        if document.get("schema_version") != SCHEMA_VERSION:
            raise UnknownSchemaVersion(document.get("schema_version"))
        window = document["window"]
        return cls(segment=str(document["segment"]), feature_names=list(document["feature_names"]),
                   vocabulary={str(k): list(v) for k, v in document["vocabulary"].items()},
                   best_iteration=int(document["best_iteration"]),
                   calibration=load_calibration(document["calibration"]),
                   cutpoints=[float(c) for c in document["cutpoints"]],
                   holdout_metrics={str(k): float(v) for k, v in document["holdout_metrics"].items()},
                   window=TrainingWindow(date.fromisoformat(window["first"]), date.fromisoformat(window["last"])),
                   data_hash=str(document["data_hash"]))


def scoring_meta(fit: SegmentFit, segment: str, window: TrainingWindow, data_hash: str) -> ScoringMeta:
    """The scoring metadata of a segment's fit, trained on `window` of data hashing to `data_hash`."""
    model = fit.model
    return ScoringMeta(segment=segment, feature_names=list(model.feature_names), vocabulary=model.vocabulary,
                       best_iteration=model.best_iteration, calibration=model.calibration,
                       cutpoints=[float(c) for c in fit.cutpoints], holdout_metrics=dict(fit.metrics),
                       window=window, data_hash=data_hash)


@dataclass(frozen=True)
class FoldMetrics:
    """ROC AUC and log loss of one fold's held-out rows."""

    roc_auc: float
    log_loss: float


@dataclass(frozen=True)
class CrossValidation:
    """Mean and standard deviation of each CV_METRICS over the folds, and every fold's figures."""

    folds: int
    roc_auc_mean: float
    roc_auc_std: float
    log_loss_mean: float
    log_loss_std: float
    per_fold: tuple[FoldMetrics, ...]

    def summary(self) -> dict[str, float]:
        """`<metric>_mean` and `<metric>_std` of every CV metric (what the run logs as cv_ metrics)."""
        return {f"{name}_{stat}": getattr(self, f"{name}_{stat}") for name in CV_METRICS for stat in ("mean", "std")}

    def as_dict(self) -> dict[str, Any]:
        """JSON form kept in the model record and logged as cross_validation.json."""
        return {"folds": self.folds, **self.summary(), "per_fold": [asdict(fold) for fold in self.per_fold]}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> CrossValidation:
        """Read the stored form (`as_dict()`)."""
        return cls(int(document["folds"]), *(float(document[f"{name}_{stat}"]) for name in CV_METRICS
                                             for stat in ("mean", "std")),
                   tuple(FoldMetrics(float(f["roc_auc"]), float(f["log_loss"])) for f in document["per_fold"]))


@dataclass(frozen=True)
class ImbalanceStatement:
    """How class imbalance was handled: the method, the booster rows' positive rate, the scale_pos_weight given
    to XGBoost and the baseline's class weight (None when not used)."""

    method: str
    positive_rate: float
    scale_pos_weight: float | None
    baseline_class_weight: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON form kept in the model record."""
        return asdict(self)

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> ImbalanceStatement:
        """Read the stored form (`as_dict()`)."""
        return cls(str(document["method"]), float(document["positive_rate"]), document["scale_pos_weight"],
                   document["baseline_class_weight"])


class SegmentModel:
    """What segment_model stores of one segment: a ModelRecord, or an UntrainedSegment saying why there is none."""

    segment: str
    model_name: str
    reason: str

    @staticmethod
    def from_document(document: dict[str, Any]) -> ModelRecord | UntrainedSegment:
        """Read a stored segment_model record: an untrained segment's document holds no schema_version."""
        return UntrainedSegment.from_document(document) if "schema_version" not in document \
            else ModelRecord.from_document(document)


@dataclass(frozen=True)
class UntrainedSegment(SegmentModel):
    """A segment with no rows in the training window: no version, and the reason it was not trained."""

    segment: str
    model_name: str
    reason: str

    def to_document(self) -> dict[str, Any]:
        """The JSON document stored in the lake (no version, never promoted)."""
        return {"segment": self.segment, "model_name": self.model_name, "version": None, "promoted": False,
                "reason": self.reason}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> UntrainedSegment:
        """Read the stored form (`to_document()`)."""
        return cls(str(document["segment"]), str(document["model_name"]), str(document["reason"]))


def untrained_segment(dataset: DatasetSpec, segment: str, model_name: str) -> UntrainedSegment:
    """A segment none of whose dataset.segments values occurs in the training window, with what to do."""
    values = dataset.segments[segment]
    return UntrainedSegment(segment, model_name, (
        f"no rows in the training window: no {dataset.segment} value of dataset.segments.{segment} ({values}) "
        "occurs there; not trained. Fix dataset.segments (values are matched exactly) or ingest days holding the "
        "segment"))


@dataclass(frozen=True)
class ModelRecord(SegmentModel):
    """What segment_model stores of one trained segment (its lake record.json): the gate's verdict, the fit's
    holdout figures, calibration, data window and the champion it was compared with, then the registered version
    and its run (None until registered)."""

    segment: str
    model_name: str
    promoted: bool
    reason: str
    metrics: dict[str, float]
    raw_metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    imbalance: ImbalanceStatement
    calibration: Calibration
    params: dict[str, Any]  # XGBoost params by XGBoost's own names: XGBoost's contract, kept as its mapping
    window: TrainingWindow
    data_hash: str
    fingerprint: DataFingerprint
    tuning: TuningSummary | None
    cv: CrossValidation | None
    gate: AucComparison | None
    previous_champion: str | None
    trained_with: str
    version: str | None = None
    run_id: str | None = None

    def to_document(self) -> dict[str, Any]:
        """The JSON document stored in the lake, with its schema version (keys as `ml-assets` and tests read them)."""
        return {"schema_version": SCHEMA_VERSION, "segment": self.segment, "model_name": self.model_name,
                "promoted": self.promoted, "reason": self.reason, "metrics": self.metrics,
                "raw_metrics": self.raw_metrics, "baseline_metrics": self.baseline_metrics,
                "imbalance": self.imbalance.as_dict(), "calibration": self.calibration.as_dict(), "params": self.params,
                "window": {"first": self.window.first.isoformat(), "last": self.window.last.isoformat(),
                           "fingerprint": self.data_hash, "data": self.fingerprint.as_dict()},
                "tuning": self.tuning.as_dict() if self.tuning else None, "cv": self.cv.as_dict() if self.cv else None,
                "gate": self.gate.as_dict() if self.gate else None,
                "previous_champion": self.previous_champion,
                "previous_champion_auc": self.gate.champion_auc if self.gate else None,
                "trained_with": self.trained_with, "version": self.version, "run_id": self.run_id}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> ModelRecord:
        """Read a stored model record; UnknownSchemaVersion for another schema version."""
        if document.get("schema_version") != SCHEMA_VERSION:
            raise UnknownSchemaVersion(document.get("schema_version"))
        window, gate = document["window"], document["gate"]
        return cls(segment=document["segment"], model_name=document["model_name"], promoted=document["promoted"],
                   reason=document["reason"], metrics=document["metrics"], raw_metrics=document["raw_metrics"],
                   baseline_metrics=document["baseline_metrics"],
                   imbalance=ImbalanceStatement.from_dict(document["imbalance"]),
                   calibration=load_calibration(document["calibration"]), params=document["params"],
                   window=TrainingWindow(date.fromisoformat(window["first"]), date.fromisoformat(window["last"])),
                   data_hash=window["fingerprint"], fingerprint=DataFingerprint.from_dict(window["data"]),
                   tuning=TuningSummary.from_dict(document["tuning"]) if document["tuning"] else None,
                   cv=CrossValidation.from_dict(document["cv"]) if document["cv"] else None,
                   gate=AucComparison(**gate) if gate else None,
                   previous_champion=document["previous_champion"], trained_with=document["trained_with"],
                   version=document["version"], run_id=document["run_id"])


def model_record(fit: SegmentFit, segment: str, model_name: str, fingerprint: DataFingerprint,
                 gate: AucComparison | None, verdict: tuple[bool, str], previous_champion: str | None,
                 trained_with: str) -> ModelRecord:
    """A segment's model record before registration: its fit, its data, the gate's verdict and the champion it
    was compared with."""
    promote, reason = verdict
    return ModelRecord(segment=segment, model_name=model_name, promoted=promote, reason=reason, metrics=fit.metrics,
                       raw_metrics=fit.raw_metrics, baseline_metrics=fit.baseline_metrics, imbalance=fit.imbalance,
                       calibration=fit.model.calibration, params=fit.model.params,
                       window=TrainingWindow.of(fingerprint), data_hash=fingerprint.hash, fingerprint=fingerprint,
                       tuning=fit.tuning.summary() if fit.tuning else None, cv=fit.cv, gate=gate,
                       previous_champion=previous_champion, trained_with=trained_with)
