"""Logistic-regression baseline: what a simple linear model reaches on the same rows as the booster."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ml_assets.spec import FeaturesSpec

MISSING_CATEGORY = "__missing__"


def baseline_inputs(frame: pd.DataFrame, features: FeaturesSpec) -> pd.DataFrame:
    """Numeric features as floats and categorical ones as strings (missing gets its own category)."""
    inputs = frame[features.model_numeric()].astype("float64")
    for column in features.categorical:
        inputs[column] = frame[column].astype(object).where(frame[column].notna(), MISSING_CATEGORY).astype(str)
    return inputs


def fit_baseline(frame: pd.DataFrame, target: pd.Series, features: FeaturesSpec, balanced: bool,
                 seed: int) -> Pipeline:
    """Median-imputed, standardized numerics and one-hot categoricals into an L2 logistic regression."""
    columns = ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()),
         features.model_numeric()),
        ("categorical", OneHotEncoder(handle_unknown="ignore"), features.categorical),
    ])
    model = LogisticRegression(max_iter=2000, class_weight="balanced" if balanced else None, random_state=seed)
    return make_pipeline(columns, model).fit(baseline_inputs(frame, features), target.to_numpy(dtype=int))


def baseline_scores(model: Pipeline, frame: pd.DataFrame, features: FeaturesSpec) -> np.ndarray:
    """Probability of the positive class from the baseline."""
    return model.predict_proba(baseline_inputs(frame, features))[:, 1]
