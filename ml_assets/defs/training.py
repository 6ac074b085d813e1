"""training_set, segment_model and model_evaluation: one partition per segment, tracked in MLflow."""

import json
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from ml_assets.core.data import lake
from ml_assets.core.data.features import SEGMENT_COLUMN, model_matrix
from ml_assets.core.data.fingerprint import data_fingerprint, partition_dates
from ml_assets.core.data.sources import days_between
from ml_assets.core.monitoring.drift import ReferenceProfile
from ml_assets.core.monitoring.profile import save_profile
from ml_assets.core.monitoring.segment_monitoring import feature_reference, with_score_reference
from ml_assets.core.scoring import explain
from ml_assets.core.scoring.scores import model_scores
from ml_assets.core.scoring.similar import reference_contributions
from ml_assets.core.training import evaluation, modeling, plots
from ml_assets.core.training.comparison import AucComparison, compare_auc
from ml_assets.core.training.leakage import LeakageAudit, audit_table
from ml_assets.core.training.record import ModelRecord, TrainingWindow, scoring_meta
from ml_assets.defs.metadata import (
    ROW_COUNT,
    PartitionFigures,
    add_evaluation_figures,
    add_model_figures,
    column_schema,
    image_markdown,
)
from ml_assets.defs.partitions import segment_partitions
from ml_assets.defs.retries import names_outage_when_spent, service_retry_policy
from ml_assets.resources.champion_log import ChampionLog
from ml_assets.resources.dask import DaskCluster
from ml_assets.resources.registry import (
    CHALLENGER,
    CHAMPION,
    CHECKSUM_TAG,
    META_FILE,
    PROFILE_DIR,
    REFERENCE_FILE,
    SIMILAR_FILE,
    ArtifactError,
    LoadedModel,
    ModelRegistry,
)
from ml_assets.resources.tracking import EvaluationRun, MlflowTracking, SegmentRun
from ml_assets.spec import PipelineSpec

REFERENCE_MAX_ROWS = 50_000
FINGERPRINT_FILE = "data_fingerprint.json"
LEAKAGE_CHECK = "leakage_suspects"
EXAMPLE_ROWS = 5
LIST_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "ks")
SEGMENT_MODEL_POOL = "segment_model"  # Dagster pool: with a limit of 1 on the instance, one training at a time
RAW_METRICS = ("log_loss", "brier", "ece")
GATE_TAGS = ("p_value", "margin", "delta", "ci_low", "champion_auc")


class TrainingConfig(dg.Config):
    """Run config of training_set."""

    as_of: str | None = None
    """Date (YYYY-MM-DD) at which labels are judged matured; default: the latest stored features date."""


def git_commit(folder: Path) -> str:
    """Commit of the repository holding the config, or 'unknown' outside git."""
    result = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def matured_feature_days(spec: PipelineSpec, as_of: date) -> list[str]:
    """Stored features dates inside the training window ending at the last matured date."""
    first, last = modeling.training_window(as_of, spec.dataset.label_delay_days, spec.training.window_days)
    stored = set(lake.stored_days(spec.lake_dir, "features"))
    return [day.isoformat() for day in days_between(first, last) if day.isoformat() in stored]


def resolve_as_of(spec: PipelineSpec, as_of: str | None) -> date:
    """The configured as-of date, or the latest stored features date."""
    if as_of:
        return date.fromisoformat(as_of)
    stored = lake.stored_days(spec.lake_dir, "features")
    if not stored:
        raise dg.Failure("no features are stored yet: materialize raw_data and features first (ml-assets run)")
    return date.fromisoformat(stored[-1])


def champion_comparison(registry: ModelRegistry, spec: PipelineSpec, segment: str,
                        fit: modeling.SegmentFit) -> tuple[LoadedModel | None, AucComparison | None]:
    """The current champion and the paired bootstrap of challenger vs champion AUC on the challenger's holdout;
    a champion whose artifacts are broken is not compared (retraining is how it is replaced)."""
    try:
        champion = registry.load_alias(spec.registered_model_name(segment), CHAMPION)
    except ArtifactError as error:
        dg.get_dagster_logger().warning(f"{error}; the new version is judged by training.min_auc alone")
        return None, None
    if champion is None:
        return None, None
    champion_scores = model_scores(champion.booster, model_matrix(fit.holdout, spec.features, champion.meta.vocabulary),
                                   champion.meta)
    training = spec.training
    comparison = compare_auc(fit.holdout[spec.dataset.target].to_numpy(), fit.holdout_scores, champion_scores,
                             margin=training.promotion_margin, alpha=training.gate_alpha,
                             samples=training.bootstrap_samples, seed=training.seed)
    return champion, comparison


