"""Phases are transactions: what a phase writes becomes visible only when the phase succeeds.

In a phase's kernel (`crisp run`), every file the project writes through `crisp.files` lands in
the phase's staging folder, `reports/<run>/<phase>/staged/<project path>`, and a deletion is
noted instead of done; reads through `crisp.files` (`readable`, `is_file`, `list_dir`) see the
phase's own staged writes and deletions. When the notebook succeeded, the runner commits them
together (`commit`); when it failed, was interrupted or its process died, they are dropped
(`discard`), and every file the phase would have replaced is as it was, byte for byte.

A commit is two steps, so that a failure cannot leave half of it done: first every staged file
is moved beside its target under a temporary name (what can fail: a read-only folder, another
file system); only when all are there does each replace its target (a rename within a folder).
Its plan (`commit.json`) is written first, so a commit cut short (`kill -9`) is rolled back or
completed the next time the run is settled (`recover`). Outside a run everything is written at
once, atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

RUN_DIR_ENV_VAR = "CRISP_RUN_DIR"
PHASE_ENV_VAR = "CRISP_PHASE"
ROOT_ENV_VAR = "CRISP_PROJECT_ROOT"
STAGED = "staged"  # folder under the phase's run folder
DELETED = "staged-deletions.jsonl"  # project paths the phase deleted
PLAN = "commit.json"
TEMP = ".crisp-commit"  # suffix of a staged file moved beside its target


class CommitError(OSError):
    """The staged outputs of a phase could not be put in place (nothing was changed)."""


def _phase_dir() -> Path | None:
    run_dir = os.environ.get(RUN_DIR_ENV_VAR, "").strip()
    phase = os.environ.get(PHASE_ENV_VAR, "").strip()
    return Path(run_dir) / phase if run_dir and phase else None


def _root() -> Path | None:
    root = os.environ.get(ROOT_ENV_VAR, "").strip()
    return Path(os.path.normpath(Path(root).expanduser().absolute())) if root else None


def _staged(path: str | Path) -> tuple[Path, Path, str] | None:
    """(stage folder, absolute target, project-relative path) when `path` is to be staged:
    inside a phase's run, inside the project, not one of the run records under reports/."""
    phase_dir, root = _phase_dir(), _root()
    if phase_dir is None or root is None:
        return None
    target = Path(os.path.normpath(Path(path).absolute()))
    if not target.is_relative_to(root) or target.is_relative_to(root / "reports"):
        return None
    return phase_dir / STAGED, target, target.relative_to(root).as_posix()


def _deleted(phase_dir: Path) -> set[str]:
    try:
        lines = (phase_dir / DELETED).read_text(encoding="utf-8").splitlines()
    except OSError:
        return set()
    return {json.loads(line) for line in lines if line.strip()}


def _is_deleted(relative: str, deleted: set[str]) -> bool:
    return any(relative == d or relative.startswith(d.rstrip("/") + "/") for d in deleted)


# ---------------------------------------------------------------------- in the phase's kernel


def destination(path: str | Path) -> Path:
    """Where a write of `path` goes: its staged copy inside a phase's run, else `path`.

    Inside a run, a target folder that cannot be written to is refused here, in the cell that
    writes (it would otherwise only fail when the phase's outputs are committed).
    """
    staged = _staged(path)
    if staged is None:
        return Path(path)
    stage, target, relative = staged
    if target.is_dir():
        raise IsADirectoryError(21, "Is a directory", str(target))
    existing = target.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(20, "Not a directory", str(existing))
    if not os.access(existing, os.W_OK):
        raise PermissionError(13, "Permission denied (folder not writable)", str(existing))
    return stage / relative


def readable(path: str | Path) -> Path:
    """The file a read of `path` should open: the phase's staged copy when it wrote one (a path
    that does not exist when it deleted the file), else `path` itself."""
    staged = _staged(path)
    if staged is None:
        return Path(path)
    stage, target, relative = staged
    copy = stage / relative
    if copy.exists() or _is_deleted(relative, _deleted(stage.parent)):
        return copy
    return target


def list_dir(folder: str | Path) -> list[Path]:
    """The entries of `folder` as the phase sees them (its staged writes and deletions in)."""
    folder = Path(folder)
    names: set[str] = set()
    with contextlib.suppress(OSError):
        names.update(entry.name for entry in folder.iterdir())
    staged = _staged(folder)
    if staged is not None:
        stage, _, relative = staged
        deleted = _deleted(stage.parent)
        names = {n for n in names if not _is_deleted(f"{relative}/{n}", deleted)}
        with contextlib.suppress(OSError):
            names.update(entry.name for entry in (stage / relative).iterdir())
    return [folder / name for name in sorted(names)]


