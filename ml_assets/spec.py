"""Pipeline configuration: Pydantic models of pipeline.yaml and the loader that validates it.

Invalid config fails at load time with the field path, the bad value and a suggestion.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import string
from collections.abc import Hashable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ml_assets.core.config.cron import cron_problem
from ml_assets.core.config.xgboost_params import param_problems
from ml_assets.core.sections import ScoringSections, TrainingSections

if TYPE_CHECKING:
    from upath import UPath

ColumnType = Literal["int", "float", "str", "date", "bool"]
Severity = Literal["low", "moderate", "high"]
SECRET_FIELDS = ("monitoring.alerts.webhook_url", "dataset.source.url",
                 "mlflow.tracking_uri")  # URLs that may hold credentials: never logged or stored
XGBOOST_PARAMS_ERROR = "xgboost_params"
ENV_PATTERN = re.compile(r"\$(?P<escape>\$)?\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


class ConfigError(ValueError):
    """A pipeline config that cannot be used; the message says where and what to do."""


class StrictModel(BaseModel):
    """Base model: unknown fields are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSourceSpec(StrictModel):
    """Landing files: with `{date}` in `path`, one file per day (YYYY-MM-DD); without it, one file holding
    every day, filtered by the date column. CSV, CSV.gz or Parquet; local paths (relative to the config
    file) or fsspec URLs such as s3://bucket/landing/{date}.parquet."""

    kind: Literal["files"] = Field(default="files", description="landing files (CSV, CSV.gz or Parquet)")
    path: str = Field(description="file path or fsspec URL; `{date}` in it means one file per day (YYYY-MM-DD)")
    delimiter: str = Field(default=",", min_length=1, max_length=1, description="CSV field separator (one character)")
    encoding: str = Field(default="utf-8", description="text encoding of CSV files")

    @property
    def per_day(self) -> bool:
        return "{date}" in self.path

    @field_validator("path")
    @classmethod
    def _only_date_placeholder(cls, value: str) -> str:
        try:
            parsed = list(string.Formatter().parse(value))
        except ValueError as exc:
            raise ValueError(f"path has unbalanced braces ({exc}); the only placeholder is {{date}}") from None
        if any((field, spec, conversion) != ("date", "", None) for _, field, spec, conversion in parsed
               if field is not None):
            raise ValueError("the only placeholder a path may hold is {date} (write a literal brace as {{ or }})")
        return value


class SqlSourceSpec(StrictModel):
    """A database table read with a query bound to the partition range (`:start` and `:end`, ISO dates).

    `url` is `duckdb:///path/to.db` (embedded default) or any SQLAlchemy URL (e.g. PostgreSQL); put
    credentials in an environment variable: url: ${WAREHOUSE_URL}."""

    kind: Literal["sql"] = Field(description="a database table read with a query")
    url: str = Field(description="duckdb:///path/to.db or any SQLAlchemy URL; credentials through ${ENV_VAR}")
    query: str = Field(description="SELECT bound to the partition range with :start and :end (ISO dates)")

    @field_validator("query")
    @classmethod
    def _binds_the_range(cls, value: str) -> str:
        if ":start" not in value or ":end" not in value:
            raise ValueError("query must filter on the partition range with :start and :end, e.g. "
                             "WHERE invoice_date BETWEEN :start AND :end")
        return value


class ColumnRule(StrictModel):
    """Value rules of one column: min/max and allowed values block; expected values and null rate warn."""

    min: float | None = Field(default=None, description="smallest allowed value (blocks the run when broken)")
    max: float | None = Field(default=None, description="largest allowed value (blocks the run when broken)")
    allowed: list[str | int] | None = Field(default=None,
                                            description="the only values allowed (blocks the run when broken)")
    expected: list[str | int] | None = Field(default=None, description="values expected; others only warn")
    max_null_rate: float | None = Field(default=None, ge=0, le=1,
                                        description="warn when the column's null rate is above this (overrides "
                                                    "dataset.max_null_rate)")


class DatasetSpec(StrictModel):
    """Where the records come from and which columns play which role."""

    source: FileSourceSpec | SqlSourceSpec = Field(discriminator="kind",
                                                   description="where the raw records are read: landing files (kind: "
                                                               "files) or a database (kind: sql)")
    columns: dict[str, ColumnType] = Field(description="every column of the raw table and its type")
    id: str = Field(description="column with each record's unique id")
    # Annotated: a default value here would shadow the `date` type in the annotations below
    date: Annotated[str, Field(description="column with each record's date: it picks the record's daily partition")]
    target: str = Field(description="binary label column (1 = the event the model predicts)")
    label_delay_days: int = Field(ge=0, description="days after the record date when its label is known")
    segment: str = Field(description="column whose values pick each record's segment (one model per segment)")
    segments: dict[str, list[str | int]] = Field(description="segment name -> values of the segment column")
    start_date: date = Field(description="first daily partition")
    end_date: date | None = Field(default=None, description="last daily partition (inclusive); empty: daily "
                                                            "partitions run up to today")
    optional: list[str] = Field(default_factory=list, description="columns that may be missing or null")
    rules: dict[str, ColumnRule] = Field(default_factory=dict, description="value rules per column")
    max_null_rate: float = Field(default=0.5, ge=0, le=1, description="warn when a column is nuller than this")

    @field_validator("segments")
    @classmethod
    def _segment_names_are_safe(cls, value: dict[str, list[str | int]]) -> dict[str, list[str | int]]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
                raise ValueError(f"segment name {name!r} must use letters, digits, '_' or '-' (it names files and models)")
        if not value:
            raise ValueError("at least one segment is needed")
        return value

    @model_validator(mode="after")
    def _end_after_start(self) -> DatasetSpec:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError(f"dataset.end_date {self.end_date} is before dataset.start_date {self.start_date}; "
                             "set it to the last day of your data or leave it out")
        return self


