"""Public tables that ship inside installed packages, as a user would bring them, and the hostile
variants of each: labels missing, a date column, an identifier column, a column renamed with
spaces, dots and unicode, labels as text.

scikit-learn's iris, wine, breast_cancer and diabetes come with the project's environment; plotly's
tips and gapminder are read from the gzipped CSVs in plotly's package data, a folder the template's
test runner passes in CRISP_TEST_DATASETS (plotly is a test tool of the template only).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DATASETS_VARIABLE = "CRISP_TEST_DATASETS"
SEED = 20240607
MISSING_LABEL_SHARE = 0.05
ID_COLUMN = "record id"
DATE_COLUMN = "visit date"
# Dates in the training file span these years; new data to predict is a later year.
TRAIN_YEARS = (2019, 2023)
NEW_YEAR = 2025


def plotly_table(name: str) -> pd.DataFrame:
    """One of plotly's bundled datasets (`tips`, `gapminder`), from CRISP_TEST_DATASETS."""
    folder = os.environ.get(DATASETS_VARIABLE, "")
    path = Path(folder) / f"{name}.csv.gz"
    if not folder or not path.is_file():
        raise RuntimeError(
            f"{DATASETS_VARIABLE} must name plotly's package_data/datasets folder (holding "
            f"{name}.csv.gz): run the tests with `make test` (tests/run.py sets it)"
        )
    return pd.read_csv(path)


def _sklearn(loader: str, target: str, **kwargs: Any) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import sklearn.datasets

        frame = getattr(sklearn.datasets, loader)(as_frame=True, **kwargs).frame
        return frame.rename(columns={"target": target})

    return load


@dataclass(frozen=True)
class Table:
    """A public table and what a user sets in params.yaml to run the pipeline on it."""

    name: str
    load: Callable[[], pd.DataFrame]
    target: str
    problem_type: str  # classification | regression
    primary_metric: str
    success_threshold: float
    slice_column: str
    # Test metric -> the least a sane model reaches on this table (evaluation's test_metrics).
    floors: dict[str, float]
    drop_columns: tuple[str, ...] = ()
    # Integer class -> text label (the hostile variant's labels as text); None: keep as loaded.
    text_labels: dict[int, str] | None = None
    # A numeric feature renamed with spaces, dots and unicode in the hostile variant.
    renamed: str = ""
    fmt: str = "csv"
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The run's --set overrides: cheap model settings unless the case is about the defaults.
    run_args: tuple[str, ...] = ()

    @property
    def classification(self) -> bool:
        return self.problem_type == "classification"


CHEAP = (
    "--set=modelling.cv_folds=3",
    "--set=modelling.cv_repeats=1",
    "--set=modelling.search_iterations=2",
)


def cheap(candidate: str) -> tuple[str, ...]:
    """Overrides for a quick run with one candidate model."""
    return (*CHEAP, f"--set=modelling.candidates=[{candidate}]")


