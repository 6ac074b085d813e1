"""`ml_assets.Project`: the pipeline from Python in three tiers, and a research interface over its models.

Tier 1 `Project.from_table(...)` infers a config from a data file as `ml-assets init` does; tier 2
`Project.from_config(path).with_overrides({...})` changes fields of a config by their dotted path; tier 3
`Project(spec)` takes a PipelineSpec built in Python. `run` materializes the graph with the CLI's machinery; the
research methods read the project's own MLflow registry and lake.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import BaseModel

from ml_assets.spec import ConfigError, PipelineSpec, load_spec, parse_spec, suggest_name

if TYPE_CHECKING:  # MLflow, XGBoost and Dagster load only when a method needs them
    from mlflow.entities.model_registry import ModelVersion

    from ml_assets.core.training.comparison import AucComparison
    from ml_assets.resources.registry import LoadedModel, ModelRegistry

FINGERPRINT_ARTIFACT = "data_fingerprint.json"


@dataclass(frozen=True)
class SegmentOutcome:
    """One segment after a run: its champion version (None when none passed the gate) and its holdout metrics."""

    segment: str
    model_name: str
    champion_version: str | None
    holdout_auc: float | None
    holdout_ece: float | None


@dataclass(frozen=True)
class RunResult:
    """What `Project.run` produced: the Dagster run of each job, each segment's champion, and where outputs went."""

    run_ids: dict[str, str]
    segments: dict[str, SegmentOutcome]
    lake: str
    reports: Path
    tracking_uri: str
    dagster_home: Path


@dataclass(frozen=True)
class VersionComparison:
    """Two versions of a segment's model side by side: what varied and what it changed."""

    segment: str
    a: str
    b: str
    params: pd.DataFrame
    """Params whose values differ: param, a, b."""
    metrics: pd.DataFrame
    """Metrics both runs logged: metric, a, b, delta (b - a)."""
    holdout: AucComparison
    """Paired bootstrap of b's AUC against a's on a shared holdout (the later version's held-out days)."""
    holdout_days: tuple[str, str]
    importance: pd.DataFrame
    """Share of total gain per feature: feature, a, b, shift (b - a), largest shifts first."""


@dataclass(frozen=True)
class Lineage:
    """Where a model version came from: its data window and partitions, its runs and its config."""

    model_name: str
    version: str
    mlflow_run_id: str
    dagster_run_id: str | None
    config_hash: str | None
    git_commit: str | None
    window: tuple[str, str] | None
    data_hash: str | None
    rows: int | None
    partitions: list[str]


