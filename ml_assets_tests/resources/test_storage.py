"""The lake IO manager: a single run over many dates still stores one file per date, whole or chunk by chunk; segment
records are stored as JSON and read back as their type."""

import json
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from upath import UPath

from ml_assets.core.data import lake
from ml_assets.core.data.sources import date_chunks
from ml_assets.core.training.record import SegmentModel, UntrainedSegment
from ml_assets.defs.partitions import run_dates
from ml_assets.resources.storage import STAGING_PREFIX, DailyFrames, LakeIOManager, StagedDays, split_by_date

DAYS = dg.DailyPartitionsDefinition(start_date="2024-03-01")
RANGE = {"dagster/asset_partition_range_start": "2024-03-01", "dagster/asset_partition_range_end": "2024-03-03"}


def build_defs(tmp_path: Path, rows_for: dict[str, int]) -> dg.Definitions:
    """A daily asset writing `rows_for[day]` rows per day and a downstream asset that sums them."""

    @dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
    def numbers(context: dg.AssetExecutionContext) -> pd.DataFrame:
        days = [day for day in context.partition_keys for _ in range(rows_for.get(day, 0))]
        return pd.DataFrame({"day": pd.to_datetime(days), "value": range(len(days))})

    @dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
    def total(numbers: pd.DataFrame) -> pd.DataFrame:
        return numbers.groupby("day", as_index=False)["value"].sum()

    job = dg.define_asset_job("both", selection=[numbers, total], partitions_def=DAYS)
    return dg.Definitions(assets=[numbers, total], jobs=[job],
                          resources={"io_manager": LakeIOManager(lake_dir=str(tmp_path), date_column="day")})


def test_range_run_stores_one_file_per_day_and_reads_them_back(tmp_path: Path) -> None:
    defs = build_defs(tmp_path, {"2024-03-01": 2, "2024-03-03": 3})
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("both").execute_in_process(instance=instance, tags=RANGE)
        assert result.success
        assert len(instance.get_runs()) == 1
    assert lake.stored_keys(tmp_path, "numbers", "date") == ["2024-03-01", "2024-03-02", "2024-03-03"]
    rows = {key: len(pd.read_parquet(tmp_path / "numbers" / f"date={key}" / "part.parquet"))
            for key in ["2024-03-01", "2024-03-02", "2024-03-03"]}
    assert rows == {"2024-03-01": 2, "2024-03-02": 0, "2024-03-03": 3}
    totals = pd.read_parquet(tmp_path / "total" / "date=2024-03-03" / "part.parquet")
    assert totals["value"].tolist() == [2 + 3 + 4]


def test_rows_outside_the_partitions_are_refused() -> None:
    frame = pd.DataFrame({"day": pd.to_datetime(["2024-03-01", "2024-03-09"]), "value": [1, 2]})
    with pytest.raises(ValueError, match=r"rows dated \['2024-03-09'\] fall outside the partitions"):
        split_by_date(frame, "day", ["2024-03-01", "2024-03-02"])


def test_failed_run_keeps_the_last_good_partition(tmp_path: Path) -> None:
    good = build_defs(tmp_path, {"2024-03-01": 2})
    with dg.instance_for_test() as instance:
        assert good.resolve_job_def("both").execute_in_process(instance=instance, partition_key="2024-03-01").success
    before = (tmp_path / "numbers" / "date=2024-03-01" / "part.parquet").read_bytes()

    @dg.asset(partitions_def=DAYS, name="numbers")
    def broken_numbers() -> pd.DataFrame:
        raise RuntimeError("source went away")

    defs = dg.Definitions(assets=[broken_numbers],
                          resources={"io_manager": LakeIOManager(lake_dir=str(tmp_path), date_column="day")})
    with dg.instance_for_test() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, partition_key="2024-03-01", raise_on_error=False)
    assert not result.success
    assert (tmp_path / "numbers" / "date=2024-03-01" / "part.parquet").read_bytes() == before
    assert not list((tmp_path / "numbers" / "date=2024-03-01").glob(".*"))


