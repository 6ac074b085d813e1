"""A range run works a chunk of `storage.chunk_days` days at a time: every day is stored, the results equal those
of a run in one chunk, no read holds more than a chunk (plus a trailing window), and a broken contract in a later
chunk stores nothing."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from ml_assets.core.data import lake, sources
from ml_assets.core.data.sources import days_between
from ml_assets.definitions import DAILY_JOB, INGEST_JOB, build_definitions
from ml_assets.defs.automation import DAILY_CHAIN
from ml_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from ml_assets.resources.storage import STAGING_PREFIX
from ml_assets.runner import RunSummary
from ml_assets.spec import PipelineSpec
from ml_assets_tests.conftest import make_spec

FIRST, LAST = date(2024, 6, 1), date(2024, 6, 20)
KEYS = [day.isoformat() for day in days_between(FIRST, LAST)]
CHUNK_DAYS = 6  # 20 days: chunks of 6, 6, 6 and 2 days
COMPARED_METADATA = {  # per day
    "raw_data": ["dagster/row_count", "preview"],
    "features": ["dagster/row_count", "preview", "rows_without_segment"],
    "predictions": ["dagster/row_count", "unscored_rows", "rows_outside_segments", "models"],
    "risk_clusters": ["dagster/row_count", "rows_by_cluster"],
    "risk_report": ["highest_risk", "report_files"],
    "drift_report": ["verdict", "verdict_day", "model_versions", "worst_features"],
    "model_performance": ["dagster/row_count", "below_floor", "cohorts"],
}


def scoring_spec(graph: PipelineSpec, home: Path, chunk_days: int) -> PipelineSpec:
    """A pipeline writing under `home`, reading the shared landing files and scoring with the graph run's
    champions (same MLflow store and model names)."""
    (home / "landing").symlink_to(graph.base_dir / "landing")
    return make_spec(home, storage={"chunk_days": chunk_days},
                     mlflow={"tracking_uri": graph.tracking_uri, "experiment": "chunking"})


def run_range(spec: PipelineSpec, job: str) -> dg.ExecuteInProcessResult:
    """One run of `job` over FIRST..LAST."""
    with dg.instance_for_test() as instance:
        return build_definitions(spec).resolve_job_def(job).execute_in_process(
            instance=instance, raise_on_error=False, tags={RANGE_START_TAG: KEYS[0], RANGE_END_TAG: KEYS[-1]})


def materialization_metadata(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dict[str, object]]:
    """The metadata of each asset's materialization of each day."""
    return {(event.asset_key.to_user_string(), event.materialization.partition): {
        k: v.value for k, v in event.materialization.metadata.items()} for event in result.get_asset_materialization_events()}


def record_calls(monkeypatch: pytest.MonkeyPatch, module: object, name: str,
                 size: Callable[..., int]) -> list[int]:
    """Wrap `module.name` to record `size(*args)` of every call."""
    sizes, original = [], getattr(module, name)

    def recording(*args: object, **kwargs: object) -> object:
        sizes.append(size(*args, **kwargs))
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, recording)
    return sizes


@dataclass
class RangeRun:
    """A run of the daily chain over FIRST..LAST, with the days each landing read and each lake read covered."""

    spec: PipelineSpec
    result: dg.ExecuteInProcessResult
    source_days: list[int]
    lake_days: list[int]


def daily_chain(graph: PipelineSpec, home: Path, chunk_days: int) -> RangeRun:
    """daily_job over FIRST..LAST in chunks of `chunk_days`, counting the days every read covers."""
    spec = scoring_spec(graph, home, chunk_days)
    with pytest.MonkeyPatch.context() as monkeypatch:
        source_days = record_calls(monkeypatch, sources, "read_daily_files",
                                   lambda location, start, end, *_: len(days_between(start, end)))
        lake_days = record_calls(monkeypatch, lake, "read_frames", lambda folders, *_: len(folders))
        result = run_range(spec, DAILY_JOB)
    assert result.success, result.get_step_failure_events()
    return RangeRun(spec, result, source_days, lake_days)


@pytest.fixture(scope="module")
def whole(graph_run: tuple[PipelineSpec, RunSummary], tmp_path_factory: pytest.TempPathFactory) -> RangeRun:
    """FIRST..LAST in one chunk."""
    return daily_chain(graph_run[0], tmp_path_factory.mktemp("one_chunk"), chunk_days=31)


@pytest.fixture(scope="module")
def chunked(graph_run: tuple[PipelineSpec, RunSummary], tmp_path_factory: pytest.TempPathFactory) -> RangeRun:
    """FIRST..LAST in chunks of 6, 6, 6 and 2 days."""
    return daily_chain(graph_run[0], tmp_path_factory.mktemp("chunks"), chunk_days=CHUNK_DAYS)


def test_a_range_is_read_a_chunk_at_a_time(chunked: RangeRun, whole: RangeRun) -> None:
    assert chunked.source_days == [6, 6, 6, 2] and whole.source_days == [20]
    trailing = max(chunked.spec.drift.window_days, chunked.spec.monitoring.performance.window_days) - 1
    assert max(chunked.lake_days) <= CHUNK_DAYS + trailing < len(KEYS), "a chunk and the window before it"
    assert max(whole.lake_days) == len(KEYS)


