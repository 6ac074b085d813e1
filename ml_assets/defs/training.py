"""training_set, segment_model and model_evaluation: one partition per segment, tracked in MLflow."""

import subprocess
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature

from ml_assets.core import lake, modeling, plots
from ml_assets.core.features import SEGMENT_COLUMN, model_matrix
from ml_assets.core.sources import days_between
from ml_assets.defs.partitions import image_markdown, segment_partitions
from ml_assets.resources.mlflow import (
    CHALLENGER, CHAMPION, META_FILE, PIP_REQUIREMENTS, REFERENCE_FILE, LoadedModel, ModelRegistry)
from ml_assets.resources.storage import DATE_DIMENSION
from ml_assets.spec import PipelineSpec

REFERENCE_MAX_ROWS = 50_000


class TrainingConfig(dg.Config):
    """Run config of training_set."""

    as_of: str | None = None
    """Date (YYYY-MM-DD) at which labels are judged matured; default: the latest stored features date."""


def git_commit(folder: Path) -> str:
    """Commit of the repository holding the config, or 'unknown' outside git."""
    result = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def data_fingerprint(frame: pd.DataFrame) -> str:
    """Order-independent hash of a frame's rows."""
    return f"{int(pd.util.hash_pandas_object(frame, index=False).sum()) & 0xFFFFFFFFFFFF:012x}"


def matured_feature_days(spec: PipelineSpec, as_of: date) -> list[str]:
    """Stored features dates inside the training window ending at the last matured date."""
    first, last = modeling.training_window(as_of, spec.dataset.label_delay_days, spec.training.window_days)
    stored = set(lake.stored_keys(spec.lake_dir, "features", DATE_DIMENSION))
    return [day.isoformat() for day in days_between(first, last) if day.isoformat() in stored]


def resolve_as_of(spec: PipelineSpec, as_of: str | None) -> date:
    """The configured as-of date, or the latest stored features date."""
    if as_of:
        return date.fromisoformat(as_of)
    stored = lake.stored_keys(spec.lake_dir, "features", DATE_DIMENSION)
    if not stored:
        raise dg.Failure("no features are stored yet: materialize raw_data and features first (ml-assets run)")
    return date.fromisoformat(stored[-1])


def champion_auc_on(registry: ModelRegistry, spec: PipelineSpec, segment: str,
                    holdout: pd.DataFrame) -> tuple[LoadedModel | None, float | None]:
    """The current champion and its AUC on the challenger's holdout (same data, fair comparison)."""
    champion = registry.load_alias(spec.registered_model_name(segment), CHAMPION)
    if champion is None:
        return None, None
    matrix = model_matrix(holdout, spec, champion.meta["vocabulary"])
    scores = modeling.predict(champion.booster, matrix, champion.meta["best_iteration"])
    return champion, modeling.classification_metrics(holdout[spec.dataset.target].to_numpy(), scores)["roc_auc"]


def reference_sample(frame: pd.DataFrame, fit: modeling.SegmentFit, spec: PipelineSpec) -> pd.DataFrame:
    """Training-window features (bounded sample) plus the holdout scores, the drift reference."""
    sample = frame[spec.feature_columns()].sample(n=min(len(frame), REFERENCE_MAX_ROWS), random_state=0)
    scores = pd.Series(fit.holdout_scores, index=fit.holdout.index, name="score")
    return sample.join(scores).reset_index(drop=True)


