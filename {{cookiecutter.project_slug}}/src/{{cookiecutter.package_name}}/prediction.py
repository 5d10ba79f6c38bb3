"""Predictions on new data: check it against the training schema, predict, say what was odd.

How bad input is handled (the same for `crisp predict` and `POST /predict`):
- no rows, a missing feature column, text or infinite values in a numeric column: nothing is
  predicted; `PredictionInputError` names the column(s) and the fix.
- a category not seen in training: the row is predicted and a warning names the values. The
  model's one-hot encoder ignores unseen categories (all its indicator columns are 0), so the row is
  scored as if that feature held none of the known categories; check such rows before trusting them.
  Text features with many values (encoded as text) and date features take any value, unwarned.
- a date that cannot be read as one, and words in a numeric column that held a few words in
  training (data_understanding.mixed_columns: missing): read as missing, with a warning.
- missing values: handled as in training (imputed by median / most frequent value, or, in gradient
  boosting, sent down the branch learned for them); a feature without any value is reported.
- columns that are not features (the target, extra columns): ignored and reported; key columns
  (identifiers such as customer_id) are copied next to the predictions.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import registry
from .data import check_problem_type
from .schema import _key, _listing, _python, feature_encoding, keys

PREDICTION = "prediction"
PROBA_PREFIX = "proba_"
MAX_EXAMPLES = 3  # bad values quoted in a message


class PredictionInputError(ValueError):
    """Input data that cannot be predicted on (the message names the columns and the fix)."""


def _rows(mask: pd.Series) -> str:
    """`3 rows, first at data row 7` (data rows counted from 1, the header not counted)."""
    positions = np.flatnonzero(mask.to_numpy())
    count = len(positions)
    return f"{count} row{'s' if count != 1 else ''}, first at data row {positions[0] + 1}"


def _examples(values: pd.Series) -> str:
    return ", ".join(repr(_python(v)) for v in values.unique()[:MAX_EXAMPLES])


def _numeric(
    name: str, series: pd.Series, words_missing: bool = False
) -> tuple[pd.Series, str | None, str | None]:
    """(float column, error or None, warning or None): text that is no number is an error, or
    missing with a warning when `words_missing`; infinities are errors."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype("float64"), None, None
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        stripped = series.map(lambda v: v.strip() if isinstance(v, str) else v)
    else:
        stripped = series
    values = pd.to_numeric(stripped, errors="coerce").astype("float64")
    text = series.notna() & values.isna()
    if text.any() and words_missing:
        warning = (
            f"column '{name}' holds text that is no number ({_rows(text)}): "
            f"{_examples(series[text])}; read as missing, as in training"
        )
        return values, None, warning
    if text.any():
        return (
            values,
            (
                f"column '{name}' must be numeric but holds text ({_rows(text)}): "
                f"{_examples(series[text])}; fix those values or leave them empty"
            ),
            None,
        )
    infinite = np.isinf(values)
    if infinite.any():
        return (
            values,
            (
                f"column '{name}' holds infinite values ({_rows(infinite)}); "
                "replace them with numbers or leave them empty"
            ),
            None,
        )
    return values, None, None