class HistoryAverage(StrictModel):
    """Row-wise mean of previous-period columns, e.g. days late on the last six invoices."""

    name: str = Field(description="name of the engineered column")
    columns: list[str] = Field(min_length=1, description="previous-period columns averaged row by row")


class DaysSince(StrictModel):
    """Time from a date column to the record date, in days or months."""

    name: str = Field(description="name of the engineered column")
    column: str = Field(description="date column counted from, up to the record's date")
    unit: Literal["days", "months"] = Field(default="days", description="days or months")


DatePartName = Literal["year", "month", "week", "day", "weekday"]


class DatePart(StrictModel):
    """A part of the record date as a numeric feature (e.g. the billing month, when risk is seasonal)."""

    name: str = Field(description="name of the engineered column; list it in features.calendar.columns")
    part: DatePartName = Field(description="year, month (1-12), week (ISO, 1-53), day (of the month) or weekday "
                                           "(0 = Monday)")


class NewCustomerFlag(StrictModel):
    """1 when the tenure feature is at most `max_months`."""

    name: str = Field(default="is_new_customer", description="name of the engineered 0/1 column")
    tenure_feature: str = Field(description="engineered tenure column (a days_since name) the flag reads")
    max_months: float = Field(default=12, description="customers with at most this tenure, in months, are new")


class EngineeredSpec(StrictModel):
    """Feature engineering options; every output name becomes a numeric feature."""

    history_averages: list[HistoryAverage] = Field(default_factory=list,
                                                   description="row-wise means of previous-period columns")
    days_since: list[DaysSince] = Field(default_factory=list, description="time elapsed since a date column (tenure)")
    normalize_strings: list[str] = Field(default_factory=list,
                                         description="string columns trimmed and lower-cased before use")
    new_customer: NewCustomerFlag | None = Field(default=None,
                                                 description="a flag for customers with a short tenure; empty: no flag")
    date_parts: list[DatePart] = Field(default_factory=list,
                                       description="parts of the record date as features (calendar parts: each "
                                                   "listed in features.calendar.columns)")

    def output_names(self) -> list[str]:
        """Names of the numeric features this section creates."""
        names = [h.name for h in self.history_averages] + [d.name for d in self.days_since]
        return names + ([self.new_customer.name] if self.new_customer else []) + [d.name for d in self.date_parts]


CalendarHandling = Literal["unmonitored", "same_period", "drop"]


class CalendarPartsSpec(StrictModel):
    """Feature columns that are parts of the record date (year, month, week, day, weekday): against a trailing
    reference window they drift by construction, so drift never judges them as plain features."""

    columns: list[str] = Field(default_factory=list,
                               description="calendar-part columns, each also listed in numeric or categorical")
    handling: CalendarHandling = Field(
        default="unmonitored",
        description="unmonitored: model features left out of the drift verdict; same_period: model features whose "
                    "drift is judged against the reference rows of the calendar values the current window holds; "
                    "drop: removed from the model features at load")


class FeaturesSpec(StrictModel):
    """Raw columns used as model inputs plus the engineered ones."""

    numeric: list[str] = Field(default_factory=list, description="raw numeric columns used as model inputs")
    categorical: list[str] = Field(default_factory=list,
                                   description="raw categorical columns used as model inputs (XGBoost native "
                                               "categoricals)")
    engineered: EngineeredSpec = Field(default_factory=EngineeredSpec)
    calendar: CalendarPartsSpec = Field(default_factory=CalendarPartsSpec)

    @model_validator(mode="after")
    def _calendar_parts_are_features(self) -> FeaturesSpec:
        date_parts = [part.name for part in self.engineered.date_parts]
        for i, column in enumerate(self.calendar.columns):
            _require_column(f"features.calendar.columns[{i}]", column, self.numeric + self.categorical + date_parts,
                            kind="feature (list it in features.numeric, features.categorical or "
                                 "features.engineered.date_parts)")
        for i, name in enumerate(date_parts):
            if name not in self.calendar.columns:
                raise ValueError(f"features.engineered.date_parts[{i}]: {name!r} is a part of the record date; list "
                                 "it in features.calendar.columns, so drift does not judge it as a plain feature")
        if self.calendar.handling != "drop":
            return self
        dropped = set(self.calendar.columns)
        engineered = self.engineered.model_copy(update={"date_parts": []})
        return self.model_copy(update={"numeric": [c for c in self.numeric if c not in dropped],
                                       "categorical": [c for c in self.categorical if c not in dropped],
                                       "engineered": engineered})

    def calendar_features(self) -> list[str]:
        """Calendar parts that are model features (none when handling is drop)."""
        return [] if self.calendar.handling == "drop" else list(self.calendar.columns)

    def model_numeric(self) -> list[str]:
        """Numeric model inputs, raw first then engineered."""
        return self.numeric + self.engineered.output_names()

    def model_columns(self) -> list[str]:
        """Every model input column: numeric (raw and engineered) then categorical."""
        return self.model_numeric() + self.categorical


