"""Pipeline configuration: Pydantic models of pipeline.yaml and the loader that validates it.

Invalid config fails at load time with the field path, the bad value and a suggestion.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ColumnType = Literal["int", "float", "str", "date", "bool"]
ENV_PATTERN = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


class ConfigError(ValueError):
    """A pipeline config that cannot be used; the message says where and what to do."""


class StrictModel(BaseModel):
    """Base model: unknown fields are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSourceSpec(StrictModel):
    """Daily landing files: `path` holds `{date}` (YYYY-MM-DD), relative to the config file."""

    kind: Literal["files"] = "files"
    path: str

    @field_validator("path")
    @classmethod
    def _has_date_placeholder(cls, value: str) -> str:
        if "{date}" not in value:
            raise ValueError(f"path {value!r} has no '{{date}}' placeholder; e.g. 'landing/invoices_{{date}}.csv'")
        return value


class DatasetSpec(StrictModel):
    """Where the records come from and which columns play which role."""

    source: FileSourceSpec
    columns: dict[str, ColumnType] = Field(description="every column of the raw table and its type")
    id: str
    date: str
    target: str
    label_delay_days: int = Field(ge=0, description="days after the record date when its label is known")
    segment: str
    segments: dict[str, list[str | int]] = Field(description="segment name -> values of the segment column")
    start_date: date = Field(description="first daily partition")
    optional: list[str] = Field(default_factory=list, description="columns that may be missing or null")

    @field_validator("segments")
    @classmethod
    def _segment_names_are_safe(cls, value: dict[str, list[str | int]]) -> dict[str, list[str | int]]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
                raise ValueError(f"segment name {name!r} must use letters, digits, '_' or '-' (it names files and models)")
        if not value:
            raise ValueError("at least one segment is needed")
        return value


class HistoryAverage(StrictModel):
    """Row-wise mean of previous-period columns, e.g. days late on the last six invoices."""

    name: str
    columns: list[str] = Field(min_length=1)


class DaysSince(StrictModel):
    """Time from a date column to the record date, in days or months."""

    name: str
    column: str
    unit: Literal["days", "months"] = "days"


class NewCustomerFlag(StrictModel):
    """1 when the tenure feature is at most `max_months`."""

    name: str = "is_new_customer"
    tenure_feature: str
    max_months: float = 12


class EngineeredSpec(StrictModel):
    """Feature engineering options; every output name becomes a numeric feature."""

    history_averages: list[HistoryAverage] = Field(default_factory=list)
    days_since: list[DaysSince] = Field(default_factory=list)
    normalize_strings: list[str] = Field(default_factory=list)
    new_customer: NewCustomerFlag | None = None

    def output_names(self) -> list[str]:
        """Names of the numeric features this section creates."""
        names = [h.name for h in self.history_averages] + [d.name for d in self.days_since]
        return names + ([self.new_customer.name] if self.new_customer else [])


class FeaturesSpec(StrictModel):
    """Raw columns used as model inputs plus the engineered ones."""

    numeric: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(default_factory=list)
    engineered: EngineeredSpec = Field(default_factory=EngineeredSpec)

    def model_numeric(self) -> list[str]:
        """Numeric model inputs, raw first then engineered."""
        return self.numeric + self.engineered.output_names()


class ModelSpec(StrictModel):
    """XGBoost parameters; `segment_params` override them per segment."""

    params: dict[str, Any] = Field(default_factory=dict)
    num_boost_round: int = Field(default=300, ge=1)
    early_stopping_rounds: int = Field(default=30, ge=1)
    segment_params: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def params_for(self, segment: str) -> dict[str, Any]:
        """Base params updated with the segment's overrides."""
        return {**self.params, **self.segment_params.get(segment, {})}


class TrainingSpec(StrictModel):
    """Training window, time split and the quality gate."""

    window_days: int = Field(default=120, ge=7)
    holdout_days: int = Field(default=14, ge=1)
    validation_fraction: float = Field(default=0.2, gt=0, lt=0.5)
    min_auc: float = Field(default=0.6, ge=0.5, le=1.0)
    promotion_margin: float = Field(default=0.0, ge=0.0)
    seed: int = 0

    @model_validator(mode="after")
    def _holdout_inside_window(self) -> TrainingSpec:
        if self.holdout_days >= self.window_days:
            raise ValueError(f"holdout_days ({self.holdout_days}) must be smaller than window_days ({self.window_days})")
        return self