def remove(path: str | Path) -> None:
    """Delete a file or folder tree: noted for the commit inside a phase's run, else at once
    (a folder is renamed first, so an interrupted delete never leaves half of it)."""
    staged = _staged(path)
    if staged is None:
        target = Path(path)
        if target.is_dir() and not target.is_symlink():
            trash = target.with_name(f".deleted-{target.name}")
            target.rename(trash)
            shutil.rmtree(trash)
        else:
            target.unlink(missing_ok=True)
        return
    stage, _, relative = staged
    copy = stage / relative
    if copy.is_dir():
        shutil.rmtree(copy)
    else:
        copy.unlink(missing_ok=True)
    stage.parent.mkdir(parents=True, exist_ok=True)
    with open(stage.parent / DELETED, "a", encoding="utf-8") as log:
        log.write(json.dumps(relative) + "\n")


# ---------------------------------------------------------------------- in the runner


def _plan(phase_dir: Path, root: Path) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """(moves as (staged file, target), deletions) of a phase's staged outputs."""
    stage = phase_dir / STAGED
    moves = []
    if stage.is_dir():
        for dirpath, _, filenames in os.walk(stage):
            for name in filenames:
                staged_file = Path(dirpath) / name
                moves.append((staged_file, root / staged_file.relative_to(stage)))
    deletions = [root / relative for relative in sorted(_deleted(phase_dir))]
    return sorted(moves), deletions


def _temp(target: Path, deletions: list[Path]) -> Path:
    """Where a staged file waits for the second step: beside its target, or beside the
    deleted folder the target is in (that folder is gone before it moves in)."""
    for deleted in deletions:
        if target.is_relative_to(deleted) and target != deleted:
            return deleted.with_name(f".{deleted.name}{TEMP}") / target.relative_to(deleted)
    return target.with_name(f".{target.name}{TEMP}")


def _save_plan(phase_dir: Path, plan: dict) -> None:
    from .files import atomic_write_text

    atomic_write_text(phase_dir / PLAN, json.dumps(plan))


def commit(phase_dir: Path, root: Path, only: Callable[[str], bool] | None = None) -> None:
    """Put a successful phase's staged outputs in place, all of them or none (CommitError).

    `only`: of a failed phase, just the files it keeps when it fails (given their project path);
    the rest is dropped, and no deletion is made.
    """
    moves, deletions = _plan(phase_dir, root)
    if only is not None:
        moves = [(s, t) for s, t in moves if only(t.relative_to(root).as_posix())]
        deletions = []
    if not moves and not deletions:
        discard(phase_dir)
        return
    plan = {
        "ready": False,
        "moves": [[str(_temp(target, deletions)), str(target)] for _, target in moves],
        "deletions": [str(path) for path in deletions],
    }
    _save_plan(phase_dir, plan)
    moved: list[Path] = []
    created: list[Path] = []  # folders made for the targets, outermost first
    try:
        for staged_file, target in moves:
            if target.is_dir() and not any(target.is_relative_to(d) for d in deletions):
                raise IsADirectoryError(21, "Is a directory", str(target))
            temp = _temp(target, deletions)
            missing = [p for p in (temp.parent, *temp.parent.parents) if not p.exists()]
            temp.parent.mkdir(parents=True, exist_ok=True)
            created.extend(reversed(missing))
            try:
                os.replace(staged_file, temp)
            except OSError as exc:
                if exc.errno != 18:  # EXDEV: the target is on another file system
                    raise
                shutil.copy2(staged_file, temp)
            moved.append(temp)
    except OSError as exc:
        for temp in moved:
            temp.unlink(missing_ok=True)
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        (phase_dir / PLAN).unlink(missing_ok=True)
        discard(phase_dir)
        where = exc.filename or "?"
        raise CommitError(
            exc.errno,
            f"the phase's outputs could not be put in place ({exc.strerror}: {where}); "
            "nothing was changed",
        ) from exc
    plan["ready"] = True
    _save_plan(phase_dir, plan)
    _apply(plan)
    (phase_dir / PLAN).unlink(missing_ok=True)
    discard(phase_dir)


def _apply(plan: dict) -> None:
    """The second step of a commit: deletions, then every moved file replaces its target."""
    for path in map(Path, plan["deletions"]):
        if path.is_dir() and not path.is_symlink():
            trash = path.with_name(f".deleted-{path.name}")
            path.rename(trash)
            shutil.rmtree(trash)
        else:
            path.unlink(missing_ok=True)
    for temp, target in plan["moves"]:
        if Path(temp).exists():
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, target)
    for path in map(Path, plan["deletions"]):
        shutil.rmtree(path.with_name(f".{path.name}{TEMP}"), ignore_errors=True)


def discard(phase_dir: Path) -> None:
    """Drop a phase's staged outputs (it failed, or they were committed)."""
    shutil.rmtree(phase_dir / STAGED, ignore_errors=True)
    (phase_dir / DELETED).unlink(missing_ok=True)


def recover(phase_dir: Path, root: Path) -> None:
    """After the run's process died: finish a commit whose first step was done, or undo one
    whose first step was not; drop what was only staged."""
    try:
        plan = json.loads((phase_dir / PLAN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        plan = None
    if plan is not None:
        if plan.get("ready"):
            _apply(plan)
        else:
            for temp, _ in plan.get("moves", []):
                Path(temp).unlink(missing_ok=True)
        (phase_dir / PLAN).unlink(missing_ok=True)
    discard(phase_dir)
