"""Crash mid-run and determinism, with real `ml-assets run` processes.

Determinism: the same range run twice with the same config and seed stores the same files. Crash: a run killed
with SIGKILL while staging partitions, while moving staged days into place, while training and right after
registering a model leaves every stored partition complete (read back with pyarrow) and equal to a clean run's,
at most one `champion` per segment pointing at a loadable version (MlflowClient); rerunning the same range then
completes and equals the clean run (same rows, same scores)."""

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from mlflow.tracking import MlflowClient

from ml_assets.resources.registry import CHAMPION, ModelRegistry
from ml_assets.resources.storage import STAGING_PREFIX
from ml_assets.spec import PipelineSpec
from ml_assets_tests.reliability.support import log_file, ml_assets, write_config

START, END = "2024-02-01", "2024-03-21"
# a short range (labels said to mature in 20 days, a 30-day window inside it), no Evidently HTML: these tests need
# every kind of stored output and a champion, not a good one, and each run of the range is a real process
OVERRIDES = {"training": {"window_days": 30, "holdout_days": 10, "min_auc": 0.5},
             "dataset": {"label_delay_days": 20}, "drift": {"evidently": {"days": "none"}}}
RUN = ("run", "--start", START, "--end", END)
DAILY_ASSETS = ("raw_data", "features", "predictions", "risk_clusters")
VERSION_COLUMNS = {"model_version"}  # a rerun after a kill may register one more version of the same model


def lake_files(spec: PipelineSpec) -> dict[str, Path]:
    """Every stored partition file of the lake (staging folders excluded), by its path inside the lake."""
    root = Path(str(spec.lake_dir))
    return {str(path.relative_to(root)): path for path in sorted(root.rglob("*"))
            if path.is_file() and not any(part.startswith(STAGING_PREFIX) or part.startswith(".")
                                          for part in path.relative_to(root).parts)}


def complete_table(path: Path) -> pd.DataFrame:
    """A stored parquet partition read back with pyarrow: it raises if the file is cut or corrupt."""
    return pq.read_table(path).to_pandas()


def wait_for(condition: Callable[[], bool], process: subprocess.Popen, what: str, spec: PipelineSpec) -> None:
    """Poll real state until `condition` holds; fail if the process ends first."""
    while not condition():
        assert process.poll() is None, f"the run ended before {what}: {log_file(spec).read_text()[-2000:]}"
        time.sleep(0.05)


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, landing_dir: Path) -> PipelineSpec:
    """One uninterrupted `ml-assets run` of START..END."""
    spec = write_config(tmp_path_factory.mktemp("clean"), landing_dir, **OVERRIDES)
    done = ml_assets(spec, *RUN)
    assert done.returncode == 0, done.stderr[-3000:]
    return spec


def test_the_same_range_twice_stores_the_same_files(clean: PipelineSpec, tmp_path: Path, landing_dir: Path) -> None:
    again = write_config(tmp_path / "again", landing_dir, **OVERRIDES)
    assert ml_assets(again, *RUN).returncode == 0
    first, second = lake_files(clean), lake_files(again)
    assert first.keys() == second.keys()
    parquet = [key for key in first if key.endswith(".parquet")]
    assert {key.split("/")[0] for key in parquet} >= set(DAILY_ASSETS)
    for key in parquet:
        pd.testing.assert_frame_equal(complete_table(first[key]), complete_table(second[key]), obj=key)
    differing = sorted(key for key in first if first[key].read_bytes() != second[key].read_bytes())
    # only the model records differ: segment_model's and model_evaluation's (which carries it) hold the ids of
    # their Dagster and MLflow runs
    assert {key.split("/")[0] for key in differing} <= {"segment_model", "model_evaluation"}, differing
    assert all(key.endswith("record.json") for key in differing), differing


def champions_are_sound(spec: PipelineSpec) -> None:
    """At most one champion per segment, and it loads (booster and scoring metadata) from the registry."""
    client, registry = MlflowClient(tracking_uri=spec.tracking_uri), ModelRegistry(tracking_uri=spec.tracking_uri)
    for segment in spec.segment_names:
        name = spec.registered_model_name(segment)
        if not client.search_registered_models(f"name='{name}'"):
            continue
        holders = [alias for alias in client.get_registered_model(name).aliases if alias == CHAMPION]
        assert len(holders) <= 1
        if holders:
            model = registry.load_alias(name)
            assert model.booster.num_boosted_rounds() > 0 and model.meta


def stored_equal_clean(spec: PipelineSpec, clean: PipelineSpec, require_all: bool) -> None:
    """Every stored daily partition is a complete file equal to the clean run's (rows and scores)."""
    stored, reference = lake_files(spec), lake_files(clean)
    daily = {key for key in reference if key.split("/")[0] in DAILY_ASSETS}
    if require_all:
        assert daily <= stored.keys()
    for key in sorted(daily & stored.keys()):
        ours, theirs = complete_table(stored[key]), complete_table(reference[key])
        keep = [column for column in theirs.columns if column not in VERSION_COLUMNS]
        pd.testing.assert_frame_equal(ours[keep], theirs[keep], obj=key)


def test_sigkill_at_four_moments_then_a_rerun_equals_a_clean_run(clean: PipelineSpec, tmp_path: Path,
                                                                 landing_dir: Path) -> None:
    spec = write_config(tmp_path / "crash", landing_dir, **OVERRIDES)
    lake, store = Path(str(spec.lake_dir)), spec.home_dir / "mlflow" / "mlflow.db"

    def tracking() -> MlflowClient | None:
        """A client of the run's MLflow store once the run created it (a client would create it otherwise)."""
        return MlflowClient(tracking_uri=spec.tracking_uri) if store.exists() else None

    def staged_file() -> bool:
        return any(lake.glob(f"raw_data/{STAGING_PREFIX}*/date=*/part.parquet"))

    def moving_days() -> bool:
        return any(lake.glob("features/date=*/part.parquet"))

    def training_run() -> bool:
        client = tracking()
        experiment = client.get_experiment_by_name(spec.experiment_name) if client else None
        return experiment is not None and any(
            run.data.tags.get("mlflow.parentRunId") for run in client.search_runs(
                [experiment.experiment_id], "attributes.status = 'RUNNING'"))

    def registered_version() -> bool:
        client = tracking()
        return client is not None and bool(
            client.search_model_versions(f"name='{spec.registered_model_name('domestic')}'"))

    moments = [("a raw_data day is staged", staged_file), ("features days are being moved into place", moving_days),
               ("a segment's MLflow run is RUNNING", training_run), ("a model version is registered", registered_version)]
    for what, condition in moments:
        process = ml_assets(spec, *RUN, wait=False)
        wait_for(condition, process, what, spec)
        kill(process)
        stored_equal_clean(spec, clean, require_all=False)
        champions_are_sound(spec)

    rerun = ml_assets(spec, *RUN)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    stored_equal_clean(spec, clean, require_all=True)
    champions_are_sound(spec)
