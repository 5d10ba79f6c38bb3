"""Model card (Mitchell et al. 2019, "Model Cards for Model Reporting") as Markdown and HTML.

The figures, tables and lineage come from the pipeline's records; what only a person can say
(owner, intended use, factors, ethical considerations, caveats) comes from the owner's file
`docs/model_card.md` and stays a clearly marked gap until written there.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import math
import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import mistune
import numpy as np
import pandas as pd

from . import metrics as metrics_

OWNER_FILE = "docs/model_card.md"
TO_WRITE = "**TO BE WRITTEN BY THE MODEL OWNER**"
SECTIONS = (
    "Model details",
    "Lineage",
    "Intended use",
    "Factors",
    "Metrics",
    "Evaluation data",
    "Training data",
    "Quantitative analyses",
    "Ethical considerations",
    "Caveats and recommendations",
    "Appendix: parameters of the run",
)
# Context key -> heading in the owner's file, and what to write there.
OWNER_SECTIONS: dict[str, tuple[str, str]] = {
    "owner": ("Owner", "the team responsible, and how to reach them."),
    "intended_use": (
        "Intended use",
        "the primary intended uses and users, and uses that are out of scope "
        "(decisions the model must not make on its own).",
    ),
    "factors": (
        "Factors",
        "the groups, environments or instruments for which performance may differ, "
        "and which of them were evaluated.",
    ),
    "ethical_considerations": (
        "Ethical considerations",
        "sensitive or personal data used, risks and possible harms to people, "
        "and the mitigations in place.",
    ),
    "caveats": (
        "Caveats and recommendations",
        "known limitations, and recommendations for the model's users.",
    ),
}
REQUIRED = ("model_name", "version", "problem_type", "metrics")
SMALL_SLICE = 30  # slices with fewer test rows give unreliable figures
FIGURES_DIR = "model_card_figures"
MAX_PARAMETERS = 80  # parameters listed in the lineage table

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 62rem;
       margin: 2rem auto; padding: 0 1rem; line-height: 1.5; color: #1f2328; }
h1 { border-bottom: 2px solid #d0d7de; padding-bottom: .3rem; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .8rem 0; }
th, td { border: 1px solid #d0d7de; padding: .3rem .7rem; text-align: left; }
th { background: #f6f8fa; }
code { background: #f6f8fa; padding: .1rem .3rem; border-radius: 4px; }
strong { color: #9a6700; }
blockquote { margin: .8rem 0; padding: .5rem 1rem; background: #fff8c5;
             border-left: 4px solid #d4a72c; }
img { max-width: 100%; height: auto; display: block; margin: .8rem 0; }
"""


class ModelCardError(ValueError):
    """The context lacks figures the model card cannot do without."""


def placeholder(what: str, section: str | None = None) -> str:
    """A clearly marked gap for the model owner to fill (in `docs/model_card.md`)."""
    where = f" in `{OWNER_FILE}`, section *{section}*" if section else ""
    return f"{TO_WRITE}{where}: {what}"


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


# ---------------------------------------------------------------- the owner's file

_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_HEADING = re.compile(r"^##\s+(.+?)\s*#*\s*$", re.MULTILINE)


def owner_sections(text: str | None) -> dict[str, str | None]:
    """The owner-written sections of `docs/model_card.md` (`## Intended use`, ...) by context key.

    HTML comments (the file's instructions) are not content; a section left empty, or missing,
    is None and shows as a marked gap in the card.
    """
    found: dict[str, str | None] = dict.fromkeys(OWNER_SECTIONS)
    if not text:
        return found
    by_heading = {heading.lower(): key for key, (heading, _) in OWNER_SECTIONS.items()}
    text = _COMMENT.sub("", text)
    matches = list(_HEADING.finditer(text))
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        key = by_heading.get(match.group(1).strip().lower())
        if key is None:
            continue
        end = following.start() if following else len(text)
        body = text[match.end() : end].strip()
        found[key] = body or None
    return found


