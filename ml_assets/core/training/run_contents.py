"""What a segment's MLflow run and its registered version record, as MLflow's flat mappings: the run's tags
(config, commit, Dagster run), params and metrics, and the version's tags `ml-assets models` lists."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from ml_assets.core.data.fingerprint import DataFingerprint
from ml_assets.core.sections import TrainingSections
from ml_assets.core.training.comparison import AucComparison
from ml_assets.core.training.modeling import SegmentFit
from ml_assets.core.training.record import ModelRecord

LIST_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "ks")
RAW_METRICS = ("log_loss", "brier", "ece")
GATE_TAGS = ("p_value", "margin", "delta", "ci_low", "champion_auc")


def git_commit(folder: Path) -> str:
    """Commit of the repository holding the config, or 'unknown' outside git."""
    result = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def run_tags(pipeline: str, config_hash: str, config_dir: Path, dagster_run_id: str) -> dict[str, str]:
    """Tags of every segment run and version of a training run: the config, its commit, the Dagster run."""
    return {"config_hash": config_hash, "git_commit": git_commit(config_dir), "dagster_run_id": dagster_run_id,
            "pipeline": pipeline}


def run_params(fit: SegmentFit, sections: TrainingSections, fingerprint: DataFingerprint) -> dict[str, Any]:
    """MLflow params of a segment run: the booster's params and how it was trained."""
    model, training = fit.model, sections.training
    return {**model.params, "best_iteration": model.best_iteration, "train_rows": fit.train_rows,
            "window_first": fingerprint.first, "window_last": fingerprint.last, "data_hash": fingerprint.hash,
            "imbalance": fit.imbalance.method, "train_positive_rate": round(fit.imbalance.positive_rate, 4),
            "calibration_requested": sections.model.calibration, "calibration": model.calibration.method,
            "calibration_folds": training.calibration_folds, "cv_folds": training.cv_folds,
            "tuning": sections.model.tuning.enabled}


def run_metrics(fit: SegmentFit, comparison: AucComparison | None) -> dict[str, float]:
    """MLflow metrics of a segment run: holdout (calibrated and raw), baseline, CV, tuning and the gate."""
    metrics = {f"holdout_{name}": value for name, value in fit.metrics.items()}
    metrics |= {f"holdout_raw_{name}": fit.raw_metrics[name] for name in RAW_METRICS}
    metrics |= {f"calibration_selection_log_loss_{method}": loss
                for method, loss in fit.model.calibration.selection_log_loss.items()}
    metrics |= {f"baseline_holdout_{name}": value for name, value in fit.baseline_metrics.items()}
    if fit.cv:
        metrics |= {f"cv_{name}": value for name, value in fit.cv.summary().items()}
    if fit.tuning:
        metrics |= {"tuning_best_validation_auc": fit.tuning.best_validation_auc,
                    "tuning_trials": len(fit.tuning.trials)}
    if comparison:
        metrics |= {f"gate_{name}": value for name, value in comparison.as_dict().items()}
    return metrics


def version_tags(record: ModelRecord, tags: dict[str, str]) -> dict[str, Any]:
    """Model-version tags `ml-assets models` lists: run, window, data, key metrics and the gate's verdict."""
    gate = {f"gate_{name}": round(getattr(record.gate, name), 4) for name in GATE_TAGS} if record.gate else {}
    baseline = record.baseline_metrics
    return {**tags, "segment": record.segment, "window_first": record.window.first.isoformat(),
            "window_last": record.window.last.isoformat(), "data_hash": record.data_hash,
            **{f"holdout_{name}": round(record.metrics[name], 4) for name in LIST_METRICS},
            **{f"holdout_raw_{name}": round(record.raw_metrics[name], 4) for name in RAW_METRICS},
            "calibration": record.calibration.method, "calibration_reason": record.calibration.reason,
            **({"baseline_roc_auc": round(baseline["roc_auc"], 4)} if baseline else {}),
            "gate_promoted": record.promoted, **gate, "gate_reason": record.reason}