def reference_sample(frame: pd.DataFrame, fit: modeling.SegmentFit, spec: PipelineSpec) -> pd.DataFrame:
    """Training-window features (bounded sample) plus the holdout scores, the drift reference."""
    sample = frame.sample(n=min(len(frame), REFERENCE_MAX_ROWS), random_state=0)[spec.feature_columns()]
    scores = pd.Series(fit.holdout_scores, index=fit.holdout.index, name="score")
    return sample.join(scores).reset_index(drop=True)


def split_statement(frame: pd.DataFrame, spec: PipelineSpec) -> dict[str, Any]:
    """Rows and dates of the time split training_set's frame gets in segment_model."""
    train, holdout = modeling.split_by_time(frame, spec.dataset.date, spec.training.holdout_days)
    holdout_dates = partition_dates(holdout, spec.dataset.date)
    return {"train_rows": len(train), "holdout_rows": len(holdout),
            "holdout_first": holdout_dates[0] if holdout_dates else None,
            "validation_fraction": spec.training.validation_fraction,
            "calibration_folds": spec.training.calibration_folds, "cv_folds": spec.training.cv_folds}


def run_params(fit: modeling.SegmentFit, spec: PipelineSpec, window: dict[str, Any]) -> dict[str, Any]:
    """MLflow params of a segment run: the booster's params and how it was trained."""
    model = fit.model
    return {**model.params, "best_iteration": model.best_iteration, "train_rows": fit.train_rows,
            "window_first": window["first"], "window_last": window["last"], "data_hash": window["fingerprint"],
            "imbalance": fit.imbalance.method, "train_positive_rate": round(fit.imbalance.positive_rate, 4),
            "calibration_requested": spec.model.calibration, "calibration": model.calibration.method,
            "calibration_folds": spec.training.calibration_folds, "cv_folds": spec.training.cv_folds,
            "tuning": spec.model.tuning.enabled}


def run_metrics(fit: modeling.SegmentFit, comparison: AucComparison | None) -> dict[str, float]:
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


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write a frame as parquet, dictionary-encoding all but its float columns (float values rarely repeat, so
    trying a dictionary of them only slows the write)."""
    keep_plain = {column for column, dtype in frame.dtypes.items() if pd.api.types.is_float_dtype(dtype)}
    frame.to_parquet(path, index=False, use_dictionary=[c for c in frame.columns if c not in keep_plain])


def write_drift_references(frame: pd.DataFrame, fit: modeling.SegmentFit, spec: PipelineSpec,
                           features: ReferenceProfile, folder: Path) -> None:
    """The drift reference sample and the reference profile (`features` plus the holdout scores), written into
    `folder` as the run logs them."""
    write_parquet(reference_sample(frame, fit, spec), folder / REFERENCE_FILE)
    save_profile(with_score_reference(features, fit.holdout_scores, spec.drift), folder / PROFILE_DIR)


def write_similar_reference(frame: pd.DataFrame, fit: modeling.SegmentFit, spec: PipelineSpec, folder: Path) -> None:
    """Labeled rows and their contributions for similar-customer search, written into `folder`."""
    write_parquet(reference_contributions(frame, fit.model, spec.scoring_sections()), folder / SIMILAR_FILE)


def stored_window(window: dict[str, Any]) -> TrainingWindow:
    """The first and last record date of a training set's window (ISO dates in `training_data`)."""
    return TrainingWindow(date.fromisoformat(window["first"]), date.fromisoformat(window["last"]))