def _text(context: dict[str, Any], key: str) -> str:
    value = context.get(key)
    if isinstance(value, str) and value.strip():
        return value.strip()
    section, what = OWNER_SECTIONS[key]
    return placeholder(what, section)


def unwritten(context: dict[str, Any]) -> list[str]:
    """Headings of the owner sections still to write."""
    return [
        heading
        for key, (heading, _) in OWNER_SECTIONS.items()
        if not (isinstance(context.get(key), str) and context[key].strip())
    ]


# ---------------------------------------------------------------- sections


def _figure(c: dict[str, Any], name: str, caption: str) -> list[str]:
    if name not in (c.get("figures") or ()):
        return []
    return ["", f"![{caption}]({FIGURES_DIR}/{name})"]


def _details(c: dict[str, Any]) -> list[str]:
    params = c.get("params") or {}
    lines = [
        f"- **Name:** {c['model_name']}",
        f"- **Version:** {c['version']}",
        f"- **Created:** {c.get('created') or dt.date.today().isoformat()}",
        f"- **Owner:** {_text(c, 'owner')}",
        f"- **Type:** {c['problem_type']} of `{c.get('target', 'the target')}`",
        f"- **Algorithm:** {c.get('algorithm', 'n/a')} in a scikit-learn pipeline "
        "(preprocessing fitted on the training split only, then the model)",
    ]
    classes = c.get("classes")
    if classes:
        lines.append(f"- **Classes:** {', '.join(f'`{k}`' for k in classes)}")
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
    if c.get("content_sha256"):
        lines.append(f"- **Model content hash:** `{c['content_sha256']}`")
    if c.get("promotion"):
        lines.append(f"- **Production status:** {c['promotion']}")
    return lines