class SearchRange(StrictModel):
    """One tuned XGBoost parameter, sampled between `low` and `high` (log scale when `log`)."""

    low: float = Field(description="lowest value tried")
    high: float = Field(description="highest value tried")
    log: bool = Field(default=False, description="sample on a log scale (needs low > 0)")
    integer: bool = Field(default=False, description="sample whole numbers")

    @model_validator(mode="after")
    def _valid_range(self) -> SearchRange:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be smaller than high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale range needs low > 0, got {self.low}; raise low or set log: false")
        return self


def default_search_space() -> dict[str, SearchRange]:
    """A search space that suits most tabular problems."""
    return {
        "max_depth": SearchRange(low=2, high=8, integer=True),
        "eta": SearchRange(low=0.01, high=0.3, log=True),
        "min_child_weight": SearchRange(low=1, high=50, log=True),
        "subsample": SearchRange(low=0.5, high=1.0),
        "colsample_bytree": SearchRange(low=0.5, high=1.0),
        "lambda": SearchRange(low=0.01, high=10.0, log=True),
    }


class TuningSpec(StrictModel):
    """Optional Optuna search of XGBoost params, judged by AUC on the early-stopping validation slice."""

    enabled: bool = Field(default=False, description="run the Optuna search before each segment's final fit")
    n_trials: int = Field(default=30, ge=1, description="trials per segment")
    timeout_s: float | None = Field(default=None, gt=0, description="start no new trial after this many seconds")
    search_space: dict[str, SearchRange] = Field(default_factory=default_search_space,
                                                 description="XGBoost parameter name -> range searched")


class ModelSpec(StrictModel):
    """XGBoost parameters; `segment_params` override them per segment."""

    params: dict[str, Any] = Field(default_factory=dict,
                                   description="XGBoost training parameters of every segment (e.g. max_depth, eta)")
    num_boost_round: int = Field(default=300, ge=1,
                                 description="most boosting rounds (early stopping usually stops sooner)")
    early_stopping_rounds: int = Field(default=30, ge=1,
                                       description="stop after this many rounds without a better validation AUC")
    segment_params: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                                      description="segment name -> XGBoost parameters that override "
                                                                  "`params` for it")
    imbalance: Literal["none", "scale_pos_weight"] = Field(
        default="none", description="scale_pos_weight: negatives / positives of the rows the booster trains on")
    calibration: Literal["auto", "none", "sigmoid", "isotonic"] = Field(
        default="auto", description="fitted on cross-fitted out-of-fold scores of the training rows "
                                    "(training.calibration_folds), applied at scoring time; auto keeps sigmoid, "
                                    "isotonic or none (the raw scores), whichever has the lowest log loss on the "
                                    "served booster's scores of its early-stopping slice (the latest dates) with "
                                    "maps fitted on the earlier dates; none unless a map beats the raw scores by 2 "
                                    "standard errors")
    baseline: bool = Field(default=True, description="fit a logistic-regression baseline on the booster's training "
                                                     "rows and report its holdout metrics beside the booster's")
    tuning: TuningSpec = Field(default_factory=TuningSpec)

    @model_validator(mode="after")
    def _one_imbalance_setting(self) -> ModelSpec:
        explicit = [where for where, params in {"params": self.params, **{
            f"segment_params.{s}": p for s, p in self.segment_params.items()}}.items() if "scale_pos_weight" in params]
        if self.imbalance != "none" and explicit:
            raise ValueError(f"scale_pos_weight is set in {explicit[0]} and imbalance is {self.imbalance!r}; "
                             "keep one: remove the explicit value or set imbalance: none")
        return self

    @model_validator(mode="after")
    def _xgboost_params_exist(self) -> ModelSpec:
        problems = param_problems(self.params, "params")
        for segment, params in self.segment_params.items():
            problems += param_problems(params, f"segment_params.{segment}")
        if problems:
            raise PydanticCustomError(XGBOOST_PARAMS_ERROR, "{summary}", {"summary": "; ".join(problems),
                                                                          "problems": problems})
        return self

    def params_for(self, segment: str) -> dict[str, Any]:
        """Base params updated with the segment's overrides."""
        return {**self.params, **self.segment_params.get(segment, {})}


class LeakageSpec(StrictModel):
    """Leakage audit of every trained segment (a WARN check, `leakage_suspects`): it names features, removes none."""

    univariate_auc: float = Field(default=0.85, gt=0.5, le=1.0,
                                  description="a feature whose own holdout AUC (oriented) is at least this is named")
    drop_cost: float = Field(default=0.03, gt=0, le=0.5,
                             description="a feature whose removal costs at least this much holdout AUC is named")
    gain_share: float = Field(default=0.4, gt=0, le=1.0,
                              description="a feature holding more than this share of the booster's total gain is "
                                          "named")
    refit_top: int = Field(default=5, ge=0, description="features with the most gain refitted without, for the "
                                                        "drop cost (a refit each, plus one with every feature); 0: "
                                                        "no drop costs")
    refit_rows: int = Field(default=50_000, ge=1_000,
                            description="booster rows the drop-cost refits train on (a seeded sample, each class in "
                                        "its share; all rows when fewer): drop cost is the holdout AUC of a refit "
                                        "with every feature minus that of a refit without the feature, both on "
                                        "this sample with the model's params and number of trees")


