"""Drift on the demo data as `ml-assets demo` makes it (6,000 customers, price shock on every tariff from
2024-08-01, champions trained as of 2024-08-31): out-of-sample days before the shock keep no `high` verdict, the
shocked `amount` is flagged in both segments within drift.window_days of the shock, and drift_report's worst
features of each day come only from that day's judged rows, with dates printed as dates."""

from datetime import date, timedelta

import dagster as dg
import mlflow
import pandas as pd
import pytest

from ml_assets.core.data import lake
from ml_assets.core.data.synthetic import DriftInjection, generate_invoices, write_landing_files
from ml_assets.core.monitoring.drift import overall_severity
from ml_assets.definitions import INGEST_JOB, SCORING_JOB, TRAINING_JOB, build_definitions
from ml_assets.runner import RANGE_END_TAG, RANGE_START_TAG
from ml_assets.spec import PipelineSpec
from ml_assets_tests.conftest import make_spec

SHOCK = date(2024, 8, 1)
AS_OF = date(2024, 8, 31)
CHECKED_LAST = date(2024, 8, 8)  # the shock plus drift.window_days


def run_job(defs: dg.Definitions, job: str, instance: dg.DagsterInstance, first: str, last: str,
            **kwargs: object) -> None:
    """One run of a job over first..last; it must succeed."""
    result = defs.resolve_job_def(job).execute_in_process(
        instance=instance, raise_on_error=False, tags={RANGE_START_TAG: first, RANGE_END_TAG: last}, **kwargs)
    assert result.success, result.get_step_failure_events()


@pytest.fixture(scope="module")
def demo_drift(tmp_path_factory: pytest.TempPathFactory) -> tuple[PipelineSpec, pd.DataFrame, dict, dict]:
    """The demo's invoices; ingest the champions' training window and the checked days, train as of 2024-08-31
    (as `ml-assets demo` does), score from the training window's end to the shock plus a window; returns the
    spec, the drift table, drift_report's metadata by partition and the champions' training windows by segment."""
    home = tmp_path_factory.mktemp("demo_drift")
    invoices = generate_invoices(6000, date(2024, 1, 1), AS_OF, seed=0, drift=DriftInjection(start=SHOCK))
    write_landing_files(invoices, home / "landing")
    spec = make_spec(home)
    matured = AS_OF - timedelta(days=spec.dataset.label_delay_days)
    window_first = matured - timedelta(days=spec.training.window_days - 1)
    defs, previous_uri = build_definitions(spec), mlflow.get_tracking_uri()
    with dg.instance_for_test() as instance:
        run_job(defs, INGEST_JOB, instance, window_first.isoformat(), CHECKED_LAST.isoformat())
        run_job(defs, TRAINING_JOB, instance, spec.segment_names[0], spec.segment_names[-1],
                run_config={"ops": {"training_set": {"config": {"as_of": AS_OF.isoformat()}}}})
        result = defs.resolve_job_def(SCORING_JOB).execute_in_process(
            instance=instance, raise_on_error=False,
            tags={RANGE_START_TAG: (matured + timedelta(days=1)).isoformat(), RANGE_END_TAG: CHECKED_LAST.isoformat()})
        metadata = {e.materialization.partition: {k: v.value for k, v in e.materialization.metadata.items()}
                    for e in result.get_asset_materialization_events()
                    if e.asset_key.to_user_string() == "drift_report"}
    mlflow.set_tracking_uri(previous_uri)
    windows = {segment: lake.read_partition(lake.partition_dir(spec.lake_dir, "segment_model", "segment", segment))
               ["window"] for segment in spec.segment_names}
    keys = lake.stored_keys(spec.lake_dir, "drift_report", "date")
    table = lake.read_frames([lake.partition_dir(spec.lake_dir, "drift_report", "date", key) for key in keys])
    return spec, table.assign(day=pd.to_datetime(table[spec.dataset.date]).dt.date), metadata, windows


def test_out_of_sample_days_before_the_shock_keep_no_high_verdict(demo_drift) -> None:
    spec, table, _, windows = demo_drift
    for segment, window in windows.items():
        rows = table[(table["segment"] == segment) & (table["day"] > date.fromisoformat(window["last"]))
                     & (table["day"] < SHOCK)]
        assert rows["day"].nunique() >= 40, "every out-of-sample day to 2024-07-31 is in the table"
        judged = rows[rows["judged"]]
        verdicts = judged.groupby("day")["severity"].agg(overall_severity)
        assert len(verdicts) >= 20 and "high" not in set(verdicts), (segment, verdicts.value_counts())


def test_the_price_shock_is_flagged_in_both_segments_within_a_window(demo_drift) -> None:
    spec, table, metadata, _ = demo_drift
    for segment in spec.segment_names:
        amount = table[(table["segment"] == segment) & (table["feature"] == "amount") & table["judged"]
                       & (table["day"] >= SHOCK)]
        flagged = amount[amount["severity"].isin(["moderate", "high"])]
        assert len(flagged), (segment, amount[["day", "psi", "ks_stat", "severity"]])
        assert flagged["day"].min() <= SHOCK + timedelta(days=spec.drift.window_days), segment
    assert {tuple(day["monitored_features"]) for day in metadata.values()} == {tuple(spec.feature_columns())}


def test_each_days_worst_features_come_from_its_judged_rows_and_show_dates_as_dates(demo_drift) -> None:
    spec, table, metadata, _ = demo_drift
    judged = table[table["judged"]]
    assert judged["day"].nunique() >= 20
    for day, rows in judged.groupby("day"):
        lines = metadata[day.isoformat()]["worst_features"].splitlines()
        assert [cell.strip() for cell in lines[0].split("|")[1:4]] == ["segment", "feature", spec.dataset.date]
        by_feature = rows.set_index(["segment", "feature"])
        for line in lines[2:]:
            segment, feature, shown_day, psi = (cell.strip() for cell in line.split("|")[1:5])
            assert shown_day == day.isoformat(), f"{shown_day!r} is the partition's own date"
            assert by_feature.loc[(segment, feature), "psi"] == pytest.approx(float(psi), abs=1e-4)
        assert float(lines[2].split("|")[4]) == pytest.approx(rows["psi"].max(), abs=1e-4), day


def test_days_whose_window_touches_the_training_window_are_in_sample(demo_drift) -> None:
    spec, table, metadata, windows = demo_drift
    for segment, window in windows.items():
        rows = table[table["segment"] == segment]
        window_first = rows["day"] - timedelta(days=spec.drift.window_days - 1)
        first, last = date.fromisoformat(window["first"]), date.fromisoformat(window["last"])
        expected = (window_first <= last) & (rows["day"] >= first)
        assert rows["in_sample"].tolist() == expected.tolist() and expected.any() and not expected.all(), segment
        for day, values in metadata.items():
            assert values["in_sample"][segment] == bool(expected[rows["day"] == date.fromisoformat(day)].any())
