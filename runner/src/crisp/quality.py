"""Quality-assurance checks of a phase: recorded for the run, a failed required check stops it."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from . import context
from .files import to_jsonable

if TYPE_CHECKING:
    import pandas as pd

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
    "in": lambda value, allowed: value in allowed,
    "not in": lambda value, allowed: value not in allowed,
}
BOOLEAN_OP = "holds"  # op recorded for require(): a yes/no check


class QualityCheckError(RuntimeError):
    """One or more required QA checks of a phase failed."""


def _show(value: Any) -> str:
    """Short human form: floats to 4 significant digits, long lists cut."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, list) and len(value) > 8:
        return "[" + ", ".join(_show(v) for v in value[:8]) + f", ... ({len(value)} items)]"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one QA check; value and threshold are stored JSON-friendly."""

    name: str
    passed: bool
    value: Any
    threshold: Any
    op: str
    required: bool
    detail: str = ""

    def message(self) -> str:
        """One line, e.g. "QA check 'enough rows' failed: 120 is not >= 500 (threshold)"."""
        outcome = "passed" if self.passed else "failed"
        if self.op == BOOLEAN_OP:
            facts = []
            if self.value is not None:
                facts.append(f"value {_show(self.value)}")
            if self.threshold is not None:
                facts.append(f"expected {_show(self.threshold)}")
            text = f"QA check '{self.name}' {outcome}" + (f": {', '.join(facts)}" if facts else "")
        else:
            relation = self.op if self.passed else f"is not {self.op}"
            text = (
                f"QA check '{self.name}' {outcome}: {_show(self.value)} {relation} "
                f"{_show(self.threshold)} (threshold)"
            )
        return text + (f" ({self.detail})" if self.detail else "")

    def to_dict(self) -> dict[str, Any]:
        """Record form, message included."""
        return {**asdict(self), "message": self.message()}


class QualityGate:
    """Collects a phase's QA checks; `finish()` records them and raises on a failed required check.

    The phase is the running one (the run context) unless given.

    A check run again under the same name (a re-executed cell) replaces the earlier result.
    """

    def __init__(self, phase: str | None = None) -> None:
        self.phase = phase or context.phase() or "(interactive)"
        self._results: dict[str, CheckResult] = {}

    def _add(self, result: CheckResult) -> CheckResult:
        self._results[result.name] = result  # a re-run check keeps its place
        return result

    def check(
        self,
        name: str,
        value: Any,
        threshold: Any,
        op: str = ">=",
        *,
        required: bool = True,
        detail: str = "",
    ) -> CheckResult:
        """Check `value <op> threshold`; op is one of >=, <=, >, <, ==, !=, in, not in."""
        if op not in OPERATORS:
            raise ValueError(f"unknown QA operator {op!r}; use one of: {', '.join(OPERATORS)}")
        value, threshold = to_jsonable(value), to_jsonable(threshold)
        try:
            passed = bool(OPERATORS[op](value, threshold))
        except TypeError:
            passed = False
            reason = "no value (missing or NaN)" if value is None else "values not comparable"
            detail = f"{detail}; {reason}" if detail else reason
        return self._add(CheckResult(name, passed, value, threshold, op, required, detail))

    def require(
        self,
        name: str,
        passed: bool,
        *,
        value: Any = None,
        threshold: Any = None,
        detail: str = "",
        required: bool = True,
    ) -> CheckResult:
        """Record a yes/no check; value and threshold are optional context for the message."""
        result = CheckResult(
            name,
            bool(passed),
            to_jsonable(value),
            to_jsonable(threshold),
            BOOLEAN_OP,
            required,
            detail,
        )
        return self._add(result)

    @property
    def results(self) -> list[CheckResult]:
        """Results in the order the checks were first run."""
        return list(self._results.values())

    @property
    def failed(self) -> list[CheckResult]:
        """Failed required checks."""
        return [r for r in self._results.values() if r.required and not r.passed]

    def table(self) -> pd.DataFrame:
        """One row per check: name, passed, value, op, threshold, required, detail."""
        import pandas as pd

        columns = ["name", "passed", "value", "op", "threshold", "required", "detail"]
        rows = [{c: getattr(r, c) for c in columns} for r in self._results.values()]
        return pd.DataFrame(rows, columns=columns)

    def finish(self) -> pd.DataFrame:
        """Record the results for the run; raise QualityCheckError if a required check failed."""
        context.record_quality([r.to_dict() for r in self._results.values()])
        failed = self.failed
        if failed:
            lines = "\n".join(f"  - {r.message()}" for r in failed)
            raise QualityCheckError(
                f"phase {self.phase}: {len(failed)} required QA check(s) failed:\n{lines}\n"
                "Fix the input or code, or change the threshold in params.yaml if it is too strict."
            )
        return self.table()