class TrainingSpec(StrictModel):
    """Training window, time split and the quality gate."""

    window_days: int = Field(default=120, ge=7, description="days of matured labels a model trains on")
    holdout_days: int = Field(default=14, ge=1,
                              description="last days of the window kept out for the holdout metrics and the gate")
    validation_fraction: float = Field(default=0.2, gt=0, lt=0.5,
                                       description="share of training dates (the latest) that early-stop the "
                                                   "booster")
    calibration_folds: int = Field(default=3, ge=2, le=10,
                                   description="cross-fitting folds of the calibration: blocks of training dates "
                                               "(calibration_block_days) dealt to the folds in turn; a booster of "
                                               "the served params and tree count fitted on the other folds scores "
                                               "each one (k extra boosters; every one sees every part of the "
                                               "calendar); unused when model.calibration is none")
    calibration_block_days: int = Field(default=14, ge=1,
                                        description="days of a calibration block: blocks from the first training "
                                                    "date go to fold 0, 1, ..., k-1, 0, ...; a training part "
                                                    "shorter than k blocks gets blocks of its days // k")
    calibration_gap_days: int = Field(default=2, ge=0,
                                      description="days on each side of a fold's blocks left out of that fold's "
                                                  "booster, so rows of neighbouring days (the same events, group "
                                                  "bookings, weather) do not score each other; narrowed where it would "
                                                  "leave a fold's booster no rows")
    min_auc: float = Field(default=0.6, ge=0.5, le=1.0,
                           description="holdout AUC floor of the quality gate: below it a version never becomes "
                                       "champion")
    promotion_margin: float = Field(default=0.0, ge=0.0,
                                    description="AUC a challenger must gain over the champion to be promoted")
    seed: int = Field(default=0, description="random seed of training, sampling and the bootstrap")
    cv_folds: int = Field(default=0, ge=0, description="stratified k-fold CV on the training part; 0 = off")
    decision_threshold: float = Field(default=0.5, gt=0, lt=1,
                                      description="score at or above which a row counts as a predicted positive")
    bootstrap_samples: int = Field(default=1000, ge=100, description="paired bootstrap resamples of the gate")
    gate_alpha: float = Field(default=0.05, gt=0, lt=0.5,
                              description="the challenger must beat the champion by the margin with p below this")
    distributed_min_rows: int | None = Field(
        default=None, ge=1, description="a segment with at least this many training rows trains with xgboost.dask "
                                        "on the `dask` cluster; empty: every segment trains in the run's process")

    leakage: LeakageSpec = Field(default_factory=LeakageSpec)

    @model_validator(mode="after")
    def _holdout_inside_window(self) -> TrainingSpec:
        if self.holdout_days >= self.window_days:
            raise ValueError(f"holdout_days ({self.holdout_days}) must be smaller than window_days ({self.window_days})")
        return self

    @model_validator(mode="after")
    def _cv_folds_off_or_two(self) -> TrainingSpec:
        if self.cv_folds == 1:
            raise ValueError("cv_folds must be 0 (off) or at least 2")
        return self


class ArrearsRule(StrictModel):
    """Rows whose `column` is above `above` are already in arrears: they get `label` as their risk cluster
    and/or a risk category of at least `min_category`."""

    column: str = Field(description="feature column holding the amount or days in arrears")
    above: float = Field(default=0.0, description="rows with the column above this are in arrears")
    label: str | None = Field(default="in_arrears",
                              description="risk cluster given to rows in arrears; empty: keep their cluster")
    min_category: str | None = Field(default=None,
                                     description="lowest risk category of rows in arrears; empty: no floor")

    @model_validator(mode="after")
    def _does_something(self) -> ArrearsRule:
        if self.label is None and self.min_category is None:
            raise ValueError("the arrears rule needs a label, a min_category or both; or remove clustering.arrears")
        return self


class ClusteringSpec(StrictModel):
    """Risk categories from score quantiles, estrato-like groups, the new-customer flag and the arrears rule."""

    quantiles: list[float] = Field(default_factory=lambda: [0.5, 0.8, 0.95],
                                   description="increasing score quantiles that cut the risk categories")
    labels: list[str] = Field(default_factory=lambda: ["low", "medium", "high", "very_high"],
                              description="names of the risk categories, lowest first (one more than quantiles)")
    cutpoints: Literal["model", "batch"] = Field(
        default="model", description="model: score quantiles of the model version's holdout, stored with it; "
                                     "batch: quantiles of each day's scores per segment")
    group_column: str | None = Field(default=None,
                                     description="feature column whose values form groups (e.g. estrato); empty: none")
    groups: dict[str, list[str | int]] = Field(default_factory=dict, description="group name -> values of group_column")
    new_customer_label: str = Field(default="new_customer",
                                    description="risk cluster of customers the new-customer flag marks")
    arrears: ArrearsRule | None = Field(default=None,
                                        description="rows already in arrears get their own cluster or a higher "
                                                    "category; empty: off")

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

    @model_validator(mode="after")
    def _arrears_category_exists(self) -> ClusteringSpec:
        if self.arrears and self.arrears.min_category is not None:
            _require_column("clustering.arrears.min_category", self.arrears.min_category, self.labels, kind="label")
        return self


class ReasonCodesSpec(StrictModel):
    """Reason codes: the features pushing each score up most, from XGBoost's SHAP contributions."""

    count: int = Field(default=3, ge=1, le=10, description="reason codes (top feature contributions) per scored row")
    method: Literal["approx", "exact"] = Field(
        default="approx", description="approx: Saabas approx_contribs (about a prediction's cost); exact: TreeSHAP")
    categories: list[str] | None = Field(
        default=None, description="only rows in these risk categories get codes; none: every row")