def test_lake_on_an_fsspec_url() -> None:
    """The same IO manager stores partitions on an object-store-like filesystem (fsspec memory://)."""
    defs = build_defs(Path("unused"), {"2024-03-01": 1, "2024-03-02": 2})
    defs = dg.Definitions(assets=defs.assets, jobs=defs.jobs,
                          resources={"io_manager": LakeIOManager(lake_dir="memory://lake-test", date_column="day")})
    with dg.instance_for_test() as instance:
        assert defs.resolve_job_def("both").execute_in_process(instance=instance, tags=RANGE).success
    remote = lake.lake_path("memory://lake-test")
    assert lake.stored_keys(remote, "numbers", "date") == ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert len(lake.read_partition(lake.partition_dir(remote, "numbers", "date", "2024-03-02"))) == 2
    assert not [p for p in (remote / "numbers" / "date=2024-03-02").iterdir() if p.name.startswith(".")]


def build_chunked_defs(lake_dir: str, rows_for: dict[str, int], failing_day: str | None = None) -> dg.Definitions:
    """`numbers` and `total` as above, computed a chunk of CHUNK_DAYS days at a time: `numbers` stages its
    output (and raises in the chunk holding `failing_day`), `total` reads its input as a lazy view."""

    def chunks(context: dg.AssetExecutionContext) -> list[tuple[date, date]]:
        return date_chunks(*run_dates(context), CHUNK_DAYS)

    @dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
    def numbers(context: dg.AssetExecutionContext):
        with StagedDays(lake_dir, "numbers", "day") as staged:
            for first, last in chunks(context):
                if failing_day and first.isoformat() <= failing_day <= last.isoformat():
                    raise RuntimeError("source went away")
                days = [day for day in rows_for if first.isoformat() <= day <= last.isoformat()
                        for _ in range(rows_for[day])]
                staged.add(pd.DataFrame({"day": pd.to_datetime(days), "value": range(len(days))}), first, last)
            yield dg.Output(staged)

    @dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
    def total(context: dg.AssetExecutionContext, numbers: DailyFrames):
        with StagedDays(lake_dir, "total", "day") as staged:
            for first, last in chunks(context):
                staged.add(numbers.read(first, last).groupby("day", as_index=False)["value"].sum(), first, last)
            yield dg.Output(staged)

    job = dg.define_asset_job("both", selection=[numbers, total], partitions_def=DAYS)
    return dg.Definitions(assets=[numbers, total], jobs=[job],
                          resources={"io_manager": LakeIOManager(lake_dir=lake_dir, date_column="day")})


CHUNK_DAYS = 2
LONG_RANGE = {"dagster/asset_partition_range_start": "2024-03-01", "dagster/asset_partition_range_end": "2024-03-05"}
FIVE_DAYS = ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04", "2024-03-05"]


def hidden_entries(lake_dir: UPath) -> list[str]:
    """Names of staging folders (or other hidden entries) left in any asset folder of the lake."""
    return [entry.name for asset in lake_dir.iterdir() for entry in asset.iterdir() if entry.name.startswith(".")]


@pytest.mark.parametrize("location", ["local", "memory://chunked-lake"])
def test_staged_range_stores_every_day_of_every_chunk(tmp_path: Path, location: str) -> None:
    lake_dir = str(tmp_path) if location == "local" else location
    defs = build_chunked_defs(lake_dir, {"2024-03-01": 2, "2024-03-03": 3, "2024-03-05": 1})
    with dg.instance_for_test() as instance:
        assert defs.resolve_job_def("both").execute_in_process(instance=instance, tags=LONG_RANGE).success
        assert len(instance.get_runs()) == 1
        assert instance.get_materialized_partitions(dg.AssetKey("total")) == set(FIVE_DAYS)
    root = lake.lake_path(lake_dir)
    assert lake.stored_keys(root, "numbers", "date") == lake.stored_keys(root, "total", "date") == FIVE_DAYS
    totals = {key: lake.read_partition(lake.partition_dir(root, "total", "date", key))["value"].tolist()
              for key in FIVE_DAYS}
    assert totals == {"2024-03-01": [1], "2024-03-02": [], "2024-03-03": [3], "2024-03-04": [], "2024-03-05": [0]}
    assert hidden_entries(root) == [], "the staging folders are gone"


