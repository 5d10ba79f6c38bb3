"""Deployment checks: a model file, loaded fresh, must predict exactly like the model in memory."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import artifacts


def _outputs(model: Any, X: pd.DataFrame) -> list[np.ndarray]:
    outputs = [np.asarray(model.predict(X))]
    if hasattr(model, "predict_proba"):
        outputs.append(np.asarray(model.predict_proba(X)))
    return outputs


def smoke_test(model: Any, X: pd.DataFrame, model_file: Path | None = None) -> dict[str, Any]:
    """Load the model file (or a fresh temporary save of `model`) and compare its predictions.

    Returns whether predictions (and probabilities) are identical, the largest absolute
    difference of numeric outputs and the number of rows compared.
    """
    if model_file is None:
        with tempfile.TemporaryDirectory() as tmp:
            saved = artifacts.save_model(Path(tmp) / "smoke.skops", model, {"purpose": "smoke"})
            reloaded, _ = artifacts.load_model(saved)
    else:
        reloaded, _ = artifacts.load_model(model_file)
    expected, actual = _outputs(model, X), _outputs(reloaded, X)
    identical = all(np.array_equal(a, b) for a, b in zip(expected, actual, strict=True))
    numeric = [(a, b) for a, b in zip(expected, actual, strict=True) if a.dtype.kind in "fiu"]
    max_diff = max((float(np.max(np.abs(a - b))) for a, b in numeric if a.size), default=0.0)
    return {"identical": identical, "max_abs_diff": max_diff, "rows": len(X)}