class SimilarCustomersSpec(StrictModel):
    """Similar past customers: nearest labeled training-window rows in the model's contribution space."""

    top_n: int = Field(default=20, ge=0, description="highest-scoring rows per day and segment explained; 0 = off")
    k: int = Field(default=5, ge=1, le=50, description="neighbours per row")
    index_rows: int = Field(default=20_000, ge=100, description="labeled rows logged with each model version")


class ScoringSpec(StrictModel):
    """Explanations of the daily scores and the columns of the row-level risk report."""

    reason_codes: ReasonCodesSpec = Field(default_factory=ReasonCodesSpec)
    similar_customers: SimilarCustomersSpec = Field(default_factory=SimilarCustomersSpec)
    report_columns: list[str] | None = Field(
        default=None, description="columns of the row-level report files, in order; none: every column")
    unknown_segments: Literal["warn", "error"] = Field(
        default="warn", description="severity of the segments_known check when rows have a segment value outside "
                                    "dataset.segments (those rows are not scored)")

    def reason_columns(self) -> list[str]:
        """reason_1 .. reason_<count>."""
        return [f"reason_{i}" for i in range(1, self.reason_codes.count + 1)]


# Columns the scoring assets add beside the dataset's id, date, target and features (report_columns may name them).
SCORING_OUTPUT_COLUMNS = ("model_segment", "score", "model_name", "model_version", "risk_category", "group",
                          "in_arrears", "risk_cluster", "similar_customers", "similar_default_rate")


class ThresholdSpec(StrictModel):
    """Severity cut-offs: value >= low is 'low', >= moderate 'moderate', >= high 'high'."""

    low: float = Field(description="at or above: 'low'")
    moderate: float = Field(description="at or above: 'moderate'")
    high: float = Field(description="at or above: 'high'")

    @model_validator(mode="after")
    def _increasing(self) -> ThresholdSpec:
        if not self.low <= self.moderate <= self.high:
            raise ValueError(f"thresholds must increase: low {self.low} <= moderate {self.moderate} <= high {self.high}")
        return self


class EvidentlySpec(StrictModel):
    """Evidently HTML data-drift reports, for people to read (the drift table does not need them)."""

    days: Literal["none", "last", "drifted", "all"] = Field(
        default="last", description="which days of a run get a report: none, the last, the last plus drifted, all")
    min_severity: Severity = Field(default="moderate", description="what 'drifted' means for days: drifted")
    sample_rows: int = Field(default=5_000, ge=100, description="rows sampled from each side per report")


class DriftSpec(StrictModel):
    """Drift statistics settings: each day is compared over a trailing window of days."""

    bins: int = Field(default=10, ge=2, description="quantile bins of the reference for numeric PSI")
    window_days: int = Field(default=7, ge=1, description="trailing days pooled into each day's current sample")
    min_rows: int = Field(default=200, ge=1, description="fewer current rows than this: statistics shown, not judged")
    psi: ThresholdSpec = Field(default=ThresholdSpec(low=0.05, moderate=0.1, high=0.25),
                               description="PSI severity cut-offs")
    ks: ThresholdSpec = Field(default=ThresholdSpec(low=0.05, moderate=0.1, high=0.2),
                              description="KS-statistic severity cut-offs")
    reference_sample_rows: int = Field(default=50_000, ge=100,
                                       description="sorted values per column kept in the reference profile for KS")
    monitored: list[str] | None = Field(
        default=None, description="model features whose drift the verdict and the retrain sensor judge (the score "
                                  "always is); unset: every model feature except calendar parts, which are judged "
                                  "only with features.calendar.handling: same_period")
    fail_on_drift: bool = Field(default=False, description="high drift fails a blocking check on drift_report")
    evidently: EvidentlySpec = Field(default_factory=EvidentlySpec)

    def monitored_features(self, features: FeaturesSpec) -> list[str]:
        """Model features whose drift is judged: `monitored`, or every feature but unmonitored calendar parts."""
        if self.monitored is not None:
            return list(self.monitored)
        skipped = set(features.calendar_features()) if features.calendar.handling == "unmonitored" else set()
        return [column for column in features.model_columns() if column not in skipped]


class PerformanceSpec(StrictModel):
    """Realized performance once labels mature: the predictions dated `label_delay_days` before each day."""

    window_days: int = Field(default=14, ge=1, description="trailing prediction days pooled per evaluation")
    min_rows: int = Field(default=200, ge=1, description="fewer labelled rows than this: shown, not judged")
    min_auc: float | None = Field(default=None, ge=0.5, le=1.0, description="AUC floor; default training.min_auc")


class RetrainSpec(StrictModel):
    """The retrain_on_drift sensor: which signals request a training run, and how often at most."""

    sensor: Literal["running", "stopped"] = Field(default="stopped", description="default status in Dagster")
    min_severity: Severity = Field(default="high", description="drift severity that requests retraining of the segment")
    on_low_performance: bool = Field(default=True,
                                     description="also retrain when the realized AUC falls below the floor")
    cooldown_hours: float = Field(default=24.0, ge=0,
                                  description="at most one retraining request per segment in this many hours")


class AlertsSpec(StrictModel):
    """Alert webhook (Slack-compatible JSON {"text": ...}); without a URL alerts are log lines."""

    webhook_url: str | None = Field(default=None, description="Slack-compatible webhook; empty: alerts are logged only")
    timeout_seconds: float = Field(default=5.0, gt=0, description="timeout of one POST to the webhook")
    retries: int = Field(default=3, ge=0, description="POSTs retried after a timeout or a 5xx/429 answer")
    drift_severity: Severity = Field(default="high", description="drift at or above this severity sends an alert")

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not re.match(r"^https?://", value):
            raise ValueError(f"webhook_url {value!r} must start with http:// or https://")
        return value