def test_a_failing_later_chunk_stores_nothing_and_keeps_the_stored_days(tmp_path: Path) -> None:
    with dg.instance_for_test() as instance:
        good = build_chunked_defs(str(tmp_path), {"2024-03-01": 2, "2024-03-02": 1})
        assert good.resolve_job_def("both").execute_in_process(instance=instance, partition_key="2024-03-01").success
    before = {p: p.read_bytes() for p in sorted(tmp_path.rglob("*.parquet"))}
    broken = build_chunked_defs(str(tmp_path), {day: 4 for day in FIVE_DAYS}, failing_day="2024-03-04")
    with dg.instance_for_test() as instance:
        result = broken.resolve_job_def("both").execute_in_process(instance=instance, tags=LONG_RANGE,
                                                                   raise_on_error=False)
        assert not result.success
        assert instance.get_materialized_partitions(dg.AssetKey("numbers")) == set()
    assert {p: p.read_bytes() for p in sorted(tmp_path.rglob("*.parquet"))} == before, \
        "chunks 1 and 2 were computed, but no day of the range is stored or changed"
    assert lake.stored_keys(tmp_path, "numbers", "date") == ["2024-03-01"]
    assert hidden_entries(lake.lake_path(str(tmp_path))) == []


def test_daily_frames_read_only_the_days_asked_for(tmp_path: Path) -> None:
    folders = {}
    for day, rows in {"2024-03-01": 1, "2024-03-02": 2, "2024-03-03": 3}.items():
        folders[day] = lake.partition_dir(tmp_path, "numbers", "date", day)
        lake.write_frame(folders[day], pd.DataFrame({"day": pd.to_datetime([day] * rows), "value": range(rows)}))
    view = DailyFrames(folders, lake.lake_path(tmp_path), "numbers")
    assert len(view.read(date(2024, 3, 2), date(2024, 3, 3))) == 5
    assert view.read(date(2024, 3, 1), date(2024, 3, 1))["day"].dt.strftime("%Y-%m-%d").tolist() == ["2024-03-01"]


def test_staged_days_must_cover_the_partitions_written(tmp_path: Path) -> None:
    with StagedDays(str(tmp_path), "numbers", "day") as staged:
        staged.add(pd.DataFrame({"day": pd.to_datetime(["2024-03-01"]), "value": [1]}), date(2024, 3, 1),
                   date(2024, 3, 1))
        with pytest.raises(ValueError, match=r"missing \['2024-03-02'\]"):
            staged.commit({key: lake.partition_dir(tmp_path, "numbers", "date", key)
                           for key in ["2024-03-01", "2024-03-02"]})
    assert not list(tmp_path.rglob(f"{STAGING_PREFIX}*")), "leaving the block discards what was staged"


