"""predictions, risk_clusters and risk_report: daily scoring with each segment's champion.

A run over a range works a chunk of `storage.chunk_days` days at a time (inputs read chunk by chunk, outputs
staged chunk by chunk); metadata and checks add up over the chunks."""

from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pandas as pd

from ml_assets.core.data import lake
from ml_assets.core.data.features import SEGMENT_COLUMN
from ml_assets.core.scoring import clustering, similar
from ml_assets.core.scoring import risk_report as reporting
from ml_assets.core.scoring.scores import SCORE_COLUMN
from ml_assets.core.scoring.segment_scoring import empty_scores, score_segment
from ml_assets.defs.daily import Chunk, DailyRun
from ml_assets.defs.metadata import (
    add_cluster_counts,
    add_prediction_figures,
    add_report_file_figures,
    frame_table,
    markdown_table,
)
from ml_assets.defs.partitions import daily_partitions
from ml_assets.defs.retries import names_outage_when_spent, service_retry_policy
from ml_assets.resources.registry import CHAMPION, ArtifactError, LoadedModel, ModelRegistry
from ml_assets.resources.storage import DailyFrames
from ml_assets.spec import PipelineSpec

SAMPLE_ROWS = 10


def labels_as_of(spec: PipelineSpec) -> pd.Timestamp:
    """The date labels are judged known by: the latest stored features date."""
    stored = lake.stored_days(spec.lake_dir, "features")
    return pd.Timestamp(stored[-1]) if stored else pd.Timestamp.max


def similar_index(registry: ModelRegistry, model: LoadedModel, spec: PipelineSpec,
                  log: dg.DagsterLogManager) -> similar.SimilarIndex | None:
    """The similar-customer index of a model version; None when turned off or not logged with the version."""
    if spec.scoring.similar_customers.top_n == 0:
        return None
    reference = registry.similar_reference(model)
    if reference is None:
        log.warning(f"{model.name} v{model.version} was trained with scoring.similar_customers.top_n 0: "
                    "no similar customers for its rows; retrain the segment to add them")
        return None
    return similar.build_index(reference, spec.dataset, spec.scoring.similar_customers)


@dataclass(frozen=True)
class Scorer:
    """A segment's champion model under its registered name, with its similar-customer index."""

    name: str
    model: LoadedModel
    index: similar.SimilarIndex | None


@dataclass(frozen=True)
class Unscorable:
    """Why a segment's rows cannot be scored: no champion registered, or a champion whose artifacts are broken."""

    reason: str


def segment_scorer(registry: ModelRegistry, segment: str, spec: PipelineSpec,
                   log: dg.DagsterLogManager) -> Scorer | Unscorable:
    """The segment's champion and similar-customer index, or why there is none. A broken artifact stops only its
    segment; an unreachable registry (RegistryUnavailable) fails the step, so nothing stored is replaced."""
    name = spec.registered_model_name(segment)
    try:
        champion = registry.load_alias(name, CHAMPION)
        if champion is None:
            return Unscorable(f"no champion model {name}@{CHAMPION}; train the segment (ml-assets run or the "
                              f"training job) or `ml-assets promote --segment {segment} --version V --reason ...`")
        registry.reference_profile(champion)  # checked here too: drift_report needs it for the segment's rows
        return Scorer(name, champion, similar_index(registry, champion, spec, log))
    except ArtifactError as error:
        log.error(f"segment {segment!r} not scored: {error}")
        return Unscorable(str(error))


