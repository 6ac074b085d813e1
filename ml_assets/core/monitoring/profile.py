"""Reference profiles on disk: a small JSON file (bin edges and counts, category counts) and a parquet
file of the sorted reference values, so a profile is logged once with its model version and read back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ml_assets.core.monitoring.drift import CategoricalReference, NumericReference, ReferenceProfile

PROFILE_FILE = "profile.json"
SORTED_VALUES_FILE = "sorted_values.parquet"
FORMAT_VERSION = 1


def save_profile(profile: ReferenceProfile, folder: Path) -> Path:
    """Write a profile into `folder` (created); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PROFILE_FILE).write_text(json.dumps(_profile_document(profile)))
    _sorted_values_frame(profile).to_parquet(folder / SORTED_VALUES_FILE, index=False)
    return folder


def load_profile(folder: Path) -> ReferenceProfile:
    """Read a profile written by `save_profile`."""
    path = folder / PROFILE_FILE
    if not path.exists():
        raise FileNotFoundError(f"no reference profile at {folder} (expected {PROFILE_FILE}); "
                                "retrain the model to log one")
    document = json.loads(path.read_text())
    if document.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: profile format {document.get('version')!r} is not {FORMAT_VERSION}; "
                         "retrain the model to log a current profile")
    values = pd.read_parquet(folder / SORTED_VALUES_FILE)
    sorted_by_feature = {str(name): rows["value"].to_numpy(dtype="float64")
                         for name, rows in values.groupby("feature", sort=False, observed=True)}
    numeric = {name: NumericReference(np.asarray(item["edges"], dtype="float64"),
                                      np.asarray(item["counts"], dtype="float64"),
                                      sorted_by_feature.get(name, np.empty(0)), int(item["rows"]))
               for name, item in document["numeric"].items()}
    categorical = {name: CategoricalReference(dict(item["counts"]), int(item["missing"]), int(item["rows"]))
                   for name, item in document["categorical"].items()}
    return ReferenceProfile(numeric, categorical)


def _profile_document(profile: ReferenceProfile) -> dict:
    """The JSON-ready part of a profile (everything but the sorted values)."""
    return {
        "version": FORMAT_VERSION,
        "numeric": {name: {"edges": ref.edges.tolist(), "counts": ref.counts.tolist(), "rows": ref.rows}
                    for name, ref in profile.numeric.items()},
        "categorical": {name: {"counts": ref.counts, "missing": ref.missing, "rows": ref.rows}
                        for name, ref in profile.categorical.items()},
    }


def _sorted_values_frame(profile: ReferenceProfile) -> pd.DataFrame:
    """Sorted values of every numeric column in long form (feature, value); `feature` is categorical (a dictionary
    column in the file, not a string per value, which slows writing and reading)."""
    names = list(profile.numeric)
    sizes = [profile.numeric[name].sorted_values.size for name in names]
    values = [profile.numeric[name].sorted_values for name in names]
    codes = np.repeat(np.arange(len(names)), sizes)
    return pd.DataFrame({"feature": pd.Categorical.from_codes(codes, categories=names),
                         "value": np.concatenate(values) if values else np.empty(0)})