class ClusteringSpec(StrictModel):
    """Risk categories from score quantiles, estrato-like groups and the new-customer flag."""

    quantiles: list[float] = Field(default_factory=lambda: [0.5, 0.8, 0.95])
    labels: list[str] = Field(default_factory=lambda: ["low", "medium", "high", "very_high"])
    group_column: str | None = None
    groups: dict[str, list[str | int]] = Field(default_factory=dict)
    new_customer_label: str = "new_customer"

    @model_validator(mode="after")
    def _labels_match_quantiles(self) -> ClusteringSpec:
        if len(self.labels) != len(self.quantiles) + 1:
            raise ValueError(
                f"labels has {len(self.labels)} entries but {len(self.quantiles)} quantiles make "
                f"{len(self.quantiles) + 1} categories; give one label per category"
            )
        if any(not 0 < q < 1 for q in self.quantiles) or sorted(self.quantiles) != self.quantiles:
            raise ValueError(f"quantiles {self.quantiles} must be increasing and strictly between 0 and 1")
        return self


class ThresholdSpec(StrictModel):
    """Severity cut-offs: value >= low is 'low', >= moderate 'moderate', >= high 'high'."""

    low: float
    moderate: float
    high: float

    @model_validator(mode="after")
    def _increasing(self) -> ThresholdSpec:
        if not self.low <= self.moderate <= self.high:
            raise ValueError(f"thresholds must increase: low {self.low} <= moderate {self.moderate} <= high {self.high}")
        return self


class DriftSpec(StrictModel):
    """Drift statistics settings: each day is compared over a trailing window of days."""

    bins: int = Field(default=10, ge=2)
    window_days: int = Field(default=7, ge=1, description="trailing days pooled into each day's current sample")
    min_rows: int = Field(default=200, ge=1, description="fewer current rows than this: statistics shown, not judged")
    psi: ThresholdSpec = ThresholdSpec(low=0.05, moderate=0.1, high=0.25)
    ks: ThresholdSpec = ThresholdSpec(low=0.05, moderate=0.1, high=0.2)


class StorageSpec(StrictModel):
    """Where generated files go, relative to the config file unless absolute."""

    home: str = "data"
    lake: str = "data/lake"
    reports: str = "data/reports"


class MlflowSpec(StrictModel):
    """MLflow tracking; an empty tracking_uri means a SQLite store in the storage home."""

    tracking_uri: str | None = None
    experiment: str | None = None


