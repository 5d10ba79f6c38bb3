"""Phases: the numbered notebooks `NN_name.ipynb` in run order, and selecting some of them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_NOTEBOOK = re.compile(r"^(\d{2})_([A-Za-z0-9_]+)\.ipynb$")


class PhaseError(ValueError):
    """A phase name the user gave that matches no notebook (the message lists the phases)."""


@dataclass(frozen=True)
class Phase:
    """One phase of the pipeline: `03_modelling` runs notebooks/03_modelling.ipynb."""

    number: int
    name: str
    section: str
    notebook: Path


def discover(notebooks_dir: Path) -> list[Phase]:
    """The phases in `notebooks_dir`, sorted by number (checkpoints and other files ignored)."""
    phases = []
    for path in Path(notebooks_dir).iterdir():
        match = _NOTEBOOK.match(path.name)
        if match and path.is_file():
            number, section = match.groups()
            phases.append(Phase(int(number), path.stem, section, path))
    return sorted(phases, key=lambda phase: (phase.number, phase.name))


def find(phases: Sequence[Phase], ref: str) -> Phase:
    """The phase `ref` names: `03`, `3`, `modelling` or `03_modelling`."""
    ref = str(ref).strip()
    for phase in phases:
        if ref in (phase.name, phase.section) or (ref.isdigit() and int(ref) == phase.number):
            return phase
    listing = ", ".join(phase.name for phase in phases) or "(no notebooks found)"
    raise PhaseError(f"unknown phase '{ref}'; phases: {listing}")


def select(
    phases: Sequence[Phase],
    start: str | None = None,
    stop: str | None = None,
    only: str | Sequence[str] | None = None,
) -> list[Phase]:
    """The phases from `start` to `stop` (inclusive), or just the `only` ones, in run order."""
    if only:
        refs = [only] if isinstance(only, str) else list(only)
        chosen = {find(phases, ref) for ref in refs}
        return [phase for phase in phases if phase in chosen]
    first = find(phases, start).number if start else None
    last = find(phases, stop).number if stop else None
    if first is not None and last is not None and first > last:
        raise PhaseError(f"--from {start} comes after --to {stop}; swap them")
    return [
        phase
        for phase in phases
        if (first is None or phase.number >= first) and (last is None or phase.number <= last)
    ]
