"""The model registry: registered versions, their aliases, and loading a version (booster, scoring metadata,
references), every artifact checked against the checksums recorded at registration."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

import dagster as dg
import mlflow
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from pydantic import PrivateAttr

from ml_assets.core.data.sources import redact_url
from ml_assets.core.monitoring.drift import ReferenceProfile
from ml_assets.core.monitoring.profile import PROFILE_FILE, load_profile
from ml_assets.core.training.leakage import LeakageAudit
from ml_assets.core.training.record import ScoringMeta, UnknownSchemaVersion

if TYPE_CHECKING:  # xgboost is imported where a booster is loaded: `ml-assets models` never pays for it
    import xgboost as xgb

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep CLI and run logs readable

CHAMPION = "champion"
CHALLENGER = "challenger"
META_FILE = "scoring_meta.json"
REFERENCE_FILE = "reference.parquet"
SIMILAR_FILE = "similar_customers.parquet"
PROFILE_DIR = "reference_profile"
FINGERPRINT_FILE = "data_fingerprint.json"  # the training set's fingerprint and partitions, logged with the run
LEAKAGE_FILE = "leakage_audit.json"  # logged into a version's run by the leakage_suspects check, after registration
MODEL_ARTIFACT = "model"
CHECKSUM_TAG = "artifact_sha256"  # version tag: JSON {artifact file: sha256} recorded at registration
CHECKED_ARTIFACTS = (META_FILE, PROFILE_DIR, REFERENCE_FILE, SIMILAR_FILE)  # run artifacts besides the model
NOT_FOUND_CODES = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}  # MLflow's "no such model / alias"


class RegistryUnavailable(RuntimeError):
    """The MLflow tracking server or registry store cannot be reached: an outage, never a missing model."""


class ArtifactError(RuntimeError):
    """An artifact of a registered version that is missing, fails its checksum or cannot be read."""

    def __init__(self, name: str, version: str, segment: str, artifact: str, problem: str) -> None:
        self.name, self.version, self.segment, self.artifact = name, str(version), segment, artifact
        super().__init__(f"{name} v{version}: artifact {artifact} {problem}; move the champion back with "
                         f"`ml-assets rollback --segment {segment} --reason \"v{version} {artifact} corrupt\"` "
                         f"or retrain the segment (`ml-assets run`, or the training job for {segment})")


def unreachable(tracking_uri: str, error: BaseException) -> RegistryUnavailable:
    """The error of a failed registry call: names the MLflow service and its URL (without credentials)."""
    cause = redact_url(str(error).splitlines()[0] if str(error) else type(error).__name__)[:300]
    return RegistryUnavailable(f"MLflow tracking server / model registry at {redact_url(tracking_uri)} cannot be "
                               f"reached ({cause}); start it or fix mlflow.tracking_uri, then run again")


def file_digests(root: Path, prefix: str) -> dict[str, str]:
    """sha256 of a downloaded artifact (a file, or every file of a folder) keyed by its path under `prefix`."""
    if root.is_file():
        return {prefix: hashlib.sha256(root.read_bytes()).hexdigest()}
    return {f"{prefix}/{path.relative_to(root).as_posix()}": hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


def is_remote(tracking_uri: str) -> bool:
    """True for a tracking server reached over HTTP, which keeps artifacts in its own store."""
    return tracking_uri.startswith(("http://", "https://"))


def client_uri(tracking_uri: str) -> str:
    """The tracking URI handed to MLflow: credentials written into an http(s) URI (user:password@) move to
    MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD of this process (MLflow sends them as basic auth), so
    MLflow's own output (its "View run ... at <URI>" line, request errors) never carries them."""
    parts = urlsplit(tracking_uri)
    if not is_remote(tracking_uri) or parts.username is None:
        return tracking_uri
    os.environ["MLFLOW_TRACKING_USERNAME"] = unquote(parts.username)
    if parts.password is not None:
        os.environ["MLFLOW_TRACKING_PASSWORD"] = unquote(parts.password)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


@dataclass(frozen=True)
class LoadedModel:
    """A registered model version ready to score."""

    name: str
    version: str
    booster: xgb.Booster
    meta: ScoringMeta


