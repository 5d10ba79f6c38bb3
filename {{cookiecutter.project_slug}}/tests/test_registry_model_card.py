"""Model registry (register, promote, rollback, prune) and the model card."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from {{ cookiecutter.package_name }} import model_card, registry

X = pd.DataFrame({"a": np.linspace(0, 1, 40), "b": np.tile([0.0, 1.0], 20)})
Y = (X["a"] + 0.3 * X["b"] > 0.6).astype(int)
SCHEMA = {
    "target": "y",
    "problem_type": "classification",
    "features": {"a": {"kind": "numeric"}, "b": {"kind": "numeric"}},
}


def _model(c: float = 1.0):
    return make_pipeline(StandardScaler(), LogisticRegression(C=c)).fit(X, Y)


def _register(n: int) -> list[str]:
    return [
        registry.register(_model(c=i + 1.0), {"model_name": "m", "n": i}, SCHEMA) for i in range(n)
    ]


# ---------------------------------------------------------------- registry


def test_empty_registry(tmp_project: Path) -> None:
    assert registry.registry_dir() == tmp_project / "models" / "registry"
    assert registry.list_versions() == []
    assert registry.production() is None
    assert registry.load_production() is None


def test_register_writes_a_complete_version(tmp_project: Path) -> None:
    assert _register(2) == ["v0001", "v0002"]
    folder = registry.registry_dir() / "v0002"
    assert {p.name for p in folder.iterdir()} >= {"model.skops", "metadata.json", "schema.json"}
    assert registry.model_file("v0002") == folder / "model.skops"
    versions = registry.list_versions()
    assert [v["version"] for v in versions] == ["v0001", "v0002"]
    assert versions[1]["n"] == 1 and versions[1]["registered_at"]
    assert len(versions[1]["model_sha256"]) == 64


def test_unfinished_registration_is_ignored_and_its_number_skipped(tmp_project: Path) -> None:
    _register(1)
    (registry.registry_dir() / "v0002").mkdir()  # crashed before metadata.json
    assert [v["version"] for v in registry.list_versions()] == ["v0001"]
    assert _register(1) == ["v0003"]


def test_promote_rollback_round_trip(tmp_project: Path) -> None:
    _register(3)
    first = registry.promote("v0001")
    assert first["version"] == "v0001" and first["previous"] is None and first["promoted_at"]
    second = registry.promote("v0002")
    assert (second["version"], second["previous"]) == ("v0002", "v0001")
    assert registry.promote("v0002") == second  # promoting production again changes nothing

    model, metadata = registry.load_production()
    assert metadata["version"] == "v0002"
    assert np.array_equal(model.predict_proba(X), _model(c=2.0).predict_proba(X))

    back = registry.rollback()
    assert (back["version"], back["previous"], back["rolled_back_from"]) == ("v0001", None, "v0002")
    assert registry.production()["version"] == "v0001"
    with pytest.raises(registry.RegistryError, match="no previous version"):
        registry.rollback()


def test_rollback_without_production_and_promote_of_unknown_version(tmp_project: Path) -> None:
    with pytest.raises(registry.RegistryError, match="promote a version first"):
        registry.rollback()
    _register(1)
    with pytest.raises(registry.RegistryError, match="v0001") as error:
        registry.promote("v0009")
    assert "v0009" in str(error.value)
    assert registry.production() is None


def test_prune_keeps_production_and_previous(tmp_project: Path) -> None:
    _register(5)
    registry.promote("v0001")
    registry.promote("v0002")  # production v0002, previous v0001: the two oldest
    removed = registry.prune(keep=3)
    assert removed == ["v0003", "v0004"]
    assert [v["version"] for v in registry.list_versions()] == ["v0001", "v0002", "v0005"]
    assert registry.rollback()["version"] == "v0001"
    assert registry.prune(keep=3) == []
    with pytest.raises(registry.RegistryError, match="keep_versions"):
        registry.prune(keep=0)


def test_prune_removes_oldest_first(tmp_project: Path) -> None:
    _register(4)
    registry.promote("v0004")
    assert registry.prune(keep=2) == ["v0001", "v0002"]
    assert not (registry.registry_dir() / "v0001").exists()


def test_write_model_card(tmp_project: Path) -> None:
    (version,) = _register(1)
    md, html = registry.write_model_card(version, "# Card\n\n## Model details\n\nok\n")
    assert md.read_text(encoding="utf-8").startswith("# Card")
    assert "<h2>Model details</h2>" in html.read_text(encoding="utf-8")
    assert md.parent == html.parent == registry.registry_dir() / version


# ---------------------------------------------------------------- model card


def _context(**extra) -> dict:
    return {
        "model_name": "churn-classifier",
        "version": "v0003",
        "problem_type": "classification",
        "target": "churned",
        "algorithm": "logistic_regression",
        "params": {"C": 0.1},
        "created": "2025-01-01T00:00:00+00:00",
        "objective": "Find customers likely to cancel.",
        "primary_metric": "roc_auc",
        "success_threshold": 0.75,
        "min_gain_over_baseline": 0.1,
        "metrics": {"roc_auc": 0.8123, "accuracy": 0.79},
        "baseline_metrics": {"roc_auc": 0.5, "accuracy": 0.71},
        "criteria": [
            {
                "name": "roc_auc meets success threshold",
                "value": 0.8123,
                "threshold": 0.75,
                "op": ">=",
                "passed": True,
            }
        ],
        "slice_column": "contract",
        "slices": pd.DataFrame(
            {
                "slice": ["month-to-month", "two-year"],
                "n": [300, 12],
                "share": [0.96, 0.04],
                "roc_auc": [0.7011, float("nan")],
            }
        ),
        "importance": [
            {"feature": "tenure_months", "importance_mean": 0.0912, "importance_std": 0.01}
        ],
        "robustness": {"clean": 0.8123, "noisy": 0.8001, "drop": 0.0122},
        "training_data": {"rows": 1800, "fingerprint": "ab" * 32, "numeric": ["tenure_months"]},
        "evaluation_data": {"rows": 600},
        **extra,
    }


def test_model_card_has_every_section_with_the_figures() -> None:
    card = model_card.build_model_card(_context())
    positions = [card.index(f"## {section}\n") for section in model_card.SECTIONS]
    assert positions == sorted(positions)
    for figure in (
        "0.8123",
        "0.5000",
        "0.7011",
        "month-to-month",
        "tenure_months",
        "1800",
        "ab" * 32,
        ">= 0.7500",
        "C=0.1",
        "0.0122",
    ):
        assert figure in card
    assert "`two-year` has only 12 test rows" in card or "undefined for slice `two-year`" in card
    # Person-written fields are missing: each is a marked placeholder.
    assert card.count(model_card.TO_WRITE) == 5  # owner, intended use, factors, ethics, caveats


def test_model_card_uses_person_written_text_when_given() -> None:
    card = model_card.build_model_card(
        _context(
            intended_use="Ranking customers for retention calls.",
            ethical_considerations="No protected attributes are used.",
            caveats="Trained on one year of data.",
            factors="Contract type.",
            owner="Data team",
        )
    )
    assert model_card.TO_WRITE not in card
    assert "Ranking customers for retention calls." in card


def test_model_card_requires_the_core_figures() -> None:
    with pytest.raises(ValueError, match="metrics"):
        model_card.build_model_card(_context(metrics={}))


def test_context_from_records_builds_a_card() -> None:
    criteria = {
        "problem_type": "regression",
        "target": "price",
        "objective": "Price houses.",
        "business_success_criterion": "Within 15%.",
        "primary_metric": "rmse",
        "success_threshold": 30000.0,
        "min_gain_over_baseline": 1000.0,
    }
    evaluation = {
        "metric": "rmse",
        "test_metrics": {"rmse": 25000.5, "r2": 0.91},
        "baseline_metrics": {"rmse": 90000.0, "r2": 0.0},
        "champion_metrics": None,
        "criteria": [],
        "slices": [{"slice": "suburbs", "n": 200, "rmse": 21000.0}],
        "importance": [],
        "robustness": None,
        "test_rows": 600,
        "decision": {"decision": "promote", "reason": "No production model yet."},
    }
    metadata = {
        "algorithm": "ridge",
        "params": {"alpha": "1.0"},
        "train_rows": 1800,
        "cv_score_mean": 26000.0,
        "cv_score_std": 800.0,
        "sha256": "cd" * 32,
    }
    context = model_card.context_from_records(
        model_name="price-regressor",
        version="v0001",
        criteria=criteria,
        evaluation=evaluation,
        model_metadata=metadata,
        fingerprint={"sha256": "ef" * 32, "path": "data/raw/demo.parquet"},
        feature_schema={
            "features": {"area_m2": {"kind": "numeric"}, "heating": {"kind": "categorical"}}
        },
        owner="Pricing team",
    )
    card = model_card.build_model_card(context)
    for figure in (
        "25,000.5",
        "90,000.0",
        "21,000.0",
        "ef" * 32,
        "data/raw/demo.parquet",
        "Pricing team",
        "lower is better",
        "**Deployment decision:** promote",
        "heating",
        "26,000.0 ± 800.0",
    ):
        assert figure in card


def test_to_html_renders_headings_tables_and_escapes() -> None:
    card = model_card.build_model_card(_context(caveats="Beware of <script>alert(1)</script>."))
    page = model_card.to_html(card, "Model card: <churn>")
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>Model card: &lt;churn&gt;</title>" in page
    for section in model_card.SECTIONS:
        assert f"<h2>{section}</h2>" in page
    assert "<table>" in page and "<td>0.8123</td>" in page
    assert "<script>" not in page
