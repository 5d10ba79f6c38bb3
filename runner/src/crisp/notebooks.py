"""What of a phase notebook is its source: what the state hashes, what git keeps.

Running a notebook adds things that are not its source: papermill's `injected-parameters` cell
and its `papermill` metadata, nbclient's `execution` timings, empty `tags` lists, the kernel's full
`language_info`. `content_digest` leaves them out, so they do not make a phase outdated; `tidy`
removes them, as the project's pre-commit hook (`python -m crisp.notebooks FILE...`, beside
nbstripout, which removes outputs), so a notebook run in place by papermill and committed equals
the one it was run from; `stable_injected_id` gives papermill's cell the same id in every run, so
the diff of two runs' notebooks shows only real changes.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

INJECTED_TAG = "injected-parameters"  # papermill's tag for the cell it adds
INJECTED_ID = "injected-parameters"  # a valid cell id (nbformat 4.5: 1-64 of [a-zA-Z0-9-_])
RUN_METADATA = ("papermill", "execution", "ExecuteTime")  # per-cell keys a run writes
EXIT_CHANGED = 1  # pre-commit's convention: a hook that changed files fails, the user re-adds


def _text(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source or "")


def _injected(cell: dict[str, Any]) -> bool:
    return INJECTED_TAG in ((cell.get("metadata") or {}).get("tags") or [])


def content_digest(data: bytes) -> str:
    """sha256 of what makes a phase run differently or report differently: each cell's type,
    source and tags, and the kernel's name; not outputs, ids, run metadata, `language_info`, or a
    leftover injected-parameters cell (the runner injects its own). Raises ValueError on bad JSON.
    """
    nb = json.loads(data)
    if not isinstance(nb, dict):
        raise ValueError("not a notebook (its JSON is not an object)")
    cells = [
        [
            cell.get("cell_type"),
            _text(cell.get("source")),
            sorted((cell.get("metadata") or {}).get("tags") or []),
        ]
        for cell in nb.get("cells", [])
        if isinstance(cell, dict) and not _injected(cell)
    ]
    kernel = ((nb.get("metadata") or {}).get("kernelspec") or {}).get("name")
    canonical = json.dumps([kernel, cells], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def stable_injected_id(nb: Any) -> None:
    """Give papermill's injected cell the same id in every run (it draws a random one)."""
    for cell in nb.get("cells", []):
        if _injected(cell) and "id" in cell:
            cell["id"] = INJECTED_ID


def tidy(nb: dict[str, Any]) -> list[str]:
    """Remove from `nb`, in place, what a papermill or Jupyter run added; returns what went."""
    removed: list[str] = []
    cells = nb.get("cells", [])
    kept = [cell for cell in cells if not _injected(cell)]
    if len(kept) != len(cells):
        removed.append("papermill's injected-parameters cell")
        nb["cells"] = kept
    for cell in kept:
        metadata = cell.get("metadata")
        if not isinstance(metadata, dict):
            continue
        for key in RUN_METADATA:
            if metadata.pop(key, None) is not None:
                removed.append(f"cell metadata {key}")
        if "tags" in metadata and not metadata["tags"]:
            del metadata["tags"]
            removed.append("empty cell tags")
    metadata = nb.get("metadata") or {}
    if metadata.pop("papermill", None) is not None:
        removed.append("notebook metadata papermill")
    info = metadata.get("language_info")
    if isinstance(info, dict) and set(info) - {"name"}:
        metadata["language_info"] = {"name": info.get("name", "python")}
        removed.append("language_info beyond the language's name")
    return list(dict.fromkeys(removed))


def tidy_file(path: Path) -> list[str]:
    """`tidy` a notebook file, rewritten (as Jupyter writes it) only when something was removed."""
    path = Path(path)
    nb = json.loads(path.read_text(encoding="utf-8"))
    removed = tidy(nb)
    if removed:
        from .files import atomic_write_text

        text = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        atomic_write_text(path, text)
    return removed


def main(argv: Sequence[str] | None = None) -> int:
    """The pre-commit hook: tidy each notebook named; exit 1 when one changed (re-add it)."""
    changed = 0
    for name in sys.argv[1:] if argv is None else argv:
        try:
            removed = tidy_file(Path(name))
        except (OSError, ValueError) as exc:
            print(f"{name}: cannot read it as a notebook ({exc})", file=sys.stderr)
            return 2
        if removed:
            changed += 1
            print(f"{name}: removed {', '.join(removed)}")
    return EXIT_CHANGED if changed else 0


if __name__ == "__main__":
    sys.exit(main())