class ModelRegistry(dg.ConfigurableResource):
    """Reads registered models by alias from the project's own MLflow registry (never from user files)."""

    tracking_uri: str
    _client_uri: str | None = PrivateAttr(default=None)

    @property
    def uri(self) -> str:
        """The tracking URI as MLflow gets it: credentials moved to MLflow's variables (client_uri) once per
        resource, on first use, not on every call."""
        if self._client_uri is None:
            self._client_uri = client_uri(self.tracking_uri)
        return self._client_uri

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.uri)

    def version_by_alias(self, name: str, alias: str) -> ModelVersion | None:
        """The version holding `alias`, or None when the model or alias does not exist."""
        try:
            return self.client.get_model_version_by_alias(name, alias)
        except MlflowException as error:
            if error.error_code in NOT_FOUND_CODES:
                return None
            raise unreachable(self.tracking_uri, error) from None  # as configured, password redacted

    def load(self, name: str, version: str) -> LoadedModel:
        """Booster and scoring metadata of one registered version."""
        return _load_version(self.uri, name, str(version))

    def load_alias(self, name: str, alias: str = CHAMPION) -> LoadedModel | None:
        """The model holding `alias`, or None when there is none yet (an unreachable registry raises
        RegistryUnavailable, a broken artifact ArtifactError)."""
        found = self.version_by_alias(name, alias)
        return None if found is None else self.load(name, found.version)

    def reference(self, model: LoadedModel) -> pd.DataFrame:
        """The reference sample logged with a model version (its training-window features and scores), read
        once per process; do not modify it."""
        frame = _load_frame(self.uri, model.name, model.version, REFERENCE_FILE)
        if frame is None:
            raise ArtifactError(model.name, model.version, model.meta.segment, REFERENCE_FILE,
                                "was not logged")
        return frame

    def reference_profile(self, model: LoadedModel) -> ReferenceProfile:
        """The drift reference profile logged with a model version (read once per process)."""
        return _load_profile(self.uri, model.name, model.version)

    def similar_reference(self, model: LoadedModel) -> pd.DataFrame | None:
        """The labeled training rows and their contributions logged with a model version for similar-customer
        search (read once per process; do not modify it), or None when it trained with similar_customers.top_n 0."""
        return _load_frame(self.uri, model.name, model.version, SIMILAR_FILE)

    def leakage_audit(self, name: str, version: str) -> LeakageAudit | None:
        """The leakage audit logged into a version's run, or None before the leakage_suspects check has audited
        it."""
        with tempfile.TemporaryDirectory() as tmp:
            path = version_files(self.uri, name, str(version)).fetch(LEAKAGE_FILE, Path(tmp))
            return None if path is None else LeakageAudit.from_dict(json.loads(path.read_text()))

    def artifact_checksums(self, run_id: str, model_uri: str) -> dict[str, str]:
        """sha256 of a run's model files and scoring artifacts, to record on the version it registers."""
        with tempfile.TemporaryDirectory() as tmp:
            model_dir = _download(self.uri, Path(tmp) / "model", artifact_uri=_logged_model_uri(
                self.client, model_uri))
            digests = file_digests(model_dir, MODEL_ARTIFACT)
            for artifact in CHECKED_ARTIFACTS:
                try:
                    path = _download(self.uri, Path(tmp) / "run", run_id=run_id, artifact_path=artifact)
                except (MlflowException, OSError):
                    continue  # not logged by this run (e.g. similar customers turned off)
                digests |= file_digests(path, artifact)
        return digests

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

def _logged_model_uri(client: MlflowClient, source: str) -> str:
    """Where a logged model's files live. MLflow 3 sources read `models:/m-...`, which MLflow resolves against
    the process-wide tracking URI; resolving it with our client keeps loading tied to our store."""
    if source.startswith("models:/"):
        return client.get_logged_model(source.removeprefix("models:/")).artifact_location
    return source


def _download(tracking_uri: str, destination: Path, **where: str) -> Path:
    """Download an artifact (run_id + artifact_path, or artifact_uri) into `destination`; its local path."""
    destination.mkdir(parents=True, exist_ok=True)
    return Path(mlflow.artifacts.download_artifacts(dst_path=str(destination), tracking_uri=tracking_uri, **where))