def segment_run(spec: PipelineSpec, segment: str, fit: modeling.SegmentFit, data: dict[str, Any],
                comparison: AucComparison | None, tags: dict[str, str]) -> SegmentRun:
    """What a segment's nested MLflow run logs: params, metrics, the scoring metadata, fingerprint, tuning and
    cross-validation, and the booster trimmed to the trees scoring uses (the leakage_suspects check adds its audit)."""
    window, model = data["window"], fit.model
    meta = scoring_meta(fit, segment, stored_window(window), window["fingerprint"])
    documents = {META_FILE: meta.to_document(), FINGERPRINT_FILE: {**window["data"].as_dict(),
                                                                "partitions": data["partitions"]}}
    if fit.tuning:
        documents["tuning.json"] = {"best_params": fit.tuning.best_params, "trials": fit.tuning.trials}
    if fit.cv:
        documents["cross_validation.json"] = fit.cv.as_dict()
    return SegmentRun(name=f"{spec.name}-{segment}",
                      tags=tags | {"segment": segment, "data_hash": window["fingerprint"]},
                      params=run_params(fit, spec, window), metrics=run_metrics(fit, comparison), documents=documents,
                      booster=model.booster[: model.best_iteration + 1],
                      example=model_matrix(fit.holdout.head(EXAMPLE_ROWS), spec.features, model.vocabulary))


def training_data(frame: pd.DataFrame, spec: PipelineSpec) -> dict[str, Any]:
    """The training set's window and fingerprint, and the partitions it holds (logged with the run)."""
    ds = spec.dataset
    fingerprint = data_fingerprint(frame, ds.date, ds.target)
    window = {"first": fingerprint.first, "last": fingerprint.last, "fingerprint": fingerprint.hash,
              "data": fingerprint}
    return {"window": window, "partitions": partition_dates(frame, ds.date)}


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


def fit_record(segment: str, name: str, fit: modeling.SegmentFit, window: dict[str, Any],
               champion: LoadedModel | None, comparison: AucComparison | None, verdict: tuple[bool, str],
               trained_with: str) -> ModelRecord:
    """A segment's model record before registration: its fit, its data, the gate's verdict and the champion it
    was compared with."""
    promote, reason = verdict
    return ModelRecord(segment=segment, model_name=name, promoted=promote, reason=reason, metrics=fit.metrics,
                       raw_metrics=fit.raw_metrics, baseline_metrics=fit.baseline_metrics, imbalance=fit.imbalance,
                       calibration=fit.model.calibration, params=fit.model.params, window=stored_window(window),
                       data_hash=window["fingerprint"], fingerprint=window["data"],
                       tuning=fit.tuning.summary() if fit.tuning else None, cv=fit.cv, gate=comparison,
                       previous_champion=champion.version if champion else None, trained_with=trained_with)


def train_segment(spec: PipelineSpec, segment: str, frame: pd.DataFrame, tracking: MlflowTracking,
                  registry: ModelRegistry, tags: dict[str, str], log: dg.DagsterLogManager,
                  dask: DaskCluster) -> ModelRecord:
    """Fit, compare with the champion, log, register and (through the gate) promote one segment's model.

    Work on the data alone runs in threads beside the rest (xgboost, numpy and pyarrow release the GIL): the
    fingerprint and the features' drift profile while the booster trains, the references the run logs while it
    logs its params, metrics and model."""
    name = spec.registered_model_name(segment)
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=2) as background:
        folder = Path(tmp)
        data = background.submit(training_data, frame, spec)
        features = background.submit(feature_reference, frame, spec.features, spec.drift)
        # distributed training: at training.distributed_min_rows rows or more, the booster trains on the Dask cluster
        with dask.trainer(spec, segment, len(frame), log) as trainer:
            fit = modeling.fit_segment(frame, spec.training_sections(), segment, trainer)
        references = [background.submit(write_drift_references, frame, fit, spec, features.result(), folder)]
        if spec.scoring.similar_customers.top_n:
            references.append(background.submit(write_similar_reference, frame, fit, spec, folder))
        champion, comparison = champion_comparison(registry, spec, segment, fit)
        promote, reason = modeling.beats_champion(fit.metrics["roc_auc"], comparison, spec.training.min_auc)
        record = fit_record(segment, name, fit, data.result()["window"], champion, comparison, (promote, reason),
                            "xgboost.dask" if trainer else "xgboost")
        run_id, model_uri = tracking.log_segment_run(segment_run(spec, segment, fit, data.result(), comparison, tags),
                                                     references, folder)
    checksums = {CHECKSUM_TAG: json.dumps(registry.artifact_checksums(run_id, model_uri))}
    version = tracking.register_version(model_uri, name, version_tags(record, tags) | checksums)
    registry.set_alias(name, CHALLENGER, version)
    if promote:
        ChampionLog(registry).move(name, version, "gate", reason)
    log.info(f"{name} v{version}: {reason}; {'promoted to champion' if promote else 'kept as challenger'}")
    return replace(record, version=version, run_id=run_id)


