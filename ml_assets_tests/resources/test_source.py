"""Data sources: per-day files, one file filtered by date, DuckDB and any SQLAlchemy database, fsspec URLs."""

from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import fsspec
import pandas as pd
import pytest
import sqlalchemy

from ml_assets.core.data import lake
from ml_assets.core.data.sources import SourceUnavailable
from ml_assets.definitions import build_definitions
from ml_assets.resources.source import DataSource
from ml_assets_tests.conftest import make_spec

START, END = date(2024, 3, 1), date(2024, 3, 3)
QUERY = "SELECT * FROM invoices WHERE invoice_date BETWEEN :start AND :end"


@pytest.fixture(scope="module")
def invoices(landing_dir: Path) -> pd.DataFrame:
    """The landing rows of START..END as one frame."""
    days = pd.date_range(START, END).strftime("%Y-%m-%d")
    return pd.concat([pd.read_csv(landing_dir / f"invoices_{day}.csv") for day in days], ignore_index=True)


def sorted_ids(frame: pd.DataFrame) -> list[int]:
    return sorted(frame["invoice_id"].astype(int))


def test_per_day_files(landing_dir: Path, invoices: pd.DataFrame) -> None:
    source = DataSource(kind="files", location=str(landing_dir / "invoices_{date}.csv"), date_column="invoice_date")
    assert sorted_ids(source.read(START, END)) == sorted_ids(invoices)


def test_one_file_filtered_by_date(tmp_path: Path, landing_dir: Path, invoices: pd.DataFrame) -> None:
    every_day = pd.concat([pd.read_csv(p) for p in sorted(landing_dir.glob("invoices_2024-0[23]-*.csv"))])
    every_day.to_csv(tmp_path / "all.csv.gz", index=False)
    source = DataSource(kind="files", location=str(tmp_path / "all.csv.gz"), date_column="invoice_date")
    assert sorted_ids(source.read(START, END)) == sorted_ids(invoices)


def test_fsspec_url(invoices: pd.DataFrame) -> None:
    with fsspec.open("memory://landing/2024-03-01.parquet", "wb") as handle:
        invoices[invoices["invoice_date"] == "2024-03-01"].to_parquet(handle)
    source = DataSource(kind="files", location="memory://landing/{date}.parquet", date_column="invoice_date")
    assert len(source.read(START, START)) == int((invoices["invoice_date"] == "2024-03-01").sum())


def test_duckdb_query_bound_to_the_range(tmp_path: Path, landing_dir: Path, invoices: pd.DataFrame) -> None:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute(f"CREATE TABLE invoices AS SELECT * FROM read_csv_auto('{landing_dir}/invoices_2024-0*.csv')")
    source = DataSource(kind="sql", location=f"duckdb:///{path}", date_column="invoice_date", query=QUERY)
    assert sorted_ids(source.read(START, END)) == sorted_ids(invoices)


def test_sqlalchemy_url(tmp_path: Path, invoices: pd.DataFrame) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    engine = sqlalchemy.create_engine(url)
    invoices.to_sql("invoices", engine, index=False)
    engine.dispose()
    source = DataSource(kind="sql", location=url, date_column="invoice_date", query=QUERY)
    assert sorted_ids(source.read(START, START)) == sorted_ids(invoices[invoices["invoice_date"] == "2024-03-01"])


def test_database_errors_name_the_database_without_its_password() -> None:
    source = DataSource(kind="sql", location="sqlite:////nonexistent/dir/x.db", date_column="d", query=QUERY)
    with pytest.raises(SourceUnavailable, match=r"database sqlite:////nonexistent/dir/x.db: file /nonexistent/dir/x.db "
                                                r"not found; fix dataset.source.url"):
        source.read(START, END)
    assert not Path("/nonexistent/dir/x.db").exists()
    secret = DataSource(kind="sql", location="postgresql://etl:hunter2@127.0.0.1:1/wh", date_column="d", query=QUERY)
    with pytest.raises(ValueError) as error:
        secret.read(START, END)
    assert "hunter2" not in str(error.value) and "etl:***@127.0.0.1:1/wh" in str(error.value)


def test_raw_data_reads_a_duckdb_source_in_a_range_run(tmp_path: Path, landing_dir: Path, invoices: pd.DataFrame) -> None:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute(f"CREATE TABLE invoices AS SELECT * FROM read_csv_auto('{landing_dir}/invoices_2024-03-*.csv')")
    spec = make_spec(tmp_path, dataset={"source": {"kind": "sql", "url": f"duckdb:///{path}", "query": QUERY}})
    with dg.instance_for_test() as instance:
        result = build_definitions(spec).resolve_job_def("ingest_job").execute_in_process(
            instance=instance, tags={"dagster/asset_partition_range_start": START.isoformat(),
                                     "dagster/asset_partition_range_end": END.isoformat()})
    assert result.success
    stored = {key: len(lake.read_partition(lake.partition_dir(spec.lake_dir, "features", "date", key)))
              for key in lake.stored_keys(spec.lake_dir, "features", "date")}
    assert stored == invoices.groupby("invoice_date").size().to_dict()


def test_unreachable_database_fails_raw_data_after_the_spec_retries(tmp_path: Path) -> None:
    """A database that is not there fails raw_data once per attempt of the spec's retry policy, then with one
    error naming the database; nothing is stored and features does not run."""
    url = f"sqlite:///{tmp_path / 'gone.sqlite'}"
    spec = make_spec(tmp_path, dataset={"source": {"kind": "sql", "url": url, "query": QUERY}},
                     retries={"max_retries": 2, "delay_s": 0.01})
    with dg.instance_for_test() as instance:
        result = build_definitions(spec).resolve_job_def("ingest_job").execute_in_process(
            instance=instance, partition_key=START.isoformat(), raise_on_error=False)
    assert not result.success
    assert [e.step_key for e in result.all_events if e.event_type_value == "STEP_RESTARTED"] == ["raw_data"] * 2
    failure = result.failure_data_for_node("raw_data")
    assert f"database {url}: file {tmp_path / 'gone.sqlite'} not found" in failure.error.message
    assert not (tmp_path / "gone.sqlite").exists(), "connecting must not create an empty database"
    assert result.failure_data_for_node("features") is None
    assert not [e for e in result.all_events if e.step_key == "features" and e.is_step_success]
    assert not (Path(str(spec.lake_dir)) / "raw_data").exists()
