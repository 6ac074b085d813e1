"""raw_data and features: daily partitions, each gated by a blocking Pandera contract."""

import dagster as dg
import pandas as pd

from ml_assets.core import features as feature_core
from ml_assets.core import schemas
from ml_assets.defs.partitions import daily_partitions, run_dates
from ml_assets.resources.source import DataSource
from ml_assets.spec import PipelineSpec

FAILURE_SAMPLE_ROWS = 20


def contract_check(asset: str, result: schemas.ContractResult) -> dg.AssetCheckResult:
    """Blocking check result with the failure count and a sample of failing rows."""
    failures = result.failures
    return dg.AssetCheckResult(
        check_name="schema",
        asset_key=asset,
        passed=result.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "failure_count": len(failures),
            "failures": dg.MetadataValue.md(failures.head(FAILURE_SAMPLE_ROWS).to_markdown(index=False))
            if len(failures) else "none",
            "summary": schemas.describe_failures(failures) or "contract holds",
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


def frame_metadata(frame: pd.DataFrame, date_column: str) -> dict[str, dg.MetadataValue]:
    """Row count, dates covered and a preview, for the asset page."""
    dates = pd.to_datetime(frame[date_column]) if len(frame) else pd.Series(dtype="datetime64[ns]")
    return {
        "dagster/row_count": dg.MetadataValue.int(len(frame)),
        "days_with_rows": dg.MetadataValue.int(int(dates.dt.normalize().nunique())),
        "preview": dg.MetadataValue.md(frame.head(5).to_markdown(index=False)),
    }


def build_ingest_assets(spec: PipelineSpec) -> list[dg.AssetsDefinition]:
    """raw_data (landing files -> contract) and features (engineering -> contract)."""
    partitions = daily_partitions(spec)
    date_column = spec.dataset.date

    @dg.asset(
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[dg.AssetCheckSpec("schema", asset="raw_data", blocking=True,
                                       description="raw records honour the dataset contract"),
                     dg.AssetCheckSpec("soft_rules", asset="raw_data", blocking=False,
                                       description="null rates, expected values and optional columns (warns only)")],
        group_name="ingest",
        kinds={"pandas", "parquet"},
    )
    def raw_data(context: dg.AssetExecutionContext, source: DataSource):
        """Records of each day from the source, coerced and validated against the spec's columns."""
        start, end = run_dates(context)
        raw = source.read(start, end)
        if raw.empty and len(raw.columns) == 0:
            raw = pd.DataFrame(columns=list(spec.dataset.columns))
        result = schemas.enforce(schemas.raw_schema(spec, start, end), raw)
        yield contract_check("raw_data", result)
        if not result.passed:
            raise dg.Failure(f"raw_data {start}..{end} breaks its contract: {schemas.describe_failures(result.failures)}")
        findings = schemas.soft_rule_findings(list(raw.columns), result.frame, spec)
        yield soft_rules_check(findings)
        for row in findings.itertuples():
            context.log.warning(f"raw_data {row.column}: {row.rule}: {row.detail}")
        yield dg.Output(result.frame, metadata=frame_metadata(result.frame, date_column))

    @dg.asset(
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[dg.AssetCheckSpec("schema", asset="features", blocking=True,
                                       description="engineered features are typed and finite")],
        group_name="ingest",
        kinds={"pandas", "parquet"},
    )
    def features(context: dg.AssetExecutionContext, raw_data: pd.DataFrame):
        """Model inputs: history averages, tenure, normalized strings, new-customer flag, segment."""
        engineered = feature_core.build_features(raw_data, spec)
        result = schemas.enforce(schemas.features_schema(spec), engineered)
        yield contract_check("features", result)
        if not result.passed:
            raise dg.Failure(f"features break their contract: {schemas.describe_failures(result.failures)}")
        unassigned = int(result.frame[feature_core.SEGMENT_COLUMN].isna().sum())
        metadata = frame_metadata(result.frame, date_column) | {"rows_without_segment": dg.MetadataValue.int(unassigned)}
        yield dg.Output(result.frame, metadata=metadata)

    return [raw_data, features]
