"""Model registry (register, promote, rollback, prune) and the model card."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from {{ cookiecutter.package_name }} import artifacts, deployment, model_card, registry

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
    assert registry.register(_model(c=3.0), {"model_name": "m"}, SCHEMA) == "v0003"


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


# ---------------------------------------------------------------- identical models, history


def test_an_identical_model_is_not_registered_again(tmp_project: Path) -> None:
    (first,) = _register(1)
    registry.promote(first)
    again = registry.register(_model(c=1.0), {"model_name": "m", "n": 99}, SCHEMA)  # refitted
    assert again == first
    assert [p.name for p in registry.registry_dir().iterdir()] == [first]
    record = registry.metadata(first)
    assert record["n"] == 0  # the kept version is left as it was
    assert record[registry.CONTENT_HASH] == registry.content_hash(registry.model_file(first))
    other = registry.register(_model(c=5.0), {"model_name": "m"}, SCHEMA)
    assert other == "v0002"


def test_promote_and_rollback_are_recorded_and_symmetric(tmp_project: Path) -> None:
    _register(2)
    registry.promote("v0001", via="crisp run 20250101-000000-aaaa", reason="No production model.")
    registry.promote("v0002", via="crisp run 20250102-000000-bbbb", reason="better")
    back = registry.rollback(via="crisp rollback", reason="ticket 7")
    assert back["version"] == "v0001" and back["rolled_back_from"] == "v0002"
    forward = registry.promote("v0002", via="crisp promote", reason="ticket 8")
    assert (forward["version"], forward["previous"]) == ("v0002", "v0001")
    events = registry.history()
    assert [(e["action"], e["version"], e["from"]) for e in events] == [
        ("promote", "v0001", None),
        ("promote", "v0002", "v0001"),
        ("rollback", "v0001", "v0002"),
        ("promote", "v0002", "v0001"),
    ]
    assert [e["via"] for e in events][2:] == ["crisp rollback", "crisp promote"]
    assert events[2]["reason"] == "ticket 7" and events[2]["by"] and events[2]["at"]
    assert registry.rollback()["version"] == "v0001"  # rollback works again after going forward


def test_rollback_without_previous_names_the_way_forward(tmp_project: Path) -> None:
    _register(2)
    registry.promote("v0002")
    with pytest.raises(registry.RegistryError) as error:
        registry.rollback()
    assert "`crisp promote VERSION` (versions: v0001)" in str(error.value)


# ---------------------------------------------------------------- corrupt registry files


def _production_file(root: Path) -> Path:
    return root / "models" / "production.json"


def _spoil_pointer(text: str):
    def spoil(root: Path) -> None:
        _production_file(root).write_text(text, encoding="utf-8")

    return spoil


def _spoil_model(data: bytes, *, rehash: bool):
    def spoil(root: Path) -> None:
        path = root / "models" / "registry" / "v0002" / "model.skops"
        path.write_bytes(data)
        if rehash:  # the sidecar made to match, as if the file had been saved like this
            sidecar = path.with_suffix(".json")
            record = json.loads(sidecar.read_text(encoding="utf-8"))
            record["sha256"] = hashlib.sha256(data).hexdigest()
            sidecar.write_text(json.dumps(record), encoding="utf-8")

    return spoil


def _drop_metadata(root: Path) -> None:
    (root / "models" / "registry" / "v0002" / "metadata.json").unlink()


def _remove(name: str):
    def spoil(root: Path) -> None:
        (root / "models" / "registry" / "v0002" / name).unlink()

    return spoil


def _metadata_not_a_record(root: Path) -> None:
    (root / "models" / "registry" / "v0002" / "metadata.json").write_text("[]", encoding="utf-8")


CORRUPTIONS = {
    "empty pointer": (_spoil_pointer(""), "models/production.json is empty"),
    "truncated pointer": (
        _spoil_pointer('{"version": "v00'),
        "models/production.json is not valid JSON",
    ),
    "pointer without version": (_spoil_pointer("[]"), "models/production.json names no production"),
    "empty model file": (
        _spoil_model(b"", rehash=True),
        "models/registry/v0002/model.skops is empty",
    ),
    "model file not a zip": (
        _spoil_model(b"not a zip archive at all", rehash=True),
        "models/registry/v0002/model.skops is not a skops model file",
    ),
    "model file changed": (
        _spoil_model(b"PK\x03\x04 truncated", rehash=False),
        "models/registry/v0002/model.skops",
    ),
    "missing metadata.json": (_drop_metadata, "models/registry/v0002/metadata.json is missing"),
    "pointer to a missing version": (
        _spoil_pointer('{"version": "v0009"}'),
        "models/production.json names v0009, which is not in the registry (versions: v0001, v0002)",
    ),
    "metadata.json not a record": (
        _metadata_not_a_record,
        "models/registry/v0002/metadata.json holds no metadata record",
    ),
    "missing model file": (_remove("model.skops"), "models/registry/v0002/model.skops is missing"),
    "missing model sidecar": (_remove("model.json"), "models/registry/v0002/model.json is missing"),
}


@pytest.mark.parametrize("case", CORRUPTIONS, ids=list(CORRUPTIONS))
def test_corrupt_registry_files_name_the_file_and_the_fix(tmp_project: Path, case: str) -> None:
    spoil, message = CORRUPTIONS[case]
    _register(2)
    registry.promote("v0001")
    registry.promote("v0002")
    spoil(tmp_project)
    with pytest.raises(registry.CorruptRegistryError) as error:
        registry.load_production()
    text = str(error.value)
    assert message in text
    assert "crisp promote VERSION" in text or "crisp rollback" in text
    assert "05" in text  # or re-run phase 05
    assert "\n" not in text


def test_promote_repairs_an_unreadable_pointer(tmp_project: Path) -> None:
    _register(2)
    registry.promote("v0001")
    _production_file(tmp_project).write_text("", encoding="utf-8")
    assert registry.production_version() is None
    assert registry.prune(keep=1) == []  # nothing is deleted while production is unknown
    pointer = registry.promote("v0002", via="crisp promote", reason="repair")
    assert pointer["version"] == "v0002" and registry.load_production()[1]["version"] == "v0002"


def test_unreadable_metadata_is_listed_not_fatal(tmp_project: Path) -> None:
    _register(2)
    (registry.registry_dir() / "v0001" / "metadata.json").write_text("{", encoding="utf-8")
    listed = registry.list_versions()
    assert listed[1]["version"] == "v0002"
    assert listed[0]["version"] == "v0001" and "not valid JSON" in listed[0]["unreadable"]


# ---------------------------------------------------------------- owner's file, lineage, figures

OWNER_FILE = """# Model card: the sections only the model owner can write

