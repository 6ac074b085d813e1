"""Helpers for tests that train through the training job: ingest once, copy the lake, train, inspect MLflow."""

import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd

from ml_assets.core.data import lake
from ml_assets.core.training import modeling
from ml_assets.definitions import INGEST_JOB, TRAINING_JOB, build_definitions
from ml_assets.runner import RANGE_END_TAG, RANGE_START_TAG
from ml_assets.spec import PipelineSpec
from ml_assets_tests.conftest import make_spec

INGEST_FIRST = date(2024, 1, 1)
INGEST_LAST = date(2024, 3, 31)
AS_OF = date(2024, 6, 14)  # labels of INGEST_FIRST..INGEST_LAST have matured (75 days)
TRAINING = {"window_days": 91, "holdout_days": 14, "min_auc": 0.6}


def ingest(spec: PipelineSpec) -> None:
    """Materialize raw_data and features for INGEST_FIRST..INGEST_LAST in one run."""
    with dg.instance_for_test() as instance:
        result = build_definitions(spec).resolve_job_def(INGEST_JOB).execute_in_process(
            instance=instance, tags={RANGE_START_TAG: INGEST_FIRST.isoformat(), RANGE_END_TAG: INGEST_LAST.isoformat()})
    assert result.success


def spec_with_lake(home: Path, landing_dir: Path, ingested_lake: Path, **overrides: dict) -> PipelineSpec:
    """A spec rooted at `home` whose lake starts as a copy of the ingested one."""
    (home / "landing").symlink_to(landing_dir)
    spec = make_spec(home, **{"training": TRAINING, **overrides})
    shutil.copytree(ingested_lake, Path(str(spec.lake_dir)))
    return spec


def train(spec: PipelineSpec, first: str = "domestic", last: str = "industrial") -> dg.ExecuteInProcessResult:
    """Run the training job over the segments first..last, labels matured by AS_OF (blocking checks may fail)."""
    with dg.instance_for_test() as instance:
        return build_definitions(spec).resolve_job_def(TRAINING_JOB).execute_in_process(
            instance=instance, raise_on_error=False, tags={RANGE_START_TAG: first, RANGE_END_TAG: last},
            run_config={"ops": {"training_set": {"config": {"as_of": AS_OF.isoformat()}}}})


def shuffle_training_labels(spec: PipelineSpec, fraction: float = 1.0, seed: int = 0) -> int:
    """Permute the target among a random `fraction` of the rows of every stored features day before the holdout
    (the holdout keeps its true labels); returns the rows whose label took part."""
    _, last = modeling.training_window(AS_OF, spec.dataset.label_delay_days, spec.training.window_days)
    holdout_first = pd.Timestamp(last) - pd.Timedelta(days=spec.training.holdout_days - 1)
    keys = [k for k in lake.stored_days(spec.lake_dir, "features") if pd.Timestamp(k) < holdout_first]
    folders = lake.day_dirs(spec.lake_dir, "features", keys)
    frames = [lake.read_partition(folder) for folder in folders]
    target = spec.dataset.target
    labels = pd.concat(frames, ignore_index=True)[target]
    chosen = labels.sample(frac=fraction, random_state=seed).index
    labels.loc[chosen] = labels.loc[chosen].sample(frac=1.0, random_state=seed + 1).to_numpy()
    start = 0
    for folder, frame in zip(folders, frames):
        lake.write_frame(folder, frame.assign(**{target: labels.iloc[start:start + len(frame)].to_numpy()}))
        start += len(frame)
    return len(chosen)