def score_chunk(features: pd.DataFrame, scorers: dict[str, Scorer | Unscorable], registry: ModelRegistry,
                spec: PipelineSpec, log: dg.DagsterLogManager) -> tuple[pd.DataFrame, dict[str, int]]:
    """A chunk's rows scored segment by segment, and the row count of each segment without a usable champion (not
    scored). `scorers` caches each segment's scorer for the run's next chunks."""
    scored, unscored = [], {}
    for segment, rows in features.groupby(SEGMENT_COLUMN, sort=False):
        segment = str(segment)
        if segment not in scorers:
            scorers[segment] = segment_scorer(registry, segment, spec, log)
        scorer = scorers[segment]
        if isinstance(scorer, Unscorable):
            unscored[segment] = len(rows)
            continue
        scored.append(score_segment(rows, scorer.model.booster, scorer.model.meta, scorer.name,
                                    scorer.model.version, spec.scoring_sections(), scorer.index))
    return (pd.concat(scored, ignore_index=True) if scored else empty_scores(spec.scoring_sections())), unscored


@dataclass
class PredictionTally:
    """What predictions' checks report, added up over the chunks of a run."""

    unscored: dict[str, int] = field(default_factory=dict)
    outside: int = 0
    outside_sample: list[pd.DataFrame] = field(default_factory=list)

    def add(self, features: pd.DataFrame, unscored: dict[str, int], spec: PipelineSpec) -> None:
        """Count one chunk: its features and its unscored rows by segment."""
        for segment, rows in unscored.items():
            self.unscored[segment] = self.unscored.get(segment, 0) + rows
        outside = features[features[SEGMENT_COLUMN].isna()]
        self.outside += len(outside)
        if len(outside) and sum(map(len, self.outside_sample)) < SAMPLE_ROWS:
            self.outside_sample.append(outside[[spec.dataset.id, spec.dataset.date]].head(SAMPLE_ROWS))

    def unscored_rows(self) -> int:
        """Rows of the run not scored: no usable champion for their segment, or a segment value outside
        dataset.segments."""
        return sum(self.unscored.values()) + self.outside

    def sample(self) -> pd.DataFrame:
        """The first rows outside dataset.segments (id and date)."""
        if not self.outside_sample:
            return pd.DataFrame()
        return pd.concat(self.outside_sample, ignore_index=True).head(SAMPLE_ROWS)


def champion_check(unscored: dict[str, int], scorers: dict[str, Scorer | Unscorable]) -> dg.AssetCheckResult:
    """Fails naming each segment that had rows but no usable champion (no champion, or broken artifacts), why,
    and what to do; the other segments were scored."""
    reasons = {segment: scorers[segment].reason for segment in unscored}
    return dg.AssetCheckResult(
        check_name="champion_available", passed=not unscored, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"unscored_rows": dg.MetadataValue.int(sum(unscored.values())),
                  "unscored_rows_by_segment": unscored,
                  "what_to_do": dg.MetadataValue.md("\n".join(f"- {segment}: {reason}"
                                                               for segment, reason in reasons.items()))}
        if unscored else {"unscored_rows": dg.MetadataValue.int(0)})


def segments_check(outside: int, sample: pd.DataFrame, spec: PipelineSpec) -> dg.AssetCheckResult:
    """Fails at scoring.unknown_segments' severity (default warn) with the count and a sample (id, date) of rows
    whose segment value is not in dataset.segments (values differing in case or spaces included): not scored."""
    ds = spec.dataset
    severity = dg.AssetCheckSeverity.ERROR if spec.scoring.unknown_segments == "error" else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        check_name="segments_known", passed=outside == 0, severity=severity,
        metadata={"unscored_rows": dg.MetadataValue.int(outside),
                  "rows_outside_segments": dg.MetadataValue.int(outside),
                  "sample": dg.MetadataValue.md(sample.to_markdown(index=False) if len(sample) else "none"),
                  "what_to_do": f"these rows were not scored: add their {ds.segment} values (exactly as written, "
                                "case and spaces included) to dataset.segments, or fix the source"})


def highest_risk_columns(spec: PipelineSpec) -> list[str]:
    """What the highest-risk preview shows of a row: keys, score, cluster, reason codes, similar customers."""
    return [spec.dataset.id, spec.dataset.date, SEGMENT_COLUMN, SCORE_COLUMN, "risk_cluster",
            *spec.scoring.reason_columns(), "similar_default_rate", "similar_customers"]


