"""MLflow: dagster-mlflow's tracking resource, and the model registry the scoring assets read from."""

import getpass
import json
import os
import tempfile
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import dagster as dg
import mlflow
import pandas as pd
import xgboost as xgb

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ml_assets.core.drift import ReferenceProfile
from ml_assets.core.profile import PROFILE_FILE, load_profile

warnings.filterwarnings("ignore", category=dg.BetaWarning)  # dagster-mlflow's resource and hooks are beta

from dagster_mlflow.resources import CONFIG_SCHEMA, MlFlow  # noqa: E402

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep CLI and run logs readable

CHAMPION = "champion"
CHALLENGER = "challenger"
META_FILE = "scoring_meta.json"
REFERENCE_FILE = "reference.parquet"
SIMILAR_FILE = "similar_customers.parquet"
PROFILE_DIR = "reference_profile"
MODEL_ARTIFACT = "model"
PIP_REQUIREMENTS = [f"xgboost=={xgb.__version__}"]
HISTORY_TAG = "champion_history"
HISTORY_MAX_CHARS = 5000  # registered-model tag values are VARCHAR(5000) in MLflow's SQL stores


def is_remote(tracking_uri: str) -> bool:
    """True for a tracking server reached over HTTP, which keeps artifacts in its own store."""
    return tracking_uri.startswith(("http://", "https://"))


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
        """The reference sample logged with a model version (its training-window features and scores), read
        once per process; do not modify it."""
        frame = _load_frame(self.tracking_uri, model.name, model.version, REFERENCE_FILE)
        if frame is None:
            raise FileNotFoundError(f"{model.name} v{model.version} has no {REFERENCE_FILE} artifact; retrain it")
        return frame

    def reference_profile(self, model: LoadedModel) -> ReferenceProfile | None:
        """The drift reference profile logged with a model version (read once per process), or None for
        versions trained before profiles were logged."""
        return _load_profile(self.tracking_uri, model.name, model.version)

    def similar_reference(self, model: LoadedModel) -> pd.DataFrame | None:
        """The labeled training rows and their contributions logged with a model version for similar-customer
        search (read once per process; do not modify it), or None for versions trained before it was logged."""
        return _load_frame(self.tracking_uri, model.name, model.version, SIMILAR_FILE)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, str(version))

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of a registered model, oldest first (none when the model does not exist)."""
        found = self.client.search_model_versions(f"name='{name}'")
        return sorted(found, key=lambda version: int(version.version))

    def aliases(self, name: str) -> dict[str, list[str]]:
        """Aliases of a registered model by version (search results do not carry them)."""
        by_version: dict[str, list[str]] = {}
        for alias, version in self.client.get_registered_model(name).aliases.items():
            by_version.setdefault(str(version), []).append(alias)
        return by_version

    def tag_version(self, name: str, version: str, tags: dict[str, Any]) -> None:
        """Set model-version tags (values become strings)."""
        for key, value in tags.items():
            self.client.set_model_version_tag(name, str(version), key, str(value))

    def champion_history(self, name: str) -> list[dict[str, str]]:
        """The champion moves recorded on the registered model, oldest first."""
        try:
            tags = self.client.get_registered_model(name).tags
        except MlflowException:
            return []
        return json.loads(tags.get(HISTORY_TAG, "[]"))

    def move_champion(self, name: str, version: str, move: str, reason: str) -> None:
        """Point `champion` at `version`; record the move, reason and user on the version and in the history."""
        history = self.champion_history(name)
        current = self.version_by_alias(name, CHAMPION)
        if not history and current is not None:  # champion set before the history was kept
            history = [history_entry(current.version, "unrecorded", "champion before the history was kept")]
        history.append(history_entry(str(version), move, reason))
        self.set_alias(name, CHAMPION, str(version))
        self.tag_version(name, version, {"champion_move": move, "champion_reason": reason,
                                         "champion_set_by": getpass.getuser(), "champion_set_at": _now()})
        self.client.set_registered_model_tag(name, HISTORY_TAG, history_json(history))

    def promote(self, name: str, version: str, reason: str) -> None:
        """Make an existing version champion by hand."""
        known = [str(v.version) for v in self.versions(name)]
        if str(version) not in known:
            raise ValueError(f"{name} has no version {version}; versions: {', '.join(known) or 'none'} "
                             "(list them with `ml-assets models`)")
        self.move_champion(name, str(version), "promote", reason)

    def rollback(self, name: str, reason: str) -> str:
        """Move `champion` back to the version that held it before the current one; returns that version."""
        current = self.version_by_alias(name, CHAMPION)
        if current is None:
            raise ValueError(f"{name} has no champion to roll back; promote a version with `ml-assets promote`")
        stack = champion_stack(self.champion_history(name))
        if not stack:
            raise ValueError(f"{name}: no champion moves are recorded (v{current.version} became champion before "
                             "the history was kept); set the champion explicitly with `ml-assets promote`")
        if stack[-1] != str(current.version):
            raise ValueError(f"{name}@champion is v{current.version} but the recorded history ends at "
                             f"v{stack[-1]} (moved outside ml-assets?); "
                             "set the champion explicitly with `ml-assets promote`")
        if len(stack) < 2:
            raise ValueError(f"{name}: v{current.version} is the first recorded champion; "
                             "there is none to roll back to")
        self.move_champion(name, stack[-2], "rollback", reason)
        return stack[-2]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def history_entry(version: str, move: str, reason: str) -> dict[str, str]:
    """One champion move: version, kind of move (gate, promote, rollback), reason, user and time."""
    return {"version": str(version), "move": move, "reason": reason[:200], "by": getpass.getuser(), "at": _now()}


def history_json(history: list[dict[str, str]]) -> str:
    """The newest moves that fit in one registered-model tag, as JSON."""
    kept = list(history)
    while len(kept) > 1 and len(json.dumps(kept)) > HISTORY_MAX_CHARS:
        kept.pop(0)
    return json.dumps(kept)


def champion_stack(history: list[dict[str, str]]) -> list[str]:
    """Champion versions in the order they took over, rollbacks undone: the last is the current champion."""
    stack: list[str] = []
    for entry in history:
        version = entry["version"]
        if entry["move"] == "rollback":
            while stack and stack[-1] != version:
                stack.pop()
        if not stack or stack[-1] != version:
            stack.append(version)
    return stack


def _model_artifact_uri(client: MlflowClient, model_version: ModelVersion) -> str:
    """Where a version's model files live. MLflow 3 sources read `models:/m-...`, which MLflow resolves
    against the process-wide tracking URI; resolving it with our client keeps loading tied to our store."""
    if model_version.source.startswith("models:/"):
        return client.get_logged_model(model_version.source.removeprefix("models:/")).artifact_location
    return model_version.source


@lru_cache(maxsize=64)
def _load_version(tracking_uri: str, name: str, version: str) -> LoadedModel:
    """Load a version once per process: registered versions are immutable."""
    client = MlflowClient(tracking_uri=tracking_uri)
    model_version = client.get_model_version(name, version)
    with tempfile.TemporaryDirectory() as tmp:
        meta_path = mlflow.artifacts.download_artifacts(run_id=model_version.run_id, artifact_path=META_FILE,
                                                        dst_path=tmp, tracking_uri=tracking_uri)
        meta = json.loads(Path(meta_path).read_text())
        model_dir = mlflow.artifacts.download_artifacts(artifact_uri=_model_artifact_uri(client, model_version),
                                                        dst_path=tmp, tracking_uri=tracking_uri)
        booster = xgb.Booster()
        booster.load_model(str(next(Path(model_dir).glob("model.*"))))
    return LoadedModel(name=name, version=str(version), booster=booster, meta=meta)


def _download_run_artifact(tracking_uri: str, name: str, version: str, artifact: str, destination: str) -> Path | None:
    """Download an artifact of the run that made a version into `destination`; None when it was not logged."""
    run_id = MlflowClient(tracking_uri=tracking_uri).get_model_version(name, version).run_id
    try:
        return Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact, dst_path=destination,
                                                        tracking_uri=tracking_uri))
    except (MlflowException, OSError):
        return None


@lru_cache(maxsize=16)
def _load_frame(tracking_uri: str, name: str, version: str, artifact: str) -> pd.DataFrame | None:
    """Download and read a parquet artifact of a version once per process; None when it was not logged."""
    with tempfile.TemporaryDirectory() as tmp:
        path = _download_run_artifact(tracking_uri, name, version, artifact, tmp)
        return None if path is None else pd.read_parquet(path)


@lru_cache(maxsize=64)
def _load_profile(tracking_uri: str, name: str, version: str) -> ReferenceProfile | None:
    """Download and read a version's reference profile once per process (versions are immutable)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = _download_run_artifact(tracking_uri, name, version, PROFILE_DIR, tmp)
        return load_profile(folder) if folder is not None and (folder / PROFILE_FILE).exists() else None
