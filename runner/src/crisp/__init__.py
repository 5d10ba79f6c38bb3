"""crisp: runs a project's phase notebooks in order with papermill, injecting parameters from one
file, and turns them into HTML reports, quality-gate records and a run history.

What a notebook uses: `QualityGate` (a phase's QA checks), `record_metrics` (its headline figures
for `crisp runs` and `crisp compare`), `record_summary` and `record_figure` (what the summary card
at the top of the run's index shows: the decision, metrics against their targets, key figures).
The rest is the runner's own: see docs/architecture.md.
"""

from .context import record_figure, record_metrics, record_summary
from .quality import QualityCheckError, QualityGate

__version__ = "0.1.0"
__all__ = [
    "QualityCheckError",
    "QualityGate",
    "record_figure",
    "record_metrics",
    "record_summary",
    "__version__",
]