def highest_risk(table: pd.DataFrame, spec: PipelineSpec) -> pd.DataFrame:
    """The table's highest scores with their reason codes and similar past customers (of a chunk, or of the
    chunks' highest rows together: the run's)."""
    if table.empty:
        return pd.DataFrame()
    return table.nlargest(SAMPLE_ROWS, SCORE_COLUMN)[highest_risk_columns(spec)]


def report_inputs(spec: PipelineSpec) -> list[str] | None:
    """The columns of risk_clusters that risk_report reads: the report columns, the summaries' and the
    highest-risk preview's; None (every column) when scoring.report_columns is unset."""
    if spec.scoring.report_columns is None:
        return None
    summary = [spec.dataset.date, spec.dataset.target]
    return list(dict.fromkeys([*spec.scoring.report_columns, *summary, *highest_risk_columns(spec)]))


def highest_risk_preview(top: pd.DataFrame) -> str:
    """Markdown of the run's highest scores."""
    return markdown_table(top) if len(top) else "no scored rows"


def stored_cutpoints(predictions: pd.DataFrame, registry: ModelRegistry,
                     known: dict[tuple[str, str], list[float]]) -> dict[tuple[str, str], list[float]]:
    """The cut-points stored with each model version that scored `predictions`, added to `known` (loaded once
    per run) and returned."""
    for name, version in predictions[["model_name", "model_version"]].drop_duplicates().itertuples(index=False):
        key = (str(name), str(version))
        if key not in known:
            known[key] = registry.load(*key).meta.cutpoints
    return known


def warn_unscored(tally: PredictionTally, scorers: dict[str, Scorer | Unscorable], spec: PipelineSpec,
                  log: dg.DagsterLogManager) -> None:
    """Warn of each segment's rows not scored (and why), and of the rows whose segment value is unknown."""
    for segment, count in tally.unscored.items():
        log.warning(f"segment {segment!r}: {count} rows not scored: {scorers[segment].reason}")
    if tally.outside:
        log.warning(f"{tally.outside} rows not scored: their {spec.dataset.segment} value is not in "
                    "dataset.segments (see the segments_known check)")


def reason_codes_note(spec: PipelineSpec) -> str:
    """How the reason codes of the scored rows are made, in one line."""
    codes = spec.scoring.reason_codes
    return f"{codes.method} contributions for {codes.categories or 'every category'}"


def daily_summary(clusters: pd.DataFrame, as_of: pd.Timestamp, spec: PipelineSpec) -> pd.DataFrame:
    """risk_summary of a chunk's rows per day, segment and cluster (labels matured by `as_of` only)."""
    ds = spec.dataset
    matured = reporting.labels_matured(clusters[ds.date], ds.label_delay_days, as_of)
    return reporting.risk_summary(clusters, SEGMENT_COLUMN, SCORE_COLUMN, ds.target, matured, ds.date)


def add_report_figures(chunk: Chunk, summary: pd.DataFrame, clusters: pd.DataFrame, files: list[Path],
                       spec: PipelineSpec) -> None:
    """Per day of a chunk: its summary rows and table, its highest-risk rows and its report files written."""
    chunk.add_rows(summary, lambda day: {"summary": frame_table(day.drop(columns=chunk.date_column))})
    chunk.describe_days(clusters, lambda day: {"highest_risk": dg.MetadataValue.md(
        highest_risk_preview(highest_risk(day, spec)))})
    add_report_file_figures(chunk.figures, files, chunk.first, chunk.last)