def empty_segment_message(spec: PipelineSpec, segment: str) -> str:
    """Why a segment has no model: none of its dataset.segments values occurs in the training window."""
    values = spec.dataset.segments[segment]
    return (f"no rows in the training window: no {spec.dataset.segment} value of dataset.segments.{segment} "
            f"({values}) occurs there; not trained. Fix dataset.segments (values are matched exactly) or ingest "
            "days holding the segment")


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
        """The last `window_days` of features whose labels have matured, per segment, with its fingerprint."""
        as_of = resolve_as_of(spec, config.as_of)
        days = matured_feature_days(spec, as_of)
        if not days:
            first, last = modeling.training_window(as_of, ds.label_delay_days, spec.training.window_days)
            raise dg.Failure(f"no features stored between {first} and {last} (labels matured by {as_of}): "
                             "materialize features for those dates first")
        frame = lake.read_days(spec.lake_dir, "features", days)
        sets = {seg: frame[frame[SEGMENT_COLUMN] == seg].reset_index(drop=True) for seg in context.partition_keys}
        figures = PartitionFigures(schema=column_schema(frame))
        for seg, part in sets.items():
            figures.add(seg, {ROW_COUNT: len(part)} | ({
                "fingerprint": dg.MetadataValue.json(data_fingerprint(part, ds.date, ds.target).as_dict()),
                "split": dg.MetadataValue.json(split_statement(part, spec))} if len(part) else {}))
        figures.stamp(context)
        return dg.Output(sets, metadata={"as_of": as_of.isoformat(), "window_first": days[0], "window_last": days[-1],
                                         "partitions_used": len(days)})

    @dg.asset(
        retry_policy=service_retry_policy(spec.retries),
        partitions_def=segments,
        backfill_policy=dg.BackfillPolicy.single_run(),
        required_resource_keys={"mlflow", "model_registry", "dask"},
        pool=SEGMENT_MODEL_POOL,
        check_specs=[dg.AssetCheckSpec("quality_gate", asset="segment_model", blocking=True,
                                       description="holdout AUC at or above training.min_auc")],
        group_name="training",
        kinds={"xgboost", "mlflow"},
    )
    @names_outage_when_spent(spec.retries, spec.tracking_uri)
    def segment_model(context: dg.AssetExecutionContext, training_set: dict[str, pd.DataFrame]):
        """XGBoost per segment (calibrated, beside a logistic baseline), logged and registered in MLflow;
        champion only through the gate: the floor, then a significant AUC gain over the champion on the same holdout."""
        tags = {"config_hash": spec.config_hash(), "git_commit": git_commit(spec.base_dir),
                "dagster_run_id": context.run_id, "pipeline": spec.name}
        empty = [segment for segment in context.partition_keys if training_set[segment].empty]
        records = {segment: train_segment(spec, segment, training_set[segment], context.resources.mlflow,
                                          context.resources.model_registry, tags, context.log, context.resources.dask)
                   for segment in context.partition_keys if segment not in empty}
        passed = not empty and all(r.metrics["roc_auc"] >= spec.training.min_auc for r in records.values())
        figures = PartitionFigures()
        add_model_figures(figures, records, context.resources.model_registry.client, spec.mlflow)
        for segment, record in records.items():
            figures.add(segment, training_figures(record))
        for segment in empty:
            figures.add(segment, {"reason": empty_segment_message(spec, segment)})
        figures.stamp(context)
        yield dg.AssetCheckResult(check_name="quality_gate", passed=passed, metadata={
            **{seg: f"AUC {r.metrics['roc_auc']:.4f} (floor {spec.training.min_auc}); {r.reason}"
               for seg, r in records.items()},
            **{seg: empty_segment_message(spec, seg) for seg in empty}})
        untrained = {seg: {"segment": seg, "model_name": spec.registered_model_name(seg), "version": None,
                           "promoted": False, "reason": empty_segment_message(spec, seg)} for seg in empty}
        yield dg.Output({seg: record.to_document() for seg, record in records.items()} | untrained)

    @dg.asset(
        retry_policy=service_retry_policy(spec.retries),
        partitions_def=segments,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="training",
        kinds={"matplotlib", "mlflow"},
    )
    @names_outage_when_spent(spec.retries, spec.tracking_uri)
    def model_evaluation(context: dg.AssetExecutionContext, segment_model: dict[str, dict[str, Any]],
                         training_set: dict[str, pd.DataFrame], model_registry: ModelRegistry, mlflow: MlflowTracking):
        """Holdout metrics, decisions at the threshold, lift by decile and plots of each new model version."""
        results = {segment: evaluate_version(spec, ModelRecord.from_document(segment_model[segment]),
                                             training_set[segment], model_registry, mlflow)
                   for segment in context.partition_keys}
        figures = PartitionFigures()
        add_evaluation_figures(figures, results, {seg: image_markdown({title: Path(path) for title, path in
                                                                      r["plots"].items()}) for seg, r in results.items()},
                               model_registry.client, spec.mlflow)
        for segment, result in results.items():
            figures.add(segment, evaluation_notes(result, spec.training.decision_threshold))
        figures.stamp(context)
        return dg.Output(results)

    return [training_set, segment_model, model_evaluation]