def _flat(params: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    flat: list[tuple[str, Any]] = []
    for key, value in params.items():
        if isinstance(value, dict):
            flat += _flat(value, f"{prefix}{key}.")
        else:
            flat.append((f"{prefix}{key}", value))
    return flat


def link_from(folder: str, target: str) -> str:
    """`target` (a path from the project root) as a link from a card in `folder` (also from the
    project root; "" for the root itself)."""
    if posixpath.isabs(target):
        return target
    return posixpath.relpath(target, folder or ".")


def _lineage(c: dict[str, Any], folder: str = "") -> list[str]:
    lineage = c.get("lineage") or {}
    if not lineage:
        return ["_(no lineage recorded)_"]
    lines = []
    if lineage.get("outside_runner"):
        lines.append(
            "- **Run:** none: phase 05 ran outside `crisp run` (parameters and reports of this "
            "version are not recorded)"
        )
    else:
        lines.append(f"- **Run:** `{lineage.get('run_id')}`")
    if lineage.get("report"):
        report = str(lineage["report"])
        lines.append(f"- **Run report:** [{report}]({link_from(folder, report)})")
    commit = lineage.get("git_commit")
    if commit:
        state = " (with uncommitted changes)" if lineage.get("git_dirty") else " (clean)"
        lines.append(f"- **Git commit:** `{commit}`{state}")
    else:
        lines.append("- **Git commit:** none (the project is not a git repository)")
    data = lineage.get("data") or {}
    if data.get("sha256"):
        source = f" of {data['source']}" if data.get("source") else ""
        lines.append(f"- **Data fingerprint (sha256){source}:** `{data['sha256']}`")
    if lineage.get("parameters"):
        lines.append("- **Parameters:** see the appendix")
    return lines


def _parameters(c: dict[str, Any]) -> list[str]:
    params = _flat((c.get("lineage") or {}).get("parameters") or {})
    if not params:
        return ["_(not recorded: the version was registered outside `crisp run`)_"]
    rows = [
        {"parameter": k, "value": v if isinstance(v, str) else json.dumps(v)}
        for k, v in params[:MAX_PARAMETERS]
    ]
    return ["The run's params.yaml with its overrides:", "", md_table(rows)]


def _intended_use(c: dict[str, Any]) -> list[str]:
    lines = []
    if c.get("objective"):
        lines.append(f"- **Objective:** {c['objective']}")
    if c.get("business_success_criterion"):
        lines.append(f"- **Business success criterion:** {c['business_success_criterion']}")
    return [*lines, "", _owner_block(c, "intended_use")]


def _owner_block(c: dict[str, Any], key: str) -> str:
    text = _text(c, key)
    return f"> {text}" if text.startswith(TO_WRITE) else text


def _factors(c: dict[str, Any]) -> list[str]:
    where = f"per value of `{c['slice_column']}`" if c.get("slice_column") else "per slice"
    return [
        f"Performance is reported {where} of the test split (see Quantitative analyses).",
        "",
        _owner_block(c, "factors"),
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
    lines += _figure(c, "metrics.png", "Test metrics of the model, the baseline and production")
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
        lines += _figure(c, "slices.png", f"{c.get('primary_metric')} per slice")
    per_class = _records(c.get("per_class"))
    if per_class:
        lines += ["", "Per class on the test split:", "", md_table(per_class)]
        lines += _figure(c, "per_class.png", "Precision, recall and F1 per class")
    lines += _figure(c, "residuals.png", "Residuals on the test split")
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
        lines += _figure(c, "importance.png", "Permutation importance")
    return lines or ["_(no analyses recorded)_"]


def _caveats(c: dict[str, Any]) -> list[str]:
    notes = []
    primary = c.get("primary_metric")
    for row in _records(c.get("slices")):
        value = row.get(primary) if primary else None
        if value is None or (isinstance(value, float) and math.isnan(value)):
            reason = f" ({row['note']})" if row.get("note") else ""
            notes.append(f"- {primary} is undefined for slice `{row.get('slice')}`{reason}.")
        elif row.get("n") is not None and row["n"] < SMALL_SLICE:
            notes.append(
                f"- Slice `{row.get('slice')}` has only {row['n']} test rows; "
                "its figures are uncertain."
            )
    for row in _records(c.get("per_class")):
        if row.get("rows") is not None and row["rows"] < SMALL_SLICE:
            notes.append(
                f"- Class `{row.get('class')}` has only {row['rows']} test rows; "
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
    return [*notes, "", _owner_block(c, "caveats")]


def build_model_card(context: dict[str, Any], folder: str = "") -> str:
    """The model card as Markdown, saved in `folder` (a path from the project root, "" for the
    root): its link to the run's report is relative to that folder.

    Context keys (required: model_name, version, problem_type, metrics):
    model_name, version, created, problem_type, target, classes, algorithm, params (dict),
    library_versions (dict), model_sha256, content_sha256, promotion (str), lineage (see
    `deployment.lineage`), objective, business_success_criterion, slice_column, primary_metric,
    success_threshold, min_gain_over_baseline, metrics / baseline_metrics / champion_metrics
    (name -> value), criteria (records of evaluation.criteria_results), decision (dict),
    cv ({score_mean, score_std}), robustness (dict), slices and importance and per_class
    (DataFrame or records), training_data / evaluation_data ({rows, description, source,
    fingerprint, numeric, categorical}), figures (names from `figures`), and the owner sections
    owner, intended_use, factors, ethical_considerations, caveats (str|None; missing ones become
    marked gaps).
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
        "Lineage": _lineage(c, folder),
        "Intended use": _intended_use(c),
        "Factors": _factors(c),
        "Metrics": _metrics(c),
        "Evaluation data": _data(c.get("evaluation_data"), "held-out test split"),
        "Training data": _data(c.get("training_data"), "training split"),
        "Quantitative analyses": _quantitative(c),
        "Ethical considerations": [_owner_block(c, "ethical_considerations")],
        "Caveats and recommendations": _caveats(c),
        "Appendix: parameters of the run": _parameters(c),
    }
    todo = unwritten(c)
    status = (
        f"> Not ready to sign: {len(todo)} section{'s' if len(todo) != 1 else ''} for the model "
        f"owner to write in `{OWNER_FILE}`: {', '.join(todo)}."
        if todo
        else f"Every owner-written section is filled in (from `{OWNER_FILE}`)."
    )
    parts = [f"# Model card: {c['model_name']} {c['version']}", "", status, ""]
    for section in SECTIONS:
        parts += [f"## {section}", "", *body[section], ""]
    return "\n".join(parts)


# ---------------------------------------------------------------- figures


def per_class_table(y_true: Any, y_pred: Any, classes: Sequence[Any] | None = None) -> pd.DataFrame:
    """Per class: rows (test rows of the class), precision, recall and F1 (the columns of phase
    04's per-class table, used when the evaluation record has none)."""
    from sklearn.metrics import precision_recall_fscore_support

    labels = (
        list(classes) if classes is not None else sorted(pd.unique(np.asarray(y_true)), key=str)
    )
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0.0
    )
    return pd.DataFrame(
        {
            "class": [str(label) for label in labels],
            "rows": support.astype(int),
            "precision": precision.astype(float),
            "recall": recall.astype(float),
            "f1": f1.astype(float),
        }
    )


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def _metric_figure(c: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    metric = c.get("primary_metric") or next(iter(c["metrics"]))
    series = {"model": c["metrics"].get(metric), "baseline": (c.get("baseline_metrics") or {})}
    series["baseline"] = series["baseline"].get(metric)
    champion = c.get("champion_metrics") or {}
    if champion.get(metric) is not None:
        series["production"] = champion[metric]
    shown = {k: float(v) for k, v in series.items() if v is not None}
    fig, ax = plt.subplots(figsize=(6.0, 2.6), layout="constrained")
    colors = {"model": "tab:blue", "baseline": "tab:gray", "production": "tab:green"}
    bars = ax.barh(list(shown), list(shown.values()), color=[colors[k] for k in shown])
    ax.bar_label(bars, labels=[f"{v:.4f}" for v in shown.values()], padding=3)
    if c.get("success_threshold") is not None:
        threshold = float(c["success_threshold"])
        ax.axvline(threshold, color="tab:red", linestyle="--", label="success threshold")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric} on the test split")
    ax.set_title(f"{metric}: model vs baseline" + (" vs production" if champion else ""))
    ax.margins(x=0.15)
    return fig


def _per_class_figure(table: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, max(2.4, 0.5 * len(table) + 1.2)), layout="constrained")
    y = np.arange(len(table))
    for offset, column, color in (
        (-0.27, "precision", "tab:blue"),
        (0.0, "recall", "tab:orange"),
        (0.27, "f1", "tab:green"),
    ):
        ax.barh(y + offset, table[column], height=0.26, color=color, label=column)
    ax.set_yticks(y, [f"{k} (n={n})" for k, n in zip(table["class"], table["rows"], strict=True)])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.05)
    ax.set_title("Per class on the test split")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def figures(context: dict[str, Any], y_true: Any = None, y_pred: Any = None) -> dict[str, bytes]:
    """PNG figures of the card: metric vs baseline/production, per slice, per class
    (classification) or residuals (regression, from `y_true`/`y_pred`), importance."""
    from . import plots

    made: dict[str, bytes] = {"metrics.png": _png(_metric_figure(context))}
    metric = context.get("primary_metric")
    slices = pd.DataFrame(_records(context.get("slices")))
    if len(slices) and metric in slices.columns:
        made["slices.png"] = _png(plots.slice_metrics(slices, metric))
    per_class = pd.DataFrame(_records(context.get("per_class")))
    if len(per_class):
        made["per_class.png"] = _png(_per_class_figure(per_class))
    if context.get("problem_type") == "regression" and y_true is not None and y_pred is not None:
        made["residuals.png"] = _png(plots.residuals(y_true, y_pred))
    importance = pd.DataFrame(_records(context.get("importance")))
    if len(importance):
        made["importance.png"] = _png(plots.importance(importance))
    return made


@dataclass(frozen=True)
class Card:
    """A rendered model card: its context and figures (PNG bytes by file name). Its Markdown
    depends on the folder it is saved in: the link to the run's report is relative to it."""

    context: dict[str, Any]
    figures: dict[str, bytes]

    def markdown(self, folder: str = "") -> str:
        """The card as Markdown for a file in `folder` (from the project root)."""
        return build_model_card(self.context, folder)

    def html(self, title: str, folder: str = "") -> str:
        """The card as a standalone HTML page (figures embedded) for a file in `folder`."""
        return to_html(self.markdown(folder), title, self.figures)

    def in_report(self, report: str | None) -> str:
        """Markdown with the figures inlined, to show in phase 05's own report: beside `report`,
        the index.html of the run showing it (which may be a later run than the version's own),
        or in the notebooks folder when None (outside `crisp run`)."""
        folder = posixpath.dirname(str(report)) if report else "notebooks"
        return inline_figures(self.markdown(folder), self.figures)


def needs_predictions(context: dict[str, Any]) -> bool:
    """True when `render` needs the test predictions: residuals (regression), or a per-class
    table the evaluation record lacks. Otherwise the card need not predict the test split."""
    if context.get("problem_type") == "regression":
        return True
    return context.get("problem_type") == "classification" and not context.get("per_class")


def render(context: dict[str, Any], y_true: Any = None, y_pred: Any = None) -> Card:
    """The card for `context` with the figures of `figures`; for classification the per-class
    table is added from `y_true` and `y_pred`."""
    context = dict(context)
    if (
        context.get("problem_type") == "classification"
        and y_true is not None
        and y_pred is not None
        and not context.get("per_class")
    ):
        context["per_class"] = per_class_table(y_true, y_pred, context.get("classes"))
    made = figures(context, y_true, y_pred)
    context["figures"] = list(made)
    return Card(context, made)


# ---------------------------------------------------------------- records and HTML


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
    data fingerprint (01), feature schema, challenger or registry metadata (03/05, with its
    lineage) and evaluation record (04). `extra` adds or overrides keys (e.g. the owner sections
    of `owner_sections`, promotion)."""
    fingerprint = fingerprint or {}
    features = (feature_schema or {}).get("features", {})
    target_info = (feature_schema or {}).get("target_info") or {}
    primary = evaluation.get("metric") or criteria.get("primary_metric")
    context = {
        "model_name": model_name,
        "version": version,
        "created": model_metadata.get("created"),
        "problem_type": criteria.get("problem_type") or model_metadata.get("problem_type"),
        "target": criteria.get("target") or model_metadata.get("target"),
        "classes": target_info.get("classes"),
        "algorithm": model_metadata.get("algorithm"),
        "params": model_metadata.get("params") or {},
        "library_versions": {
            "scikit-learn": model_metadata.get("sklearn_version"),
            "skops": model_metadata.get("skops_version"),
        },
        "model_sha256": model_metadata.get("model_sha256") or model_metadata.get("sha256"),
        "content_sha256": model_metadata.get("content_sha256"),
        "lineage": model_metadata.get("lineage"),
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
        "per_class": evaluation.get("per_class") or [],
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


def inline_figures(markdown: str, figures: dict[str, bytes]) -> str:
    """`markdown` with its figure links replaced by data URIs (a standalone page or a report)."""
    for name, png in (figures or {}).items():
        uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        markdown = markdown.replace(f"]({FIGURES_DIR}/{name})", f"]({uri})")
    return markdown


def to_html(markdown: str, title: str, figures: dict[str, bytes] | None = None) -> str:
    """A standalone HTML page of the Markdown card, figures embedded (raw HTML in the Markdown
    is escaped)."""
    render_md = mistune.create_markdown(escape=True, plugins=["table", "strikethrough"])
    body = render_md(inline_figures(markdown, figures or {}))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n{body}</body>\n</html>\n"
    )