TABLES: dict[str, Table] = {
    # 150 rows, 3 classes, integer labels; run at the default model settings (a small table must
    # pass every default QA threshold), the macro metric a multiclass user picks.
    "iris": Table(
        name="iris",
        load=_sklearn("load_iris", "species"),
        target="species",
        problem_type="classification",
        primary_metric="balanced_accuracy",
        success_threshold=0.8,
        slice_column="petal width (cm)",
        floors={"accuracy": 0.8, "balanced_accuracy": 0.8},
        text_labels={0: "setosa", 1: "versicolor", 2: "virginica"},
        renamed="sepal length (cm)",
    ),
    # 178 rows, 3 classes, the default primary metric (ROC-AUC, one-vs-rest for 3 classes).
    "wine": Table(
        name="wine",
        load=_sklearn("load_wine", "cultivar"),
        target="cultivar",
        problem_type="classification",
        primary_metric="roc_auc",
        success_threshold=0.85,
        slice_column="alcohol",
        floors={"roc_auc": 0.9, "balanced_accuracy": 0.8},
        text_labels={0: "barolo", 1: "grignolino", 2: "barbera"},
        renamed="malic_acid",
        run_args=cheap("logistic_regression"),
    ),
    # 569 rows, binary, 30 numeric columns; Parquet.
    "breast_cancer": Table(
        name="breast_cancer",
        load=_sklearn("load_breast_cancer", "diagnosis"),
        target="diagnosis",
        problem_type="classification",
        primary_metric="roc_auc",
        success_threshold=0.85,
        slice_column="mean radius",
        floors={"roc_auc": 0.9},
        text_labels={0: "malignant", 1: "benign"},
        renamed="mean texture",
        fmt="parquet",
        run_args=cheap("logistic_regression"),
    ),
    # 442 rows, regression on a classification-baked project: problem_type set in params.yaml.
    "diabetes": Table(
        name="diabetes",
        load=_sklearn("load_diabetes", "progression", scaled=False),
        target="progression",
        problem_type="regression",
        primary_metric="r2",
        success_threshold=0.2,
        slice_column="sex",
        floors={"r2": 0.2},
        renamed="bmi",
        run_args=cheap("ridge"),
    ),
    # 244 rows, text labels (Dinner / Lunch), categorical features; `day` nearly decides the label,
    # so some slices hold one class (a per-slice ROC-AUC is undefined there).
    "tips": Table(
        name="tips",
        load=lambda: plotly_table("tips"),
        target="time",
        problem_type="classification",
        primary_metric="roc_auc",
        success_threshold=0.75,
        slice_column="day",
        floors={"roc_auc": 0.8},
        renamed="total_bill",
        run_args=cheap("logistic_regression"),
    ),
    # 1704 rows, a year column and a 142-value country column (plus its ISO codes), regression.
    "gapminder": Table(
        name="gapminder",
        load=lambda: plotly_table("gapminder"),
        target="lifeExp",
        problem_type="regression",
        primary_metric="r2",
        success_threshold=0.5,
        slice_column="continent",
        floors={"r2": 0.6},
        renamed="gdpPercap",
        run_args=cheap("hist_gradient_boosting"),
    ),
}


def with_params(table: Table, **sections: dict[str, Any]) -> Table:
    """`table` with more params.yaml values (merged per section)."""
    merged = {name: dict(values) for name, values in table.params.items()}
    for name, values in sections.items():
        merged.setdefault(name, {}).update(values)
    return replace(table, params=merged)


@dataclass(frozen=True)
class Variant:
    """A table as a user has it: the file's rows and the params.yaml values that go with it."""

    table: Table
    hostile: bool
    frame: pd.DataFrame
    slice_column: str
    labels: list[Any] | None  # the class labels as they appear in the file (classification)

    @property
    def key(self) -> str:
        return f"{self.table.name}-{'hostile' if self.hostile else 'clean'}"

    @property
    def features(self) -> list[str]:
        dropped = {self.table.target, *self.table.drop_columns}
        return [c for c in self.frame.columns if c not in dropped]

    @property
    def file_name(self) -> str:
        return f"{self.table.name}.{self.table.fmt}"


def clean(table: Table) -> Variant:
    """The table as loaded."""
    frame = table.load()
    labels = sorted(frame[table.target].unique().tolist()) if table.classification else None
    return Variant(
        table, hostile=False, frame=frame, slice_column=table.slice_column, labels=labels
    )


