"""`ml-assets monitor`: per segment and day, the model version, drift, estimated and realized performance, read from
the stored partitions of drift_report, estimated_performance and model_performance."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING

from ml_assets.registry_cli import checked_segment

if TYPE_CHECKING:  # pandas and the lake load only when monitor runs, keeping `ml-assets --help` quick
    import pandas as pd

    from ml_assets.core.monitoring.monitor_view import MonitorRow
    from ml_assets.spec import PipelineSpec

DRIFT_COLUMNS = ["segment", "feature", "severity", "psi", "judged", "model_version"]
ESTIMATE_COLUMNS = ["segment", "model_version", "in_sample", "estimated_roc_auc", "estimated_default_rate"]
PERFORMANCE_COLUMNS = ["segment", "model_version", "cohort_last", "in_sample", "roc_auc", "default_rate"]


def add_monitor_command(command: Callable[[str, str], argparse.ArgumentParser], date_type: Callable[[str], date]) -> None:
    """Register `monitor` through cli.py's `command` helper (which adds --config)."""
    monitor = command("monitor", "per segment and day: model version, drift, estimated and realized AUC and "
                                 "default rate (realized once labels mature), in-sample flag")
    monitor.add_argument("--segment", help="only this segment")
    monitor.add_argument("--start", type=date_type, help="first day (default: the first stored)")
    monitor.add_argument("--end", type=date_type, help="last day (default: the last stored)")
    monitor.add_argument("--json", action="store_true", help="one JSON array of objects, for machines")


def stored_days(spec: PipelineSpec, asset: str, columns: list[str], first: date | None, last: date | None,
                shift_days: int = 0) -> pd.DataFrame:
    """The stored daily partitions of `asset` whose day minus `shift_days` lies in first..last (only `columns`)."""
    import pandas as pd

    from ml_assets.core.data import lake

    low = (first + timedelta(days=shift_days)).isoformat() if first else ""
    high = (last + timedelta(days=shift_days)).isoformat() if last else "9999"
    days = [day for day in lake.stored_days(spec.lake_dir, asset) if low <= day <= high]
    return lake.read_days(spec.lake_dir, asset, days, [spec.dataset.date, *columns]) if days else pd.DataFrame()


def monitor_table(spec: PipelineSpec, segment: str | None, first: date | None, last: date | None) -> list[MonitorRow]:
    """The monitor rows of the stored partitions, for one segment or all, days first..last."""
    from ml_assets.core.monitoring.monitor_view import monitor_rows

    if first and last and last < first:
        raise ValueError(f"--end {last} is before --start {first}")
    rows = monitor_rows(stored_days(spec, "drift_report", DRIFT_COLUMNS, first, last),
                        stored_days(spec, "estimated_performance", ESTIMATE_COLUMNS, first, last),
                        stored_days(spec, "model_performance", PERFORMANCE_COLUMNS, first, last,
                                    spec.dataset.label_delay_days),
                        spec.dataset.date)
    low, high = (first.isoformat() if first else ""), (last.isoformat() if last else "9999")
    return [row for row in rows if (segment is None or row.segment == segment) and low <= row.date <= high]


def text_report(rows: list[MonitorRow]) -> str:
    """A table per segment for people."""
    import pandas as pd

    from ml_assets.core.monitoring.monitor_view import DRIFTED_FROM

    if not rows:
        return "no stored monitoring partitions in that range (materialize drift_report, estimated_performance " \
               "and model_performance: ml-assets run)"
    frame = pd.DataFrame([row.as_json() for row in rows])
    frame["drifted_features"] = frame["drifted_features"].map(lambda names: ", ".join(names) or "-")
    parts = [f"segment {segment}\n{part.drop(columns='segment').to_markdown(index=False, floatfmt='.4f')}"
             for segment, part in frame.groupby("segment")]
    return "\n\n".join(parts) + (f"\n\ndrift_severity: not judged when the window held under drift.min_rows rows; "
                                 f"drifted_features: severity {DRIFTED_FROM} or worse; realized_*: empty until "
                                 "the cohort's labels mature; in_sample: the cohort touches the version's training "
                                 "window (its realized AUC is not a test)")


def run_monitor_command(spec: PipelineSpec, args: argparse.Namespace) -> None:
    """Print the monitor rows as tables or, with --json, as one JSON array."""
    segment = checked_segment(spec, args.segment) if args.segment else None
    rows = monitor_table(spec, segment, args.start, args.end)
    print(json.dumps([row.as_json() for row in rows], indent=1) if args.json else text_report(rows))
