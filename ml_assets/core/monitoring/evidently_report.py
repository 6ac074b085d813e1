"""Evidently HTML data-drift report on bounded samples, for people to read beside the drift table, and where
the drift reports live under the reports folder.

Evidently is imported inside the function: it takes seconds to import, which every code-location
load and run would otherwise pay.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from ml_assets.core.data.lake import write_frame, write_local_atomic

DRIFT_REPORT_FOLDER = "drift_report"  # <reports>/drift_report/date=YYYY-MM-DD/segment=<segment>/
DRIFT_PLOTS_FOLDER = "drift"  # <reports>/drift/<first>_<last>/<segment>.png
HTML_FILE = "evidently.html"


def drift_report_folder(reports_dir: Path, day: date, segment: str) -> Path:
    """Where a day's drift table of one segment and its Evidently report (HTML_FILE) go."""
    return reports_dir / DRIFT_REPORT_FOLDER / f"date={day.isoformat()}" / f"segment={segment}"


def write_drift_table(table: pd.DataFrame, reports_dir: Path, day: date, segment: str) -> Path:
    """Store a day's drift table of one segment in its report folder (beside its Evidently report, for people to
    read); returns the folder."""
    folder = drift_report_folder(reports_dir, day, segment)
    write_frame(folder, table)
    return folder


def drift_plot_path(reports_dir: Path, first: date, last: date, segment: str) -> Path:
    """Where the drift-by-feature plot of one segment over a run's days first..last goes."""
    return reports_dir / DRIFT_PLOTS_FOLDER / f"{first}_{last}" / f"{segment}.png"


def bounded_sample(frame: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    """At most `rows` rows of `frame`, drawn without replacement (all of them when it is smaller)."""
    return frame if len(frame) <= rows else frame.sample(n=rows, random_state=seed)


def write_drift_html(reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str], categorical: list[str],
                     path: Path, sample_rows: int, seed: int = 0) -> Path:
    """Evidently's DataDriftPreset over the given columns of bounded samples of both sides, saved as a
    standalone HTML file at `path` (written to a temp file, then renamed)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    columns = numeric + categorical
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    datasets = [Dataset.from_pandas(_typed(bounded_sample(side[columns], sample_rows, seed), numeric, categorical),
                                    data_definition=definition) for side in (current, reference)]
    snapshot = Report([DataDriftPreset(columns=columns)]).run(*datasets)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_local_atomic(path, snapshot.save_html)  # Evidently writes only when given a str path
    return path


def _typed(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """Numeric columns as float64 and categorical ones as plain objects, as Evidently expects."""
    return frame.astype({**{c: "float64" for c in numeric}, **{c: "object" for c in categorical}})
