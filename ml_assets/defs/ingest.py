"""raw_data and features: daily partitions, each gated by a blocking Pandera contract.

A run over a range works a chunk of `storage.chunk_days` days at a time and stages each chunk's days; the lake
IO manager stores them only when every chunk has passed the contract, so a failure in a later chunk leaves the
stored partitions as they were."""

from dataclasses import dataclass
from datetime import date

import dagster as dg
import pandas as pd
import pandera.pandas as pa

from ml_assets.core.data import features as feature_core
from ml_assets.core.data import schemas
from ml_assets.defs.daily import DailyRun
from ml_assets.defs.metadata import Figure, preview
from ml_assets.defs.partitions import daily_partitions
from ml_assets.defs.retries import names_outage_when_spent, service_retry_policy
from ml_assets.resources.source import DataSource
from ml_assets.resources.storage import DailyFrames
from ml_assets.spec import PipelineSpec

FAILURE_SAMPLE_ROWS = 20


def contract_check(asset: str, failures: schemas.FailureTally) -> dg.AssetCheckResult:
    """Blocking check result with the failure count and a sample of failing rows (over every chunk of the run)."""
    return dg.AssetCheckResult(
        check_name="schema",
        asset_key=asset,
        passed=failures.count == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "failure_count": failures.count,
            "failures": dg.MetadataValue.md(failures.sample.to_markdown(index=False)) if failures.count else "none",
            "summary": failures.describe() or "contract holds",
        },
    )


def soft_rules_check(findings: pd.DataFrame) -> dg.AssetCheckResult:
    """Non-blocking WARN check listing the soft-rule findings."""
    return dg.AssetCheckResult(
        check_name="soft_rules",
        asset_key="raw_data",
        passed=findings.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"finding_count": len(findings),
                  "findings": dg.MetadataValue.md(findings.to_markdown(index=False)) if len(findings) else "none"},
    )


@dataclass
class RangeContract:
    """A contract enforced chunk by chunk over a range: its failures, with row numbers in the whole range."""

    failures: schemas.FailureTally
    rows: int = 0

    def enforce(self, schema: pa.DataFrameSchema, frame: pd.DataFrame) -> pd.DataFrame | None:
        """A chunk's frame as the contract coerces it; None once any chunk of the range has failed (nothing more
        is staged, but later chunks are still checked, for a full count)."""
        result = schemas.enforce(schema, frame)
        self.failures.add(result.failures, first_row=self.rows)
        self.rows += len(frame)
        return None if self.failures.count else result.frame

    def stop_if_broken(self, what: str) -> None:
        """Fail the step (no retries: the data must change) when any chunk broke the contract."""
        if self.failures.count:
            raise dg.Failure(f"{what}: {self.failures.describe()}", allow_retries=False)


def feature_figures(day: pd.DataFrame) -> dict[str, Figure]:
    """A day's first rows and its rows without a segment."""
    return {**preview(day), "rows_without_segment": int(day[feature_core.SEGMENT_COLUMN].isna().sum())}


def read_raw(source: DataSource, first: date, last: date, spec: PipelineSpec) -> pd.DataFrame:
    """The source's records of first..last; a source with nothing at all gives the spec's columns, no rows. A file
    or query that cannot be read fails without retries (retrying cannot fix it; an outage is retried)."""
    try:
        raw = source.read(first, last)
    except (ValueError, FileNotFoundError) as error:
        raise dg.Failure(str(error), allow_retries=False) from None
    if raw.empty and len(raw.columns) == 0:
        return pd.DataFrame(columns=list(spec.dataset.columns))
    return raw


def build_ingest_assets(spec: PipelineSpec) -> list[dg.AssetsDefinition]:
    """raw_data (landing files -> contract) and features (engineering -> contract)."""
    partitions = daily_partitions(spec)

    @dg.asset(
        retry_policy=service_retry_policy(spec.retries),
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[dg.AssetCheckSpec("schema", asset="raw_data", blocking=True,
                                       description="raw records honour the dataset contract"),
                     dg.AssetCheckSpec("soft_rules", asset="raw_data", blocking=False,
                                       description="null rates, expected values and optional columns (warns only)")],
        group_name="ingest",
        kinds={"pandas", "parquet"},
    )
    @names_outage_when_spent(spec.retries, spec.tracking_uri)
    def raw_data(context: dg.AssetExecutionContext, source: DataSource):
        """Records of each day from the source, coerced and validated against the spec's columns."""
        contract, soft = RangeContract(schemas.FailureTally(FAILURE_SAMPLE_ROWS)), schemas.SoftRuleTally()
        with DailyRun(context, spec) as run:
            for chunk in run.chunks():
                raw = read_raw(source, chunk.first, chunk.last, spec)
                valid = contract.enforce(schemas.raw_schema(spec.dataset, chunk.first, chunk.last), raw)
                if valid is not None:
                    soft.add(list(raw.columns), valid, spec.dataset)
                    chunk.add_rows(valid, preview)
                    chunk.stage(valid)
            yield contract_check("raw_data", contract.failures)
            contract.stop_if_broken(f"raw_data {run.first}..{run.last} breaks its contract")
            findings = soft.findings(spec.dataset)
            yield soft_rules_check(findings)
            for row in findings.itertuples():
                context.log.warning(f"raw_data {row.column}: {row.rule}: {row.detail}")
            yield run.output()

    @dg.asset(
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[dg.AssetCheckSpec("schema", asset="features", blocking=True,
                                       description="engineered features are typed and finite")],
        group_name="ingest",
        kinds={"pandas", "parquet"},
    )
    def features(context: dg.AssetExecutionContext, raw_data: DailyFrames):
        """Model inputs: history averages, tenure, normalized strings, new-customer flag, segment."""
        contract = RangeContract(schemas.FailureTally(FAILURE_SAMPLE_ROWS))
        with DailyRun(context, spec) as run:
            for chunk in run.chunks():
                raw = chunk.read(raw_data, feature_core.input_columns(spec.dataset, spec.features))
                valid = contract.enforce(schemas.features_schema(spec.dataset, spec.features),
                                          feature_core.build_features(raw, spec.dataset, spec.features))
                if valid is not None:
                    chunk.add_rows(valid, feature_figures)
                    chunk.stage(valid)
            yield contract_check("features", contract.failures)
            contract.stop_if_broken("features break their contract")
            yield run.output()

    return [raw_data, features]
