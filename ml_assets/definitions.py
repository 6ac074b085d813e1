"""Dagster Definitions built from a pipeline spec (usable as a library: `build_definitions(spec)`)."""

import os
import warnings
from pathlib import Path

import dagster as dg

warnings.filterwarnings("ignore", category=dg.BetaWarning)  # backfill_policy and dagster-mlflow are beta
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

from dagster_mlflow import end_mlflow_on_run_finished  # noqa: E402

from ml_assets.defs.automation import DAILY_CHAIN, build_schedules
from ml_assets.defs.ingest import build_ingest_assets
from ml_assets.defs.monitoring import build_monitoring_assets
from ml_assets.defs.partitions import daily_partitions, segment_partitions
from ml_assets.defs.scoring import build_scoring_assets
from ml_assets.defs.sensors import build_monitoring_sensors
from ml_assets.defs.training import build_training_assets, build_training_checks
from ml_assets.resources.alerts import AlertWebhook
from ml_assets.resources.dask import DaskCluster
from ml_assets.resources.registry import ModelRegistry
from ml_assets.resources.secrets import secret_value
from ml_assets.resources.source import DataSource
from ml_assets.resources.storage import LakeIOManager
from ml_assets.resources.tracking import MlflowTracking, mlflow_http_env
from ml_assets.spec import ExecutionSpec, PipelineSpec, load_spec
from ml_assets.stack import SCORING_TAG  # on the runs that score: the stack limits them to max_concurrent

CONFIG_ENV = "ML_ASSETS_CONFIG"
INGEST_JOB = "ingest_job"
TRAINING_JOB = "training_job"
SCORING_JOB = "scoring_job"
DAILY_JOB = "daily_job"
GROUP_OWNERS = {"ingest": ["team:data-engineering"], "training": ["team:ml"], "scoring": ["team:ml"],
                "monitoring": ["team:ml-ops"]}  # shown on the asset graph and asset pages


def build_resources(spec: PipelineSpec) -> dict[str, object]:
    """The lake IO manager, MLflow tracking (around dagster-mlflow's run) and the model registry of one pipeline (MLflow's HTTP
    timeout and retries set from the spec's retries section: MLflow reads them from the environment)."""
    os.environ.update(mlflow_http_env(spec.retries))
    return {
        "io_manager": LakeIOManager(lake_dir=str(spec.lake_dir), date_column=spec.dataset.date),
        "mlflow": MlflowTracking(experiment_name=spec.experiment_name,
                                 mlflow_tracking_uri=secret_value(spec, "mlflow.tracking_uri", spec.tracking_uri),
                                 artifact_location=spec.artifact_location),
        "model_registry": ModelRegistry(tracking_uri=secret_value(spec, "mlflow.tracking_uri", spec.tracking_uri)),
        "source": DataSource.from_spec(spec),
        "alerts": AlertWebhook(webhook_url=secret_value(spec, "monitoring.alerts.webhook_url",
                                                        spec.monitoring.alerts.webhook_url),
                               timeout_seconds=spec.monitoring.alerts.timeout_seconds,
                               retries=spec.monitoring.alerts.retries),
        "dask": DaskCluster.from_spec(spec),
    }


def build_jobs(spec: PipelineSpec) -> list:
    """Ingest, scoring and the whole daily chain over dates; training over segments (ends its MLflow run when done)."""
    return [
        dg.define_asset_job(INGEST_JOB, selection=["raw_data", "features"], partitions_def=daily_partitions(spec)),
        dg.define_asset_job(TRAINING_JOB, selection=["training_set", "segment_model", "model_evaluation"],
                            partitions_def=segment_partitions(spec), hooks={end_mlflow_on_run_finished}),
        dg.define_asset_job(SCORING_JOB, selection=["predictions", "risk_clusters", "risk_report", "drift_report",
                                                        "estimated_performance", "model_performance"],
                            partitions_def=daily_partitions(spec), tags={SCORING_TAG: "true"}),
        dg.define_asset_job(DAILY_JOB, selection=list(DAILY_CHAIN), partitions_def=daily_partitions(spec),
                            tags={SCORING_TAG: "true"},
                            description="The whole daily chain, ingest to monitoring: one run per day or per range"),
    ]


def build_definitions(spec: PipelineSpec) -> dg.Definitions:
    """Every asset, check, job and resource of one pipeline."""
    assets = [*build_ingest_assets(spec), *build_training_assets(spec), *build_scoring_assets(spec),
              *build_monitoring_assets(spec)]
    return dg.Definitions(assets=with_owners(assets), asset_checks=build_training_checks(spec), jobs=build_jobs(spec),
                          resources=build_resources(spec),
                          sensors=build_monitoring_sensors(spec, TRAINING_JOB),
                          schedules=build_schedules(spec, DAILY_JOB, TRAINING_JOB),
                          executor=build_executor(spec.execution))


def build_executor(execution: ExecutionSpec) -> dg.ExecutorDefinition:
    """The spec's executor: in process (no per-step process start), or a process per step, max_concurrent at once."""
    if execution.executor == "multiprocess":
        return dg.multiprocess_executor.configured({"max_concurrent": execution.max_concurrent})
    return dg.in_process_executor


def with_owners(assets: list[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """The assets with the owners of their group (GROUP_OWNERS)."""
    return list(dg.map_asset_specs(lambda spec: spec.replace_attributes(owners=GROUP_OWNERS.get(spec.group_name, [])),
                                   assets))


def default_config_path() -> Path:
    """$ML_ASSETS_CONFIG, or pipeline.yaml in the current folder."""
    return Path(os.environ.get(CONFIG_ENV, "pipeline.yaml"))


@dg.definitions
def defs() -> dg.Definitions:
    """Definitions of the pipeline the environment points at (loaded when Dagster asks)."""
    return build_definitions(load_spec(default_config_path()))
