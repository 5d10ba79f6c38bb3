"""The project the runner works on: where its root is and what `[tool.crisp]` in its
`pyproject.toml` says (the helper package, its commands, its parameter checks).

The root is `$CRISP_PROJECT_ROOT` when set (the runner sets it for every kernel), else the nearest
folder at or above the working directory whose `pyproject.toml` has a `[tool.crisp]` table. So a
project that was copied or moved is run where it is, never where it was installed from.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT_ENV_VAR = "CRISP_PROJECT_ROOT"
CONFIG_FILE = "pyproject.toml"
_KEYS = (
    "package",
    "commands",
    "checks",
    "catalog",
    "after_run",
    "source",
    "notebooks",
    "params",
)


class ProjectError(RuntimeError):
    """No project here, a malformed `[tool.crisp]`, or an environment that belongs elsewhere."""


def _crisp_table(pyproject: Path) -> dict[str, Any] | None:
    """The `[tool.crisp]` table of `pyproject`, or None when it has none (or is not a file)."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    except tomllib.TOMLDecodeError as exc:
        raise ProjectError(f"{pyproject}: invalid TOML ({exc}); fix the syntax there") from None
    table = data.get("tool", {}).get("crisp")
    return table if isinstance(table, dict) else None


def find_root(start: Path | None = None, fallback: Path | None = None) -> Path:
    """The project root: `$CRISP_PROJECT_ROOT`, else the nearest folder at or above `start`
    (default: the working directory) with a `[tool.crisp]` table, else `fallback`."""
    override = os.environ.get(ROOT_ENV_VAR, "").strip()
    if override:
        return Path(override).expanduser().resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file() and _crisp_table(candidate) is not None:
            return folder
    if fallback is not None:
        return Path(fallback).resolve()
    raise ProjectError(
        f"no project here: neither {here} nor a folder above it has a {CONFIG_FILE} with a "
        "[tool.crisp] table; run crisp inside the project (or set CRISP_PROJECT_ROOT)"
    )


def relative(path: str | Path, root: Path | None = None) -> str:
    """Project-relative POSIX string when `path` is inside the root, else absolute.

    A relative `path` is taken as relative to the project root.
    """
    root = root or find_root()
    absolute = Path(os.path.normpath(root / Path(path).expanduser()))
    if absolute.is_relative_to(root):
        return absolute.relative_to(root).as_posix()
    return absolute.as_posix()


@dataclass(frozen=True)
class Project:
    """A project's root and its `[tool.crisp]` settings."""

    root: Path
    package: str | None = None  # the helper package: its changes re-run the phases using it
    commands: str | None = None  # module whose add_commands() adds the project's commands
    checks: str | None = None  # "module:function" that checks parameters before a run
    catalog: str | None = None  # "module:NAME" of the artifact catalog (crisp.catalog.Catalog)
    after_run: str | None = None  # "module:function" given each finished run's record
    source: str = "src"  # the folder holding the helper code
    notebooks: str = "notebooks"
    params: str = "params.yaml"

    @property
    def notebooks_dir(self) -> Path:
        """Where the phase notebooks live."""
        return self.root / self.notebooks

    @property
    def params_file(self) -> Path:
        """The parameter file."""
        return self.root / self.params

    @property
    def source_dir(self) -> Path:
        """The folder holding the helper code (its changes re-run the phases importing it)."""
        return self.root / self.source

    def hook(self, name: str) -> Any:
        """The object a `[tool.crisp]` key (`checks`, `after_run`: a function; `catalog`: the
        catalog) names, or None if unset."""
        target = getattr(self, name)
        if not target:
            return None
        module, _, function = target.partition(":")
        try:
            return getattr(importlib.import_module(module), function)
        except Exception as exc:  # ImportError, AttributeError, or the module's own error
            raise ProjectError(
                f"[tool.crisp] {name} = {target!r} in {self.root / CONFIG_FILE} cannot be "
                f"loaded ({exc}); fix it as 'module:name'"
            ) from None

    def check_environment(self) -> None:
        """Raise ProjectError when this project's helper package is imported from another folder:
        the environment was built for a copy or an earlier place of this project."""
        if not self.package:
            return
        own = self.source_dir / self.package.replace(".", "/")
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.origin:
            raise ProjectError(
                f"the helper package {self.package} is not installed in this environment "
                f"({sys.prefix}); run `make setup` in {self.root}"
            )
        origin = Path(spec.origin).resolve()
        if own.is_dir() and not origin.is_relative_to(own.resolve()):
            raise ProjectError(
                f"the environment belongs to another folder: it runs {self.package} from "
                f"{origin.parent}, not from this project ({self.root}), which was copied or "
                "moved; run `make setup` here to build it again for this folder"
            )


def load(root: Path | None = None) -> Project:
    """The project at `root` (default: `find_root()`) with its `[tool.crisp]` settings."""
    root = Path(root).resolve() if root is not None else find_root()
    table = _crisp_table(root / CONFIG_FILE) or {}
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise ProjectError(
            f"{root / CONFIG_FILE}: unknown key(s) in [tool.crisp]: {', '.join(unknown)}; "
            f"known: {', '.join(_KEYS)}"
        )
    return Project(
        root=root,
        package=table.get("package"),
        commands=table.get("commands"),
        checks=table.get("checks"),
        catalog=table.get("catalog"),
        after_run=table.get("after_run"),
        source=table.get("source", "src"),
        notebooks=table.get("notebooks", "notebooks"),
        params=table.get("params", "params.yaml"),
    )
