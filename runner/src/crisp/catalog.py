"""The artifact catalog: what each phase writes (name -> project path) and what it reads.

A project declares it once (e.g. `CATALOG` in its artifacts module, named by `[tool.crisp]
catalog`); the rest follows from it: where a named artifact lives, which phase to run when one is
missing ("run phase 02_data_preparation first"), and, before a run starts, whether every phase
that runs will find its inputs (written earlier in the same run, or already there).

    CATALOG = Catalog({
        "02_data_preparation": PhaseFiles(
            writes={"train": "data/processed/train.parquet"},
            reads=("data_fingerprint",),
        ),
        "03_modelling": PhaseFiles(
            writes={"challenger": "models/challenger.skops"}, reads=("train",)
        ),
    })

A path ending in `/` is a folder the phase writes into (a model registry, say). What a phase
writes becomes visible only when it succeeds (staging.py), except the entries it declares
`kept_on_failure`: reports of its own checks (a drift report that raised an alert). `unlogged`
names what the phase writes without logging it as its output (a file commands outside the
pipeline change too, such as the production pointer).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath


class CatalogError(ValueError):
    """A catalog that contradicts itself (a name twice, a read nobody writes, a read of a later
    phase's output) or the project's phases."""


class UnknownArtifactError(KeyError):
    """A catalog name that does not exist."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class PhaseFiles:
    """What one phase writes (catalog name -> project path) and reads: `reads`, names that
    earlier phases write; `may_read`, names read only when they exist (the production model that
    a later phase wrote in an earlier run, say)."""

    writes: Mapping[str, str] = field(default_factory=dict)
    reads: Sequence[str] = ()
    may_read: Sequence[str] = ()
    kept_on_failure: Sequence[str] = ()  # written even when the phase fails (its checks' report)
    # Written but not logged as the phase's output: a file that commands outside the pipeline
    # also change (the production pointer: crisp promote, rollback), which must not make the
    # phase outdated.
    unlogged: Sequence[str] = ()


@dataclass(frozen=True)
class Entry:
    """One artifact: its name, its project-relative path and the phase that writes it."""

    name: str
    path: str
    phase: str

    @property
    def is_folder(self) -> bool:
        """Whether the entry is a folder the phase writes into."""
        return self.path.endswith("/")

    def holds(self, relative: str) -> bool:
        """Whether the project path `relative` is this entry (or inside it, for a folder)."""
        if self.is_folder:
            return relative.startswith(self.path) or relative == self.path.rstrip("/")
        return relative == self.path


class Catalog(Mapping[str, str]):
    """The project's artifacts by name (a mapping name -> project path) and by phase."""

    def __init__(self, phases: Mapping[str, PhaseFiles]) -> None:
        self.phases: dict[str, PhaseFiles] = dict(phases)
        self.entries: dict[str, Entry] = {}
        for phase, files in self.phases.items():
            for name, path in files.writes.items():
                if name in self.entries:
                    raise CatalogError(
                        f"catalog name {name!r} is written by {self.entries[name].phase} and "
                        f"{phase}; give each artifact one name and one producing phase"
                    )
                normal = PurePosixPath(path).as_posix() + ("/" if path.endswith("/") else "")
                self.entries[name] = Entry(name, normal, phase)
        order = list(self.phases)
        for phase, files in self.phases.items():
            for name in files.kept_on_failure:
                if name not in files.writes:
                    raise CatalogError(
                        f"phase {phase} keeps {name!r} when it fails, but does not write it"
                    )
            for name in files.unlogged:
                if name not in files.writes:
                    raise CatalogError(
                        f"phase {phase} lists {name!r} as unlogged, but does not write it"
                    )
            for name in [*files.reads, *files.may_read]:
                if name not in self.entries:
                    raise CatalogError(
                        f"phase {phase} reads {name!r}, which no phase of the catalog writes"
                    )
            for name in files.reads:
                producer = self.entries[name].phase
                if order.index(producer) >= order.index(phase):
                    raise CatalogError(
                        f"phase {phase} reads {name!r}, written by {producer}, which does not "
                        "run before it; fix the catalog or the phases' order"
                    )

    # Mapping: name -> project-relative path
    def __getitem__(self, name: str) -> str:
        return self.entry(name).path

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def entry(self, name: str) -> Entry:
        """The entry called `name` (UnknownArtifactError listing the names otherwise)."""
        try:
            return self.entries[name]
        except KeyError:
            raise UnknownArtifactError(
                f"unknown artifact {name!r}; known artifacts: {', '.join(sorted(self.entries))} "
                "(pass a pathlib.Path for a file outside the catalog)"
            ) from None

    def producer(self, relative: str | Path) -> str | None:
        """The phase that writes the project path `relative` (None when no entry holds it)."""
        text = Path(relative).as_posix()
        holding = [entry for entry in self.entries.values() if entry.holds(text)]
        if not holding:
            return None
        return max(holding, key=lambda entry: len(entry.path)).phase

    def kept_on_failure(self, phase: str) -> list[Entry]:
        """The entries `phase` writes even when it fails."""
        files = self.phases.get(phase)
        return [self.entries[name] for name in files.kept_on_failure] if files else []

    def check_phases(self, phases: Sequence[str]) -> None:
        """Raise CatalogError when the catalog names a phase the project does not have."""
        unknown = [phase for phase in self.phases if phase not in phases]
        if unknown:
            raise CatalogError(
                f"the artifact catalog names phase(s) {', '.join(unknown)}, which have no "
                f"notebook; phases: {', '.join(phases)}"
            )

    def missing_inputs(
        self, phase: str, root: Path, written_before: Sequence[str]
    ) -> list[tuple[Entry, str]]:
        """(entry, message) for each input of `phase` that does not exist and that none of the
        phases `written_before` (those that run before it in this run) writes."""
        files = self.phases.get(phase)
        if files is None:
            return []
        missing = []
        for name in files.reads:
            entry = self.entries[name]
            if entry.phase in written_before or (root / entry.path).exists():
                continue
            missing.append(
                (
                    entry,
                    f"phase {phase} reads {name} ({entry.path.rstrip('/')}), which does not "
                    f"exist: run phase {entry.phase} first (crisp run --from {entry.phase})",
                )
            )
        return missing
