"""MLflow tracking: our ConfigurableResource around dagster-mlflow's run (one MLflow run per Dagster run, each
segment in a nested run), and everything the training assets log into it."""

import os
import warnings
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dagster as dg
import mlflow
import pandas as pd
import xgboost as xgb
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from pydantic import PrivateAttr

from ml_assets.core.data.fingerprint import TrainingData
from ml_assets.core.training.evaluation import HoldoutEvaluation
from ml_assets.core.training.leakage import LeakageAudit
from ml_assets.core.training.modeling import SegmentFit, predict
from ml_assets.core.training.record import ScoringMeta
from ml_assets.resources.registry import (
    FINGERPRINT_FILE,
    LEAKAGE_FILE,
    META_FILE,
    MODEL_ARTIFACT,
    client_uri,
    is_remote,
    unreachable,
)
from ml_assets.spec import RetriesSpec

warnings.filterwarnings("ignore", category=dg.BetaWarning)  # dagster-mlflow's MlFlow and hooks are beta

from dagster_mlflow.resources import MlFlow  # noqa: E402

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep CLI and run logs readable

PIP_REQUIREMENTS = [f"xgboost=={xgb.__version__}"]


def mlflow_http_env(retries: RetriesSpec) -> dict[str, str]:
    """MLflow's own HTTP limits from the spec's retries section (MLflow reads them at every request)."""
    return {"MLFLOW_HTTP_REQUEST_TIMEOUT": str(retries.request_timeout_s),
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(retries.request_retries),
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": str(retries.request_backoff_factor)}


def ensure_experiment(tracking_uri: str, name: str, artifact_location: str) -> str:
    """Create the experiment with the project's artifact location if it does not exist; return its id."""
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name, artifact_location=None if is_remote(tracking_uri) else artifact_location)
    except MlflowException:  # created meanwhile by a parallel step
        return client.get_experiment_by_name(name).experiment_id


@dataclass(frozen=True)
class SegmentRun:
    """What one segment's nested MLflow run logs: tags, params, metrics, the fit's scoring metadata, training data,
    tuning and cross-validation as JSON documents, and the booster (only the trees scoring uses) with a few rows of
    its model matrix for its signature and input example."""

    name: str
    tags: dict[str, str]
    params: dict[str, Any]
    metrics: dict[str, float]
    fit: SegmentFit
    meta: ScoringMeta
    data: TrainingData
    example: pd.DataFrame

    def documents(self) -> dict[str, Any]:
        """The JSON documents of the run by artifact file."""
        fit = self.fit
        documents = {META_FILE: self.meta.to_document(), FINGERPRINT_FILE: self.data.as_dict()}
        if fit.tuning:
            documents["tuning.json"] = {"best_params": fit.tuning.best_params, "trials": fit.tuning.trials}
        if fit.cv:
            documents["cross_validation.json"] = fit.cv.as_dict()
        return documents

    @property
    def booster(self) -> xgb.Booster:
        """The fit's booster trimmed to the trees scoring uses."""
        return self.fit.model.booster[: self.fit.model.best_iteration + 1]