def _dates(name: str, series: pd.Series, date_format: str | None) -> tuple[pd.Series, str | None]:
    """(datetime column, warning or None): values that are no date become missing."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return series, None
    with warnings.catch_warnings():  # "could not infer format": each value is parsed alone
        warnings.simplefilter("ignore", UserWarning)
        parsed = pd.to_datetime(series.astype("string"), format=date_format, errors="coerce")
    bad = series.notna() & parsed.isna()
    if bad.any():
        return parsed, (
            f"column '{name}' holds values that are no date ({_rows(bad)}): "
            f"{_examples(series[bad])}; read as missing"
        )
    return parsed, None


def _categorical(series: pd.Series, categories: Sequence[Any]) -> tuple[pd.Series, pd.Series]:
    """(object column with the training categories, mask of rows with an unseen category).

    1, 1.0 and "1" match the same training category (as in schema.validate_frame); missing
    values become NaN, which the model's imputer recognises (None it would not).
    """
    lookup = {_key(c): c for c in categories}
    present = series.notna()
    keyed = keys(series[present])
    known = keyed.isin(lookup.keys())
    values = pd.Series(np.nan, index=series.index, dtype=object)
    values[present] = keyed.where(~known, keyed.map(lookup)).astype(object)
    unseen = pd.Series(False, index=series.index)
    unseen[present] = ~known
    return values, unseen


def validate_input(
    df: pd.DataFrame, schema: dict[str, Any], key_columns: Sequence[str] = ()
) -> tuple[pd.DataFrame, list[str]]:
    """(features in schema order and training types, warnings) for `df`.

    Raises PredictionInputError for input that cannot be predicted on (see the module docstring).
    Warnings: unseen categories, features without any value, ignored columns (`key_columns` and
    the model's features are not reported).
    """
    features: dict[str, dict[str, Any]] = schema["features"]
    if len(df) == 0:
        raise PredictionInputError("the input has no rows: nothing to predict; check the file")
    duplicated = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
    if duplicated:
        raise PredictionInputError(
            f"duplicated column names: {_listing(duplicated)}; rename them so each is unique"
        )
    missing = [name for name in features if name not in df.columns]
    if missing:
        raise PredictionInputError(
            f"missing feature column{'s' if len(missing) > 1 else ''}: {_listing(missing)}; "
            "add the column(s) under the training name "
            "(values may be empty: the model handles missing values)"
        )
    errors: list[str] = []
    notes: list[str] = []
    empty: list[str] = []
    columns: dict[str, pd.Series] = {}
    for name, info in features.items():
        series = df[name].reset_index(drop=True)
        if isinstance(series.dtype, pd.CategoricalDtype):  # e.g. from Parquet: plain values
            series = series.astype(object)
        encoding = feature_encoding(info)
        warning = None
        if info["kind"] == "numeric":
            words_missing = info.get("text_values") == "missing"
            columns[name], error, warning = _numeric(name, series, words_missing)
            if error:
                errors.append(error)
        elif encoding == "datetime":
            columns[name], warning = _dates(name, series, schema.get("formats", {}).get(name))
        elif encoding == "text":  # many values: any text is a valid input
            columns[name] = keys(series)
        else:
            columns[name], unseen = _categorical(series, info.get("categories", []))
            if unseen.any():
                values = sorted({_key(v) for v in series[unseen]})
                notes.append(
                    f"column '{name}' has categories not seen in training ({_rows(unseen)}): "
                    f"{_listing(values)}; predicted as none of the known categories"
                )
        if warning:
            notes.append(warning)
        if series.isna().all():
            empty.append(name)
    if errors:
        raise PredictionInputError("; ".join(errors))
    if empty:
        notes.append(
            f"no values in {_listing(empty)}: read as missing, "
            "which the model handles as in training"
        )
    ignored = [
        f"{c} (the target)" if c == schema.get("target") else str(c)
        for c in df.columns
        if c not in features and c not in set(key_columns)
    ]
    if ignored:
        notes.append(f"ignored columns (not model features): {_listing(ignored)}")
    return pd.DataFrame(columns), notes


def predict_frame(
    model: Any,
    df: pd.DataFrame,
    schema: dict[str, Any],
    problem_type: str,
    key_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Predictions for `df`, one row per input row, in input order.

    Columns: the `key_columns` found in `df`, `prediction`, and for classifiers one `proba_<class>`
    column per class. The warnings of `validate_input` (plus missing key columns) are in
    `result.attrs["warnings"]`.
    """
    check_problem_type(problem_type)
    X, notes = validate_input(df, schema, key_columns)
    keys = [c for c in key_columns if c in df.columns and c != PREDICTION]
    absent = [c for c in key_columns if c not in df.columns]
    if absent:
        notes.append(
            f"key column{'s' if len(absent) > 1 else ''} {_listing(absent)} not in the input: "
            "predictions are in input row order"
        )
    result = df[keys].reset_index(drop=True)
    result[PREDICTION] = model.predict(X)
    if problem_type == "classification" and hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(X))
        taken = {str(c) for c in result.columns}
        for position, column in enumerate(probability_columns(model.classes_, taken)):
            result[column] = proba[:, position]
    result.attrs["warnings"] = notes
    return result


def probability_columns(classes: Sequence[Any], taken: set[str] = frozenset()) -> list[str]:
    """`proba_<class>` per class, in the model's class order (binary and multiclass, any label
    type); a name already `taken` or shared by two labels (1 and "1") gets the class position."""
    names: list[str] = []
    for position, label in enumerate(classes):
        name = f"{PROBA_PREFIX}{_python(label)}"
        if name in taken or name in names:
            name = f"{name}_{position}"
        names.append(name)
    return names


def production_model() -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(model, registry metadata, training schema) of the production version.

    Raises registry.RegistryError when no model was promoted yet, and its subclass
    registry.CorruptRegistryError when a registry or model file cannot be read or is not trusted
    (the message names the file and the fix).
    """
    loaded = registry.load_production()
    if loaded is None:
        raise registry.RegistryError(
            "there is no production model yet: run the pipeline (`crisp run`); "
            "phase 05 promotes a model that passes evaluation"
        )
    model, metadata = loaded
    return model, metadata, registry.schema(metadata["version"])