class EstimationSpec(StrictModel):
    """Performance estimated from calibrated scores before labels mature (estimated_performance): the interval
    comes from drawing each cohort's labels as Bernoulli(score) `samples` times."""

    samples: int = Field(default=200, ge=20, description="label draws per cohort for the interval")
    level: float = Field(default=0.9, gt=0.5, lt=1.0, description="coverage of the interval (0.9: 5th-95th percentile)")
    seed: int = Field(default=0, description="seed of the label draws (same scores, same interval)")
    max_rows: int = Field(default=20_000, ge=1000, description="larger cohorts draw labels for a sample of this many "
                                                                "rows, the interval scaled by sqrt(sample / rows)")


class MonitoringSpec(StrictModel):
    """Delayed-label performance, its estimate before labels mature, the retrain sensor and alerts."""

    performance: PerformanceSpec = Field(default_factory=PerformanceSpec)
    estimation: EstimationSpec = Field(default_factory=EstimationSpec)
    retrain: RetrainSpec = Field(default_factory=RetrainSpec)
    alerts: AlertsSpec = Field(default_factory=AlertsSpec)


class ScheduleSpec(StrictModel):
    """A cron schedule (UTC) and whether Dagster starts it running."""

    cron: str = Field(description="5-field cron string (minute hour day-of-month month day-of-week) or an @alias")
    status: Literal["running", "stopped"] = Field(description="whether Dagster starts the schedule running")

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        problem = cron_problem(value)
        if problem:
            raise ValueError(f"cron {value!r} is not a cron expression: {problem}")
        return value


class AutomationSpec(StrictModel):
    """Schedules (run by the Dagster daemon): the daily chain for each new day, training on its own cadence."""

    daily: ScheduleSpec = Field(default_factory=lambda: ScheduleSpec(cron="0 6 * * *", status="running"),
                                description="schedule of the daily chain (yesterday's partition)")
    training: ScheduleSpec = Field(default_factory=lambda: ScheduleSpec(cron="0 3 * * 0", status="stopped"),
                                   description="schedule of retraining every segment")


class DaskSpec(StrictModel):
    """The Dask cluster of distributed training: a scheduler address, or a LocalCluster of this shape."""

    scheduler_address: str | None = Field(default=None, description="e.g. tcp://scheduler:8786; empty: LocalCluster")
    n_workers: int = Field(default=2, ge=1, description="LocalCluster workers")
    threads_per_worker: int = Field(default=1, ge=1, description="threads of each LocalCluster worker")
    processes: bool = Field(default=True, description="LocalCluster workers as processes (false: threads)")


class StorageSpec(StrictModel):
    """Where generated files go, relative to the config file unless absolute."""

    home: str = Field(default="data", description="folder of the Dagster instance and the MLflow store")
    lake: str = Field(default="data/lake",
                      description="folder or fsspec URL of the parquet lake (one file per partition)")
    reports: str = Field(default="data/reports", description="folder of plots, Evidently reports and report files")
    chunk_days: int = Field(default=31, ge=1, description="days a daily asset holds in memory at once when one run "
                                                          "covers a range: memory follows the chunk, not the range")


class RetriesSpec(StrictModel):
    """Limits on waiting for a service (MLflow, the source database, the alert webhook): each request times out,
    each step that calls a service is retried by Dagster with backoff, and the worst case fits in max_total_s."""

    max_retries: int = Field(default=2, ge=0, le=10, description="Dagster retries of a step whose service failed")
    delay_s: float = Field(default=2.0, ge=0, description="wait before the first retry of a step")
    backoff: Literal["exponential", "linear", "constant"] = Field(
        default="exponential", description="growth of the wait between step retries (Dagster's Backoff)")
    request_timeout_s: int = Field(default=10, ge=1, description="timeout of one request to MLflow (MLFLOW_HTTP_"
                                                                 "REQUEST_TIMEOUT), the webhook or the database")
    request_retries: int = Field(default=0, ge=0, le=10,
                                 description="MLflow's own HTTP retries of one request (MLFLOW_HTTP_REQUEST_MAX_RETRIES)")
    request_backoff_factor: int = Field(default=1, ge=0, description="MLflow's HTTP backoff factor "
                                                                     "(MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR)")
    max_total_s: float = Field(default=60.0, gt=0, description="bound on the time a service outage may take to "
                                                               "fail a step, over every retry")

    @model_validator(mode="after")
    def _fits_the_bound(self) -> RetriesSpec:
        if self.worst_case_s() > self.max_total_s:
            raise ValueError(f"the worst case of an outage is {self.worst_case_s():.0f} s "
                             f"(max_retries {self.max_retries}, delay_s {self.delay_s}, request_timeout_s "
                             f"{self.request_timeout_s}, request_retries {self.request_retries}) > max_total_s "
                             f"{self.max_total_s}; lower them or raise max_total_s")
        return self

    def step_delay_s(self, attempt: int) -> float:
        """Wait before retry `attempt` (1-based), as Dagster's RetryPolicy computes it."""
        if self.backoff == "exponential":
            return self.delay_s * (2**attempt - 1)
        return self.delay_s * attempt if self.backoff == "linear" else self.delay_s

    def request_bound_s(self) -> float:
        """Longest one failing MLflow request may take: every try times out, MLflow backs off (and jitters) between."""
        backoff = sum(self.request_backoff_factor * 2**k + 1.0 for k in range(self.request_retries))
        return (self.request_retries + 1) * self.request_timeout_s + backoff

    def worst_case_s(self) -> float:
        """Longest a step may take to fail on an outage: every attempt ends at its first failing request."""
        delays = sum(self.step_delay_s(attempt) for attempt in range(1, self.max_retries + 1))
        return (self.max_retries + 1) * self.request_bound_s() + delays