## Owner

<!-- The team responsible. -->
Retention analytics, #churn-model

## Intended use

<!-- Who uses the predictions. -->

## Ethical considerations

No protected attributes; calls are offers, never penalties.

## Something else

Ignored: not a model card section.
"""


def test_owner_sections_come_from_the_owners_file() -> None:
    sections = model_card.owner_sections(OWNER_FILE)
    assert sections["owner"] == "Retention analytics, #churn-model"
    assert sections["intended_use"] is None  # only the instruction comment: unwritten
    assert sections["ethical_considerations"].startswith("No protected attributes")
    assert sections["factors"] is None and sections["caveats"] is None  # headings missing
    card = model_card.build_model_card(_context(**sections))
    assert "- **Owner:** Retention analytics, #churn-model" in card
    assert "No protected attributes; calls are offers, never penalties." in card
    assert "Ignored" not in card and "Who uses the predictions" not in card
    assert (
        "> Not ready to sign: 3 sections for the model owner to write in `docs/model_card.md`: "
        "Intended use, Factors, Caveats and recommendations." in card
    )
    assert (
        "> **TO BE WRITTEN BY THE MODEL OWNER** in `docs/model_card.md`, section *Intended use*"
        in card
    )
    assert model_card.owner_sections(None) == dict.fromkeys(model_card.OWNER_SECTIONS)


def test_the_templates_owner_file_leaves_every_section_to_write() -> None:
    text = (Path(__file__).resolve().parents[1] / model_card.OWNER_FILE).read_text("utf-8")
    sections = model_card.owner_sections(text)
    assert sections == dict.fromkeys(model_card.OWNER_SECTIONS)
    headings = [h for h, _ in model_card.OWNER_SECTIONS.values()]
    assert all(f"## {heading}\n" in text for heading in headings)


LINEAGE = {
    "run_id": "20250101-120000-abcd",
    "outside_runner": False,
    "git_commit": "0123456789abcdef0123456789abcdef01234567",
    "git_dirty": True,
    "data": {"sha256": "ab" * 32, "source": "data/raw/customers.csv", "rows": 3000},
    "parameters": {"modelling": {"cv_folds": 5, "candidates": ["random_forest"]}},
    "report": "reports/20250101-120000-abcd/index.html",
}


def test_model_card_shows_the_lineage_and_the_run_parameters() -> None:
    card = model_card.build_model_card(_context(lineage=LINEAGE))
    lineage = card[card.index("## Lineage") : card.index("## Intended use")]
    assert "- **Run:** `20250101-120000-abcd`" in lineage
    assert (
        "[reports/20250101-120000-abcd/index.html](reports/20250101-120000-abcd/index.html)"
        in lineage
    )
    deep = model_card.build_model_card(_context(lineage=LINEAGE), folder="models/registry/v0003")
    assert "](../../../reports/20250101-120000-abcd/index.html)" in deep
    assert f"`{LINEAGE['git_commit']}` (with uncommitted changes)" in lineage
    assert f"of data/raw/customers.csv:** `{'ab' * 32}`" in lineage
    appendix = card[card.index("## Appendix: parameters of the run") :]
    assert "| modelling.cv_folds | 5 |" in appendix
    assert '| modelling.candidates | ["random_forest"] |' in appendix
    outside = {**LINEAGE, "outside_runner": True, "run_id": None, "report": None}
    outside["parameters"] = None
    card = model_card.build_model_card(_context(lineage=outside))
    assert "phase 05 ran outside `crisp run`" in card
    assert "not recorded: the version was registered outside `crisp run`" in card


PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("problem_type", ["binary", "multiclass", "regression"])
def test_render_draws_the_figures_and_the_html_embeds_them(problem_type: str) -> None:
    rng = np.random.default_rng(0)
    if problem_type == "regression":
        y_true = rng.normal(100, 10, 60)
        y_pred = y_true + rng.normal(0, 3, 60)
        context = _context(
            problem_type="regression",
            primary_metric="rmse",
            metrics={"rmse": 3.1},
            baseline_metrics={"rmse": 10.2},
            champion_metrics={"rmse": 3.4},
            slices=[{"slice": "a", "n": 60, "share": 1.0, "rmse": 3.1}],
        )
    else:
        labels = ["setosa", "versicolor", "virginica"] if problem_type == "multiclass" else [0, 1]
        y_true = rng.choice(labels, 90)
        y_pred = np.where(rng.random(90) < 0.8, y_true, rng.choice(labels, 90))
        context = _context(classes=labels)
    # Phase 05 predicts the test split only for what the card cannot take from phase 04.
    assert model_card.needs_predictions(context) is True  # no per-class table from phase 04
    from_phase_04 = [{"class": 0, "rows": 9, "precision": 1.0, "recall": 1.0, "f1": 1.0}]
    with_table = {**context, "per_class": from_phase_04}
    assert model_card.needs_predictions(with_table) is (problem_type == "regression")
    rendered = model_card.render(context, y_true=y_true, y_pred=y_pred)
    card, figures = rendered.markdown(), rendered.figures
    expected = {"metrics.png", "slices.png", "importance.png"}
    expected |= {"residuals.png"} if problem_type == "regression" else {"per_class.png"}
    assert set(figures) == expected
    assert all(png.startswith(PNG) for png in figures.values())
    for name in figures:
        assert f"]({model_card.FIGURES_DIR}/{name})" in card
    if problem_type == "multiclass":
        assert "Per class on the test split:" in card
        assert all(f"| {label} |" in card for label in labels)
    page = model_card.to_html(card, "card", figures)
    assert page.count('src="data:image/png;base64,') == len(figures)
    assert f'src="{model_card.FIGURES_DIR}/' not in page


def _report_link(page: str) -> str:
    """The href of the run report link, in HTML or in Markdown."""
    (href,) = re.findall(r'<a href="([^"]+)">reports/[^<]+/index\.html</a>', page) or re.findall(
        r"\[reports/[^\]]+/index\.html\]\(([^)]+)\)", page
    )
    return href


def test_every_saved_card_links_to_the_run_report_from_where_it_lies(tmp_project: Path) -> None:
    report = tmp_project / "reports" / LINEAGE["run_id"] / "index.html"
    report.parent.mkdir(parents=True)
    report.write_text("<html>the run</html>", encoding="utf-8")
    (version,) = _register(1)
    card = model_card.render(_context(version=version, lineage=LINEAGE))
    # A later run whose challenger is that same version shows the card in its phase 05 report.
    later = "reports/20250102-090000-ef01/index.html"

    _, registry_html = registry.write_model_card(version, card)
    deployment.save_model_card(card, f"Model card: churn-classifier {version}")

    pages = {
        registry_html: registry_html.read_text("utf-8"),
        artifacts.path("model_card_html"): artifacts.load_text("model_card_html"),
        (tmp_project / later).parent / "05_deployment.html": model_card.to_html(
            card.in_report(later), "05"
        ),
        tmp_project / "notebooks" / "05_deployment.ipynb": card.in_report(None),
    }
    assert registry_html.parent == registry.registry_dir() / version  # three folders deep
    for page, text in pages.items():
        target = (page.parent / _report_link(text)).resolve()
        assert target == report.resolve(), page
        assert target.read_text(encoding="utf-8") == "<html>the run</html>"


def test_per_class_table_counts_each_class() -> None:
    table = model_card.per_class_table(["a", "a", "b", "c"], ["a", "b", "b", "c"], ["a", "b", "c"])
    assert table["class"].tolist() == ["a", "b", "c"]
    assert table["rows"].tolist() == [2, 1, 1]
    assert table["precision"].tolist() == [1.0, 0.5, 1.0]
    assert table["recall"].tolist() == [0.5, 1.0, 1.0]


# ---------------------------------------------------------------- deployment: lineage, promotion


def test_lineage_under_a_run_comes_from_its_run_record(
    tmp_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_project / "reports" / LINEAGE["run_id"]
    run_dir.mkdir(parents=True)
    record = {
        "run_id": LINEAGE["run_id"],
        "run_dir": str(run_dir),
        "git": {"commit": LINEAGE["git_commit"], "dirty": False},
        "parameters": LINEAGE["parameters"],
    }
    (run_dir / "run.json").write_text(json.dumps(record), encoding="utf-8")
    monkeypatch.setenv("CRISP_RUN_DIR", str(run_dir))
    monkeypatch.setenv("CRISP_PHASE", "05_deployment")
    lineage = deployment.lineage({"sha256": "cd" * 32, "path": "data/raw/x.csv", "rows": 10})
    assert lineage == {
        "run_id": LINEAGE["run_id"],
        "outside_runner": False,
        "via": f"crisp run {LINEAGE['run_id']}",
        "git_commit": LINEAGE["git_commit"],
        "git_dirty": False,
        "data": {"sha256": "cd" * 32, "source": "data/raw/x.csv", "rows": 10},
        "parameters": LINEAGE["parameters"],
        "report": f"reports/{LINEAGE['run_id']}/index.html",
    }
    monkeypatch.delenv("CRISP_RUN_DIR")
    outside = deployment.lineage(None)
    assert outside["outside_runner"] is True and outside["run_id"] is None
    assert outside["parameters"] is None and outside["report"] is None


def test_only_a_run_promotes_and_an_identical_model_stays() -> None:
    new = deployment.Registration(version="v0003", new=True, production="v0002")
    promote, message = deployment.promotion("promote", new, outside_runner=False, allowed=False)
    assert promote and message == "v0003 promoted to production (replacing v0002)"
    promote, message = deployment.promotion("promote", new, outside_runner=True, allowed=False)
    assert not promote
    assert "ran outside `crisp run`" in message and "`crisp promote v0003`" in message
    assert deployment.promotion("promote", new, outside_runner=True, allowed=True)[0]
    same = deployment.Registration(version="v0002", new=False, production="v0002")
    promote, message = deployment.promotion("promote", same, outside_runner=False, allowed=False)
    assert not promote and "identical to it (same content hash)" in message
    none = deployment.Registration(version=None, new=False, production=None)
    promote, message = deployment.promotion("reject", none, outside_runner=False, allowed=False)
    assert not promote and message == "not promoted: the decision of phase 04 is 'reject'"


def test_smoke_test_compares_a_bounded_sample_and_catches_a_different_model_file(
    tmp_project: Path,
) -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y = (X["a"] + X["b"] > 0).astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    result = deployment.smoke_test(model, X, max_rows=50)
    assert result == {"identical": True, "max_abs_diff": 0.0, "rows": 50}
    assert deployment.smoke_test(model, X.head(20), max_rows=50)["rows"] == 20
    other = make_pipeline(StandardScaler(), LogisticRegression(C=0.01)).fit(X, y)
    saved = artifacts.save_model(tmp_project / "other.skops", other, {"purpose": "test"})
    different = deployment.smoke_test(model, X, saved, max_rows=50)
    assert different["identical"] is False and different["max_abs_diff"] > 0
