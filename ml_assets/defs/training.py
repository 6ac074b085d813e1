"""training_set, segment_model and model_evaluation: one partition per segment, tracked in MLflow."""

import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from ml_assets.core.data import lake
from ml_assets.core.data.features import SEGMENT_COLUMN, model_matrix
from ml_assets.core.data.fingerprint import TrainingData, data_fingerprint, training_data
from ml_assets.core.data.sources import days_between
from ml_assets.core.monitoring.segment_monitoring import feature_reference
from ml_assets.core.training import modeling
from ml_assets.core.training.comparison import AucComparison
from ml_assets.core.training.evaluation import (
    ModelEvaluation,
    champion_comparison,
    evaluate_holdout,
    evaluation_folder,
)
from ml_assets.core.training.leakage import LeakageAudit, audit_markdown, named_suspects
from ml_assets.core.training.record import (
    ModelRecord,
    SegmentModel,
    TrainingWindow,
    UntrainedSegment,
    model_record,
    scoring_meta,
    untrained_segment,
)
from ml_assets.core.training.references import write_drift_references, write_similar_reference
from ml_assets.core.training.run_contents import RAW_METRICS, run_metrics, run_params, run_tags, version_tags
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
    PROFILE_DIR,
    REFERENCE_FILE,
    SIMILAR_FILE,
    ArtifactError,
    LoadedModel,
    ModelRegistry,
)
from ml_assets.resources.tracking import MlflowTracking, SegmentRun
from ml_assets.spec import PipelineSpec

LEAKAGE_CHECK = "leakage_suspects"
EXAMPLE_ROWS = 5
SEGMENT_MODEL_POOL = "segment_model"  # Dagster pool: with a limit of 1 on the instance, one training at a time


class TrainingConfig(dg.Config):
    """Run config of training_set."""

    as_of: str | None = None
    """Date (YYYY-MM-DD) at which labels are judged matured; default: the latest stored features date."""


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


def compare_with_champion(registry: ModelRegistry, spec: PipelineSpec, segment: str,
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
    return champion, champion_comparison(fit, spec.training_sections(), champion.booster, champion.meta)


def segment_run(spec: PipelineSpec, segment: str, fit: modeling.SegmentFit, data: TrainingData,
                comparison: AucComparison | None, tags: dict[str, str]) -> SegmentRun:
    """What a segment's nested MLflow run logs (the leakage_suspects check adds its audit later)."""
    fingerprint, model = data.fingerprint, fit.model
    return SegmentRun(name=f"{spec.name}-{segment}", tags=tags | {"segment": segment, "data_hash": fingerprint.hash},
                      params=run_params(fit, spec.training_sections(), fingerprint),
                      metrics=run_metrics(fit, comparison), fit=fit,
                      meta=scoring_meta(fit, segment, TrainingWindow.of(fingerprint), fingerprint.hash), data=data,
                      example=model_matrix(fit.holdout.head(EXAMPLE_ROWS), spec.features, model.vocabulary))


def train_segment(spec: PipelineSpec, segment: str, frame: pd.DataFrame, tracking: MlflowTracking,
                  registry: ModelRegistry, tags: dict[str, str], log: dg.DagsterLogManager,
                  dask: DaskCluster) -> ModelRecord:
    """Fit, compare with the champion, log, register and (through the gate) promote one segment's model.

    Work on the data alone runs in threads beside the rest (xgboost, numpy and pyarrow release the GIL): the
    fingerprint and the features' drift profile while the booster trains, the references the run logs while it
    logs its params, metrics and model."""
    name, sections = spec.registered_model_name(segment), spec.training_sections()
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=2) as background:
        folder = Path(tmp)
        data = background.submit(training_data, frame, spec.dataset.date, spec.dataset.target)
        features = background.submit(feature_reference, frame, spec.features, spec.drift)
        # distributed training: at training.distributed_min_rows rows or more, the booster trains on the Dask cluster
        with dask.trainer(spec, segment, len(frame), log) as trainer:
            fit = modeling.fit_segment(frame, sections, segment, trainer)
        references = [background.submit(write_drift_references, frame, fit, spec.features, spec.drift,
                                        features.result(), folder / REFERENCE_FILE, folder / PROFILE_DIR)]
        if spec.scoring.similar_customers.top_n:
            references.append(background.submit(write_similar_reference, frame, fit, spec.scoring_sections(),
                                                folder / SIMILAR_FILE))
        champion, comparison = compare_with_champion(registry, spec, segment, fit)
        verdict = modeling.beats_champion(fit.metrics["roc_auc"], comparison, spec.training.min_auc)
        record = model_record(fit, segment, name, data.result().fingerprint, comparison, verdict,
                              champion.version if champion else None, "xgboost.dask" if trainer else "xgboost")
        run_id, model_uri = tracking.log_segment_run(segment_run(spec, segment, fit, data.result(), comparison, tags),
                                                     references, folder)
    checksums = {CHECKSUM_TAG: json.dumps(registry.artifact_checksums(run_id, model_uri))}
    version = tracking.register_version(model_uri, name, version_tags(record, tags) | checksums)
    registry.set_alias(name, CHALLENGER, version)
    if record.promoted:
        ChampionLog(registry).move(name, version, "gate", record.reason)
    log.info(f"{name} v{version}: {record.reason}; "
             f"{'promoted to champion' if record.promoted else 'kept as challenger'}")
    return replace(record, version=version, run_id=run_id)


