"""PNG plots for model evaluation and drift, written to files the UI previews."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> Path:
    """Write a figure as PNG and release it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def roc_plot(target: np.ndarray, score: np.ndarray, auc: float, path: Path) -> Path:
    """ROC curve with the diagonal of a random model."""
    fpr, tpr, _ = roc_curve(target, score)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(fpr, tpr, label=f"AUC {auc:.3f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend(loc="lower right")
    return _save(fig, path)


def pr_plot(target: np.ndarray, score: np.ndarray, pr_auc: float, path: Path) -> Path:
    """Precision-recall curve with the base rate."""
    precision, recall, _ = precision_recall_curve(target, score)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(recall, precision, label=f"AP {pr_auc:.3f}")
    ax.axhline(float(np.mean(target)), linestyle="--", color="grey", label="base rate")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall")
    ax.legend(loc="upper right")
    return _save(fig, path)


def calibration_plot(target: np.ndarray, score: np.ndarray, path: Path, bins: int = 10) -> Path:
    """Observed default rate against mean score per score decile."""
    order = pd.qcut(score, q=bins, duplicates="drop")
    table = pd.DataFrame({"score": score, "target": target}).groupby(order, observed=True).mean()
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(table["score"], table["target"], marker="o")
    top = float(max(table["score"].max(), table["target"].max()))
    ax.plot([0, top], [0, top], linestyle="--", color="grey")
    ax.set(xlabel="mean predicted", ylabel="observed rate", title="Calibration (deciles)")
    return _save(fig, path)


def importance_plot(importance: pd.Series, path: Path, top: int = 15) -> Path:
    """Horizontal bars of the largest feature importances."""
    shown = importance.head(top)[::-1]
    fig, ax = plt.subplots(figsize=(5, 0.3 * len(shown) + 1))
    ax.barh(shown.index, shown.to_numpy())
    ax.set(xlabel="total gain", title="Feature importance")
    return _save(fig, path)


def drift_plot(table: pd.DataFrame, path: Path, title: str, lines: tuple[float, ...]) -> Path:
    """PSI per feature (one bar per feature, worst day of the range), with threshold lines."""
    worst = table.groupby("feature")["psi"].max().sort_values()
    fig, ax = plt.subplots(figsize=(5, 0.3 * len(worst) + 1))
    ax.barh(worst.index, worst.to_numpy())
    for line in lines:
        ax.axvline(line, linestyle="--", color="grey")
    ax.set(xlabel="PSI (max over days)", title=title)
    return _save(fig, path)


def _value_colors(values: pd.Series) -> np.ndarray:
    """Feature values as 0..1 ranks for colouring (categories by code); NaN stays NaN."""
    numeric = values.cat.codes.where(values.notna()) if isinstance(values.dtype, pd.CategoricalDtype) else values
    return pd.to_numeric(numeric, errors="coerce").rank(pct=True).to_numpy()


def shap_summary_plot(values: np.ndarray, matrix: pd.DataFrame, path: Path, top: int = 12,
                      max_rows: int = 2000) -> Path:
    """SHAP summary of `values` (explain.contributions of `matrix`): one row of dots per feature (largest mean
    |SHAP| on top), coloured by the feature's value."""
    contributions = pd.DataFrame(values, columns=matrix.columns, index=matrix.index)
    shown = contributions.abs().mean().sort_values(ascending=False).head(top).index[::-1]
    sample = contributions.sample(n=min(len(contributions), max_rows), random_state=0).index
    rng = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(shown) + 1.2))
    for row, feature in enumerate(shown):
        colors = _value_colors(matrix.loc[sample, feature])
        jitter = row + rng.uniform(-0.3, 0.3, len(sample))
        ax.scatter(contributions.loc[sample, feature], jitter, c=np.nan_to_num(colors, nan=0.5), cmap="coolwarm",
                   s=6, alpha=0.6, vmin=0, vmax=1)
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_yticks(range(len(shown)), shown)
    ax.set(xlabel="SHAP value (log-odds, before calibration)", title="SHAP summary (blue: low value, red: high)")
    return _save(fig, path)


def evaluation_plots(target: np.ndarray, scores: np.ndarray, metrics: dict[str, float], importance: pd.Series,
                     matrix: pd.DataFrame, shap: np.ndarray, folder: Path) -> dict[str, Path]:
    """Write the evaluation PNGs of one model version into `folder` (title -> file)."""
    return {
        "ROC": roc_plot(target, scores, metrics["roc_auc"], folder / "roc.png"),
        "Precision-recall": pr_plot(target, scores, metrics["pr_auc"], folder / "pr.png"),
        "Calibration": calibration_plot(target, scores, folder / "calibration.png"),
        "Feature importance": importance_plot(importance, folder / "importance.png"),
        "SHAP summary": shap_summary_plot(shap, matrix, folder / "shap_summary.png"),
    }