def hostile(table: Table) -> Variant:
    """The table with every trouble a real export has at once: ~5% of the labels missing, a date
    column (ISO text in CSV), a unique identifier column the user did not list in drop_columns,
    a feature renamed with spaces, dots and unicode, and text labels where the table has integers.
    The renamed feature is the slice column when the table slices on it."""
    rng = np.random.default_rng(SEED)
    frame = table.load()
    n = len(frame)
    if table.text_labels:
        frame[table.target] = frame[table.target].map(table.text_labels)
    labels = sorted(frame[table.target].unique().tolist()) if table.classification else None
    missing = rng.choice(n, size=max(1, round(MISSING_LABEL_SHARE * n)), replace=False)
    frame[table.target] = frame[table.target].astype(object)
    frame.loc[frame.index[missing], table.target] = None
    if not table.classification:
        frame[table.target] = frame[table.target].astype("float64")
    frame.insert(0, ID_COLUMN, [f"R{number:06d}" for number in rng.permutation(n) + 1000])
    first, last = (pd.Timestamp(f"{year}-01-01") for year in TRAIN_YEARS)
    days = rng.integers(0, (last - first).days, size=n)
    frame.insert(1, DATE_COLUMN, (first + pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d"))
    renamed = hostile_name(table.renamed)
    frame = frame.rename(columns={table.renamed: renamed})
    slice_column = renamed if table.slice_column == table.renamed else table.slice_column
    return Variant(table, hostile=True, frame=frame, slice_column=slice_column, labels=labels)


def hostile_name(column: str) -> str:
    """A column name with spaces, a dot and non-ASCII letters, made from `column`."""
    return f"{column.replace('_', ' ')} v1.0 · µ"


REGRESSION_MEASURE = {"business_measure": "within_tolerance", "business_target": 0.5}
# ... and its own candidate models (the classification ones are refused before any phase).
REGRESSION_CANDIDATES = {"candidates": ["ridge", "random_forest", "hist_gradient_boosting"]}


def params_for(variant: Variant, data_path: str) -> dict[str, dict[str, Any]]:
    """The params.yaml values a user sets for `variant` (by section)."""
    table = variant.table
    values: dict[str, dict[str, Any]] = {
        "shared": {
            "data_path": data_path,
            "target": table.target,
            "problem_type": table.problem_type,
        },
        "business_understanding": {
            "primary_metric": table.primary_metric,
            "success_threshold": table.success_threshold,
            # A switch to regression names its own business measure (lift counts classes).
            **({} if table.classification else REGRESSION_MEASURE),
        },
        "data_preparation": {"drop_columns": list(table.drop_columns)},
        "evaluation": {"slice_column": variant.slice_column},
        "modelling": {} if table.classification else dict(REGRESSION_CANDIDATES),
    }
    for section, extra in table.params.items():
        values.setdefault(section, {}).update(extra)
    return values


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write `frame` as CSV or Parquet (by the suffix), without the index."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file written by `crisp predict`."""
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def new_rows(variant: Variant, rows: int = 40) -> pd.DataFrame:
    """Rows to predict: a sample of the table without its target; dates (if any) in a year the
    training file never saw; identifier values never seen either."""
    frame = variant.frame.sample(n=min(rows, len(variant.frame)), random_state=SEED)
    frame = frame.drop(columns=[variant.table.target]).reset_index(drop=True)
    if DATE_COLUMN in frame:
        dates = pd.to_datetime(frame[DATE_COLUMN])
        frame[DATE_COLUMN] = dates.map(lambda d: d.replace(year=NEW_YEAR, day=min(d.day, 28)))
        frame[DATE_COLUMN] = frame[DATE_COLUMN].dt.strftime("%Y-%m-%d")
    if ID_COLUMN in frame:
        frame[ID_COLUMN] = [f"N{number:06d}" for number in range(len(frame))]
    return frame


def shifted(variant: Variant) -> pd.DataFrame:
    """The table with every numeric feature moved by three standard deviations and every
    categorical one collapsed onto its rarest level: a batch a monitor must raise an alert for."""
    frame = variant.frame.copy()
    for column in variant.features:
        values = frame[column]
        if column in (ID_COLUMN, DATE_COLUMN):
            continue
        if pd.api.types.is_numeric_dtype(values):
            frame[column] = values + 3 * values.std() + 1
        else:
            frame[column] = values.value_counts().index[-1]
    return frame


def one_class(variant: Variant) -> pd.DataFrame:
    """The labelled rows of the table's most frequent class (classification) or the rows with
    the largest quarter of target values (regression): a batch on which some performance metrics
    are undefined or skewed, with every label of the batch present."""
    frame = variant.frame[variant.frame[variant.table.target].notna()]
    target = frame[variant.table.target]
    if variant.table.classification:
        return frame[target == target.value_counts().index[0]]
    return frame[target >= target.quantile(0.75)]
