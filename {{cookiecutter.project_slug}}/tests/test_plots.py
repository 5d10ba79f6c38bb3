"""Every plot returns a Figure with the expected panels."""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib._pylab_helpers import Gcf  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from {{ cookiecutter.package_name }} import data, plots, schema  # noqa: E402

NUMERIC = ["tenure_months", "monthly_charges", "age", "support_calls"]
CATEGORICAL = ["contract", "payment_method"]


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return data.make_demo_data("classification", 300, seed=0)


def _check(fig: Figure, n_axes: int) -> None:
    assert isinstance(fig, Figure)
    assert len(fig.axes) == n_axes
    assert all(
        ax.get_title() or fig.get_suptitle() for ax in fig.axes if ax.get_label() != "<colorbar>"
    )
    assert not fig.stale, "returned complete: pyplot's redraw after the cell leaves it alone"
    fig.canvas.draw()  # renders without error


def test_eda_plots(frame: pd.DataFrame) -> None:
    _check(plots.missing_values(frame), 1)
    _check(plots.numeric_distributions(frame, NUMERIC), 4)  # 2x3 grid, unused cells removed
    by_class = plots.numeric_distributions(frame, NUMERIC[:2], target="churned")
    _check(by_class, 2)
    assert len(by_class.axes[0].get_legend().get_texts()) == 2
    assert by_class.axes[1].get_legend() is None, "one legend for the figure"
    _check(plots.categorical_counts(frame, CATEGORICAL), 2)
    _check(plots.target_distribution(frame["churned"], "classification"), 1)
    _check(plots.target_distribution(frame["tenure_months"], "regression"), 1)
    _check(plots.correlation_heatmap(frame, NUMERIC), 2)  # heatmap + colour bar


def test_pyplot_redraws_a_figure_after_a_cell_only_when_the_cell_changed_it(
    frame: pd.DataFrame,
) -> None:
    fig = plots.missing_values(frame)
    draws: list[object] = []
    fig.canvas.mpl_connect("draw_event", draws.append)
    Gcf.draw_all()  # what pyplot's redraw after each notebook cell does
    assert draws == [], "a figure nobody changed is drawn once, for its PNG, not twice"
    fig.axes[0].set_title("changed after the call")
    Gcf.draw_all()
    assert len(draws) == 1, "a change made after the call is drawn"


def test_correlations_are_written_in_white_on_dark_cells(frame: pd.DataFrame) -> None:
    fig = plots.correlation_heatmap(frame, NUMERIC)
    colors = {text.get_text(): text.get_color() for text in fig.axes[0].texts}
    assert colors["1.00"] == "white"  # the diagonal: the darkest red
    weak = [c for label, c in colors.items() if abs(float(label)) < 0.3]
    assert weak and set(weak) == {"black"}


def test_modelling_and_evaluation_plots(frame: pd.DataFrame) -> None:
    cv = pd.DataFrame(
        {"model": ["random_forest", "baseline"], "score_mean": [0.8, 0.5], "score_std": [0.02, 0.0]}
    )
    _check(plots.cv_scores(cv, "roc_auc"), 1)
    rng = np.random.default_rng(0)
    y = np.array(["No", "Yes"] * 50)
    score = np.clip((y == "Yes") * 0.3 + rng.random(100) * 0.7, 0, 1)
    binary = plots.roc_pr_curves(y, score)
    _check(binary, 2)
    assert "positive class 'Yes'" in binary.axes[0].get_title()
    _check(plots.confusion(y, np.where(score > 0.5, "Yes", "No")), 1)
    _check(plots.residuals(rng.normal(size=50), rng.normal(size=50)), 2)
    importance = pd.DataFrame(
        {
            "feature": [f"f{i}" for i in range(20)],
            "importance_mean": np.linspace(1, 0, 20),
            "importance_std": np.full(20, 0.01),
        }
    )
    fig = plots.importance(importance, top=5)
    _check(fig, 1)
    assert len(fig.axes[0].patches) == 5


def test_multiclass_curves_are_one_vs_rest_and_the_confusion_matrix_keeps_the_order() -> None:
    labels = ["setosa", "versicolor", "virginica"]
    rng = np.random.default_rng(1)
    y = np.array(labels * 20)
    proba = rng.dirichlet([1, 1, 1], size=len(y))
    fig = plots.roc_pr_curves(y, proba, labels=labels)
    _check(fig, 2)
    roc_ax, pr_ax = fig.axes
    assert "one-vs-rest" in roc_ax.get_title()
    legend = [t.get_text() for t in roc_ax.get_legend().get_texts()]
    assert [text.split(" ")[0] for text in legend] == labels
    assert len(pr_ax.get_legend().get_texts()) == 3
    # a class absent from the rows has no curve (it has none to draw), the others do
    partial = plots.roc_pr_curves(y[y != "virginica"], proba[y != "virginica"], labels=labels)
    assert len(partial.axes[0].get_legend().get_texts()) == 2
    matrix = plots.confusion(y, np.roll(y, 1), labels=labels[::-1])
    _check(matrix, 1)
    ticks = [t.get_text() for t in matrix.axes[0].get_xticklabels()]
    assert ticks == labels[::-1]


def test_cumulative_gain_marks_the_contacted_share() -> None:
    y = np.array([1] * 20 + [0] * 80)
    fig = plots.cumulative_gain(y, np.linspace(1, 0, 100), positive=1, share=0.2)
    _check(fig, 1)
    notes = [t.get_text() for t in fig.axes[0].texts]
    assert notes == ["top 20%: 100% of positives (lift 5.00)"]


def test_slice_metrics_draws_defined_slices_and_says_why_others_are_undefined() -> None:
    slices = pd.DataFrame(
        {
            "slice": ["a", "b", "c"],
            "n": [90, 10, 4],
            "roc_auc": [0.8, float("nan"), float("nan")],
            "accuracy": [0.7, 0.9, float("nan")],
            "note": [
                "",
                "roc_auc undefined: only one class (0) among these 10 rows",
                "roc_auc undefined: no rows; accuracy undefined: no rows",
            ],
        }
    )
    fig = plots.slice_metrics(slices, "roc_auc")
    _check(fig, 1)
    ax = fig.axes[0]
    assert len(ax.patches) == 1, "a bar for the defined slice only"
    assert ax.patches[0].get_width() == pytest.approx(0.8)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["c", "b", "a"]
    texts = {t.get_text().strip() for t in ax.texts}
    assert texts == {
        "n=90",
        "n=10, undefined: only one class (0) among these 10 rows",
        "n=4, undefined: no rows",
    }
    companion = plots.slice_metrics(slices, "accuracy")
    assert len(companion.axes[0].patches) == 2
    assert "n=4, undefined: no rows" in {t.get_text().strip() for t in companion.axes[0].texts}


def test_drift_distributions(frame: pd.DataFrame) -> None:
    current = data.make_demo_data("classification", 300, seed=1, shift=1.0)
    feature_schema = schema.infer_schema(frame, "churned", "classification", ["customer_id"])
    fig = plots.drift_distributions(frame, current, ["monthly_charges", "contract"], feature_schema)
    _check(fig, 2)
    numeric_ax, categorical_ax = fig.axes
    assert [t.get_text() for t in numeric_ax.get_legend().get_texts()] == ["reference", "current"]
    assert categorical_ax.get_legend() is None, "one legend for the figure"
    assert len(categorical_ax.patches) == 2 * frame["contract"].nunique()
