"""Matplotlib figures for EDA, modelling, evaluation and monitoring.

Each function returns a `matplotlib.figure.Figure` made through pyplot, so in a notebook the inline
backend shows it at the end of the cell (and closes it) even when the call ends with `;`. It is
returned complete (see `_complete`): drawn once, for the PNG, unless the cell changes it after.
Outside notebooks, close figures with `plt.close(fig)` when done.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

from .metrics import Task

MAX_CATEGORIES = 20
MISSING = "(missing)"
REFERENCE_COLOR = "tab:blue"
CURRENT_COLOR = "tab:orange"
# A histogram drawn as one filled outline, not one rectangle per bin: it looks the same with the
# transparency used here and renders several times faster (reports render every figure).
FILLED_HIST = {"histtype": "stepfilled", "linewidth": 0.8}
Made = TypeVar("Made", bound=Callable[..., Any])


def _complete(make: Made) -> Made:
    """The figure `make` returns is complete: not stale (nothing for pyplot to redraw).

    After each notebook cell, pyplot's redraw lays out and draws every stale figure, then the
    inline backend lays it out and draws it again for the PNG it shows: for a figure nobody
    changed since it was made, the first pass is 40% of its rendering time spent on nothing. A
    change made after the call (a title set in the same cell) makes the figure stale again.
    """

    @functools.wraps(make)
    def made(*args: Any, **kwargs: Any) -> Figure:
        fig = make(*args, **kwargs)
        fig.stale = False
        return fig

    return made  # type: ignore[return-value]


def _figure(
    n_panels: int, ncols: int = 3, panel_size: tuple[float, float] = (4.5, 3.2)
) -> tuple[Figure, list[Axes]]:
    """A grid of `n_panels` axes (unused grid cells removed)."""
    n_panels = max(n_panels, 1)
    ncols = min(ncols, n_panels)
    nrows = math.ceil(n_panels / ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
        squeeze=False,
        layout="constrained",
    )
    flat = list(axes.ravel())
    for ax in flat[n_panels:]:
        fig.delaxes(ax)
    return fig, flat[:n_panels]


def _category_counts(values: pd.Series, normalize: bool = False) -> pd.Series:
    counts = values.astype("string").fillna(MISSING).value_counts(normalize=normalize)
    if len(counts) > MAX_CATEGORIES:
        other = counts.iloc[MAX_CATEGORIES - 1 :].sum()
        counts = pd.concat([counts.iloc[: MAX_CATEGORIES - 1], pd.Series({"(other)": other})])
    return counts


@_complete
def missing_values(df: pd.DataFrame) -> Figure:
    """Share of missing values per column."""
    share = df.isna().mean().sort_values()
    fig, (ax,) = _figure(1, panel_size=(7.0, max(2.5, 0.3 * len(share) + 1)))
    ax.barh([str(c) for c in share.index], share.to_numpy(), color="tab:red")
    ax.set_xlim(0, max(0.05, float(share.max()) * 1.1))
    ax.set_xlabel("share of rows missing")
    ax.set_title("Missing values per column")
    return fig


@_complete
def numeric_distributions(
    df: pd.DataFrame, columns: Sequence[str], target: str | None = None
) -> Figure:
    """Histogram per numeric column; with `target` (a class column), one overlay per class."""
    fig, axes = _figure(len(columns))
    groups: list[tuple[str, pd.DataFrame]] = [("all", df)]
    if target is not None and df[target].nunique() <= 10:
        groups = [(str(k), g) for k, g in df.groupby(target, observed=True)]
    for ax, column in zip(axes, columns, strict=False):
        values = pd.to_numeric(df[column], errors="coerce").dropna()
        bins = np.histogram_bin_edges(values, bins=30) if len(values) else 10
        for label, group in groups:
            data = pd.to_numeric(group[column], errors="coerce").dropna()
            ax.hist(
                data, bins=bins, alpha=0.55, density=len(groups) > 1, label=label, **FILLED_HIST
            )
        ax.set_title(str(column))
        if len(groups) > 1 and ax is axes[0]:  # the same classes in every panel: one legend
            ax.legend(title=str(target), fontsize="small")
    fig.suptitle("Numeric features")
    return fig


@_complete
def categorical_counts(df: pd.DataFrame, columns: Sequence[str]) -> Figure:
    """Bar chart of category counts per column (top categories, missing shown)."""
    fig, axes = _figure(len(columns))
    for ax, column in zip(axes, columns, strict=False):
        counts = _category_counts(df[column])
        ax.barh([str(i) for i in counts.index][::-1], counts.to_numpy()[::-1])
        ax.set_title(str(column))
        ax.set_xlabel("rows")
    fig.suptitle("Categorical features")
    return fig


@_complete
def target_distribution(y: pd.Series, problem_type: str) -> Figure:
    """Class counts (classification) or a histogram (regression) of the target."""
    y = pd.Series(y)
    fig, (ax,) = _figure(1, panel_size=(6.0, 3.5))
    if problem_type == "classification":
        counts = _category_counts(y)
        bars = ax.bar([str(i) for i in counts.index], counts.to_numpy())
        ax.bar_label(bars, labels=[f"{s:.0%}" for s in counts / counts.sum()])
        ax.set_ylabel("rows")
    else:
        ax.hist(pd.to_numeric(y, errors="coerce").dropna(), bins=40, **FILLED_HIST)
        ax.set_ylabel("rows")
    ax.set_title(f"Target: {y.name}" if y.name is not None else "Target")
    return fig


@_complete
def correlation_heatmap(df: pd.DataFrame, columns: Sequence[str]) -> Figure:
    """Pearson correlations between numeric columns (heatmap and colour bar: two axes)."""
    corr = df[list(columns)].apply(pd.to_numeric, errors="coerce").corr()
    size = max(4.0, 0.55 * len(columns) + 2)
    fig, (ax,) = _figure(1, panel_size=(size + 1, size))
    image = ax.imshow(corr.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    labels = [str(c) for c in corr.columns]
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    if len(labels) <= 12:
        for i in range(len(labels)):
            for j in range(len(labels)):
                value = corr.iloc[i, j]
                if not np.isnan(value):
                    color = "white" if abs(value) > 0.6 else "black"  # readable on dark cells
                    ax.text(
                        j,
                        i,
                        f"{value:.2f}",
                        ha="center",
                        va="center",
                        fontsize="small",
                        color=color,
                    )
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_title("Correlation of numeric features")
    return fig


@_complete
def cv_scores(cv_table: pd.DataFrame, metric: str) -> Figure:
    """Mean cross-validation score per model with one standard deviation as error bars."""
    table = cv_table.iloc[::-1]
    fig, (ax,) = _figure(1, panel_size=(7.0, max(2.5, 0.5 * len(table) + 1)))
    colors = ["tab:gray" if m == "baseline" else "tab:blue" for m in table["model"]]
    ax.barh(
        table["model"].astype(str),
        table["score_mean"],
        xerr=table["score_std"],
        color=colors,
        capsize=4,
    )
    ax.set_xlabel(f"{metric} (mean ± std over folds)")
    ax.set_title("Cross-validation scores")
    return fig


@_complete
def roc_pr_curves(y_true: Any, y_score: Any, labels: Sequence | None = None) -> Figure:
    """ROC and precision-recall curves (two panels): of the positive class (the larger label,
    scikit-learn's `classes_[1]`) for binary scores, one-vs-rest per class for a probability
    matrix (columns in the order of `labels`)."""
    fig, (roc_ax, pr_ax) = _figure(2, ncols=2, panel_size=(4.8, 4.4))
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score)
    labels = list(labels) if labels is not None else list(np.unique(y_true))
    if y_score.ndim == 1:
        curves = [(labels[-1], y_true == labels[-1], y_score)]
    else:
        curves = [(label, y_true == label, y_score[:, i]) for i, label in enumerate(labels)]
    chance = len(curves) == 1
    for label, positive, score in curves:
        if 0 < positive.sum() < len(positive):  # a class absent from the rows has no curve
            name = str(label) if len(curves) > 1 else None
            RocCurveDisplay.from_predictions(
                positive, score, ax=roc_ax, name=name, plot_chance_level=chance
            )
            PrecisionRecallDisplay.from_predictions(
                positive, score, ax=pr_ax, name=name, plot_chance_level=chance
            )
    positive = labels[-1].item() if isinstance(labels[-1], np.generic) else labels[-1]
    suffix = " (one-vs-rest)" if len(curves) > 1 else f" (positive class {positive!r})"
    roc_ax.set_title("ROC curve" + suffix)
    pr_ax.set_title("Precision-recall curve" + suffix)
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate")
    pr_ax.set(xlabel="recall", ylabel="precision")
    for ax in (roc_ax, pr_ax):
        if ax.get_legend() is not None:
            ax.legend(fontsize="small")
    return fig


@_complete
def confusion(y_true: Any, y_pred: Any, labels: Sequence | None = None) -> Figure:
    """Confusion matrix of true against predicted classes (counts), classes in `labels` order."""
    n = len(labels) if labels is not None else len(np.unique(np.asarray(y_true)))
    size = max(4.2, 0.45 * n + 2.5)
    fig, (ax,) = _figure(1, panel_size=(size + 0.6, size))
    ConfusionMatrixDisplay.from_predictions(
        y_true,
        y_pred,
        labels=None if labels is None else list(labels),
        ax=ax,
        colorbar=False,
        cmap="Blues",
        xticks_rotation=45 if n > 4 else "horizontal",
    )
    ax.set_title("Confusion matrix")
    return fig


@_complete
def cumulative_gain(y_true: Any, y_score: Any, positive: Any, share: float | None = None) -> Figure:
    """Share of all positives found against the share of rows acted on, highest scores first,
    with random picking for comparison; the acted-on `share` marked."""
    positive_rows = np.asarray(y_true) == positive
    order = np.argsort(-np.asarray(y_score), kind="stable")
    found = np.concatenate([[0.0], np.cumsum(positive_rows[order]) / max(positive_rows.sum(), 1)])
    acted = np.linspace(0.0, 1.0, len(found))
    fig, (ax,) = _figure(1, panel_size=(5.5, 4.2))
    ax.plot(acted, found, label="model")
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="random")
    if share is not None:
        k = int(np.ceil(share * (len(found) - 1)))
        ax.axvline(share, color="tab:red", linewidth=1)
        lift = found[k] / max(share, 1e-9)
        ax.annotate(
            f"top {share:.0%}: {found[k]:.0%} of positives (lift {lift:.2f})",
            (share, found[k]),
            textcoords="offset points",
            xytext=(6, -14),
            fontsize="small",
        )
    ax.set_xlabel("share of rows acted on (highest scores first)")
    ax.set_ylabel(f"share of all {positive!r} found")
    ax.set_title("Cumulative gain")
    ax.legend(fontsize="small")
    return fig


def prediction_figures(
    y_true: Any, y_pred: Any, y_score: Any = None, *, task: Task
) -> list[Figure]:
    """The figures of test predictions: ROC/PR curves (when there are scores) and the confusion
    matrix for classes, residuals for numbers."""
    if not task.classification:
        return [residuals(y_true, y_pred)]
    figures = [roc_pr_curves(y_true, y_score, labels=task.labels)] if y_score is not None else []
    return [*figures, confusion(y_true, y_pred, labels=task.labels)]


def business_measure(
    result: dict[str, Any], y_true: Any, y_score: Any, *, task: Task
) -> Figure | None:
    """The cumulative-gain curve behind a measured lift or gain (see business.measure_business),
    else None."""
    if result.get("measure") not in ("lift", "cumulative_gain") or result.get("value") is None:
        return None
    return cumulative_gain(y_true, y_score, task.positive_label, share=result.get("share"))


@_complete
def residuals(y_true: Any, y_pred: Any) -> Figure:
    """Residuals against predictions, and predictions against actual values (two panels)."""
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    fig, (res_ax, fit_ax) = _figure(2, ncols=2, panel_size=(4.8, 4.0))
    res_ax.scatter(y_pred, y_true - y_pred, s=8, alpha=0.5)
    res_ax.axhline(0, color="black", linewidth=1)
    res_ax.set_xlabel("predicted")
    res_ax.set_ylabel("actual - predicted")
    res_ax.set_title("Residuals")
    fit_ax.scatter(y_true, y_pred, s=8, alpha=0.5)
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    fit_ax.plot([low, high], [low, high], color="black", linewidth=1)
    fit_ax.set_xlabel("actual")
    fit_ax.set_ylabel("predicted")
    fit_ax.set_title("Predicted vs actual")
    return fig


@_complete
def importance(table: pd.DataFrame, top: int = 15) -> Figure:
    """Permutation importance of the `top` most important features."""
    shown = table.head(top).iloc[::-1]
    fig, (ax,) = _figure(1, panel_size=(7.0, max(2.5, 0.35 * len(shown) + 1)))
    ax.barh(
        shown["feature"].astype(str),
        shown["importance_mean"],
        xerr=shown.get("importance_std"),
        capsize=3,
    )
    ax.axvline(0, color="black", linewidth=1)
    ax.set_xlabel("drop in score when the feature is shuffled")
    ax.set_title("Permutation importance")
    return fig


def _undefined_reason(note: Any, metric: str) -> str:
    """Why `metric` is undefined, from a per-slice note ("<metric> undefined: <reason>; ...")."""
    prefix = f"{metric} undefined: "
    for part in re.split(r"; (?=\w+ undefined: )", str(note or "")):
        if part.startswith(prefix):
            return part[len(prefix) :]
    return ""


@_complete
def slice_metrics(table: pd.DataFrame, metric: str) -> Figure:
    """The metric per slice, a bar per slice where it is defined, annotated with the slice's rows;
    a slice where it is undefined keeps its place on the axis without a bar, its label saying so
    and why (from the table's `note`, see evaluation.per_slice_metrics)."""
    fig, (ax,) = _figure(1, panel_size=(7.0, max(2.5, 0.45 * len(table) + 1)))
    shown = table.iloc[::-1].reset_index(drop=True)
    values = pd.to_numeric(shown[metric], errors="coerce")
    defined = values.notna().to_numpy()
    positions = np.arange(len(shown))
    bars = ax.barh(positions[defined], values[defined])
    ax.bar_label(bars, labels=[f"n={n}" for n in shown["n"][defined]], padding=3, fontsize="small")
    notes = shown["note"] if "note" in shown.columns else pd.Series("", index=shown.index)
    for position in positions[~defined]:
        reason = _undefined_reason(notes[position], metric)
        text = f"n={shown['n'][position]}, undefined" + (f": {reason}" if reason else "")
        ax.text(0, position, f" {text}", va="center", fontsize="small", color="dimgray")
    ax.set_yticks(positions, shown["slice"].astype(str))
    ax.margins(x=0.15)  # room for the labels right of the longest bar
    ax.set_xlabel(metric)
    ax.set_title(f"{metric} per slice")
    return fig


@_complete
def drift_distributions(
    reference: pd.DataFrame, current: pd.DataFrame, columns: Sequence[str], schema: dict
) -> Figure:
    """Reference against current data per column: overlaid histograms (numeric) or
    side-by-side category shares (categorical)."""
    fig, axes = _figure(len(columns))
    features = schema.get("features", {})
    legend_shown = False
    for ax, column in zip(axes, columns, strict=False):
        ref, cur = reference[column], current.get(column)
        if cur is None:
            ax.set_title(f"{column} (missing in current)")
            continue
        if features.get(column, {}).get("kind") == "numeric":
            ref_v = pd.to_numeric(ref, errors="coerce").dropna()
            cur_v = pd.to_numeric(cur, errors="coerce").dropna()
            both = pd.concat([ref_v, cur_v])
            bins = np.histogram_bin_edges(both, bins=30) if len(both) else 10
            for values, color, label in (
                (ref_v, REFERENCE_COLOR, "reference"),
                (cur_v, CURRENT_COLOR, "current"),
            ):
                ax.hist(
                    values,
                    bins=bins,
                    density=True,
                    alpha=0.5,
                    color=color,
                    label=label,
                    **FILLED_HIST,
                )
        else:
            shares = pd.DataFrame(
                {
                    "reference": _category_counts(ref, normalize=True),
                    "current": _category_counts(cur, normalize=True),
                }
            ).fillna(0.0)
            x = np.arange(len(shares))
            ax.bar(
                x - 0.2, shares["reference"], width=0.4, color=REFERENCE_COLOR, label="reference"
            )
            ax.bar(x + 0.2, shares["current"], width=0.4, color=CURRENT_COLOR, label="current")
            ax.set_xticks(x, [str(i) for i in shares.index], rotation=30, ha="right")
            ax.set_ylabel("share")
        ax.set_title(str(column))
        if not legend_shown:  # the same two series in every panel: one legend
            ax.legend(fontsize="small")
            legend_shown = True
    fig.suptitle("Reference vs current data")
    return fig


@_complete
def class_mix(table: pd.DataFrame) -> Figure:
    """Share of each predicted class in reference and current data (monitoring.class_mix)."""
    fig, (ax,) = _figure(1, panel_size=(6.5, max(2.4, 0.45 * len(table) + 1.2)))
    y = np.arange(len(table))
    ax.barh(y - 0.2, table["reference_share"], height=0.4, color=REFERENCE_COLOR, label="reference")
    ax.barh(y + 0.2, table["current_share"], height=0.4, color=CURRENT_COLOR, label="current")
    ax.set_yticks(y, [str(c) for c in table["class"]])
    ax.invert_yaxis()
    ax.set_xlabel("share of predictions")
    ax.set_title("Predicted class mix")
    ax.legend(fontsize="small")
    return fig