def test_chunks_store_every_day_as_one_chunk_does(chunked: RangeRun, whole: RangeRun) -> None:
    for asset in DAILY_CHAIN:
        assert lake.stored_keys(chunked.spec.lake_dir, asset, "date") == KEYS, asset
        assert not list((chunked.spec.lake_dir / asset).glob(f"{STAGING_PREFIX}*")), asset
        for key in KEYS:
            in_chunks, in_one = (lake.read_partition(lake.partition_dir(run.spec.lake_dir, asset, "date", key))
                                 for run in (chunked, whole))
            pd.testing.assert_frame_equal(in_chunks, in_one, obj=f"{asset} {key}")
    run_summary = f"run_risk_summary/{KEYS[0]}_{KEYS[-1]}"
    pd.testing.assert_frame_equal(lake.read_partition(chunked.spec.reports_dir / run_summary),
                                  lake.read_partition(whole.spec.reports_dir / run_summary))


def test_metadata_and_checks_add_up_over_the_chunks(chunked: RangeRun, whole: RangeRun) -> None:
    in_chunks, in_one = materialization_metadata(chunked.result), materialization_metadata(whole.result)
    for asset, keys in COMPARED_METADATA.items():
        for day in KEYS:
            assert {k: in_chunks[asset, day][k] for k in keys} == {k: in_one[asset, day][k] for k in keys}, (asset, day)
    for day in KEYS:
        assert in_chunks["predictions", day]["mean_score"] == pytest.approx(in_one["predictions", day]["mean_score"])
    last = LAST.isoformat()
    assert in_chunks["drift_report", last]["range_days_with_high_drift"] == \
        in_one["drift_report", last]["range_days_with_high_drift"]
    html_days = {day for day in KEYS if "evidently_report_domestic" in in_chunks["drift_report", day]}
    assert html_days == {last}, "drift.evidently.days: last is the run's last day"
    checks, one_chunk_checks = ({(c.asset_key.to_user_string(), c.check_name): c
                                 for c in run.result.get_asset_check_evaluations()} for run in (chunked, whole))
    assert {key: c.passed for key, c in checks.items()} == {key: c.passed for key, c in one_chunk_checks.items()}
    assert checks[("raw_data", "soft_rules")].metadata == one_chunk_checks[("raw_data", "soft_rules")].metadata


def corrupted_landing(landing_dir: Path, folder: Path, corrupt: dict[str, Callable[[pd.DataFrame], None]]) -> Path:
    """FIRST..LAST of the shared landing files in `folder`, with the days of `corrupt` changed in place."""
    folder.mkdir()
    for key in KEYS:
        name = f"invoices_{key}.csv"
        if key in corrupt:
            frame = pd.read_csv(landing_dir / name)
            corrupt[key](frame)
            frame.to_csv(folder / name, index=False)
        else:
            (folder / name).symlink_to(landing_dir / name)
    return folder


def lake_files(spec: PipelineSpec) -> dict[str, bytes]:
    """Every file of the lake, by path, with its bytes."""
    return {str(path.relative_to(spec.lake_dir)): path.read_bytes()
            for path in sorted(Path(str(spec.lake_dir)).rglob("*")) if path.is_file()}


def test_a_broken_contract_in_later_chunks_blocks_and_stores_nothing(tmp_path: Path, landing_dir: Path) -> None:
    (tmp_path / "landing").symlink_to(landing_dir)
    good = make_spec(tmp_path, storage={"chunk_days": 5})
    with dg.instance_for_test() as instance:
        assert build_definitions(good).resolve_job_def(INGEST_JOB).execute_in_process(
            instance=instance, tags={RANGE_START_TAG: KEYS[0], RANGE_END_TAG: KEYS[4]}).success  # the first chunk
    before = lake_files(good)

    def target_two(frame: pd.DataFrame) -> None:
        frame.loc[2, "defaulted"] = 2

    def estrato_nine(frame: pd.DataFrame) -> None:
        frame.loc[5, "estrato"] = 9

    landing = corrupted_landing(landing_dir, tmp_path / "bad_landing",
                                {"2024-06-14": target_two, "2024-06-19": estrato_nine})  # chunks 3 and 4 of 4
    spec = make_spec(tmp_path, storage={"chunk_days": 5},
                     dataset={"source": {"kind": "files", "path": str(landing / "invoices_{date}.csv")}})
    result = run_range(spec, INGEST_JOB)
    assert not result.success
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == "schema"]
    assert check.asset_key == dg.AssetKey("raw_data") and not check.passed
    assert check.metadata["failure_count"].value == 2, "failures of every chunk are counted"
    summary = check.metadata["summary"].value
    assert "column 'defaulted' fails 'target must be 0 or 1'" in summary and "column 'estrato'" in summary
    assert [e.step_key for e in result.get_step_failure_events()] == ["raw_data"]
    assert result.get_asset_materialization_events() == [], "features did not run"
    assert lake_files(spec) == before, "stored days unchanged, no day of chunks 1-2 written"
    assert not list((spec.lake_dir / "raw_data").glob(f"{STAGING_PREFIX}*"))
