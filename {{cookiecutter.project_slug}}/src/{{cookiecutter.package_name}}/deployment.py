"""Deployment: the smoke test (a model file, loaded fresh, predicts exactly like the model in
memory), a version's lineage and the promotion rule."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import artifacts, model_card, paths, registry

SMOKE_ROWS = 5000  # most rows the smoke test predicts with each copy of the model


def _outputs(model: Any, X: pd.DataFrame) -> list[np.ndarray]:
    outputs = [np.asarray(model.predict(X))]
    if hasattr(model, "predict_proba"):
        outputs.append(np.asarray(model.predict_proba(X)))
    return outputs


def smoke_test(
    model: Any, X: pd.DataFrame, model_file: Path | None = None, *, max_rows: int = SMOKE_ROWS
) -> dict[str, Any]:
    """Load the model file (or a fresh temporary save of `model`) and compare its predictions
    on `X`, or on a seeded sample of `max_rows` of its rows (a file that loads wrong differs on
    any rows; predicting every test row twice costs minutes on millions).

    Returns whether predictions (and probabilities) are identical, the largest absolute
    difference of numeric outputs and the number of rows compared.
    """
    if len(X) > max_rows:
        X = X.sample(n=max_rows, random_state=0)
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


def lineage(fingerprint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Where a model version comes from, for its registry metadata and model card.

    Under `crisp run`: the run id, its report, the git commit and dirty flag and the run's
    parameters (from the run record); outside it, the git state only, marked as such.
    `fingerprint` is the data fingerprint record of phase 01.
    """
    from crisp import context
    from crisp.records import git_state

    record = context.run_record()
    fingerprint = fingerprint or {}
    data = {
        "sha256": fingerprint.get("sha256"),
        "source": fingerprint.get("source") or fingerprint.get("path"),
        "rows": fingerprint.get("rows"),
    }
    if record is None:
        git = git_state(paths.project_root()) or {}
        return {
            "run_id": None,
            "outside_runner": True,
            "via": "05_deployment outside crisp run",
            "git_commit": git.get("commit"),
            "git_dirty": git.get("dirty"),
            "data": data,
            "parameters": None,
            "report": None,
        }
    git = record.get("git") or {}
    run_dir = paths.relative(record.get("run_dir") or f"reports/{record.get('run_id')}")
    return {
        "run_id": record.get("run_id"),
        "outside_runner": False,
        "via": f"crisp run {record.get('run_id')}",
        "git_commit": git.get("commit"),
        "git_dirty": git.get("dirty"),
        "data": data,
        "parameters": record.get("parameters"),
        "report": f"{run_dir}/index.html",
    }


@dataclass(frozen=True)
class Registration:
    """What phase 05 did with the challenger in the registry."""

    version: str | None  # its registry version; None when the decision was not to promote
    new: bool  # a new version was written (False: identical to a kept version, or none)
    production: str | None  # the production version before this phase


def register_challenger(
    model: Any, metadata: dict[str, Any], schema: dict[str, Any], decision: str
) -> Registration:
    """Register the challenger when phase 04 decided to promote it (an identical model already
    kept is not stored again)."""
    production = registry.production_version()
    if decision != "promote":
        return Registration(None, False, production)
    known = set(registry.versions())
    version = registry.register(model, metadata, schema)
    return Registration(version, version not in known, production)


def promotion(
    decision: str, registration: Registration, *, outside_runner: bool, allowed: bool
) -> tuple[bool, str]:
    """(promote?, what happens, in words) after phase 04's `decision`.

    Only `crisp run` promotes; a notebook run outside it (JupyterLab, nbconvert) registers the
    challenger but promotes only when `allowed` (the notebook's promote_outside_runner).
    """
    version, production = registration.version, registration.production
    if version is not None and version == production:
        return False, (
            f"{version} stays in production: the challenger is identical to it (same content "
            "hash), so no new version was registered"
        )
    if decision != "promote":
        return False, f"not promoted: the decision of phase 04 is '{decision}'"
    if outside_runner and not allowed:
        return False, (
            f"not promoted: this notebook ran outside `crisp run`; {version} is registered as a "
            f"challenger. Promote it with `crisp promote {version}`, or set "
            "promote_outside_runner = True in the parameters cell and run again"
        )
    return True, f"{version} promoted to production (replacing {production or 'nothing'})"


def owner_sections() -> dict[str, str | None]:
    """The owner-written sections of the model card from docs/model_card.md (None: unwritten)."""
    path = paths.resolve(model_card.OWNER_FILE)
    return model_card.owner_sections(artifacts.load_text(path) if path.is_file() else None)


def save_model_card(card: model_card.Card, title: str) -> None:
    """The card of this run as the `model_card` and `model_card_html` artifacts, with figures."""
    folder = artifacts.path("model_card").parent
    for name, png in card.figures.items():
        artifacts.save_bytes(folder / model_card.FIGURES_DIR / name, png)
    artifacts.save_text("model_card", card.markdown(paths.relative(folder)))
    artifacts.save_text("model_card_html", card.html(title, paths.relative(folder)))