@dataclass(frozen=True)
class VersionFiles:
    """One registered version's identity and the checksums recorded when it was registered."""

    tracking_uri: str
    name: str
    version: str
    segment: str
    run_id: str
    source: str
    checksums: dict[str, str]

    def broken(self, artifact: str, problem: str) -> ArtifactError:
        return ArtifactError(self.name, self.version, self.segment, artifact, problem)

    def fetch(self, artifact: str, destination: Path) -> Path | None:
        """Download a run artifact (or the model, for MODEL_ARTIFACT) and check it against the recorded sha256;
        None when it was never logged. A registry that stopped answering raises RegistryUnavailable."""
        try:
            if artifact == MODEL_ARTIFACT:
                uri = _logged_model_uri(MlflowClient(tracking_uri=self.tracking_uri), self.source)
                path = _download(self.tracking_uri, destination / artifact, artifact_uri=uri)
            else:
                path = _download(self.tracking_uri, destination, run_id=self.run_id, artifact_path=artifact)
        except (MlflowException, OSError) as error:
            self._raise_if_unreachable(error)
            if any(key == artifact or key.startswith(f"{artifact}/") for key in self.checksums):
                raise self.broken(artifact, "is missing from the artifact store") from None
            return None
        self.verify(file_digests(path, artifact), artifact)
        return path

    def verify(self, found: dict[str, str], artifact: str) -> None:
        """Compare downloaded files with the checksums recorded at registration (none recorded: not checked)."""
        expected = {key: digest for key, digest in self.checksums.items()
                    if key == artifact or key.startswith(f"{artifact}/")}
        for key, digest in expected.items():
            if key not in found:
                raise self.broken(key, "is missing from the artifact store")
            if found[key] != digest:
                raise self.broken(key, f"fails its sha256 checksum (recorded at registration {digest[:12]}..., "
                                       f"now {found[key][:12]}...)")

    def _raise_if_unreachable(self, error: BaseException) -> None:
        """A failed download is an outage when the registry itself no longer answers."""
        try:
            MlflowClient(tracking_uri=self.tracking_uri).get_model_version(self.name, self.version)
        except MlflowException:
            raise unreachable(self.tracking_uri, error) from None


def version_files(tracking_uri: str, name: str, version: str) -> VersionFiles:
    """A version's run, model source, segment and recorded checksums, read from the registry."""
    try:
        found = MlflowClient(tracking_uri=tracking_uri).get_model_version(name, version)
    except MlflowException as error:
        if error.error_code in NOT_FOUND_CODES:
            raise
        raise unreachable(tracking_uri, error) from None
    checksums = json.loads(found.tags.get(CHECKSUM_TAG, "{}"))
    return VersionFiles(tracking_uri, name, str(version), found.tags.get("segment", "?"), found.run_id,
                        found.source, checksums)


def _read(files: VersionFiles, artifact: str, reader: Any, path: Path) -> Any:
    """Read a downloaded artifact; a file that cannot be read is named with its version and what to do."""
    try:
        return reader(path)
    except UnknownSchemaVersion as error:
        raise files.broken(artifact, str(error)) from None
    except Exception as error:  # noqa: BLE001 (xgboost, json, pyarrow: each raises its own)
        raise files.broken(artifact, f"cannot be read ({type(error).__name__}: {str(error)[:200]})") from None


def read_scoring_meta(path: Path) -> ScoringMeta:
    """The scoring metadata of a downloaded scoring_meta.json."""
    return ScoringMeta.from_document(json.loads(path.read_text()))


def _booster(folder: Path) -> xgb.Booster:
    """The booster in a downloaded model folder."""
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(str(next(folder.glob("model.*"))))
    return booster


@lru_cache(maxsize=64)
def _load_version(tracking_uri: str, name: str, version: str) -> LoadedModel:
    """Load a version once per process (registered versions are immutable), each file checked first."""
    files = version_files(tracking_uri, name, version)
    with tempfile.TemporaryDirectory() as tmp:
        meta_path = files.fetch(META_FILE, Path(tmp))
        if meta_path is None:
            raise files.broken(META_FILE, "was not logged")
        meta = _read(files, META_FILE, read_scoring_meta, meta_path)
        model_dir = files.fetch(MODEL_ARTIFACT, Path(tmp))
        booster = _read(files, MODEL_ARTIFACT, _booster, model_dir)
    return LoadedModel(name=name, version=str(version), booster=booster, meta=meta)


@lru_cache(maxsize=16)
def _load_frame(tracking_uri: str, name: str, version: str, artifact: str) -> pd.DataFrame | None:
    """Download, check and read a parquet artifact of a version once per process; None when it was not logged."""
    files = version_files(tracking_uri, name, version)
    with tempfile.TemporaryDirectory() as tmp:
        path = files.fetch(artifact, Path(tmp))
        return None if path is None else _read(files, artifact, pd.read_parquet, path)


@lru_cache(maxsize=64)
def _load_profile(tracking_uri: str, name: str, version: str) -> ReferenceProfile:
    """Download, check and read a version's reference profile once per process (versions are immutable)."""
    files = version_files(tracking_uri, name, version)
    with tempfile.TemporaryDirectory() as tmp:
        folder = files.fetch(PROFILE_DIR, Path(tmp))
        if folder is None or not (folder / PROFILE_FILE).exists():
            raise files.broken(PROFILE_DIR, "was not logged")
        return _read(files, PROFILE_DIR, load_profile, folder)
