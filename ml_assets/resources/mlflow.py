"""MLflow: dagster-mlflow's tracking resource, and the model registry the scoring assets read from."""

import json
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import dagster as dg
import mlflow
import pandas as pd
import xgboost as xgb
from dagster_mlflow.resources import CONFIG_SCHEMA, MlFlow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep CLI and run logs readable

CHAMPION = "champion"
CHALLENGER = "challenger"
META_FILE = "scoring_meta.json"
REFERENCE_FILE = "reference.parquet"
MODEL_ARTIFACT = "model"
PIP_REQUIREMENTS = [f"xgboost=={xgb.__version__}"]


def ensure_experiment(tracking_uri: str, name: str, artifact_location: str) -> str:
    """Create the experiment with the project's artifact location if it does not exist; return its id."""
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location)
    except MlflowException:  # created meanwhile by a parallel step
        return client.get_experiment_by_name(name).experiment_id


@dg.resource(
    config_schema={**CONFIG_SCHEMA, "artifact_location": dg.Field(dg.StringSource, is_required=True)},
    description="dagster-mlflow's mlflow_tracking, with the experiment created in the project's artifact store first.",
)
def mlflow_tracking(context: dg.InitResourceContext) -> MlFlow:
    """dagster-mlflow's resource (one MLflow run per Dagster run), artifacts kept in the project's home."""
    config = context.resource_config
    ensure_experiment(config["mlflow_tracking_uri"], config["experiment_name"], config["artifact_location"])
    return MlFlow(context)


@dataclass(frozen=True)
class LoadedModel:
    """A registered model version ready to score."""

    name: str
    version: str
    booster: xgb.Booster
    meta: dict[str, Any]


class ModelRegistry(dg.ConfigurableResource):
    """Reads registered models by alias from the project's own MLflow registry (never from user files)."""

    tracking_uri: str

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.tracking_uri)

    def version_by_alias(self, name: str, alias: str) -> ModelVersion | None:
        """The version holding `alias`, or None when the model or alias does not exist."""
        try:
            return self.client.get_model_version_by_alias(name, alias)
        except MlflowException:
            return None

    def load(self, name: str, version: str) -> LoadedModel:
        """Booster and scoring metadata of one registered version."""
        return _load_version(self.tracking_uri, name, str(version))

    def load_alias(self, name: str, alias: str = CHAMPION) -> LoadedModel | None:
        """The model holding `alias`, or None when there is none yet."""
        found = self.version_by_alias(name, alias)
        return None if found is None else self.load(name, found.version)

    def reference(self, model: LoadedModel) -> pd.DataFrame:
        """The reference sample logged with a model version (its training-window features and scores)."""
        run_id = self.client.get_model_version(model.name, model.version).run_id
        with tempfile.TemporaryDirectory() as tmp:
            path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=REFERENCE_FILE, dst_path=tmp,
                                                       tracking_uri=self.tracking_uri)
            return pd.read_parquet(path)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, str(version))


@lru_cache(maxsize=64)
def _load_version(tracking_uri: str, name: str, version: str) -> LoadedModel:
    """Load a version once per process: registered versions are immutable."""
    client = MlflowClient(tracking_uri=tracking_uri)
    model_version = client.get_model_version(name, version)
    with tempfile.TemporaryDirectory() as tmp:
        meta_path = mlflow.artifacts.download_artifacts(run_id=model_version.run_id, artifact_path=META_FILE,
                                                        dst_path=tmp, tracking_uri=tracking_uri)
        meta = json.loads(Path(meta_path).read_text())
        model_dir = mlflow.artifacts.download_artifacts(artifact_uri=model_version.source, dst_path=tmp,
                                                        tracking_uri=tracking_uri)
        booster = xgb.Booster()
        booster.load_model(str(next(Path(model_dir).glob("model.*"))))
    return LoadedModel(name=name, version=str(version), booster=booster, meta=meta)