def split_figures(part: pd.DataFrame, spec: PipelineSpec) -> dict[str, Any]:
    """A training set's rows, fingerprint and the time split segment_model will make of it."""
    if not len(part):
        return {ROW_COUNT: 0}
    fingerprint = data_fingerprint(part, spec.dataset.date, spec.dataset.target)
    split = modeling.split_statement(part, spec.training_sections())
    return {ROW_COUNT: len(part), "fingerprint": dg.MetadataValue.json(fingerprint.as_dict()),
            "split": dg.MetadataValue.json(asdict(split))}


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
            figures.add(seg, split_figures(part, spec))
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
        tags = run_tags(spec.name, spec.config_hash(), spec.base_dir, context.run_id)
        untrained = {seg: untrained_segment(ds, seg, spec.registered_model_name(seg))
                     for seg in context.partition_keys if training_set[seg].empty}
        records = {seg: train_segment(spec, seg, training_set[seg], context.resources.mlflow,
                                      context.resources.model_registry, tags, context.log, context.resources.dask)
                   for seg in context.partition_keys if seg not in untrained}
        figures = PartitionFigures()
        add_model_figures(figures, records, context.resources.model_registry.client, spec.mlflow)
        for seg, record in records.items():
            figures.add(seg, training_figures(record))
        for seg, reason in untrained.items():
            figures.add(seg, {"reason": reason.reason})
        figures.stamp(context)
        yield quality_gate(records, untrained, spec.training.min_auc)
        yield dg.Output(records | untrained)

    @dg.asset(
        retry_policy=service_retry_policy(spec.retries),
        partitions_def=segments,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="training",
        kinds={"matplotlib", "mlflow"},
    )
    @names_outage_when_spent(spec.retries, spec.tracking_uri)
    def model_evaluation(context: dg.AssetExecutionContext, segment_model: dict[str, SegmentModel],
                         training_set: dict[str, pd.DataFrame], model_registry: ModelRegistry, mlflow: MlflowTracking):
        """Holdout metrics, decisions at the threshold, lift by decile and plots of each new model version."""
        results = {segment: evaluate_version(spec, trained(segment_model[segment]), training_set[segment],
                                             model_registry, mlflow)
                   for segment in context.partition_keys}
        figures = PartitionFigures()
        add_evaluation_figures(figures, results, {seg: image_markdown(r.holdout.plots) for seg, r in results.items()},
                               model_registry.client, spec.mlflow)
        for segment, result in results.items():
            figures.add(segment, evaluation_notes(result, spec.training.decision_threshold))
        figures.stamp(context)
        return dg.Output(results)

    return [training_set, segment_model, model_evaluation]