def build_scoring_assets(spec: PipelineSpec) -> list[dg.AssetsDefinition]:
    """predictions -> risk_clusters -> risk_report over daily partitions."""
    partitions = daily_partitions(spec)
    ds = spec.dataset

    @dg.asset(
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[dg.AssetDep("segment_model", partition_mapping=dg.AllPartitionMapping())],
        retry_policy=service_retry_policy(spec.retries),
        check_specs=[
            dg.AssetCheckSpec("champion_available", asset="predictions", blocking=False,
                              description="every segment with rows has a champion model; segments without one "
                                          "are not scored, the others are"),
            dg.AssetCheckSpec("segments_known", asset="predictions", blocking=False,
                              description="every row's segment value is in dataset.segments (others are not scored)"),
        ],
        group_name="scoring",
        kinds={"xgboost", "parquet"},
    )
    @names_outage_when_spent(spec.retries, spec.tracking_uri)
    def predictions(context: dg.AssetExecutionContext, features: DailyFrames, model_registry: ModelRegistry):
        """Each row scored by its segment's champion model, with the model name and version, reason codes and,
        for the day's highest scores, similar past customers."""
        scorers: dict[str, Scorer | Unscorable] = {}
        tally = PredictionTally()
        with DailyRun(context, spec) as run:
            for chunk in run.chunks():
                rows = chunk.read(features)
                table, unscored = score_chunk(rows, scorers, model_registry, spec, context.log)
                tally.add(rows, unscored, spec)
                add_prediction_figures(chunk.figures, rows, table, ds.date, chunk.first, chunk.last)
                chunk.stage(table)
            warn_unscored(tally, scorers, spec, context.log)
            yield run.output({"reason_codes": reason_codes_note(spec)})
        yield champion_check(tally.unscored, scorers)
        yield segments_check(tally.outside, tally.sample(), spec)

    @dg.asset(
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        retry_policy=service_retry_policy(spec.retries),
        group_name="scoring",
        kinds={"pandas", "parquet"},
    )
    @names_outage_when_spent(spec.retries, spec.tracking_uri)
    def risk_clusters(context: dg.AssetExecutionContext, predictions: DailyFrames, model_registry: ModelRegistry):
        """Risk category from the cut-points stored with the scoring model version (or the day's quantiles),
        the arrears rule, group and new-customer mark."""
        cutpoints: dict[tuple[str, str], list[float]] = {}
        with DailyRun(context, spec) as run:
            for chunk in run.chunks():
                scored = chunk.read(predictions)
                table = clustering.cluster_table(scored, stored_cutpoints(scored, model_registry, cutpoints),
                                                 spec.scoring_sections())
                chunk.add_rows(table)
                add_cluster_counts(chunk.figures, table, ds.date, chunk.first, chunk.last)
                chunk.stage(table)
            yield run.output({"cutpoints": spec.clustering.cutpoints})

    @dg.asset(
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=["drift_report"],  # runs after it, so drift.fail_on_drift can stop the day's report
        group_name="scoring",
        kinds={"pandas", "parquet"},
    )
    def risk_report(context: dg.AssetExecutionContext, risk_clusters: DailyFrames):
        """Daily summary per segment and cluster; row-level report files per date and segment with the
        spec's report columns; the run's risk summary (added up from the daily summaries, on the run's last
        partition as its range summary)."""
        as_of, folder = labels_as_of(spec), reporting.report_folder(spec.reports_dir)
        summaries = []
        with DailyRun(context, spec) as run:
            for chunk in run.chunks():
                clusters = chunk.read(risk_clusters, report_inputs(spec))
                summary = daily_summary(clusters, as_of, spec)
                files = reporting.write_report_files(clusters, folder, spec.dataset.date, spec.scoring)
                summaries.append(summary)
                add_report_figures(chunk, summary, clusters, files, spec)
                chunk.stage(summary)
            run_summary = reporting.summary_over_days(reporting.concat_tables(summaries))
            path = reporting.write_run_summary(run_summary, spec.reports_dir, run.first, run.last)
            run.add_range_summary({"risk_summary": frame_table(run_summary),
                                   "risk_summary_path": dg.MetadataValue.path(str(path))})
            yield run.output({"report_folder": dg.MetadataValue.path(str(folder))})

    return [predictions, risk_clusters, risk_report]
