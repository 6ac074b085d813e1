"""The promotion gate proven both ways through the training job on a real MLflow store: a clearly better challenger
(trained after the generator's signal got stronger) is promoted, one of the same quality stays `challenger`."""

import shutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest
from mlflow.tracking import MlflowClient

from ml_assets.core.data import lake
from ml_assets.core.data.synthetic import SignalChange, generate_invoices, write_landing_files
from ml_assets.definitions import INGEST_JOB, TRAINING_JOB, build_definitions
from ml_assets.runner import RANGE_END_TAG, RANGE_START_TAG
from ml_assets.spec import PipelineSpec
from ml_assets_tests.conftest import make_spec

SIGNAL = SignalChange(start=date(2024, 4, 1), before=0.6, after=1.5)
TRAINING = {"window_days": 60, "holdout_days": 14, "min_auc": 0.55}
FIRST, LAST = date(2024, 1, 31), date(2024, 6, 30)
WEAK_LAST, STRONG_LAST = date(2024, 3, 31), date(2024, 5, 31)  # last training day of the two champions


def spec_in(home: Path, landing: Path) -> PipelineSpec:
    """The demo config in `home`, reading `landing`."""
    (home / "landing").symlink_to(landing)
    return make_spec(home, training=TRAINING)


@pytest.fixture(scope="module")
def signal_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Invoices whose signal is weak before April and strong from April, ingested once; (landing, lake)."""
    landing = tmp_path_factory.mktemp("signal_landing") / "landing"
    write_landing_files(generate_invoices(2000, date(2024, 1, 1), LAST, seed=21, signal=SIGNAL), landing)
    spec = spec_in(tmp_path_factory.mktemp("signal_ingest"), landing)
    with dg.instance_for_test() as instance:
        result = build_definitions(spec).resolve_job_def(INGEST_JOB).execute_in_process(
            instance=instance, tags={RANGE_START_TAG: FIRST.isoformat(), RANGE_END_TAG: LAST.isoformat()})
    assert result.success
    return landing, Path(str(spec.lake_dir))


def train_until(spec: PipelineSpec, last_day: date) -> None:
    """Train the domestic model on the window whose last matured day is `last_day`."""
    as_of = last_day + timedelta(days=spec.dataset.label_delay_days)
    with dg.instance_for_test() as instance:
        result = build_definitions(spec).resolve_job_def(TRAINING_JOB).execute_in_process(
            instance=instance, partition_key="domestic",
            run_config={"ops": {"training_set": {"config": {"as_of": as_of.isoformat()}}}})
    assert result.success


def champion_then_challenger(home: Path, signal_lake: tuple[Path, Path], champion_last: date) -> PipelineSpec:
    """v1 trained until `champion_last` (the champion), then v2 until the end of June (the challenger)."""
    landing, ingested = signal_lake
    spec = spec_in(home, landing)
    shutil.copytree(ingested, Path(str(spec.lake_dir)))
    train_until(spec, champion_last)
    train_until(spec, LAST)
    return spec


def gate_outcome(spec: PipelineSpec) -> tuple[dict, dict[str, str], dict[str, str]]:
    """The challenger's record, its version tags and the alias holders."""
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    name = spec.registered_model_name("domestic")
    aliases = {alias: str(client.get_model_version_by_alias(name, alias).version)
               for alias in ("champion", "challenger")}
    record = lake.read_partition(lake.partition_dir(spec.lake_dir, "segment_model", "segment", "domestic"))
    return record, client.get_model_version(name, "2").tags, aliases


def test_clearly_better_challenger_is_promoted_with_its_evidence(tmp_path: Path, signal_lake) -> None:
    spec = champion_then_challenger(tmp_path, signal_lake, WEAK_LAST)
    record, tags, aliases = gate_outcome(spec)
    gate = record["gate"]
    assert aliases == {"champion": "2", "challenger": "2"} and record["promoted"] is True
    assert gate["delta"] > 0.02 and gate["ci_low"] > spec.training.promotion_margin
    assert gate["p_value"] < spec.training.gate_alpha
    assert tags["gate_promoted"] == "True" and tags["champion_move"] == "gate"
    assert float(tags["gate_p_value"]) == pytest.approx(gate["p_value"], abs=1e-4)
    assert float(tags["gate_margin"]) == spec.training.promotion_margin == 0.005
    assert float(tags["gate_delta"]) == pytest.approx(gate["delta"], abs=1e-4)
    assert tags["gate_reason"].startswith(f"holdout AUC {gate['challenger_auc']:.4f} beats champion")


def test_challenger_of_the_same_quality_stays_challenger(tmp_path: Path, signal_lake) -> None:
    spec = champion_then_challenger(tmp_path, signal_lake, STRONG_LAST)
    record, tags, aliases = gate_outcome(spec)
    gate = record["gate"]
    assert aliases == {"champion": "1", "challenger": "2"} and record["promoted"] is False
    assert abs(gate["delta"]) < 0.02 and gate["p_value"] > spec.training.gate_alpha
    assert tags["gate_promoted"] == "False" and "champion_move" not in tags
    assert float(tags["gate_p_value"]) == pytest.approx(gate["p_value"], abs=1e-4)
    assert float(tags["gate_margin"]) == spec.training.promotion_margin
    assert "does not beat champion" in tags["gate_reason"]