def quality_gate(records: dict[str, ModelRecord], untrained: dict[str, UntrainedSegment],
                 min_auc: float) -> dg.AssetCheckResult:
    """Blocking result: every segment trained, each new version's holdout AUC at or above the floor."""
    passed = not untrained and all(record.metrics["roc_auc"] >= min_auc for record in records.values())
    return dg.AssetCheckResult(check_name="quality_gate", passed=passed, metadata={
        **{seg: f"AUC {r.metrics['roc_auc']:.4f} (floor {min_auc}); {r.reason}" for seg, r in records.items()},
        **{seg: reason.reason for seg, reason in untrained.items()}})


def trained(model: SegmentModel) -> ModelRecord:
    """The model record of a trained segment; a Failure naming why an untrained segment has none."""
    if not isinstance(model, ModelRecord):
        raise dg.Failure(f"segment {model.segment} has no model to evaluate: {model.reason}")
    return model


def evaluate_version(spec: PipelineSpec, record: ModelRecord, frame: pd.DataFrame, registry: ModelRegistry,
                     tracking: MlflowTracking) -> ModelEvaluation:
    """Score the holdout with the registered version, compute its metrics and plots, and log them to its run."""
    model = registry.load(record.model_name, record.version)
    holdout = evaluate_holdout(frame, spec.training_sections(), model.booster, model.meta,
                               evaluation_folder(spec.reports_dir, record.segment, record.version))
    tracking.log_evaluation(record.run_id, holdout)
    return ModelEvaluation(record, registry.leakage_audit(record.model_name, record.version), holdout)


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


def evaluation_notes(result: ModelEvaluation, threshold: float) -> dict[str, Any]:
    """A segment's confusion at the decision threshold and its leakage audit, as the asset page shows them."""
    audit = (audit_markdown(result.leakage) if result.leakage
             else f"not audited: the {LEAKAGE_CHECK} check has not run on this version")
    return {"confusion": dg.MetadataValue.json({"threshold": threshold, **result.holdout.confusion}),
            "leakage_audit": dg.MetadataValue.md(audit)}


def audit_version(spec: PipelineSpec, record: ModelRecord, frame: pd.DataFrame, registry: ModelRegistry,
                  tracking: MlflowTracking) -> LeakageAudit:
    """Audit a registered version on its training set, log the audit into its run and name its suspects in the
    run's and the version's `leakage_suspects` tag; drop costs only for versions trained in this process."""
    loaded = registry.load(record.model_name, record.version)
    model = modeling.registered_model(loaded.booster, loaded.meta, record.params)
    audit = modeling.segment_leakage(frame, spec.training_sections(), record.segment, model,
                                     refits=record.trained_with == "xgboost")
    suspects = {LEAKAGE_CHECK: json.dumps([feature.feature for feature in audit.suspects])}
    tracking.log_leakage_audit(record.run_id, audit, suspects)
    registry.tag_version(record.model_name, record.version, suspects)
    return audit


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
    def leakage_suspects(context: dg.AssetCheckExecutionContext, segment_model: dict[str, SegmentModel],
                         training_set: dict[str, pd.DataFrame], model_registry: ModelRegistry,
                         mlflow: MlflowTracking) -> dg.AssetCheckResult:
        """Audit each segment's new version (univariate AUC, drop cost, gain share) and name its suspects."""
        models = {seg: segment_model[seg] for seg in context.partition_keys}
        audits = {seg: audit_version(spec, model, training_set[seg], model_registry, mlflow)
                  for seg, model in models.items() if isinstance(model, ModelRecord)}
        return leakage_result(audits, {seg: model.reason for seg, model in models.items()
                                       if isinstance(model, UntrainedSegment)})

    return [leakage_suspects]