class ExecutionSpec(StrictModel):
    """How a run executes its steps, and how many scoring runs a queued instance (scripts/stack) starts at once."""

    executor: Literal["in_process", "multiprocess"] = Field(
        default="in_process", description="in_process: every step in the run's process (lowest overhead); "
                                          "multiprocess: a child process per step, up to max_concurrent at once")
    max_concurrent: int = Field(default=2, ge=1, le=64,
                                description="steps of one run at once (multiprocess) and runs that score at once "
                                            "(the stack's queued run coordinator limit on scoring_job and daily_job)")

    @field_validator("executor", mode="before")
    @classmethod
    def _known_executor(cls, value: object) -> object:
        valid = ["in_process", "multiprocess"]
        if isinstance(value, str) and value not in valid:
            raise ValueError(f"unknown executor {value!r}{suggest_name(value, valid)}")
        return value


class MlflowSpec(StrictModel):
    """MLflow tracking; an empty tracking_uri means a SQLite store in the storage home."""

    tracking_uri: str | None = Field(default=None, description="MLflow tracking URI; empty: SQLite in storage.home")
    experiment: str | None = Field(default=None, description="MLflow experiment name; empty: the pipeline name")
    ui_url: str = Field(default="http://127.0.0.1:5000", description="base URL of the MLflow UI that the Dagster UI "
                                                                      "links runs, model versions and reports to")