def evaluate_version(spec: PipelineSpec, record: ModelRecord, frame: pd.DataFrame, registry: ModelRegistry,
                     tracking: MlflowTracking) -> dict[str, Any]:
    """Score the holdout with the registered version, compute its metrics and plots, and log them to its run."""
    model = registry.load(record.model_name, record.version)
    _, holdout = modeling.split_by_time(frame, spec.dataset.date, spec.training.holdout_days)
    target = holdout[spec.dataset.target].to_numpy(dtype="float64")
    matrix = model_matrix(holdout, spec.features, model.meta.vocabulary)
    scores = model_scores(model.booster, matrix, model.meta)
    threshold = spec.training.decision_threshold
    at_threshold = evaluation.threshold_metrics(target, scores, threshold)
    metrics = modeling.classification_metrics(target, scores) | {"decision_threshold": threshold} | {
        f"{name}_at_threshold": value for name, value in at_threshold.items()}
    confusion = evaluation.confusion_counts(target, scores, threshold)
    lift = evaluation.lift_table(target, scores)
    shap = explain.contributions(model.booster, matrix, model.meta.best_iteration, approximate=False)
    folder = spec.reports_dir / "model_evaluation" / record.segment / f"v{record.version}"
    images = evaluation_plots(target, scores, metrics, model, matrix, shap, folder)
    tracking.log_evaluation(EvaluationRun(record.run_id, metrics, confusion, lift, list(images.values())))
    return {**record.to_document(), "leakage": registry.leakage_audit(record.model_name, record.version),
            "evaluation": metrics, "confusion": confusion, "lift": lift.to_dict(orient="records"),
            "plots": {title: str(path) for title, path in images.items()}}


def evaluation_plots(target: np.ndarray, scores: np.ndarray, metrics: dict[str, float], model: LoadedModel,
                     matrix: pd.DataFrame, shap: np.ndarray, folder: Path) -> dict[str, Path]:
    """Write the evaluation PNGs of one model version."""
    return {
        "ROC": plots.roc_plot(target, scores, metrics["roc_auc"], folder / "roc.png"),
        "Precision-recall": plots.pr_plot(target, scores, metrics["pr_auc"], folder / "pr.png"),
        "Calibration": plots.calibration_plot(target, scores, folder / "calibration.png"),
        "Feature importance": plots.importance_plot(modeling.gain_importance(model.booster), folder / "importance.png"),
        "SHAP summary": plots.shap_summary_plot(shap, matrix, folder / "shap_summary.png"),
    }


def training_figures(record: ModelRecord) -> dict[str, Any]:
    """A segment's own training record for its partition: the gate's verdict, imbalance, calibration, tuning and
    cross-validation, and its holdout log loss, Brier and ECE, raw and calibrated, as floats the UI can plot."""
    cv = {"folds": record.cv.folds, **record.cv.summary()} if record.cv else None
    return {"reason": record.reason, "gate": dg.MetadataValue.json(record.gate.as_dict() if record.gate else {}),
            "imbalance": dg.MetadataValue.json(record.imbalance.as_dict()),
            "calibration": dg.MetadataValue.json(record.calibration.as_dict()),
            "tuning": dg.MetadataValue.json(record.tuning.as_dict() if record.tuning else {}), "cv": dg.MetadataValue.json(cv or {}),
            **{f"holdout_{name}{suffix}": dg.MetadataValue.float(float(metrics[name]))
               for name in RAW_METRICS for suffix, metrics in (("", record.metrics), ("_raw", record.raw_metrics))}}