class PipelineSpec(StrictModel):
    """The whole pipeline config."""

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    dataset: DatasetSpec
    features: FeaturesSpec
    model: ModelSpec = Field(default_factory=ModelSpec)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    clustering: ClusteringSpec = Field(default_factory=ClusteringSpec)
    drift: DriftSpec = Field(default_factory=DriftSpec)
    storage: StorageSpec = Field(default_factory=StorageSpec)
    mlflow: MlflowSpec = Field(default_factory=MlflowSpec)
    base_dir: Path = Field(default=Path("."), exclude=True, description="folder of the config file")

    @model_validator(mode="after")
    def _columns_exist(self) -> PipelineSpec:
        for field_path, column in self._referenced_columns():
            _require_column(field_path, column, list(self.dataset.columns))
        _require_column("clustering.group_column", self.clustering.group_column, self.feature_columns(), optional=True)
        if self.features.engineered.new_customer:
            flag = self.features.engineered.new_customer
            _require_column("features.engineered.new_customer.tenure_feature", flag.tenure_feature,
                            self.features.engineered.output_names())
        for segment in self.model.segment_params:
            _require_column("model.segment_params", segment, list(self.dataset.segments), kind="segment")
        return self

    def _referenced_columns(self) -> list[tuple[str, str]]:
        """(field path, column) for every raw column the config names."""
        ds, eng = self.dataset, self.features.engineered
        refs = [(f"dataset.{role}", getattr(ds, role)) for role in ("id", "date", "target", "segment")]
        refs += [(f"dataset.optional[{i}]", c) for i, c in enumerate(ds.optional)]
        refs += [(f"features.numeric[{i}]", c) for i, c in enumerate(self.features.numeric)]
        refs += [(f"features.categorical[{i}]", c) for i, c in enumerate(self.features.categorical)]
        refs += [(f"features.engineered.normalize_strings[{i}]", c) for i, c in enumerate(eng.normalize_strings)]
        refs += [(f"features.engineered.days_since[{i}].column", d.column) for i, d in enumerate(eng.days_since)]
        refs += [
            (f"features.engineered.history_averages[{i}].columns[{j}]", c)
            for i, h in enumerate(eng.history_averages)
            for j, c in enumerate(h.columns)
        ]
        return refs

    @property
    def segment_names(self) -> list[str]:
        """Segment partition keys in config order."""
        return list(self.dataset.segments)

    def feature_columns(self) -> list[str]:
        """Every model input column: numeric (raw and engineered) then categorical."""
        return self.features.model_numeric() + self.features.categorical

    def resolve(self, path: str) -> Path:
        """A config path made absolute against the config file's folder."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else (self.base_dir / candidate).resolve()

    @property
    def home_dir(self) -> Path:
        return self.resolve(self.storage.home)

    @property
    def lake_dir(self) -> Path:
        return self.resolve(self.storage.lake)

    @property
    def reports_dir(self) -> Path:
        return self.resolve(self.storage.reports)

    @property
    def tracking_uri(self) -> str:
        """The configured MLflow URI, or a SQLite store in the storage home."""
        return self.mlflow.tracking_uri or f"sqlite:///{self.home_dir / 'mlflow' / 'mlflow.db'}"

    @property
    def artifact_location(self) -> str:
        """Where MLflow artifacts of this pipeline's experiment go."""
        return (self.home_dir / "mlflow" / "artifacts").as_uri()

    @property
    def experiment_name(self) -> str:
        return self.mlflow.experiment or self.name

    def registered_model_name(self, segment: str) -> str:
        """Registry name of a segment's model: `<pipeline>-<segment>`."""
        return f"{self.name}-{segment}"

    def source_path(self, day: date) -> Path:
        """Landing file of one day."""
        return self.resolve(self.dataset.source.path.format(date=day.isoformat()))

    def config_hash(self) -> str:
        """Short hash of the effective config, logged with every model."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]


def _require_column(field_path: str, column: str | None, valid: list[str], optional: bool = False,
                    kind: str = "column") -> None:
    """Raise a ValueError naming the field and the closest valid name when `column` is unknown."""
    if column is None and optional:
        return
    if column not in valid:
        raise ValueError(f"{field_path}: {kind} {column!r} not found{suggest_name(str(column), valid)}")


def suggest_name(value: str, valid: list[str]) -> str:
    """'; did you mean X?' for the closest valid name, or the list of valid names."""
    close = difflib.get_close_matches(value, valid, n=1, cutoff=0.5)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; valid: {', '.join(valid[:12])}" if valid else ""


def substitute_env(text: str) -> str:
    """Replace ${VAR} and ${VAR:-default} with environment values; an unset VAR without default is an error."""

    def replace(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        if name in os.environ:
            return os.environ[name]
        if default is None:
            raise ConfigError(f"environment variable {name} is not set and has no default; set it or write ${{{name}:-value}}")
        return default

    return ENV_PATTERN.sub(replace, text)


def load_spec(path: str | Path) -> PipelineSpec:
    """Read, substitute and validate a pipeline YAML file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found; create one with `ml-assets init` or pass --config")
    try:
        raw = yaml.safe_load(substitute_env(path.read_text()))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (name, dataset, features, ...)")
    return parse_spec(raw, base_dir=path.resolve().parent, origin=str(path))


def parse_spec(raw: dict[str, Any], base_dir: Path, origin: str = "config") -> PipelineSpec:
    """Validate a config mapping; errors become one ConfigError listing each problem."""
    try:
        return PipelineSpec.model_validate({**raw, "base_dir": base_dir})
    except ValidationError as exc:
        problems = [_describe_error(error) for error in exc.errors()]
        raise ConfigError(f"{origin}: invalid config:\n  " + "\n  ".join(problems)) from None


def _describe_error(error: dict[str, Any]) -> str:
    """One readable line for a pydantic error: path, value and a suggestion."""
    location = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        *parent, field = error["loc"]
        valid = _valid_fields(parent)
        return f"{location}: unknown field (value {error['input']!r}){suggest_name(str(field), valid)}"
    if error["type"] == "missing":
        return f"{location}: required field is missing"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "value_error" and not location:
        return message
    if isinstance(error.get("input"), dict | list) or "input" not in error:
        return f"{location}: {message}"
    return f"{location}: {message} (value {error['input']!r})"


def _valid_fields(parent_loc: list[Any]) -> list[str]:
    """Field names allowed at a location, walking the model tree by field names."""
    model: type[BaseModel] = PipelineSpec
    for part in parent_loc:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return [name for name in model.model_fields if name != "base_dir"]