class PipelineSpec(StrictModel):
    """The whole pipeline config."""

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$",
                      description="pipeline name: letters, digits, '_' or '-' (names models and the experiment)")
    dataset: DatasetSpec
    features: FeaturesSpec
    model: ModelSpec = Field(default_factory=ModelSpec)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    clustering: ClusteringSpec = Field(default_factory=ClusteringSpec)
    scoring: ScoringSpec = Field(default_factory=ScoringSpec)
    drift: DriftSpec = Field(default_factory=DriftSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    automation: AutomationSpec = Field(default_factory=AutomationSpec)
    dask: DaskSpec = Field(default_factory=DaskSpec)
    storage: StorageSpec = Field(default_factory=StorageSpec)
    mlflow: MlflowSpec = Field(default_factory=MlflowSpec)
    retries: RetriesSpec = Field(default_factory=RetriesSpec)
    execution: ExecutionSpec = Field(default_factory=ExecutionSpec)
    base_dir: Path = Field(default=Path("."), exclude=True, description="folder of the config file")
    secret_env: dict[str, str] = Field(
        default_factory=dict, exclude=True,
        description="secret fields written as ${VAR} (SECRET_FIELDS) -> VAR; resources get them as dg.EnvVar")

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

    @model_validator(mode="after")
    def _monitored_are_features(self) -> PipelineSpec:
        calendar, handling = self.features.calendar_features(), self.features.calendar.handling
        for i, column in enumerate(self.drift.monitored or []):
            _require_column(f"drift.monitored[{i}]", column, self.feature_columns(), kind="feature")
            if column in calendar and handling == "unmonitored":
                raise ValueError(f"drift.monitored[{i}]: {column!r} is a calendar part of the date, which drifts by "
                                 "construction (features.calendar.handling: unmonitored); remove it from "
                                 "drift.monitored or set features.calendar.handling: same_period")
        return self

    def monitored_features(self) -> list[str]:
        """Model features whose drift is judged: drift.monitored, or every feature but unmonitored calendar parts."""
        return self.drift.monitored_features(self.features)

    @model_validator(mode="after")
    def _writes_stay_home(self) -> PipelineSpec:
        home = _lexical(self.base_dir, self.storage.home)
        if _is_relative(self.storage.home) and not _inside(home, _lexical(self.base_dir, ".")):
            raise ValueError(f"storage.home: {self.storage.home!r} leaves the config's folder ({home}); use a path "
                             "inside it, or an absolute path or URL if that is really where the data goes")
        for field in ("lake", "reports"):
            value = getattr(self.storage, field)
            if _is_relative(value) and not _inside(_lexical(self.base_dir, value), home):
                raise ValueError(f"storage.{field}: {value!r} resolves to {_lexical(self.base_dir, value)}, outside "
                                 f"the data home {home}; use a path inside storage.home, or an absolute path or URL "
                                 "if that is really where it goes")
        return self

    @model_validator(mode="after")
    def _scoring_names_exist(self) -> PipelineSpec:
        if self.clustering.arrears:
            _require_column("clustering.arrears.column", self.clustering.arrears.column, self.feature_columns())
        for i, label in enumerate(self.scoring.reason_codes.categories or []):
            _require_column(f"scoring.reason_codes.categories[{i}]", label, self.clustering.labels, kind="label")
        for i, column in enumerate(self.scoring.report_columns or []):
            _require_column(f"scoring.report_columns[{i}]", column, self.scoring_columns())
        return self

    def scoring_columns(self) -> list[str]:
        """Every column the risk report can hold: id, date, target, features and what scoring adds."""
        ds = self.dataset
        return [ds.id, ds.date, ds.target, *self.feature_columns(), *SCORING_OUTPUT_COLUMNS,
                *self.scoring.reason_columns()]

    def _referenced_columns(self) -> list[tuple[str, str]]:
        """(field path, column) for every raw column the config names."""
        ds, eng = self.dataset, self.features.engineered
        refs = [(f"dataset.{role}", getattr(ds, role)) for role in ("id", "date", "target", "segment")]
        refs += [(f"dataset.optional[{i}]", c) for i, c in enumerate(ds.optional)]
        refs += [(f"dataset.rules.{c}", c) for c in ds.rules]
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
        return self.features.model_columns()

    def training_sections(self) -> TrainingSections:
        """The sections a segment's training reads (core.training takes these, not the whole config)."""
        return TrainingSections(self.dataset, self.features, self.model, self.training, self.clustering.quantiles)

    def scoring_sections(self) -> ScoringSections:
        """The sections daily scoring reads (core.scoring takes these, not the whole config)."""
        return ScoringSections(self.dataset, self.features, self.clustering, self.scoring)

    def resolve(self, path: str) -> Path:
        """A config path made absolute against the config file's folder."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else (self.base_dir / candidate).resolve()

    @property
    def home_dir(self) -> Path:
        return self.resolve(self.storage.home)

    @property
    def lake_dir(self) -> UPath:
        """The lake: a local folder or an fsspec URL (s3://bucket/lake)."""
        from upath import UPath  # fsspec loads only when a command touches the lake

        return UPath(self.resolve_location(self.storage.lake))

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

    def resolve_location(self, location: str) -> str:
        """A local path made absolute against the config folder; URLs (s3://, gs://, ...) kept as they are."""
        return location if "://" in location else str(self.resolve(location))

    def source_location(self, day: date | None = None) -> str:
        """Landing file of one day (per-day sources) or the single landing file."""
        source = self.dataset.source
        if not isinstance(source, FileSourceSpec):
            raise ValueError("dataset.source is a database, not files")
        path = source.path.format(date=day.isoformat()) if source.per_day and day else source.path
        return self.resolve_location(path)

    def config_hash(self) -> str:
        """Short hash of the effective config, logged with every model."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]


def _is_relative(location: str) -> bool:
    """True for a local relative path: not a URL, not absolute, not ~user."""
    return "://" not in location and not Path(location).expanduser().is_absolute()


def _lexical(base_dir: Path, location: str) -> Path:
    """`location` joined to `base_dir` with '..' folded away, without following symlinks."""
    return Path(os.path.normpath(Path(base_dir).absolute() / Path(location).expanduser()))


def _inside(path: Path, folder: Path) -> bool:
    """True when `path` is `folder` or below it."""
    return path == folder or folder in path.parents


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


def substitute_env(raw: Any, path: str = "") -> Any:
    """The parsed config with ${VAR} and ${VAR:-default} replaced in its string values (never in keys, never in
    comments, never parsed again as YAML); `$${VAR}` stands for the literal text ${VAR}.

    A value that is one ${VAR} and comes out empty is null, as an empty YAML value is."""
    if isinstance(raw, dict):
        return {key: substitute_env(value, f"{path}.{key}" if path else str(key)) for key, value in raw.items()}
    if isinstance(raw, list):
        return [substitute_env(value, f"{path}[{index}]") for index, value in enumerate(raw)]
    if not isinstance(raw, str):
        return raw
    value = ENV_PATTERN.sub(lambda match: _env_value(match, path), raw)
    whole = ENV_PATTERN.fullmatch(raw)
    return None if value == "" and whole and not whole["escape"] else value


def _env_value(match: re.Match[str], path: str) -> str:
    """The replacement of one ${VAR} / ${VAR:-default} / $${VAR} written at field `path`."""
    if match["escape"]:
        return match.group(0)[1:]
    name, default = match["name"], match["default"]
    if name in os.environ:
        return os.environ[name]
    if default is None:
        raise ConfigError(f"{path or 'config'}: environment variable {name} is not set and has no default; "
                          f"export {name}=... or write ${{{name}:-value}} in the config")
    return default


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping (YAML would keep the later one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if not isinstance(key, Hashable):
                continue  # an unhashable key fails in SafeLoader's own construction, with its own message
            if key in first_line:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} on lines {first_line[key]} and {line}; keep one of them",
                    key_node.start_mark)
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)


def secret_env_names(raw: dict[str, Any]) -> dict[str, str]:
    """SECRET_FIELDS of the parsed config written as one ${VAR} (or ${VAR:-default}) whose VAR is set: field -> VAR."""
    names = {}
    for field in SECRET_FIELDS:
        value: Any = raw
        for part in field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        match = ENV_PATTERN.fullmatch(value) if isinstance(value, str) else None
        if match and not match["escape"] and os.environ.get(match["name"]):
            names[field] = match["name"]
    return names


def load_spec(path: str | Path) -> PipelineSpec:
    """Read, substitute and validate a pipeline YAML file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found; create one with `ml-assets init` or pass --config")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save the config as UTF-8 YAML") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror}); pass a readable YAML file") from None
    try:
        raw = yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (name, dataset, features, ...)")
    try:
        values = substitute_env(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    spec = parse_spec(values, base_dir=path.resolve().parent, origin=str(path))
    return spec.model_copy(update={"secret_env": secret_env_names(raw)})


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
    if error["type"] == XGBOOST_PARAMS_ERROR:
        return "\n  ".join(f"{location}.{problem}" for problem in error["ctx"]["problems"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "value_error" and (not location or message.startswith(f"{location}.")):
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