def evaluation_notes(result: dict[str, Any], threshold: float) -> dict[str, Any]:
    """A segment's confusion at the decision threshold and its leakage audit, as the asset page shows them."""
    return {"confusion": dg.MetadataValue.json({"threshold": threshold, **result["confusion"]}),
            "leakage_audit": dg.MetadataValue.md(audit_markdown(result["leakage"]))}


def audit_markdown(audit: dict[str, Any] | None) -> str:
    """The stored leakage audit as the asset page shows it, or why there is none."""
    if audit is None:
        return f"not audited: the {LEAKAGE_CHECK} check has not run on this version"
    return f"holdout AUC {audit['holdout_auc']:.4f}\n\n{audit_table(audit).to_markdown(index=False)}"


def trained_model(loaded: LoadedModel, record: ModelRecord) -> modeling.TrainedModel:
    """A registered version as the leakage audit refits it: its booster and inputs, and the params it trained with."""
    meta = loaded.meta
    return modeling.TrainedModel(loaded.booster, meta.feature_names, meta.vocabulary, record.params,
                                 meta.best_iteration, meta.calibration)


def audit_version(spec: PipelineSpec, record: ModelRecord, frame: pd.DataFrame, registry: ModelRegistry,
                  tracking: MlflowTracking) -> LeakageAudit:
    """Audit a registered version on its training set, log the audit into its run and name its suspects in the
    run's and the version's `leakage_suspects` tag; drop costs only for versions trained in this process."""
    model = trained_model(registry.load(record.model_name, record.version), record)
    audit = modeling.segment_leakage(frame, spec.training_sections(), record.segment, model,
                                     refits=record.trained_with == "xgboost")
    suspects = {LEAKAGE_CHECK: json.dumps([feature.feature for feature in audit.suspects])}
    tracking.log_leakage_audit(record.run_id, audit.as_dict(), suspects)
    registry.tag_version(record.model_name, record.version, suspects)
    return audit


def named_suspects(audit: LeakageAudit) -> str:
    """Every suspect of an audit with the thresholds it crosses, or 'none'."""
    return "; ".join(f"{f.feature}: {', '.join(f.reasons)}" for f in audit.suspects) or "none"


def leakage_result(audits: dict[str, LeakageAudit], untrained: dict[str, str]) -> dg.AssetCheckResult:
    """WARN result naming, per segment, every leakage suspect with its figures (the audit removes nothing)."""
    return dg.AssetCheckResult(
        check_name=LEAKAGE_CHECK, passed=not any(audit.suspects for audit in audits.values()),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={seg: named_suspects(audit) for seg, audit in audits.items()} | untrained | {
            "suspects": {seg: [f.feature for f in audit.suspects] for seg, audit in audits.items()}})


def build_training_checks(spec: PipelineSpec) -> list[dg.AssetChecksDefinition]:
    """The leakage audit of each new segment_model version, as its own step after segment_model."""

    @dg.asset_check(
        asset="segment_model", name=LEAKAGE_CHECK, partitions_def=segment_partitions(spec),
        # blocking orders the step before model_evaluation, which shows the audit; its WARN result stops nothing
        blocking=True,
        additional_ins={"training_set": dg.AssetIn("training_set")},
        retry_policy=service_retry_policy(spec.retries), pool=SEGMENT_MODEL_POOL,
        description="features that may leak the target (training.leakage): univariate AUC, drop cost or gain "
                    "share above the thresholds; audited after registration, so the version does not wait for it")
    @names_outage_when_spent(spec.retries, spec.tracking_uri)
    def leakage_suspects(context: dg.AssetCheckExecutionContext, segment_model: dict[str, dict[str, Any]],
                         training_set: dict[str, pd.DataFrame], model_registry: ModelRegistry,
                         mlflow: MlflowTracking) -> dg.AssetCheckResult:
        """Audit each segment's new version (univariate AUC, drop cost, gain share) and name its suspects."""
        records = {seg: segment_model[seg] for seg in context.partition_keys}
        audits = {seg: audit_version(spec, ModelRecord.from_document(document), training_set[seg], model_registry,
                                     mlflow)
                  for seg, document in records.items() if document["version"] is not None}
        return leakage_result(audits, {seg: document["reason"] for seg, document in records.items()
                                       if document["version"] is None})

    return [leakage_suspects]
