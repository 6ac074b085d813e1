"""The spec's `execution` section: the executor definitions.py uses, and the stack instance's concurrency limits."""

import os
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config

from ml_assets import stack
from ml_assets.definitions import DAILY_JOB, INGEST_JOB, SCORING_JOB, TRAINING_JOB, build_definitions
from ml_assets.runner import RANGE_END_TAG, RANGE_START_TAG
from ml_assets.spec import ConfigError, ExecutionSpec, load_spec, parse_spec
from ml_assets_tests.conftest import demo_config, make_spec

SPEC_ENV = "ML_ASSETS_TEST_EXECUTION_CONFIG"


def test_default_executor_is_in_process(tmp_path: Path) -> None:
    spec = make_spec(tmp_path)
    assert spec.execution == ExecutionSpec(executor="in_process", max_concurrent=2)
    assert build_definitions(spec).resolve_job_def(INGEST_JOB).executor_def.name == "in_process"


@pytest.mark.parametrize(("execution", "expected"), [
    ({"executor": "multiproces"}, "execution.executor: unknown executor 'multiproces'; did you mean 'multiprocess'?"),
    ({"max_concurrent": 0}, "execution.max_concurrent: Input should be greater than or equal to 1 (value 0)"),
    ({"executors": "in_process"}, "execution.executors: unknown field (value 'in_process'); did you mean 'executor'?"),
])
def test_bad_execution_names_field_and_value(tmp_path: Path, execution: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_spec(demo_config(tmp_path, execution=execution), base_dir=tmp_path)
    assert expected in str(error.value)


def ingest_job() -> dg.JobDefinition:
    """The ingest job of the config at $ML_ASSETS_TEST_EXECUTION_CONFIG (reconstructed in each step's process)."""
    return build_definitions(load_spec(os.environ[SPEC_ENV])).resolve_job_def(INGEST_JOB)


def test_multiprocess_runs_each_step_in_its_own_process(tmp_path: Path, landing_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "landing").symlink_to(landing_dir)
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump(demo_config(tmp_path, execution={"executor": "multiprocess", "max_concurrent": 2})))
    monkeypatch.setenv(SPEC_ENV, str(config))
    with dg.instance_for_test() as instance:
        result = dg.execute_job(dg.reconstructable(ingest_job), instance,
                                tags={RANGE_START_TAG: "2024-01-01", RANGE_END_TAG: "2024-01-03"})
        assert result.success
        started = [event for event in instance.all_logs(result.run_id)
                   if event.dagster_event and event.dagster_event.event_type_value == "STEP_WORKER_STARTED"]
    assert sorted(event.step_key for event in started) == ["features", "raw_data"]  # a child process per step


def test_stack_instance_limits_scoring_runs_and_trains_one_segment_at_a_time(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, execution={"max_concurrent": 3})
    folder = tmp_path / "instance"
    folder.mkdir()
    (folder / "dagster.yaml").write_text(stack.instance_yaml(stack.Ports.from_env(), spec.execution, folder))
    config, _ = dagster_instance_config(str(folder))  # Dagster's own schema validation of the file
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["storage"]["custom"]["config"]["postgres_db"]["password"] == {"env": stack.PASSWORD_ENV}
    assert config["concurrency"]["runs"]["tag_concurrency_limits"] == [
        {"key": stack.SCORING_TAG, "value": "true", "limit": 3}]
    assert config["concurrency"]["pools"]["default_limit"] == 1
    defs = build_definitions(spec)
    scoring = {name for name in (INGEST_JOB, TRAINING_JOB, SCORING_JOB, DAILY_JOB)
               if defs.resolve_job_def(name).tags.get(stack.SCORING_TAG) == "true"}
    assert scoring == {SCORING_JOB, DAILY_JOB}
    pools = {node.name: node.definition.pool for node in defs.resolve_job_def(TRAINING_JOB).graph.nodes}
    assert pools["segment_model"] == "segment_model"