class Project:
    """A pipeline config and everything it produced: run it, then ask about its models, runs and data."""

    def __init__(self, spec: PipelineSpec) -> None:
        self.spec = spec

    @classmethod
    def from_config(cls, path: str | Path) -> Project:
        """Tier 2: a pipeline YAML, validated as the CLI does (environment values substituted)."""
        return cls(load_spec(path))

    @classmethod
    def from_table(cls, path: str | Path, *, id: str, date: str, target: str, segment: str,
                   exclude: list[str] | tuple[str, ...] = (), home: str | Path | None = None,
                   label_delay_days: int = 0, name: str | None = None) -> Project:
        """Tier 1: a config inferred from a data file as `ml-assets init` infers it, writing under `home`."""
        from ml_assets.core.data.inference import infer_config, segment_name
        from ml_assets.core.data.sources import read_landing_file

        data = Path(path).resolve()
        name = name or segment_name(data.name.split(".")[0])
        root = Path(home).resolve() if home else Path.cwd().resolve() / "data" / name
        config = infer_config(read_landing_file(str(data)), name=name, source_path=str(data), id_column=id,
                              date_column=date, target=target, segment=segment, exclude=list(exclude),
                              label_delay_days=label_delay_days).config
        config["storage"] = {"home": str(root), "lake": str(root / "lake"), "reports": str(root / "reports")}
        return cls(parse_spec(config, base_dir=root, origin=f"config inferred from {data.name}"))

    def config(self) -> dict[str, Any]:
        """The config as a plain mapping, as `save` writes it."""
        return self.spec.model_dump(mode="json", exclude={"base_dir"})

    def with_overrides(self, overrides: dict[str, Any]) -> Project:
        """A new Project with fields replaced by dotted path ("model.params.max_depth": 6); a path naming no
        field is an error with the closest name, and the result is validated like a config file."""
        config = self.config()
        for path, value in overrides.items():
            set_by_path(config, self.spec, path, value)
        return Project(parse_spec(config, base_dir=self.spec.base_dir, origin="overrides"))

    def save(self, path: str | Path) -> Path:
        """Write the config as YAML (relative paths stay relative to the folder the spec was made for)."""
        import yaml

        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"# ml_assets pipeline {self.spec.name}, written by ml_assets.Project.save\n"
                          + yaml.safe_dump(self.config(), sort_keys=False, allow_unicode=True))
        return target

    def run(self, start: date | str, end: date | str) -> RunResult:
        """Materialize the graph over start..end (ingest, train every segment as of `end`, score, monitor) in the
        pipeline's own Dagster instance, as `ml-assets run` does; raises when a job fails."""
        from ml_assets.runner import persistent_instance, run_pipeline

        instance = persistent_instance(self.spec)
        summary = run_pipeline(self.spec, as_date(start), as_date(end), instance, progress=lambda _: None)
        return RunResult(run_ids=dict(summary.run_ids), segments=self.champions(), lake=str(self.spec.lake_dir),
                         reports=self.spec.reports_dir, tracking_uri=self.spec.tracking_uri,
                         dagster_home=Path(instance.root_directory))

    def champions(self) -> dict[str, SegmentOutcome]:
        """Each segment's champion version and its holdout AUC and ECE (None where there is no champion)."""
        from ml_assets.registry_cli import tag_float
        from ml_assets.resources.registry import CHAMPION

        registry, outcomes = self.registry(), {}
        for segment in self.spec.segment_names:
            name = self.spec.registered_model_name(segment)
            version = registry.version_by_alias(name, CHAMPION)
            tags = version.tags if version else {}
            outcomes[segment] = SegmentOutcome(segment, name, str(version.version) if version else None,
                                               tag_float(tags, "holdout_roc_auc"), tag_float(tags, "holdout_ece"))
        return outcomes

    def models(self) -> pd.DataFrame:
        """Every registered version per segment, oldest first: aliases, holdout metrics, calibration, leakage
        suspects, training window, data fingerprint, the Dagster run that made it and its MLflow run (the objects
        of `ml-assets models --json`)."""
        from ml_assets.registry_cli import models_json

        versions = models_json(self.spec, self.registry(), self.spec.segment_names)
        return pd.DataFrame(versions).sort_values(["segment", "version"], key=version_order, ignore_index=True)

    def monitor(self, segment: str | None = None, start: date | str | None = None,
                end: date | str | None = None) -> pd.DataFrame:
        """Per segment and day: model version, drift severity, drifted features, estimated and realized AUC and
        default rate, in-sample flag (the table of `ml-assets monitor`)."""
        from ml_assets.monitor_cli import monitor_table

        rows = monitor_table(self.spec, segment, as_date(start) if start else None, as_date(end) if end else None)
        return pd.DataFrame([row.as_json() for row in rows])

    def lineage(self, segment: str, version: str | int) -> Lineage:
        """The partitions and data hash a version trained on, the runs that made it and the config's hash."""
        found = self.model_version(segment, version)
        tags = found.tags
        fingerprint = self.fingerprint(found)
        window = (tags["window_first"], tags["window_last"]) if "window_first" in tags else None
        return Lineage(model_name=found.name, version=str(found.version), mlflow_run_id=found.run_id,
                       dagster_run_id=tags.get("dagster_run_id"), config_hash=tags.get("config_hash"),
                       git_commit=tags.get("git_commit"), window=window, data_hash=tags.get("data_hash"),
                       rows=fingerprint.get("rows"), partitions=list(fingerprint.get("partitions", [])))

    def compare(self, segment: str, a: str | int, b: str | int) -> VersionComparison:
        """Params that differ, metric deltas, the paired-bootstrap test of b against a on the later version's
        holdout days (both score the same rows), and how the share of gain per feature moved."""
        from ml_assets.core.training.comparison import compare_auc

        registry = self.registry()
        first, second = self.model_version(segment, a), self.model_version(segment, b)
        client = registry.client
        runs = [client.get_run(v.run_id).data for v in (first, second)]
        holdout_days, frame = self.shared_holdout(segment, first, second)
        name = self.spec.registered_model_name(segment)
        models = [registry.load(name, str(v.version)) for v in (first, second)]
        target = frame[self.spec.dataset.target].to_numpy(dtype="float64")
        scores = [self.version_scores(model, frame) for model in models]
        training = self.spec.training
        test = compare_auc(target, scores[1], scores[0], margin=training.promotion_margin, alpha=training.gate_alpha,
                           samples=training.bootstrap_samples, seed=training.seed)
        return VersionComparison(segment, str(first.version), str(second.version),
                                 params=differing(runs[0].params, runs[1].params),
                                 metrics=metric_deltas(runs[0].metrics, runs[1].metrics), holdout=test,
                                 holdout_days=holdout_days, importance=importance_shift(models[0], models[1]))

    def predictions(self, day: date | str) -> pd.DataFrame:
        """The stored predictions of one day (every segment), as the predictions asset wrote them."""
        from ml_assets.core.data import lake

        key = as_date(day).isoformat()
        if key not in lake.stored_days(self.spec.lake_dir, "predictions"):
            raise ValueError(f"no predictions stored for {key} in {self.spec.lake_dir}; "
                             f"run the pipeline over that day first (Project.run or ml-assets run)")
        return lake.read_days(self.spec.lake_dir, "predictions", [key])

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Score raw records in memory with each segment's champion: the same contract, features, reason codes,
        similar customers and risk clusters as the daily assets, without writing anything."""
        from ml_assets.core.data import schemas
        from ml_assets.core.data.features import SEGMENT_COLUMN, build_features
        from ml_assets.core.scoring import clustering
        from ml_assets.core.scoring.segment_scoring import score_segment
        from ml_assets.core.scoring.similar import build_index
        from ml_assets.resources.registry import CHAMPION

        dates = pd.to_datetime(frame[self.spec.dataset.date], errors="coerce")
        checked = schemas.enforce(schemas.raw_schema(self.spec.dataset, dates.min().date(), dates.max().date()), frame)
        if not checked.passed:
            raise ValueError(f"records break the dataset contract: {schemas.describe_failures(checked.failures)}")
        features = build_features(checked.frame, self.spec.dataset, self.spec.features)
        registry, scored, cutpoints = self.registry(), [], {}
        for segment, rows in features.groupby(SEGMENT_COLUMN, sort=False):
            name = self.spec.registered_model_name(str(segment))
            model = registry.load_alias(name, CHAMPION)
            if model is None:
                raise ValueError(f"segment {segment!r} has no champion model; train it first (Project.run)")
            reference = registry.similar_reference(model) if self.spec.scoring.similar_customers.top_n else None
            neighbours = self.spec.scoring.similar_customers
            index = build_index(reference, self.spec.dataset, neighbours) if reference is not None else None
            scored.append(score_segment(rows, model.booster, model.meta, name, model.version,
                                        self.spec.scoring_sections(), index))
            cutpoints[(name, str(model.version))] = model.meta.cutpoints
        if not scored:
            raise ValueError(f"no row has a segment of {self.spec.name}: "
                             f"{self.spec.dataset.segment} must hold one of {self.spec.segment_names}")
        return clustering.cluster_table(pd.concat(scored, ignore_index=True), cutpoints, self.spec.scoring_sections())

    def registry(self) -> ModelRegistry:
        """The project's own MLflow registry."""
        from ml_assets.resources.registry import ModelRegistry

        return ModelRegistry(tracking_uri=self.spec.tracking_uri)

    def model_version(self, segment: str, version: str | int) -> ModelVersion:
        """A registered version of a segment's model, or an error naming the versions there are."""
        if segment not in self.spec.segment_names:
            raise ValueError(f"segment {segment!r} is not in {self.spec.name}{suggest_name(segment, self.spec.segment_names)}")
        name = self.spec.registered_model_name(segment)
        versions = {str(v.version): v for v in self.registry().versions(name)}
        if str(version) not in versions:
            raise ValueError(f"{name} has no version {version}; versions: {', '.join(versions) or 'none yet'}")
        return versions[str(version)]

    def fingerprint(self, version: ModelVersion) -> dict[str, Any]:
        """The data fingerprint logged with a version's run (rows, hash, partitions)."""
        import mlflow

        with tempfile.TemporaryDirectory() as folder:
            path = mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path=FINGERPRINT_ARTIFACT,
                                                       dst_path=folder, tracking_uri=self.registry().uri)
            return json.loads(Path(path).read_text())

    def shared_holdout(self, segment: str, a: ModelVersion, b: ModelVersion) -> tuple[tuple[str, str], pd.DataFrame]:
        """The later version's held-out days and the segment's stored features of those days."""
        from ml_assets.core.data import lake
        from ml_assets.core.data.features import SEGMENT_COLUMN

        last = max(date.fromisoformat(v.tags["window_last"]) for v in (a, b))
        first = last - timedelta(days=self.spec.training.holdout_days - 1)
        stored = set(lake.stored_days(self.spec.lake_dir, "features"))
        days = [d.isoformat() for d in pd.date_range(first, last).date if d.isoformat() in stored]
        if not days:
            raise ValueError(f"no features stored for {first}..{last} (the later version's holdout); "
                             "materialize features for those days first")
        frame = lake.read_days(self.spec.lake_dir, "features", days)
        return (first.isoformat(), last.isoformat()), frame[frame[SEGMENT_COLUMN] == segment].reset_index(drop=True)

    def version_scores(self, model: LoadedModel, frame: pd.DataFrame) -> Any:
        """Calibrated scores of a registered version on feature rows."""
        from ml_assets.core.data.features import model_matrix
        from ml_assets.core.scoring.scores import model_scores

        return model_scores(model.booster, model_matrix(frame, self.spec.features, model.meta.vocabulary), model.meta)


