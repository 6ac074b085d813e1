"""Evidently HTML data-drift report on bounded samples, for people to read beside the drift table.

Evidently is imported inside the function: it takes seconds to import, which every code-location
load and run would otherwise pay.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ml_assets.core.data.lake import write_local_atomic


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
