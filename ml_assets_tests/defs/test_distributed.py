"""A segment above training.distributed_min_rows trains with xgboost.dask on a 2-worker LocalCluster, reading
its feature partitions from the lake, and matches the model trained in one process on the same rows."""

from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from ml_assets.core.data import lake
from ml_assets.core.data.features import model_matrix
from ml_assets.core.scoring.scores import model_scores
from ml_assets.core.training import modeling
from ml_assets.core.training.distributed import feature_files
from ml_assets.definitions import TRAINING_JOB, build_definitions
from ml_assets.resources.registry import ModelRegistry
from ml_assets.spec import PipelineSpec
from ml_assets_tests.training_support import AS_OF, spec_with_lake

TWO_THREAD_WORKERS = {"n_workers": 2, "threads_per_worker": 1, "processes": False}
# no row or column subsampling: each Dask worker would draw its own sample of its rows, so the two models would
# differ by their random draws (correlation ~0.96 here) rather than by the distributed algorithm
WHOLE_SAMPLE = {"max_depth": 4, "eta": 0.08, "subsample": 1.0, "colsample_bytree": 1.0, "min_child_weight": 5}


@pytest.fixture
def dask_spec(tmp_path: Path, landing_dir: Path, ingested_lake: Path) -> PipelineSpec:
    """Every segment trains on Dask (threshold 1 row), on a LocalCluster of two one-thread workers."""
    return spec_with_lake(tmp_path, landing_dir, ingested_lake, dask=TWO_THREAD_WORKERS, model={"params": WHOLE_SAMPLE},
                          training={"window_days": 91, "holdout_days": 14, "min_auc": 0.6, "distributed_min_rows": 1})


def train_on_dask(spec: PipelineSpec, segment: str) -> dict:
    """training_set and segment_model of one segment through the training job; returns the model record."""
    with dg.instance_for_test() as instance:
        result = build_definitions(spec).resolve_job_def(TRAINING_JOB).execute_in_process(
            instance=instance, partition_key=segment,
            asset_selection=[dg.AssetKey("training_set"), dg.AssetKey("segment_model")],
            run_config={"ops": {"training_set": {"config": {"as_of": AS_OF.isoformat()}}}})
    assert result.success
    return lake.read_partition(lake.partition_dir(spec.lake_dir, "segment_model", "segment", segment))


def test_dask_model_matches_the_single_machine_one(dask_spec: PipelineSpec) -> None:
    record = train_on_dask(dask_spec, "domestic")
    assert record["trained_with"] == "xgboost.dask"
    frame = lake.read_partition(lake.partition_dir(dask_spec.lake_dir, "training_set", "segment", "domestic"))
    local = modeling.fit_segment(frame, dask_spec.training_sections(), "domestic")
    model = ModelRegistry(tracking_uri=dask_spec.tracking_uri).load(record["model_name"], record["version"])
    dask_scores = model_scores(model.booster, model_matrix(local.holdout, dask_spec.features, model.meta.vocabulary),
                               model.meta)
    correlation = np.corrcoef(dask_scores, local.holdout_scores)[0, 1]
    print(f"\nholdout AUC dask {record['metrics']['roc_auc']:.4f} vs one process {local.metrics['roc_auc']:.4f}; "
          f"best iteration {model.meta.best_iteration} vs {local.model.best_iteration}; correlation {correlation:.4f}")
    assert abs(record["metrics"]["roc_auc"] - local.metrics["roc_auc"]) < 0.02
    assert correlation > 0.98


def test_missing_feature_days_are_named(dask_spec: PipelineSpec) -> None:
    with pytest.raises(FileNotFoundError, match=r"1 day\(s\) are not stored, e.g. .*date=2030-01-01"):
        feature_files(dask_spec.lake_dir, ["2024-01-02", "2030-01-01"])