def version_order(column: pd.Series) -> pd.Series:
    """Sort key of `models`: versions by number, other columns as they are."""
    return column.astype(int) if column.name == "version" else column


def differing(a: dict[str, str], b: dict[str, str]) -> pd.DataFrame:
    """Params whose values differ between two runs (missing on one side shows as None)."""
    rows = [{"param": key, "a": a.get(key), "b": b.get(key)} for key in sorted(set(a) | set(b))
            if a.get(key) != b.get(key)]
    return pd.DataFrame(rows, columns=["param", "a", "b"])


def metric_deltas(a: dict[str, float], b: dict[str, float]) -> pd.DataFrame:
    """Metrics both runs logged, with b - a."""
    rows = [{"metric": key, "a": a[key], "b": b[key], "delta": b[key] - a[key]} for key in sorted(set(a) & set(b))]
    return pd.DataFrame(rows, columns=["metric", "a", "b", "delta"])


def importance_shift(a: LoadedModel, b: LoadedModel) -> pd.DataFrame:
    """Each feature's share of total gain in a and b, largest absolute shift first."""
    from ml_assets.core.training.modeling import gain_importance

    shares = pd.DataFrame({"a": gain_share(gain_importance(a.booster)), "b": gain_share(gain_importance(b.booster))})
    shares = shares.fillna(0.0).assign(shift=lambda t: t["b"] - t["a"])
    order = shares["shift"].abs().sort_values(ascending=False).index
    return shares.loc[order].rename_axis("feature").reset_index()