def test_read_stored_reaches_the_stored_days_before_the_run_and_skips_the_missing(tmp_path: Path) -> None:
    """A run over 03-03..03-04 gets those partitions; `read_stored` reaches back to the stored days before them
    (a trailing window), skipping 03-01, never materialized."""
    rows_for = {"2024-03-02": 2, "2024-03-03": 3, "2024-03-04": 4}
    numbers_only = build_defs(tmp_path, rows_for)
    seen: dict[str, list[str]] = {}

    @dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
    def window_rows(context: dg.AssetExecutionContext, numbers: DailyFrames) -> pd.DataFrame:
        first, last = run_dates(context)
        seen["keys"] = sorted(numbers.folders)
        rows = numbers.read_stored(date(2024, 2, 28), last)
        days = pd.date_range(first, last)
        return pd.DataFrame({"day": days, "rows": [int(((rows["day"] > day - pd.Timedelta(days=3))
                                                          & (rows["day"] <= day)).sum()) for day in days]})

    assets, resources = [*numbers_only.assets, window_rows], numbers_only.resources
    with dg.instance_for_test() as instance:
        assert dg.materialize(assets, instance=instance, resources=resources, selection=["numbers"], tags={
            "dagster/asset_partition_range_start": "2024-03-02",
            "dagster/asset_partition_range_end": "2024-03-04"}).success
        assert dg.materialize(assets, instance=instance, resources=resources, selection=["window_rows"], tags={
            "dagster/asset_partition_range_start": "2024-03-03",
            "dagster/asset_partition_range_end": "2024-03-04"}).success
    assert seen["keys"] == ["2024-03-03", "2024-03-04"], "the run's own partitions only"
    counted = {key: lake.read_partition(lake.partition_dir(tmp_path, "window_rows", "date", key))["rows"].tolist()
               for key in seen["keys"]}
    expected = {key: [sum(rows for day, rows in rows_for.items()
                          if (date.fromisoformat(key) - date.fromisoformat(day)).days in range(3))]
                for key in seen["keys"]}
    assert counted == expected == {"2024-03-03": [5], "2024-03-04": [9]}


SEGMENTS = dg.StaticPartitionsDefinition(["domestic", "industrial"])
BOTH_SEGMENTS = {"dagster/asset_partition_range_start": "domestic", "dagster/asset_partition_range_end": "industrial"}


def run_segments(tmp_path: Path, produced: dict, reader_annotation: type) -> tuple[dg.ExecuteInProcessResult, dict]:
    """A segment asset returning `produced` and a downstream asset whose input is annotated `reader_annotation`;
    returns the run and what the downstream asset received."""
    received = {}

    @dg.asset(partitions_def=SEGMENTS, backfill_policy=dg.BackfillPolicy.single_run())
    def models(context: dg.AssetExecutionContext):
        return produced

    @dg.asset(partitions_def=SEGMENTS, backfill_policy=dg.BackfillPolicy.single_run())
    def report(models: reader_annotation) -> None:
        received.update(models)

    job = dg.define_asset_job("segments", selection=[models, report], partitions_def=SEGMENTS)
    defs = dg.Definitions(assets=[models, report], jobs=[job],
                          resources={"io_manager": LakeIOManager(lake_dir=str(tmp_path), date_column="day")})
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("segments").execute_in_process(instance=instance, tags=BOTH_SEGMENTS,
                                                                      raise_on_error=False)
    return result, received


def test_segment_records_are_stored_as_json_and_read_back_as_their_type(tmp_path: Path) -> None:
    produced = {segment: UntrainedSegment(segment, f"m-{segment}", "no rows") for segment in ("domestic", "industrial")}
    result, received = run_segments(tmp_path, produced, dict[str, SegmentModel])
    assert result.success and received == produced
    assert all(type(value) is UntrainedSegment for value in received.values())
    stored = json.loads((tmp_path / "models" / "segment=domestic" / "record.json").read_text())
    assert stored == produced["domestic"].to_document()


def test_an_untyped_record_output_or_input_is_refused_with_the_fix(tmp_path: Path) -> None:
    result, _ = run_segments(tmp_path / "dicts", {"domestic": {"a": 1}, "industrial": {"a": 2}}, dict)
    assert "models returned a dict for a partition: return a DataFrame or a typed record with to_document()" \
        in str(result.failure_data_for_node("models").error)
    produced = {segment: UntrainedSegment(segment, f"m-{segment}", "no rows") for segment in ("domestic", "industrial")}
    result, received = run_segments(tmp_path / "untyped", produced, dict)
    assert not received and "annotate it as dict[str, <record type>]" in str(
        result.failure_data_for_node("report").error)