def log_segment_run(spec: PipelineSpec, segment: str, frame: pd.DataFrame, fit: modeling.SegmentFit,
                    window: dict[str, Any], tags: dict[str, str]) -> tuple[str, str]:
    """Nested MLflow run for one segment: params, metrics, metadata, reference and the registered model."""
    model = fit.model
    meta = {"feature_names": model.feature_names, "vocabulary": model.vocabulary,
            "best_iteration": model.best_iteration, "cutpoints": fit.cutpoints,
            "holdout_metrics": fit.metrics, "window": window, "segment": segment}
    matrix = model_matrix(fit.holdout.head(5), spec, model.vocabulary)
    with mlflow.start_run(run_name=f"{spec.name}-{segment}", nested=True) as run:
        mlflow.set_tags(tags | {"segment": segment})
        mlflow.log_params({**model.params, "best_iteration": model.best_iteration, "train_rows": fit.train_rows,
                           "window_first": window["first"], "window_last": window["last"]})
        mlflow.log_metrics({f"holdout_{name}": value for name, value in fit.metrics.items()})
        mlflow.log_dict(meta, META_FILE)
        with tempfile.TemporaryDirectory() as tmp:
            reference_path = Path(tmp) / REFERENCE_FILE
            reference_sample(frame, fit, spec).to_parquet(reference_path, index=False)
            mlflow.log_artifact(str(reference_path))
        info = mlflow.xgboost.log_model(
            model.booster, name="model", model_format="ubj", pip_requirements=PIP_REQUIREMENTS,
            signature=infer_signature(matrix.astype({c: "object" for c in spec.features.categorical}),
                                      fit.holdout_scores[:5]),
            registered_model_name=spec.registered_model_name(segment))
    return run.info.run_id, str(info.registered_model_version)