def gain_share(gains: pd.Series) -> pd.Series:
    """Gains as shares of their total (zeros when the booster never split)."""
    total = float(gains.sum())
    return gains / total if total else gains * 0.0


def set_by_path(config: dict[str, Any], spec: PipelineSpec, path: str, value: Any) -> None:
    """Set `value` at a dotted path of a config mapping, checking each name against the spec's fields."""
    parts = path.split(".")
    node, model = config, spec
    for depth, part in enumerate(parts):
        where = ".".join(parts[: depth + 1])
        if isinstance(model, BaseModel):
            fields = [name for name in type(model).model_fields if name != "base_dir"]
            if part not in fields:
                raise ConfigError(f"override {path!r}: {where!r} is not a config field{suggest_name(part, fields)}")
            model = getattr(model, part)
        else:
            model = model.get(part) if isinstance(model, dict) else None
        if depth == len(parts) - 1:
            node[part] = value
        else:
            if not isinstance(node.get(part), dict):
                if node.get(part) is not None:
                    raise ConfigError(f"override {path!r}: {where!r} holds {node[part]!r}, not a section")
                node[part] = {}
            node = node[part]


def as_date(value: date | str) -> date:
    """A date from a date or an ISO string, with a readable error."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date; use YYYY-MM-DD") from None
