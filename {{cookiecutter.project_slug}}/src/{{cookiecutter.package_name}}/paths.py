"""Project root and resolution of project-relative paths.

The root is where the project is run from (`crisp.project.find_root`: `$CRISP_PROJECT_ROOT`, else
the nearest folder up from the working directory with a `[tool.crisp]` pyproject.toml), else the
folder this package lives in.
"""

from __future__ import annotations

import os
from pathlib import Path

from crisp import project

ROOT_ENV_VAR = project.ROOT_ENV_VAR


class PathError(ValueError):
    """A project-relative path that points outside the project."""


def _default_root() -> Path:
    # src/<pkg>/paths.py -> parents[2] is the project root.
    return Path(__file__).resolve().parents[2]


def project_root() -> Path:
    """The project root (read at call time): see the module's docstring."""
    return project.find_root(fallback=_default_root())


PROJECT_ROOT: Path = project_root()


def resolve(path: str | Path) -> Path:
    """Absolute path for `path`: relative paths are taken from the project root, absolute kept.

    Raises PathError when a relative path climbs out of the project (`../x`).
    """
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return Path(os.path.normpath(candidate))
    root = project_root()
    resolved = Path(os.path.normpath(root / candidate))
    if not resolved.is_relative_to(root):
        raise PathError(
            f"path '{path}' escapes the project directory; use an absolute path if you mean it "
            f"(project directory: {root})"
        )
    return resolved


def relative(path: str | Path) -> str:
    """Project-relative posix string when `path` is inside the project root, else absolute.

    A relative `path` is taken as relative to the project root, like resolve() does.
    """
    root = project_root()
    absolute = Path(os.path.normpath(root / Path(path).expanduser()))
    if absolute.is_relative_to(root):
        return absolute.relative_to(root).as_posix()
    return absolute.as_posix()