def build_training_assets(spec: PipelineSpec) -> list[dg.AssetsDefinition]:
    """training_set -> segment_model (quality gate) -> model_evaluation, per segment."""
    segments = segment_partitions(spec)
    ds = spec.dataset

    @dg.asset(
        partitions_def=segments,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[dg.AssetDep("features", partition_mapping=dg.AllPartitionMapping())],
        group_name="training",
        kinds={"pandas", "parquet"},
    )
    def training_set(context: dg.AssetExecutionContext, config: TrainingConfig) -> dg.Output[dict[str, pd.DataFrame]]:
        """The last `window_days` of features whose labels have matured, per segment."""
        as_of = resolve_as_of(spec, config.as_of)
        days = matured_feature_days(spec, as_of)
        if not days:
            first, last = modeling.training_window(as_of, ds.label_delay_days, spec.training.window_days)
            raise dg.Failure(f"no features stored between {first} and {last} (labels matured by {as_of}): "
                             "materialize features for those dates first")
        frame = lake.read_frames([lake.partition_dir(spec.lake_dir, "features", DATE_DIMENSION, d) for d in days])
        sets = {seg: frame[frame[SEGMENT_COLUMN] == seg].reset_index(drop=True) for seg in context.partition_keys}
        rows = {seg: len(part) for seg, part in sets.items()}
        return dg.Output(sets, metadata={
            "as_of": as_of.isoformat(), "window_first": days[0], "window_last": days[-1],
            "partitions_used": len(days), "rows_by_segment": rows,
            "fingerprint": {seg: data_fingerprint(part) for seg, part in sets.items()},
            "dagster/row_count": sum(rows.values()),
        })

    @dg.asset(
        partitions_def=segments,
        backfill_policy=dg.BackfillPolicy.single_run(),
        required_resource_keys={"mlflow", "model_registry"},
        check_specs=[dg.AssetCheckSpec("quality_gate", asset="segment_model", blocking=True,
                                       description="holdout AUC at or above training.min_auc")],
        group_name="training",
        kinds={"xgboost", "mlflow"},
    )
    def segment_model(context: dg.AssetExecutionContext, training_set: dict[str, pd.DataFrame]):
        """XGBoost per segment, logged and registered in MLflow; champion only through the quality gate."""
        model_registry: ModelRegistry = context.resources.model_registry
        tags = {"config_hash": spec.config_hash(), "git_commit": git_commit(spec.base_dir),
                "dagster_run_id": context.run_id, "pipeline": spec.name}
        records: dict[str, dict[str, Any]] = {}
        for segment in context.partition_keys:
            frame = training_set[segment]
            fit = modeling.fit_segment(frame, spec, segment)
            window = {"first": str(pd.to_datetime(frame[ds.date]).min().date()),
                      "last": str(pd.to_datetime(frame[ds.date]).max().date()),
                      "fingerprint": data_fingerprint(frame)}
            champion, champion_auc = champion_auc_on(model_registry, spec, segment, fit.holdout)
            promote, reason = modeling.beats_champion(fit.metrics["roc_auc"], champion_auc,
                                                      spec.training.min_auc, spec.training.promotion_margin)
            run_id, version = log_segment_run(spec, segment, frame, fit, window, tags)
            name = spec.registered_model_name(segment)
            model_registry.set_alias(name, CHALLENGER, version)
            if promote:
                model_registry.set_alias(name, CHAMPION, version)
            context.log.info(f"{name} v{version}: {reason}; {'promoted to champion' if promote else 'kept as challenger'}")
            records[segment] = {"model_name": name, "version": version, "run_id": run_id, "promoted": promote,
                                "reason": reason, "metrics": fit.metrics, "window": window,
                                "previous_champion": champion.version if champion else None,
                                "previous_champion_auc": champion_auc}
        passed = all(r["metrics"]["roc_auc"] >= spec.training.min_auc for r in records.values())
        yield dg.AssetCheckResult(check_name="quality_gate", passed=passed, metadata={
            seg: f"AUC {r['metrics']['roc_auc']:.4f} (floor {spec.training.min_auc}); {r['reason']}"
            for seg, r in records.items()})
        yield dg.Output(records, metadata={
            "models": dg.MetadataValue.md(_records_table(records)),
            "holdout_auc": {seg: round(r["metrics"]["roc_auc"], 4) for seg, r in records.items()},
        })

    @dg.asset(
        partitions_def=segments,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="training",
        kinds={"matplotlib", "mlflow"},
    )
    def model_evaluation(context: dg.AssetExecutionContext, segment_model: dict[str, dict[str, Any]],
                         training_set: dict[str, pd.DataFrame], model_registry: ModelRegistry):
        """Holdout metrics and ROC, PR, calibration and importance plots of each new model version."""
        results, previews = {}, {}
        for segment in context.partition_keys:
            record = segment_model[segment]
            model = model_registry.load(record["model_name"], record["version"])
            _, holdout = modeling.split_by_time(training_set[segment], ds.date, spec.training.holdout_days)
            target = holdout[ds.target].to_numpy(dtype="float64")
            scores = modeling.predict(model.booster, model_matrix(holdout, spec, model.meta["vocabulary"]),
                                      model.meta["best_iteration"])
            metrics = modeling.classification_metrics(target, scores)
            folder = spec.reports_dir / "model_evaluation" / segment / f"v{record['version']}"
            images = evaluation_plots(target, scores, metrics, model, folder)
            for path in images.values():
                model_registry.client.log_artifact(record["run_id"], str(path), artifact_path="evaluation")
            results[segment] = {**record, "evaluation": metrics, "plots": {k: str(v) for k, v in images.items()}}
            previews |= {f"{segment} {title}": path for title, path in images.items()}
        table = pd.DataFrame({seg: r["evaluation"] for seg, r in results.items()}).T.round(4)
        return dg.Output(results, metadata={"metrics": dg.MetadataValue.md(table.to_markdown()),
                                            "plots": image_markdown(previews)})

    return [training_set, segment_model, model_evaluation]


def evaluation_plots(target: np.ndarray, scores: np.ndarray, metrics: dict[str, float], model: LoadedModel,
                     folder: Path) -> dict[str, Path]:
    """Write the evaluation PNGs of one model version."""
    return {
        "ROC": plots.roc_plot(target, scores, metrics["roc_auc"], folder / "roc.png"),
        "Precision-recall": plots.pr_plot(target, scores, metrics["pr_auc"], folder / "pr.png"),
        "Calibration": plots.calibration_plot(target, scores, folder / "calibration.png"),
        "Feature importance": plots.importance_plot(modeling.gain_importance(model.booster), folder / "importance.png"),
    }


def _records_table(records: dict[str, dict[str, Any]]) -> str:
    """Markdown table of the versions a run produced."""
    rows = [{"segment": seg, "model": r["model_name"], "version": r["version"], "holdout_auc": round(r["metrics"]["roc_auc"], 4),
             "champion": r["promoted"], "reason": r["reason"]} for seg, r in records.items()]
    return pd.DataFrame(rows).to_markdown(index=False)
