"""crisp: runs a project's phase notebooks in order with papermill, injecting parameters from one
file, and turns them into HTML reports, quality-gate records and a run history.

What a notebook uses: `QualityGate` (a phase's QA checks) and `record_metrics` (its headline
figures for the run's index). The rest is the runner's own: see docs/architecture.md.
"""

from .context import record_metrics
from .quality import QualityCheckError, QualityGate

__version__ = "0.1.0"
__all__ = ["QualityCheckError", "QualityGate", "record_metrics", "__version__"]
