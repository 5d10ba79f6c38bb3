"""Bring your own table: public tables that ship inside installed packages, in hostile variants,
each through the whole pipeline by editing params.yaml only, then `crisp predict` and `crisp
monitor`.

One project copy per table variant runs the pipeline once (cached per test session); the tests
below read what that run left, as a user would: the phases' statuses, the test metrics, the
reports, the predictions file, the monitor's exit code and drift report.

The checks are written once, as functions of an `Outcome`; each variant gets a test class
(`Test_iris_hostile`, ...) holding the checks that apply to it, so pytest-xdist's `--dist loadscope`
runs a variant's checks on the worker that holds its project copy.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from own_data import (
    PHASES,
    Run,
    bring,
    edit_params,
    load_json,
    new_project,
    output,
    output_tables,
    output_text,
    run_pipeline,
)
from real_tables import (
    DATE_COLUMN,
    ID_COLUMN,
    TABLES,
    Variant,
    cheap,
    clean,
    hostile,
    new_rows,
    one_class,
    read_table,
    shifted,
    with_params,
    write_table,
)
from shared_project import crisp

pytestmark = pytest.mark.slow

EVALUATION = "artifacts/evaluation/evaluation.json"
DRIFT_REPORT = "artifacts/monitoring/drift_report.json"
SPLITS = (
    "data/processed/train.parquet",
    "data/processed/valid.parquet",
    "data/processed/test.parquet",
)
EXIT_ALERT = 1

# gapminder's hostile variant also asks for the time-ordered split on its year column.
_HOSTILE_TABLES = {
    **TABLES,
    "gapminder": with_params(
        TABLES["gapminder"], data_preparation={"split": "time", "time_column": "year"}
    ),
}
VARIANTS: dict[str, Variant] = {}


def variant(key: str) -> Variant:
    """The table variant named `key` (`<table>-hostile`), built once."""
    if key not in VARIANTS:
        VARIANTS[key] = hostile(_HOSTILE_TABLES[key.removesuffix("-hostile")])
    return VARIANTS[key]


# Every table runs hostile: it asks all a clean run does, and more (the clean tables run in
# test_switch_data.py and in the failing-target case below).
KEYS = [f"{name}-hostile" for name in TABLES]
CLASSIFICATION_KEYS = [k for k in KEYS if TABLES[k.rsplit("-", 1)[0]].classification]
MULTICLASS_KEYS = [k for k in CLASSIFICATION_KEYS if k.split("-")[0] in ("iris", "wine")]


@dataclass
class Predicted:
    """`crisp predict` on new rows of a variant."""

    result: subprocess.CompletedProcess[str]
    new: pd.DataFrame
    predictions: pd.DataFrame


@dataclass
class Outcome:
    """A project copy with a variant's table, after `crisp run`."""

    variant: Variant
    run: Run
    _predicted: Predicted | None = None

    @property
    def root(self) -> Path:
        return self.run.root

    def predicted(self) -> Predicted:
        """`crisp predict` on `new_rows` of the variant (without the identifier column), once."""
        if self._predicted is None:
            self.run.require(*PHASES[:6])
            new = new_rows(self.variant).drop(columns=[ID_COLUMN], errors="ignore")
            source = self.root / "data" / "new" / f"batch.{self.variant.table.fmt}"
            write_table(new, source)
            result = crisp(self.root, "predict", str(source))
            if result.returncode != 0:
                pytest.fail(output(result), pytrace=False)
            written = source.with_name(f"batch.predictions{source.suffix}")
            self._predicted = Predicted(result, new, read_table(written))
        return self._predicted


_OUTCOMES: dict[str, Outcome] = {}


def outcome_of(key: str, factory: pytest.TempPathFactory) -> Outcome:
    """The variant named `key` in a project copy, its pipeline run once per session."""
    if key not in _OUTCOMES:
        chosen = variant(key)
        root = new_project(factory, key)
        bring(root, chosen)
        _OUTCOMES[key] = Outcome(chosen, run_pipeline(root, *chosen.table.run_args))
    return _OUTCOMES[key]


Check = Callable[[Outcome], None]
CHECKS: list[tuple[Check, list[str]]] = []


def check(keys: list[str]) -> Callable[[Check], Check]:
    """Register a check of the variants named in `keys` (a test of each variant's class)."""

    def register(function: Check) -> Check:
        CHECKS.append((function, keys))
        return function

    return register


# ---------------------------------------------------------------- the pipeline


@check(KEYS)
def every_phase_succeeds_and_writes_its_report(outcome: Outcome) -> None:
    run = outcome.run
    run.require(*PHASES)
    assert run.result.returncode == 0, output(run.result)
    missing = [phase for phase in PHASES if not (run.run_dir / f"{phase}.html").is_file()]
    assert not missing, f"no HTML report for {missing}"
    assert "Traceback" not in run.result.stdout + run.result.stderr, output(run.result)


