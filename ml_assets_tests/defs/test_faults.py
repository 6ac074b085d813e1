"""Faults around the registry: an outage is never a missing model (scoring fails after the spec's retries and
every stored partition stays), a corrupt artifact stops only its segment, a segment without training rows fails
its check, unscored rows are counted, and a tracking server stopped mid-run ends in one clear error."""

import hashlib
import json
import os
import signal
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from ml_assets.core.data import lake
from ml_assets.core.data.features import SEGMENT_COLUMN
from ml_assets.definitions import INGEST_JOB, SCORING_JOB, build_definitions, build_resources
from ml_assets.resources import registry as registry_module
from ml_assets.resources.registry import CHAMPION, ModelRegistry
from ml_assets.spec import PipelineSpec
from ml_assets_tests.conftest import make_spec
from ml_assets_tests.defs import test_mlflow_server
from ml_assets_tests.defs.test_bad_input import lake_snapshot, registry_snapshot
from ml_assets_tests.defs.test_mlflow_server import wait_until_ready
from ml_assets_tests.ports import free_port
from ml_assets_tests.training_support import TRAINING, spec_with_lake, train

DAY = "2024-03-29"  # a features day of the ingested lake (2024-01-01..2024-03-31)
FAST_RETRIES = {"max_retries": 1, "delay_s": 0.01, "request_timeout_s": 5}
NO_HTML = {"evidently": {"days": "none", "sample_rows": 1000}}
AFTER_PREDICTIONS = {"risk_clusters", "risk_report", "drift_report", "model_performance"}


def spec_at(home: Path, **overrides: dict) -> PipelineSpec:
    """The faults pipeline at `home` (fast retries, no Evidently HTML) with more overrides."""
    return make_spec(home, **{"training": TRAINING, "retries": FAST_RETRIES, "drift": NO_HTML, **overrides})


def score(spec: PipelineSpec, day: str = DAY, job: str = SCORING_JOB,
          resources: dict | None = None) -> dg.ExecuteInProcessResult:
    """One run of `job` for `day` (failures returned, not raised)."""
    defs = build_definitions(spec)
    if resources:
        defs = dg.Definitions(assets=defs.assets, jobs=defs.jobs, resources={**defs.resources, **resources},
                              executor=defs.executor)
    with dg.instance_for_test() as instance:
        return defs.resolve_job_def(job).execute_in_process(instance=instance, partition_key=day, raise_on_error=False)


def restarted_steps(result: dg.ExecuteInProcessResult) -> list[str]:
    return [event.step_key for event in result.all_events if event.event_type_value == "STEP_RESTARTED"]


def succeeded_steps(result: dg.ExecuteInProcessResult) -> set[str]:
    return {event.step_key for event in result.all_events if event.is_step_success}


def forget_loaded_versions() -> None:
    """Drop the per-process caches of loaded versions, so the next run reads the artifact files again."""
    for cached in (registry_module._load_version, registry_module._load_frame, registry_module._load_profile):
        cached.cache_clear()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, landing_dir: Path, ingested_lake: Path) -> PipelineSpec:
    """Both segments trained on the ingested lake, and DAY scored once (stored partitions to protect)."""
    home = tmp_path_factory.mktemp("faults")
    spec_with_lake(home, landing_dir, ingested_lake)
    spec = spec_at(home)
    assert train(spec).success
    assert score(spec).success
    return spec


def test_registry_outage_fails_scoring_and_keeps_every_stored_partition(trained: PipelineSpec) -> None:
    port = free_port()
    down = spec_at(trained.base_dir, mlflow={"tracking_uri": f"http://ops:hunter2@127.0.0.1:{port}"})
    before = lake_snapshot(trained)
    result = score(down)
    assert not result.success
    message = result.failure_data_for_node("predictions").error.message
    assert f"MLflow tracking server / model registry at http://ops:***@127.0.0.1:{port} cannot be reached" in message
    assert "gave up after 2 attempt(s)" in message and "hunter2" not in message
    assert "no champion" not in message
    assert restarted_steps(result) == ["predictions"] * FAST_RETRIES["max_retries"]
    assert succeeded_steps(result).isdisjoint(AFTER_PREDICTIONS | {"predictions"})
    assert lake_snapshot(trained) == before, "an outage must not replace stored partitions"


