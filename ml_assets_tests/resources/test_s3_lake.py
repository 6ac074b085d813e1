"""The lake on an object store: a real S3 API (moto's server on 127.0.0.1), endpoint and keys from the standard
AWS environment variables only; a partition is visible only once its manifest names its file."""

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import dagster as dg
import pandas as pd
import pytest
import s3fs
from moto.server import ThreadedMotoServer
from upath import UPath

from ml_assets.core.data import lake
from ml_assets.definitions import DAILY_JOB, INGEST_JOB, TRAINING_JOB, build_definitions
from ml_assets.runner import launch
from ml_assets_tests.conftest import make_spec
from ml_assets_tests.ports import free_port

BUCKET = "risk-lake"
ACCESS_KEY, SECRET_KEY = "AKIATESTLAKEKEY", "lake-secret-key-0123456789"
TRAINING = {"window_days": 45, "holdout_days": 14, "min_auc": 0.5}
AS_OF = "2024-04-20"  # labels matured by then: the 45-day window ends 2024-02-05
STEPS = ((INGEST_JOB, "2024-01-01", "2024-02-05"), (TRAINING_JOB, "domestic", "industrial"),
         (DAILY_JOB, "2024-04-18", "2024-04-20"))  # ingest the training window, train, then the daily chain


@pytest.fixture
def s3_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty bucket on moto's S3 server (127.0.0.1, a free port), reached through AWS_ENDPOINT_URL and the
    AWS key variables: the s3:// URL of a lake in it."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    reset_moto(port)  # moto keeps its buckets in the process: an earlier test's objects would still be there
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3fs.S3FileSystem.clear_instance_cache()  # a cached filesystem would still talk to an earlier test's server
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    try:
        yield f"s3://{BUCKET}/lake"
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()


def reset_moto(port: int) -> None:
    """Empty moto's in-process backends through its reset endpoint."""
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST"),
                           timeout=30).close()


def object_keys() -> list[str]:
    """Every key of the bucket, as the S3 API lists it."""
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def fail_before_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every object-store commit die after its data object is written and before the manifest."""

    def killed(data: object) -> None:
        raise KeyboardInterrupt("killed between the data object and its manifest")

    monkeypatch.setattr(lake, "commit_object", killed)


def test_a_write_killed_before_its_manifest_leaves_no_partition(s3_bucket: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    root = lake.lake_path(s3_bucket)
    folder = lake.partition_dir(root, "features", "date", "2024-03-01")
    with monkeypatch.context() as patched:
        fail_before_manifest(patched)
        with pytest.raises(KeyboardInterrupt):
            lake.write_frame(folder, pd.DataFrame({"x": [1, 2]}))
    written = object_keys()
    assert len(written) == 1 and written[0].startswith("lake/features/date=2024-03-01/part-"), written
    assert lake.stored_keys(root, "features", "date") == []
    with pytest.raises(FileNotFoundError, match="no stored partition"):
        lake.read_partition(folder)


def test_an_overwrite_killed_before_its_manifest_keeps_the_committed_version(s3_bucket: str,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    root = lake.lake_path(s3_bucket)
    folder = lake.partition_dir(root, "features", "date", "2024-03-01")
    first = lake.write_frame(folder, pd.DataFrame({"x": [1, 2]}))
    with monkeypatch.context() as patched:
        fail_before_manifest(patched)
        with pytest.raises(KeyboardInterrupt):
            lake.write_frame(folder, pd.DataFrame({"x": [3, 4, 5]}))
    assert lake.stored_keys(root, "features", "date") == ["2024-03-01"]
    assert lake.read_partition(folder)["x"].tolist() == [1, 2], "readers still take the committed version"
    lake.write_frame(folder, pd.DataFrame({"x": [6]}))
    assert lake.read_partition(folder)["x"].tolist() == [6]
    assert not first.exists(), "a committed overwrite deletes the version it replaced"


def lake_contents(root: UPath) -> dict[str, object]:
    """Every committed partition of a lake: '<asset>/<dimension>=<key>' (or '<asset>') -> its frame or record."""
    contents: dict[str, object] = {}
    for asset in sorted(entry.name for entry in root.iterdir()):
        for dimension in ("date", "segment"):
            for key in lake.stored_keys(root, asset, dimension):
                contents[f"{asset}/{dimension}={key}"] = lake.read_partition(
                    lake.partition_dir(root, asset, dimension, key))
    return contents


def run_on(home: Path, landing_dir: Path, lake_location: str | None) -> dict[str, object]:
    """The STEPS with the lake at `lake_location` (default: the local lake): the lake's contents after them, records
    without their MLflow run id and with the data home written <home> (both differ between two homes)."""
    home.mkdir()
    (home / "landing").symlink_to(landing_dir)
    storage = {"lake": lake_location} if lake_location else {}
    spec = make_spec(home, training=TRAINING, storage=storage, drift={"evidently": {"days": "none"}})
    defs = build_definitions(spec)
    with dg.instance_for_test() as instance:
        for job, first, last in STEPS:
            config = {"ops": {"training_set": {"config": {"as_of": AS_OF}}}} if job == TRAINING_JOB else {}
            outcome = launch(defs, job, instance, first, last, config, progress=lambda _: None)
            assert outcome.status == "succeeded", (job, outcome.errors)
    return {partition: value if isinstance(value, pd.DataFrame) else comparable(value, spec.home_dir)
            for partition, value in lake_contents(spec.lake_dir).items()}


def comparable(record: dict, home: Path) -> dict:
    """A stored record with its `run_id` dropped and its data home written <home>."""
    text = json.dumps({key: value for key, value in record.items() if key != "run_id"})
    return json.loads(text.replace(str(home), "<home>"))


def test_the_graph_on_s3_stores_what_it_stores_locally(tmp_path: Path, landing_dir: Path, s3_bucket: str) -> None:
    on_s3 = run_on(tmp_path / "s3", landing_dir, s3_bucket)
    local = run_on(tmp_path / "local", landing_dir, None)
    assert sorted(on_s3) == sorted(local)
    assert {"features/date=2024-01-01", "predictions/date=2024-04-20", "segment_model/segment=domestic"} <= set(local)
    for partition, value in local.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(on_s3[partition], value, obj=partition)
        else:
            assert on_s3[partition] == value, partition
    keys = object_keys()
    manifests = [key for key in keys if key.endswith(lake.MANIFEST_FILE)]
    assert len(manifests) == len(local), "one manifest per partition"
    data = [key for key in keys if not key.endswith(lake.MANIFEST_FILE)]
    assert len(data) == len(local) and all("/part-" in key or "/record-" in key for key in data), \
        "one committed object per partition, no staging or temporary object left"