@check(KEYS)
def sane_test_metrics(outcome: Outcome) -> None:
    outcome.run.require("04_evaluation")
    evaluation = load_json(outcome.root, EVALUATION)
    metrics = evaluation["test_metrics"]
    low = {
        name: metrics.get(name)
        for name, floor in outcome.variant.table.floors.items()
        if not (isinstance(metrics.get(name), int | float) and metrics[name] > floor)
    }
    assert not low, f"test metrics below {outcome.variant.table.floors}: {low}; all: {metrics}"


@check(KEYS)
def per_slice_metrics_are_defined_or_explained(outcome: Outcome) -> None:
    """Every slice of the slice column gets its metric, or the reason it is undefined: never a
    silent NaN."""
    outcome.run.require("04_evaluation")
    evaluation = load_json(outcome.root, EVALUATION)
    assert evaluation["slice_column"] == outcome.variant.slice_column
    slices = evaluation["slices"]
    assert len(slices) >= 2, slices
    metric = evaluation["metric"]
    silent = []
    for record in slices:
        value = record.get(metric)
        defined = isinstance(value, int | float) and math.isfinite(value)
        explained = any(
            isinstance(text, str) and text.strip() for key, text in record.items() if key != "slice"
        )
        if not (defined or explained):
            silent.append(record)
    assert not silent, f"slices whose {metric} is undefined without a reason: {silent}"
    shown = {
        cell
        for table in output_tables(outcome.run.notebook("04_evaluation"))
        for row in table
        for cell in row
    }
    missing = {str(record["slice"]) for record in slices} - shown
    assert not missing, f"04_evaluation shows no per-slice table with the slices {missing}"


@check(MULTICLASS_KEYS)
def multiclass_report_has_a_per_class_table(outcome: Outcome) -> None:
    """The evaluation report shows precision and recall for every class, by its label."""
    outcome.run.require("04_evaluation")
    labels = {str(label) for label in outcome.variant.labels or []}
    for table in output_tables(outcome.run.notebook("04_evaluation")):
        header = " ".join(" ".join(row) for row in table[:2]).lower()
        cells = {cell for row in table for cell in row}
        if "precision" in header and "recall" in header and labels <= cells:
            return
    pytest.fail(f"04_evaluation shows no table of precision and recall per class {sorted(labels)}")


# ---------------------------------------------------------------- predict


@check(KEYS)
def predict_writes_one_row_per_input_row_with_class_probabilities(outcome: Outcome) -> None:
    """`crisp predict` on new rows: one prediction per row in input order, the key columns copied,
    one `proba_<class>` column per class (named by the labels as written) summing to 1. The hostile
    variants' rows lack the unlisted identifier column and carry dates of a year never seen."""
    predicted = outcome.predicted()
    result, new, predictions = predicted.result, predicted.new, predicted.predictions
    assert len(predictions) == len(new), output(result)
    assert "prediction" in predictions, list(predictions)
    for key in outcome.variant.table.drop_columns:
        assert predictions[key].tolist() == new[key].tolist()
    if not outcome.variant.table.classification:
        assert pd.api.types.is_numeric_dtype(predictions["prediction"])
        assert predictions["prediction"].notna().all()
        return
    labels = [str(label) for label in outcome.variant.labels or []]
    probabilities = [f"proba_{label}" for label in labels]
    assert [c for c in predictions if c.startswith("proba_")] == probabilities
    sums = predictions[probabilities].sum(axis=1)
    assert ((sums - 1).abs() < 1e-6).all(), sums
    assert set(predictions["prediction"].astype(str)) <= set(labels)


@check(KEYS)
def dates_of_a_new_year_are_not_unseen_categories(outcome: Outcome) -> None:
    result = outcome.predicted().result
    unseen = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if DATE_COLUMN in line and "categor" in line.lower()
    ]
    assert not unseen, f"a later date is treated as an unseen category: {unseen}"


@check(KEYS)
def identifier_column_is_reported_and_left_out(outcome: Outcome) -> None:
    """The unique identifier column the user did not list is reported as one by phase 01 or 02,
    and the model does not need it (the predict test's rows lack it)."""
    outcome.run.require("02_data_preparation")
    text = "\n".join(
        output_text(outcome.run.notebook(phase))
        for phase in ("01_data_understanding", "02_data_preparation")
    )
    lines = [line for line in text.splitlines() if ID_COLUMN in line]
    assert any("identifier" in line.lower() for line in lines), (
        f"neither 01 nor 02 reports {ID_COLUMN!r} as an identifier column; lines naming it: "
        f"{lines[:5]}"
    )


@check(KEYS)
def rows_without_a_label_are_left_out_of_the_splits(outcome: Outcome) -> None:
    outcome.run.require("02_data_preparation")
    target = outcome.variant.table.target
    labelled = int(outcome.variant.frame[target].notna().sum())
    splits = [pd.read_parquet(outcome.root / split) for split in SPLITS]
    assert sum(len(split) for split in splits) == labelled
    assert not any(split[target].isna().any() for split in splits)


@check(["gapminder-hostile"])
def time_split_keeps_the_test_rows_after_the_training_rows(outcome: Outcome) -> None:
    """gapminder's hostile variant asks for `data_preparation.split: time` on `year`."""
    outcome.run.require("02_data_preparation")
    train, valid, test = (pd.read_parquet(outcome.root / split)["year"] for split in SPLITS)
    assert train.max() <= valid.min() <= valid.max() <= test.min()