class MlflowTracking(dg.ConfigurableResource):
    """dagster-mlflow's run as a ConfigurableResource (its `mlflow_tracking` is a legacy @resource): the experiment
    is created in the project's artifact store first, then the Dagster run's MLflow run is started or resumed;
    end_mlflow_on_run_finished ends it."""

    experiment_name: str
    mlflow_tracking_uri: str
    artifact_location: str
    _run: MlFlow = PrivateAttr()

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Create the experiment if needed and start (or resume) the run of this Dagster run."""
        uri = client_uri(self.mlflow_tracking_uri)  # MLflow never gets user:password@ (it prints its URI)
        try:
            ensure_experiment(uri, self.experiment_name, self.artifact_location)
        except MlflowException as error:
            raise unreachable(self.mlflow_tracking_uri, error) from None
        self._run = MlFlow(SimpleNamespace(
            log=context.log, dagster_run=context.dagster_run, run_id=context.run_id,
            resource_config={"mlflow_tracking_uri": uri, "experiment_name": self.experiment_name}))

    def end_run(self, status: str = "FINISHED") -> None:
        """End the Dagster run's MLflow run (end_mlflow_on_run_finished calls it on the last step or a failure)."""
        self._run.end_run(status=status)

    def log_segment_run(self, run: SegmentRun, pending: list[Future[None]], folder: Path) -> tuple[str, str]:
        """Log one segment's nested run: tags, params, metrics, documents, the model, then the files that `pending`
        writes into `folder` meanwhile; returns the run id and the model URI."""
        with mlflow.start_run(run_name=run.name, nested=True) as active:
            mlflow.set_tags(run.tags)
            mlflow.log_params(run.params)
            mlflow.log_metrics(run.metrics)
            for artifact, document in run.documents().items():
                mlflow.log_dict(document, artifact)
            model_uri = log_booster(run.booster, run.example)
            for written in pending:
                written.result()  # raises what the writer raised
            mlflow.log_artifacts(str(folder))
        return active.info.run_id, model_uri

    def register_version(self, model_uri: str, name: str, tags: dict[str, Any]) -> str:
        """Register a logged model as a new version of `name` with its tags (one call, once its run is complete)."""
        version = mlflow.register_model(model_uri, name, tags={key: str(value) for key, value in tags.items()})
        return str(version.version)

    def log_evaluation(self, run_id: str, evaluation: HoldoutEvaluation) -> None:
        """Evaluation metrics (as eval_<name>), confusion matrix, lift table and plots into a version's run."""
        client = MlflowClient(tracking_uri=client_uri(self.mlflow_tracking_uri))
        now = int(pd.Timestamp.now().timestamp() * 1000)
        client.log_batch(run_id, metrics=[Metric(f"eval_{name}", float(value), now, 0)
                                          for name, value in evaluation.metrics.items()])
        client.log_dict(run_id, evaluation.confusion, "evaluation/confusion_matrix.json")
        client.log_text(run_id, evaluation.lift.to_csv(index=False), "evaluation/lift_by_decile.csv")
        for path in evaluation.plots.values():
            client.log_artifact(run_id, str(path), artifact_path="evaluation")

    def log_leakage_audit(self, run_id: str, audit: LeakageAudit, tags: dict[str, str]) -> None:
        """A version's leakage audit into its run, after registration: the JSON document and the run's tags."""
        client = MlflowClient(tracking_uri=client_uri(self.mlflow_tracking_uri))
        client.log_dict(run_id, audit.as_dict(), LEAKAGE_FILE)
        for key, value in tags.items():
            client.set_tag(run_id, key, value)


def log_booster(booster: xgb.Booster, matrix: pd.DataFrame) -> str:
    """Log a booster in XGBoost's native ubj format with its signature and a few rows of its model matrix as the
    input example (as MLflow can serve them); its model URI."""
    example = serving_example(matrix)
    info = mlflow.xgboost.log_model(
        booster, name=MODEL_ARTIFACT, model_format="ubj", pip_requirements=PIP_REQUIREMENTS,
        signature=infer_signature(example, predict(booster, example)), input_example=example)
    return info.model_uri


def serving_example(matrix: pd.DataFrame) -> pd.DataFrame:
    """Model input as MLflow's xgboost pyfunc can serve it: categoricals as their vocabulary codes (NaN if unknown).

    That wrapper builds its DMatrix without enable_categorical, so string or category columns cannot be served;
    the codes index `vocabulary` in scoring_meta.json, which the project's own scoring applies."""
    example = matrix.copy()
    for column in example.select_dtypes("category").columns:
        example[column] = example[column].cat.codes.astype("float64").where(example[column].notna())
    return example
