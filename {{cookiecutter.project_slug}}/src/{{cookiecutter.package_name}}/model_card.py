"""Model card (Mitchell et al. 2019, "Model Cards for Model Reporting") as Markdown and HTML.

The figures come from the pipeline's records; what only a person can say (intended use, factors,
ethical considerations, caveats, owner) appears as a clearly marked placeholder until written.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

import mistune
import pandas as pd

from . import metrics as metrics_

TO_WRITE = "**TO BE WRITTEN BY THE MODEL OWNER:**"
SECTIONS = (
    "Model details",
    "Intended use",
    "Factors",
    "Metrics",
    "Evaluation data",
    "Training data",
    "Quantitative analyses",
    "Ethical considerations",
    "Caveats and recommendations",
)
REQUIRED = ("model_name", "version", "problem_type", "metrics")
SMALL_SLICE = 30  # slices with fewer test rows give unreliable figures

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 60rem;
       margin: 2rem auto; padding: 0 1rem; line-height: 1.5; color: #1f2328; }
h1 { border-bottom: 2px solid #d0d7de; padding-bottom: .3rem; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .8rem 0; }
th, td { border: 1px solid #d0d7de; padding: .3rem .7rem; text-align: left; }
th { background: #f6f8fa; }
code { background: #f6f8fa; padding: .1rem .3rem; border-radius: 4px; }
strong { color: #9a6700; }
"""


class ModelCardError(ValueError):
    """The context lacks figures the model card cannot do without."""


def placeholder(what: str) -> str:
    """A clearly marked gap for the model owner to fill."""
    return f"{TO_WRITE} {what}"


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4f}"
    return str(value)


def _cell(value: Any) -> str:
    return _fmt(value).replace("|", "\\|").replace("\n", " ")