def artifact_path(spec: PipelineSpec, segment: str, artifact: str) -> Path:
    """The stored file of an artifact of the segment's champion, in the local MLflow store."""
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    version = client.get_model_version_by_alias(spec.registered_model_name(segment), CHAMPION)
    if artifact.startswith("model/"):
        root = registry_module._logged_model_uri(client, version.source)
    else:
        root = client.get_run(version.run_id).info.artifact_uri
    return Path(urllib.parse.urlparse(root).path) / artifact.removeprefix("model/")


CORRUPTIONS = [("model", "model/model.ubj"), ("calibration", "scoring_meta.json"),
               ("reference profile", "reference_profile/profile.json")]


@pytest.mark.parametrize(("kind", "artifact"), CORRUPTIONS, ids=[kind for kind, _ in CORRUPTIONS])
def test_corrupt_artifact_fails_its_segment_and_the_other_is_scored(trained: PipelineSpec, kind: str,
                                                                    artifact: str) -> None:
    spec, name = trained, trained.registered_model_name("domestic")
    path = artifact_path(spec, "domestic", artifact)
    original = path.read_bytes()
    registry_before = registry_snapshot(spec)
    path.write_bytes(original[: len(original) // 2] + b"\x00garbage")
    forget_loaded_versions()
    try:
        result = score(spec)
    finally:
        path.write_bytes(original)
        forget_loaded_versions()
    assert result.success, "a broken segment fails its check, not the run"
    check = next(c for c in result.get_asset_check_evaluations() if c.check_name == "champion_available")
    features = lake.read_partition(lake.partition_dir(spec.lake_dir, "features", "date", DAY))
    domestic_rows = int((features[SEGMENT_COLUMN] == "domestic").sum())
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["unscored_rows_by_segment"].value == {"domestic": domestic_rows}
    what_to_do = check.metadata["what_to_do"].value
    assert f"{name} v1: artifact {artifact} fails its sha256 checksum (recorded at registration" in what_to_do
    assert "`ml-assets rollback --segment domestic --reason" in what_to_do and "retrain the segment" in what_to_do
    predictions = lake.read_partition(lake.partition_dir(spec.lake_dir, "predictions", "date", DAY))
    assert set(predictions[SEGMENT_COLUMN]) == {"industrial"}
    assert len(predictions) == int((features[SEGMENT_COLUMN] == "industrial").sum())
    assert registry_snapshot(spec) == registry_before


def test_scoring_meta_of_an_unknown_schema_version_is_refused_in_one_line(trained: PipelineSpec) -> None:
    """A version whose scoring_meta.json another schema version wrote (its checksum recorded as it is) is not read:
    the error names the version, the schema version found and what to do."""
    spec, name = trained, trained.registered_model_name("industrial")
    path = artifact_path(spec, "industrial", "scoring_meta.json")
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    original, checksums = path.read_bytes(), client.get_model_version(name, "1").tags[registry_module.CHECKSUM_TAG]
    path.write_text(json.dumps({**json.loads(original), "schema_version": 99}))
    recorded = {**json.loads(checksums), "scoring_meta.json": hashlib.sha256(path.read_bytes()).hexdigest()}
    client.set_model_version_tag(name, "1", registry_module.CHECKSUM_TAG, json.dumps(recorded))
    forget_loaded_versions()
    try:
        with pytest.raises(registry_module.ArtifactError) as raised:
            ModelRegistry(tracking_uri=spec.tracking_uri).load(name, "1")
    finally:
        path.write_bytes(original)
        client.set_model_version_tag(name, "1", registry_module.CHECKSUM_TAG, checksums)
        forget_loaded_versions()
    message = str(raised.value)
    assert message.startswith(f"{name} v1: artifact scoring_meta.json has schema_version 99, this ml_assets reads "
                              "schema_version 1; ")
    assert "retrain the segment" in message and "\n" not in message


def test_unreadable_model_without_a_checksum_is_named_with_its_version(trained: PipelineSpec) -> None:
    """A version registered before checksums were recorded: the load error itself names the version."""
    spec, name = trained, trained.registered_model_name("industrial")
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    checksums = client.get_model_version(name, "1").tags[registry_module.CHECKSUM_TAG]
    path = artifact_path(spec, "industrial", "model/model.ubj")
    original = path.read_bytes()
    client.delete_model_version_tag(name, "1", registry_module.CHECKSUM_TAG)
    path.write_bytes(b"not a booster")
    forget_loaded_versions()
    try:
        with pytest.raises(registry_module.ArtifactError) as error:
            ModelRegistry(tracking_uri=spec.tracking_uri).load_alias(name)
    finally:
        path.write_bytes(original)
        client.set_model_version_tag(name, "1", registry_module.CHECKSUM_TAG, checksums)
        forget_loaded_versions()
    assert f"{name} v1: artifact model cannot be read (XGBoostError" in str(error.value)
    assert "`ml-assets rollback --segment industrial --reason" in str(error.value)


def test_unknown_segment_values_are_counted_at_the_spec_severity(trained: PipelineSpec, tmp_path: Path,
                                                                 landing_dir: Path) -> None:
    """Values differing only in case or spaces are unknown values too: counted, sampled, never scored silently."""
    day = "2024-03-30"
    frame = pd.read_csv(landing_dir / f"invoices_{day}.csv")
    frame.loc[:2, "tariff"] = ["Domestic ", "INDUSTRIAL", "commercial"]
    frame.to_csv(tmp_path / f"invoices_{day}.csv", index=False)
    spec = spec_at(trained.base_dir, scoring={"unknown_segments": "error"},
                   dataset={"source": {"kind": "files", "path": str(tmp_path / "invoices_{date}.csv")}})
    assert score(spec, day, INGEST_JOB).success
    result = score(spec, day)
    assert result.success
    check = next(c for c in result.get_asset_check_evaluations() if c.check_name == "segments_known")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["unscored_rows"].value == 3
    assert all(str(i) in check.metadata["sample"].value for i in frame.loc[:2, "invoice_id"])
    materialization = result.asset_materializations_for_node("predictions")[0]
    assert materialization.metadata["unscored_rows"].value == 3
    assert materialization.metadata["dagster/row_count"].value == len(frame) - 3


def test_segment_without_training_rows_fails_its_quality_gate(tmp_path: Path, landing_dir: Path,
                                                              ingested_lake: Path) -> None:
    segments = {"domestic": ["domestic"], "industrial": ["industrial"], "commercial": ["commercial"]}
    spec = spec_with_lake(tmp_path, landing_dir, ingested_lake, dataset={"segments": segments}, retries=FAST_RETRIES)
    result = train(spec, "commercial", "commercial")
    assert not result.success
    gate = next(c for c in result.get_asset_check_evaluations() if c.check_name == "quality_gate")
    assert not gate.passed
    assert "no rows in the training window: no tariff value of dataset.segments.commercial (['commercial'])" in \
        gate.metadata["commercial"].value
    failures = [event.event_specific_data.error.cls_name for event in result.get_step_failure_events()]
    assert failures == ["DagsterAssetCheckFailedError"], "a failed check, not an exception"
    assert MlflowClient(tracking_uri=spec.tracking_uri).search_model_versions() == []


@pytest.fixture
def tracking_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, subprocess.Popen]]:
    """A real `mlflow server` on 127.0.0.1 (SQLite store, proxied artifacts) and its process, stopped after
    (a busy machine may take minutes to start it)."""
    monkeypatch.setattr(test_mlflow_server, "READY_TIMEOUT_S", 300)
    url, process, log = test_mlflow_server.start_tracking_server(tmp_path / "server")
    try:
        wait_until_ready(url, process, log)
        yield url, process
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """Stop a server and every process of its group."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


class StopsServerOnFirstLoad(ModelRegistry):
    """The registry of a run whose tracking server is stopped as scoring asks for its first champion."""

    server_pid: int

    def load_alias(self, name: str, alias: str = CHAMPION) -> registry_module.LoadedModel | None:
        try:
            os.killpg(self.server_pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return super().load_alias(name, alias)


def test_tracking_server_stopped_mid_run_ends_in_one_clear_error(tracking_server, tmp_path: Path, landing_dir: Path,
                                                                 ingested_lake: Path) -> None:
    url, process = tracking_server
    spec_with_lake(tmp_path, landing_dir, ingested_lake)
    spec = spec_at(tmp_path, mlflow={"tracking_uri": url})
    assert train(spec).success
    assert score(spec).success
    before = lake_snapshot(spec)
    forget_loaded_versions()
    stopping = StopsServerOnFirstLoad(tracking_uri=url, server_pid=process.pid)
    result = score(spec, resources={**build_resources(spec), "model_registry": stopping})
    assert not result.success
    message = result.failure_data_for_node("predictions").error.message
    assert f"MLflow tracking server / model registry at {url} cannot be reached" in message
    assert restarted_steps(result) == ["predictions"] * FAST_RETRIES["max_retries"]
    assert succeeded_steps(result).isdisjoint(AFTER_PREDICTIONS | {"predictions"})
    assert lake_snapshot(spec) == before