# ---------------------------------------------------------------- monitor
# `crisp monitor` starts a runner of its own (seconds of CPU each): a chosen few cases cover
# alert and no alert, each problem type, missing labels and one-class batches. Phase 06 of every
# variant's pipeline run monitors that variant's own data.


def _monitor(outcome: Outcome, frame: pd.DataFrame, name: str) -> tuple[int, dict, str]:
    """`crisp monitor` on `frame`: (exit code, the drift report it wrote, its output)."""
    outcome.run.require(*PHASES[:6])
    source = outcome.root / "data" / "new" / f"{name}.{outcome.variant.table.fmt}"
    write_table(frame, source)
    report = outcome.root / DRIFT_REPORT
    before = report.stat().st_mtime_ns if report.is_file() else None
    result = crisp(outcome.root, "monitor", str(source), timeout=600)
    assert report.is_file() and report.stat().st_mtime_ns != before, (
        f"no drift report written\n{output(result)}"
    )
    assert "Traceback" not in result.stdout + result.stderr, output(result)
    return result.returncode, json.loads(report.read_text(encoding="utf-8")), output(result)


# iris at the default model settings, diabetes for regression, tips for text labels and
# categorical features.
@check(["iris-hostile", "diabetes-hostile", "tips-hostile"])
def monitor_alerts_on_a_shifted_batch(outcome: Outcome) -> None:
    code, report, said = _monitor(outcome, shifted(outcome.variant), "shifted")
    assert report["recommendation"]["status"] == "alert", said
    assert code == EXIT_ALERT, said


@check(["breast_cancer-hostile", "gapminder-hostile"])
def monitor_passes_the_training_table_with_missing_labels(outcome: Outcome) -> None:
    """The table the model learnt from, ~5% of its labels missing, is no drift: exit 0, and the
    performance is computed on the labelled rows."""
    code, report, said = _monitor(outcome, outcome.variant.frame, "same")
    assert code == 0, said
    assert report["recommendation"]["status"] != "alert", said
    assert report.get("performance"), f"no performance on the labelled rows: {report}"


@check(["breast_cancer-hostile", "wine-hostile"])
def monitor_on_a_one_class_batch_writes_its_report(outcome: Outcome) -> None:
    """A labelled batch of one class leaves ROC-AUC undefined: the drift report is still written
    and the exit code agrees with its status."""
    code, report, said = _monitor(outcome, one_class(outcome.variant), "one-class")
    assert code == (EXIT_ALERT if report["recommendation"]["status"] == "alert" else 0), said


@check(KEYS)
def pipeline_monitoring_of_own_data_is_not_the_demo_sample(outcome: Outcome) -> None:
    """With monitoring.current_data_path empty, phase 06 of the run monitored the user's data."""
    outcome.run.require("06_monitoring")
    text = output_text(outcome.run.notebook("06_monitoring")).lower()
    assert "demo sample" not in text, "phase 06 monitored the demo generator's sample"


# ---------------------------------------------------------------- data that honestly fails


def test_a_target_the_features_cannot_predict_stops_at_the_success_criteria(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """tips' `sex` from the bill, the tip and the day: no model reaches ROC-AUC 0.75. The run
    stops at phase 04's named QA check, says which params.yaml key sets the bar, and promotes
    nothing."""
    table = TABLES["tips"]
    chosen = clean(table)
    root = new_project(tmp_path_factory, "tips-sex")
    bring(root, chosen)
    edit_params(root, {"shared": {"target": "sex"}, "evaluation": {"slice_column": "day"}})
    run = run_pipeline(root, *cheap("logistic_regression"))
    said = run.result.stdout + run.result.stderr
    assert run.result.returncode != 0, output(run.result)
    statuses = run.statuses()
    assert statuses.get("04_evaluation") == "failed", statuses
    assert all(statuses.get(phase) == "succeeded" for phase in PHASES[:4]), statuses
    assert "QA check" in said, output(run.result)
    assert re.search(r"business_understanding\.(success_threshold|min_gain_over_baseline)", said), (
        f"the QA failure does not name the params.yaml key that sets the bar\n{output(run.result)}"
    )
    assert "Traceback" not in said, output(run.result)
    assert not (root / "models" / "production.json").exists()


# ---------------------------------------------------------------- a test class per variant


class _VariantTests:
    """The checks of one variant; subclasses name it in `key`."""

    key = ""

    @pytest.fixture
    def outcome(self, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
        return outcome_of(self.key, tmp_path_factory)


def _test(function: Check) -> Callable[[_VariantTests, Outcome], None]:
    def method(self: _VariantTests, outcome: Outcome) -> None:
        function(outcome)

    method.__name__ = method.__qualname__ = f"test_{function.__name__}"
    method.__doc__ = function.__doc__
    return method


for _key in KEYS:
    _name = f"Test_{_key.replace('-', '_')}"
    globals()[_name] = type(
        _name,
        (_VariantTests,),
        {
            "key": _key,
            **{f"test_{f.__name__}": _test(f) for f, keys in CHECKS if _key in keys},
        },
    )
