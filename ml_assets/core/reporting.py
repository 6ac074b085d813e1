"""Risk report: the BENCHMARK summary per segment and risk cluster."""

from __future__ import annotations

import numpy as np
import pandas as pd

SUMMARY_KEYS = ["segment", "risk_cluster"]


def risk_summary(clusters: pd.DataFrame, segment_column: str, score_column: str, target_column: str,
                 label_matured: pd.Series) -> pd.DataFrame:
    """Per segment and cluster: count, share of the segment, mean score, realized default rate
    (matured labels only) and lift of that rate over the segment's matured average."""
    frame = pd.DataFrame({
        "segment": clusters[segment_column].to_numpy(),
        "risk_cluster": clusters["risk_cluster"].to_numpy(),
        "score": clusters[score_column].to_numpy(dtype="float64"),
        "matured_target": clusters[target_column].where(label_matured).astype("float64").to_numpy(),
    })
    summary = frame.groupby(SUMMARY_KEYS, observed=True).agg(
        count=("score", "size"), mean_score=("score", "mean"),
        matured_count=("matured_target", "count"), realized_default_rate=("matured_target", "mean"),
    ).reset_index()
    segment_totals = frame.groupby("segment").agg(total=("score", "size"), segment_rate=("matured_target", "mean"))
    summary = summary.join(segment_totals, on="segment")
    summary["share"] = summary["count"] / summary["total"]
    summary["lift"] = summary["realized_default_rate"] / summary["segment_rate"].replace(0, np.nan)
    columns = SUMMARY_KEYS + ["count", "share", "mean_score", "matured_count", "realized_default_rate", "lift"]
    return summary[columns].sort_values(["segment", "mean_score"]).reset_index(drop=True)