def md_table(rows: Iterable[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A Markdown table of `rows` (dicts); `columns` picks and orders the columns."""
    rows = list(rows)
    if not rows:
        return "_(no rows)_"
    columns = list(columns or rows[0].keys())
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows),
    ]
    return "\n".join(lines)


def _records(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, pd.DataFrame):
        return value.to_dict(orient="records")
    return list(value)


def _text(context: dict[str, Any], key: str, what: str) -> str:
    value = context.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else placeholder(what)


def _details(c: dict[str, Any]) -> list[str]:
    params = c.get("params") or {}
    lines = [
        f"- **Name:** {c['model_name']}",
        f"- **Version:** {c['version']}",
        f"- **Created:** {c.get('created') or dt.date.today().isoformat()}",
        f"- **Owner:** {_text(c, 'owner', 'the team responsible, and how to reach them.')}",
        f"- **Type:** {c['problem_type']} of `{c.get('target', 'the target')}`",
        f"- **Algorithm:** {c.get('algorithm', 'n/a')} in a scikit-learn pipeline "
        "(preprocessing fitted on the training split only, then the model)",
    ]
    if params:
        lines.append(
            "- **Tuned parameters:** " + ", ".join(f"`{k}={v}`" for k, v in params.items())
        )
    if c.get("library_versions"):
        lines.append(
            "- **Libraries:** "
            + ", ".join(f"{k} {v}" for k, v in c["library_versions"].items() if v)
        )
    if c.get("model_sha256"):
        lines.append(f"- **Model file sha256:** `{c['model_sha256']}` (skops format)")
    return lines


def _intended_use(c: dict[str, Any]) -> list[str]:
    lines = []
    if c.get("objective"):
        lines.append(f"- **Objective:** {c['objective']}")
    if c.get("business_success_criterion"):
        lines.append(f"- **Business success criterion:** {c['business_success_criterion']}")
    lines += [
        "",
        _text(
            c,
            "intended_use",
            "the primary intended uses and users, and uses that are out of scope "
            "(decisions the model must not make on its own).",
        ),
    ]
    return lines


def _factors(c: dict[str, Any]) -> list[str]:
    where = f"per value of `{c['slice_column']}`" if c.get("slice_column") else "per slice"
    return [
        f"Performance is reported {where} of the test split (see Quantitative analyses).",
        "",
        _text(
            c,
            "factors",
            "the groups, environments or instruments for which performance may differ, "
            "and which of them were evaluated.",
        ),
    ]


def _metrics(c: dict[str, Any]) -> list[str]:
    lines = []
    primary = c.get("primary_metric")
    if primary:
        m = metrics_.METRICS.get(primary)
        direction = "higher" if (m is None or m.greater_is_better) else "lower"
        described = f": {m.description}" if m and m.description else ""
        lines.append(f"- **Primary metric:** {primary}, {direction} is better{described}.")
    if c.get("success_threshold") is not None:
        lines.append(f"- **Success threshold:** {_fmt(float(c['success_threshold']))}")
    if c.get("min_gain_over_baseline") is not None:
        lines.append(
            f"- **Required gain over the non-ML baseline:** "
            f"{_fmt(float(c['min_gain_over_baseline']))}"
        )
    baseline = c.get("baseline_metrics") or {}
    champion = c.get("champion_metrics") or {}
    rows = []
    for name, value in c["metrics"].items():
        row = {"metric": name, "model (test)": value, "baseline (test)": baseline.get(name)}
        if champion:
            row["production (test)"] = champion.get(name)
        rows.append(row)
    lines += ["", md_table(rows)]
    criteria = _records(c.get("criteria"))
    if criteria:
        lines += [
            "",
            "Success criteria on the test split:",
            "",
            md_table(
                {
                    "check": r["name"],
                    "value": r["value"],
                    "required": f"{r['op']} {_fmt(r['threshold'])}",
                    "passed": r["passed"],
                }
                for r in criteria
            ),
        ]
    decision = c.get("decision")
    if decision:
        lines += [
            "",
            f"**Deployment decision:** {decision.get('decision')}: {decision.get('reason')}",
        ]
    return lines


def _data(summary: dict[str, Any] | None, default: str) -> list[str]:
    summary = summary or {}
    lines = [f"- **Description:** {summary.get('description') or default}"]
    if summary.get("rows") is not None:
        lines.append(f"- **Rows:** {summary['rows']}")
    if summary.get("source"):
        lines.append(f"- **Source:** {summary['source']}")
    if summary.get("fingerprint"):
        lines.append(f"- **Data fingerprint (sha256):** `{summary['fingerprint']}`")
    for kind in ("numeric", "categorical"):
        if summary.get(kind):
            lines.append(f"- **{kind.capitalize()} features:** " + ", ".join(summary[kind]))
    return lines


def _quantitative(c: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    cv = c.get("cv") or {}
    if cv.get("score_mean") is not None:
        lines.append(
            f"- **Cross-validation ({c.get('primary_metric', 'score')}):** "
            f"{_fmt(cv['score_mean'])} ± {_fmt(cv.get('score_std'))}"
        )
    robustness = c.get("robustness")
    if robustness:
        lines.append(
            f"- **Robustness:** clean {_fmt(robustness.get('clean'))}, with noise "
            f"{_fmt(robustness.get('noisy'))} (loss {_fmt(robustness.get('drop'))})"
        )
    slices = _records(c.get("slices"))
    if slices:
        title = f"Per `{c['slice_column']}`" if c.get("slice_column") else "Per slice"
        lines += ["", f"{title} on the test split:", "", md_table(slices)]
    importance = _records(c.get("importance"))[:10]
    if importance:
        lines += [
            "",
            "Most important features (permutation importance, loss in the primary metric):",
            "",
            md_table(
                importance,
                [k for k in ("feature", "importance_mean", "importance_std") if k in importance[0]],
            ),
        ]
    return lines or ["_(no analyses recorded)_"]


def _caveats(c: dict[str, Any]) -> list[str]:
    notes = []
    primary = c.get("primary_metric")
    for row in _records(c.get("slices")):
        value = row.get(primary) if primary else None
        if isinstance(value, float) and math.isnan(value):
            notes.append(f"- {primary} is undefined for slice `{row.get('slice')}`.")
        elif row.get("n") is not None and row["n"] < SMALL_SLICE:
            notes.append(
                f"- Slice `{row.get('slice')}` has only {row['n']} test rows; "
                "its figures are uncertain."
            )
    robustness = c.get("robustness") or {}
    drop = robustness.get("drop")
    if isinstance(drop, float) and drop > 0:
        notes.append(f"- Noise on numeric features costs {_fmt(drop)} of {primary or 'the score'}.")
    notes.append(
        "- Monitor input drift (phase 06) and retrain when it raises an alert; "
        "the model reflects the training data's period and population only."
    )
    return [
        *notes,
        "",
        _text(c, "caveats", "known limitations, and recommendations for the model's users."),
    ]


def build_model_card(context: dict[str, Any]) -> str:
    """The model card as Markdown.

    Context keys (required: model_name, version, problem_type, metrics):
    model_name, version, created, owner, problem_type, target, algorithm, params (dict),
    library_versions (dict), model_sha256, objective, business_success_criterion,
    intended_use (str|None), factors (str|None), slice_column, primary_metric,
    success_threshold, min_gain_over_baseline, metrics / baseline_metrics / champion_metrics
    (name -> value), criteria (records of evaluation.criteria_results), decision (dict),
    cv ({score_mean, score_std}), robustness (dict), slices (DataFrame or records),
    importance (DataFrame or records), training_data / evaluation_data ({rows, description,
    source, fingerprint, numeric, categorical}), ethical_considerations (str|None),
    caveats (str|None). Missing person-written fields become marked placeholders.
    """
    missing = [k for k in REQUIRED if not context.get(k)]
    if missing:
        raise ModelCardError(
            f"The model card context lacks {', '.join(missing)}; "
            "build it with model_card.context_from_records from the phase records."
        )
    c = context
    body = {
        "Model details": _details(c),
        "Intended use": _intended_use(c),
        "Factors": _factors(c),
        "Metrics": _metrics(c),
        "Evaluation data": _data(c.get("evaluation_data"), "held-out test split"),
        "Training data": _data(c.get("training_data"), "training split"),
        "Quantitative analyses": _quantitative(c),
        "Ethical considerations": [
            _text(
                c,
                "ethical_considerations",
                "sensitive or personal data used, risks and possible harms to people, "
                "and the mitigations in place.",
            )
        ],
        "Caveats and recommendations": _caveats(c),
    }
    parts = [f"# Model card: {c['model_name']} {c['version']}", ""]
    for section in SECTIONS:
        parts += [f"## {section}", "", *body[section], ""]
    return "\n".join(parts)


def context_from_records(
    *,
    model_name: str,
    version: str,
    criteria: dict[str, Any],
    evaluation: dict[str, Any],
    model_metadata: dict[str, Any],
    fingerprint: dict[str, Any] | None = None,
    feature_schema: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A `build_model_card` context from the pipeline's records: success criteria (phase 00),
    data fingerprint (01), feature schema, challenger metadata (03) and evaluation record (04).
    `extra` adds or overrides keys (e.g. intended_use, owner, caveats)."""
    fingerprint = fingerprint or {}
    features = (feature_schema or {}).get("features", {})
    primary = evaluation.get("metric") or criteria.get("primary_metric")
    context = {
        "model_name": model_name,
        "version": version,
        "created": model_metadata.get("created"),
        "problem_type": criteria.get("problem_type") or model_metadata.get("problem_type"),
        "target": criteria.get("target") or model_metadata.get("target"),
        "algorithm": model_metadata.get("algorithm"),
        "params": model_metadata.get("params") or {},
        "library_versions": {
            "scikit-learn": model_metadata.get("sklearn_version"),
            "skops": model_metadata.get("skops_version"),
        },
        "model_sha256": model_metadata.get("sha256"),
        "objective": criteria.get("objective"),
        "business_success_criterion": criteria.get("business_success_criterion"),
        "primary_metric": primary,
        "success_threshold": criteria.get("success_threshold"),
        "min_gain_over_baseline": criteria.get("min_gain_over_baseline"),
        "metrics": evaluation.get("test_metrics") or {},
        "baseline_metrics": evaluation.get("baseline_metrics") or {},
        "champion_metrics": evaluation.get("champion_metrics") or {},
        "criteria": evaluation.get("criteria") or [],
        "decision": evaluation.get("decision"),
        "cv": {
            "score_mean": model_metadata.get("cv_score_mean"),
            "score_std": model_metadata.get("cv_score_std"),
        },
        "robustness": evaluation.get("robustness"),
        "slice_column": evaluation.get("slice_column"),
        "slices": evaluation.get("slices") or [],
        "importance": evaluation.get("importance") or [],
        "training_data": {
            "description": "training split of the prepared data",
            "rows": model_metadata.get("train_rows"),
            "source": fingerprint.get("source") or fingerprint.get("path"),
            "fingerprint": fingerprint.get("sha256") or model_metadata.get("data_sha256"),
            "numeric": [f for f, s in features.items() if s.get("kind") == "numeric"],
            "categorical": [f for f, s in features.items() if s.get("kind") == "categorical"],
        },
        "evaluation_data": {
            "description": "held-out test split, not used for training, model selection or tuning",
            "rows": evaluation.get("test_rows"),
        },
    }
    context.update(extra)
    return context


def to_html(markdown: str, title: str) -> str:
    """A standalone HTML page of the Markdown card (raw HTML in the Markdown is escaped)."""
    render = mistune.create_markdown(escape=True, plugins=["table", "strikethrough"])
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n{render(markdown)}</body>\n</html>\n"
    )
