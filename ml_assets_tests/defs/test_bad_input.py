"""Bad input: every case fails with a message naming the file or column, and nothing stored is touched."""

import gzip
import hashlib
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from ml_assets.core.data import lake
from ml_assets.definitions import build_definitions
from ml_assets.runner import RunSummary, failures
from ml_assets.spec import PipelineSpec, parse_spec
from ml_assets_tests.conftest import demo_config

DAY = "2024-07-01"


def lake_snapshot(spec: PipelineSpec) -> dict[str, str]:
    """Hash of every stored file in the lake."""
    return {str(p.relative_to(spec.lake_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(spec.lake_dir.rglob("*")) if p.is_file()}


def registry_snapshot(spec: PipelineSpec) -> list[tuple[str, str, tuple[str, ...]]]:
    """Every registered version with its aliases."""
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    return sorted((v.name, str(v.version), tuple(sorted(client.get_model_version(v.name, v.version).aliases)))
                  for v in client.search_model_versions())


def good_day(landing_dir: Path) -> pd.DataFrame:
    """A real day of invoices moved to DAY."""
    frame = pd.read_csv(landing_dir / "invoices_2024-06-28.csv")
    frame["invoice_date"] = DAY
    return frame


def spec_reading(graph_spec: PipelineSpec, landing: Path, path: str = "invoices_{date}.csv") -> PipelineSpec:
    """The graph run's spec (same lake and registry) reading landing files from `landing`."""
    config = demo_config(graph_spec.base_dir)
    config["dataset"]["source"] = {"kind": "files", "path": str(landing / path)}
    return parse_spec(config, base_dir=graph_spec.base_dir)


def ingest(spec: PipelineSpec, job: str = "ingest_job") -> tuple[bool, str]:
    """Run one job for DAY; success and the failure messages (step errors and failed check metadata)."""
    with dg.instance_for_test() as instance:
        result = build_definitions(spec).resolve_job_def(job).execute_in_process(
            instance=instance, partition_key=DAY, raise_on_error=False)
    return result.success, "\n".join(error.message for error in failures(result.get_step_failure_events()))


def write_csv(frame: pd.DataFrame, path: Path, **options: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, **options)


def drop_column(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["region"])


def text_in_amount(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({"amount": object}).assign(amount=lambda f: f["amount"].where(f.index != 3, "12,5O"))


def bad_date(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(invoice_date=lambda f: f["invoice_date"].where(f.index != 0, "31/02/2024"))


def outside_partition(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(invoice_date=lambda f: f["invoice_date"].where(f.index != 0, "2024-07-09"))


def duplicate_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(invoice_id=lambda f: f["invoice_id"].where(f.index != 1, f["invoice_id"].iloc[0]))


def all_null_required(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(estrato=np.nan)


def target_not_binary(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(defaulted=lambda f: f["defaulted"].where(f.index != 2, 2))


def infinite_amount(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(amount=lambda f: f["amount"].where(f.index != 4, np.inf))


def absurd_amount(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(amount=lambda f: f["amount"].where(f.index != 4, 3e15))


def unknown_estrato(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(estrato=lambda f: f["estrato"].where(f.index != 5, 9))


def inf_without_rule(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(days_late_prev_1=lambda f: f["days_late_prev_1"].where(f.index != 4, np.inf))


def beyond_float32(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(amount_prev_1=lambda f: f["amount_prev_1"].where(f.index != 4, 1e308))


def other_date_format(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(invoice_date=lambda f: f["invoice_date"].where(f.index != 2, "07/01/2024"))


def timezone_offset(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(invoice_date=lambda f: f["invoice_date"].where(f.index != 2, "2024-07-01T00:00:00+02:00"))


def fraction_in_int(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({"estrato": object}).assign(estrato=lambda f: f["estrato"].where(f.index != 6, "3.5"))


CONTRACT_CASES: list[tuple[str, Callable[[pd.DataFrame], pd.DataFrame], str]] = [
    ("missing required column", drop_column, "column 'region': required column is missing"),
    ("dtype that cannot be coerced", text_in_amount, "column 'amount' fails \"coerce_dtype('float64')\" on 1 row(s), e.g. 12,5O"),
    ("unparseable date", bad_date, "column 'invoice_date' fails \"coerce_dtype('datetime64[ns]')\" on 1 row(s), e.g. 31/02/2024"),
    ("row outside the partition", outside_partition, "column 'invoice_date' fails 'date inside 2024-07-01..2024-07-01'"),
    ("duplicate id", duplicate_id, "column 'invoice_id' fails 'unique together (one row per id and date)'"),
    ("all-null required column", all_null_required, "column 'estrato' fails 'not_nullable'"),
    ("target not 0/1", target_not_binary, "column 'defaulted' fails 'target must be 0 or 1' on 1 row(s), e.g. 2"),
    ("inf", infinite_amount, "column 'amount' fails 'finite (no inf)'"),
    ("absurd magnitude", absurd_amount, "column 'amount' fails '<= 100000000.0' on 1 row(s), e.g. 3000000000000000.0"),
    ("unknown category", unknown_estrato, "column 'estrato' fails 'one of [1, 2, 3, 4, 5, 6]' on 1 row(s), e.g. 9"),
    ("inf without a rule", inf_without_rule, "column 'days_late_prev_1' fails 'finite (no inf)' on 1 row(s), e.g. inf"),
    ("beyond float32", beyond_float32, "column 'amount_prev_1' fails 'within float32 range (|x| <= 3.4e+38, what "
                                       "XGBoost reads)' on 1 row(s), e.g. 1e+308"),
    ("date in another format", other_date_format, "column 'invoice_date' fails \"coerce_dtype('datetime64[ns]')\" on "
                                                  "1 row(s), e.g. 07/01/2024 (expected a date as YYYY-MM-DD"),
    ("time zone offset", timezone_offset, "column 'invoice_date' fails \"coerce_dtype('datetime64[ns]')\" on 1 row(s), "
                                          "e.g. 2024-07-01T00:00:00+02:00 (expected a date as YYYY-MM-DD"),
    ("fraction in an int column", fraction_in_int, "column 'estrato' fails \"coerce_dtype('Int64')\" on 1 row(s), "
                                                   "e.g. 3.5 (expected a whole number"),
]


@pytest.fixture
def stored_before(graph_run: tuple[PipelineSpec, RunSummary]) -> tuple[PipelineSpec, dict, list]:
    spec, _ = graph_run
    return spec, lake_snapshot(spec), registry_snapshot(spec)


def assert_untouched(spec: PipelineSpec, lake_before: dict, registry_before: list) -> None:
    assert lake_snapshot(spec) == lake_before, "stored partitions changed"
    assert registry_snapshot(spec) == registry_before, "registered models changed"
    assert not (spec.lake_dir / "raw_data" / f"date={DAY}").exists()


@pytest.mark.parametrize(("case", "corrupt", "expected"), CONTRACT_CASES, ids=[c[0] for c in CONTRACT_CASES])
def test_contract_violations_block_and_name_the_column(stored_before, tmp_path: Path, landing_dir: Path,
                                                       case: str, corrupt, expected: str) -> None:
    spec, lake_before, registry_before = stored_before
    write_csv(corrupt(good_day(landing_dir)), tmp_path / f"invoices_{DAY}.csv")
    success, message = ingest(spec_reading(spec, tmp_path))
    assert not success
    assert expected in message, message
    assert_untouched(spec, lake_before, registry_before)


def test_missing_file(stored_before, tmp_path: Path) -> None:
    spec, lake_before, registry_before = stored_before
    success, message = ingest(spec_reading(spec, tmp_path))
    assert not success and f"{tmp_path}/invoices_{DAY}.csv: landing file not found" in message
    assert_untouched(spec, lake_before, registry_before)


def test_zero_byte_file(stored_before, tmp_path: Path) -> None:
    spec, lake_before, registry_before = stored_before
    (tmp_path / f"invoices_{DAY}.csv").write_bytes(b"")
    success, message = ingest(spec_reading(spec, tmp_path))
    assert not success and "file is empty (0 bytes)" in message
    assert_untouched(spec, lake_before, registry_before)


def test_truncated_parquet(stored_before, tmp_path: Path, landing_dir: Path) -> None:
    spec, lake_before, registry_before = stored_before
    path = tmp_path / f"invoices_{DAY}.parquet"
    good_day(landing_dir).to_parquet(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    success, message = ingest(spec_reading(spec, tmp_path, "invoices_{date}.parquet"))
    assert not success and f"invoices_{DAY}.parquet: cannot be read" in message
    assert_untouched(spec, lake_before, registry_before)


def test_wrong_delimiter(stored_before, tmp_path: Path, landing_dir: Path) -> None:
    spec, lake_before, registry_before = stored_before
    write_csv(good_day(landing_dir), tmp_path / f"invoices_{DAY}.csv", sep=";")
    success, message = ingest(spec_reading(spec, tmp_path))
    assert not success and "the file seems delimited by ';': set dataset.source.delimiter: ';'" in message
    assert_untouched(spec, lake_before, registry_before)


def test_wrong_encoding(stored_before, tmp_path: Path, landing_dir: Path) -> None:
    spec, lake_before, registry_before = stored_before
    frame = good_day(landing_dir).assign(region="Bogotá")
    write_csv(frame, tmp_path / f"invoices_{DAY}.csv", encoding="latin-1")
    success, message = ingest(spec_reading(spec, tmp_path))
    assert not success and "not readable as utf-8" in message and "dataset.source.encoding" in message
    assert_untouched(spec, lake_before, registry_before)


def gzip_named_csv(text: bytes) -> bytes:
    return gzip.compress(text)


def utf16_text(text: bytes) -> bytes:
    return text.decode().encode("utf-16")


def binary_junk(text: bytes) -> bytes:
    return bytes(range(256)) * 40


def cut_last_line(text: bytes) -> bytes:
    return text[: text.rindex(b",", 0, len(text) - 1) - 3]


FILE_CASES: list[tuple[str, Callable[[bytes], bytes], str]] = [
    ("gzip named .csv", gzip_named_csv, "is gzip-compressed but not named .gz; rename it to .csv.gz"),
    ("UTF-16", utf16_text, "is UTF-16 text (it starts with a byte-order mark)"),
    ("binary", binary_junk, "is binary data, not CSV text"),
    ("truncated last line", cut_last_line, "is truncated ("),
]


@pytest.mark.parametrize(("case", "damage", "expected"), FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_files_are_named_by_their_content(stored_before, tmp_path: Path, landing_dir: Path, case: str, damage,
                                          expected: str) -> None:
    """What a landing file really holds is named before any encoding advice; a cut last line is a truncated line."""
    spec, lake_before, registry_before = stored_before
    path = tmp_path / f"invoices_{DAY}.csv"
    path.write_bytes(damage(good_day(landing_dir).to_csv(index=False).encode()))
    success, message = ingest(spec_reading(spec, tmp_path))
    assert not success
    assert f"invoices_{DAY}.csv: " in message and expected in message, message
    assert "dataset.source.encoding: utf-16" in message if case == "UTF-16" else "encoding" not in message
    assert_untouched(spec, lake_before, registry_before)


def test_header_only_file_is_a_day_without_records(graph_run, tmp_path: Path, landing_dir: Path) -> None:
    """A day with no data: the file holds only the header; every daily asset stores an empty partition."""
    spec, _ = graph_run
    write_csv(good_day(landing_dir).iloc[0:0], tmp_path / f"invoices_{DAY}.csv")
    day_spec = spec_reading(spec, tmp_path)
    assert ingest(day_spec) == (True, "")
    assert ingest(day_spec, "scoring_job") == (True, "")
    for asset in ("raw_data", "features", "predictions", "risk_clusters"):
        assert len(lake.read_partition(lake.partition_dir(spec.lake_dir, asset, "date", DAY))) == 0, asset


def test_one_class_day_and_missing_segment_are_scored(graph_run, tmp_path: Path, landing_dir: Path) -> None:
    """A day where nobody defaulted and no industrial customer was invoiced is valid data, not an error."""
    spec, _ = graph_run
    frame = good_day(landing_dir)
    frame = frame[frame["tariff"] == "domestic"].assign(defaulted=0)
    write_csv(frame, tmp_path / f"invoices_{DAY}.csv")
    day_spec = spec_reading(spec, tmp_path)
    assert ingest(day_spec) == (True, "")
    assert ingest(day_spec, "scoring_job") == (True, "")
    predictions = lake.read_partition(lake.partition_dir(spec.lake_dir, "predictions", "date", DAY))
    assert len(predictions) == len(frame) and set(predictions["model_segment"]) == {"domestic"}


def test_all_null_optional_column_warns_but_passes(graph_run, tmp_path: Path, landing_dir: Path) -> None:
    spec, _ = graph_run
    write_csv(good_day(landing_dir).assign(days_late_prev_6=np.nan).drop(columns=["amount_prev_6"]),
              tmp_path / f"invoices_{DAY}.csv")
    with dg.instance_for_test() as instance:
        result = build_definitions(spec_reading(spec, tmp_path)).resolve_job_def("ingest_job").execute_in_process(
            instance=instance, partition_key=DAY)
    soft = [e for e in result.get_asset_check_evaluations() if e.check_name == "soft_rules"][0]
    assert not soft.passed and soft.severity == dg.AssetCheckSeverity.WARN
    findings = soft.metadata["findings"].value
    assert "days_late_prev_6" in findings and "null rate" in findings
    assert "amount_prev_6" in findings and "missing optional column" in findings
