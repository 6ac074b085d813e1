"""The lake IO manager: a single run over many dates still stores one file per date."""

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from ml_assets.core import lake
from ml_assets.resources.storage import LakeIOManager, split_by_date

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
