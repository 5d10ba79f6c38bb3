"""Which helper source files a notebook depends on: its imports, followed through the helpers.

Static analysis (`ast`) of the notebook's code cells, then of each helper module it reaches
(absolute imports of modules under the source root, and relative imports), transitively.
The imports found in a file are cached by the file's sha256, so unchanged files are not re-parsed.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .notebooks import content_digest

# IPython syntax that is not Python: line magics, shell escapes, `x = !cmd`, `x = %magic`.
_IPYTHON_LINE = re.compile(r"^(\s*)(?:[%!]|\w+\s*=\s*[%!])")


@dataclass
class Dependencies:
    """What a notebook depends on."""

    notebook_sha256: str
    modules: list[str]  # what running the notebook's imports imports: safe to pre-import
    imports: list[str]  # every module it or its helpers import anywhere (function-level too)
    files: dict[Path, str]  # helper source file under the source root -> sha256


def code_cells(nb: dict) -> list[str]:
    """Source of each code cell of a notebook given as parsed JSON."""
    cells = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            cells.append("".join(source) if isinstance(source, list) else source)
    return cells


def _parse(source: str) -> ast.Module | None:
    """Python AST of a cell or module, IPython magics blanked out; None if it does not parse."""
    if source.lstrip().startswith("%%"):
        return None
    lines = [
        _IPYTHON_LINE.sub(lambda m: m.group(1) + "pass  # ", line, count=1)
        for line in source.splitlines()
    ]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _imports(tree: ast.Module, package: str | None) -> tuple[set[str], set[str]]:
    """(all, eager): absolute names of the modules (and possible submodules) `tree` imports.

    `eager` leaves out imports inside functions and `if TYPE_CHECKING:` blocks, which do not run
    when the module is imported. `package` resolves relative imports (None for notebooks).
    """
    every: set[str] = set()
    eager: set[str] = set()

    def visit(node: ast.AST, is_eager: bool) -> None:
        for child in ast.iter_child_nodes(node):
            child_eager = is_eager and not isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                child_eager = False
            names = _names(child, package)
            every.update(names)
            if child_eager:
                eager.update(names)
            visit(child, child_eager)

    visit(tree, True)
    return every, eager


def _names(node: ast.AST, package: str | None) -> set[str]:
    """Modules one import statement imports (`from pkg import mod` may import pkg.mod)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    if not isinstance(node, ast.ImportFrom):
        return set()
    if node.level:
        if not package:
            return set()
        parts = package.split(".")
        if node.level - 1 >= len(parts):
            return set()
        base = ".".join(parts[: len(parts) - (node.level - 1)])
        module = f"{base}.{node.module}" if node.module else base
    else:
        module = node.module or ""
    return {module} | {f"{module}.{alias.name}" for alias in node.names if alias.name != "*"}


def _cached_imports(
    key: str, sources: list[str], package: str | None, cache: dict[str, Any]
) -> tuple[set[str], set[str]]:
    entry = cache.get(key)
    if not (isinstance(entry, dict) and "all" in entry and "eager" in entry):
        every: set[str] = set()
        eager: set[str] = set()
        for source in sources:
            tree = _parse(source)
            if tree is not None:
                found = _imports(tree, package)
                every |= found[0]
                eager |= found[1]
        cache[key] = {"all": sorted(every), "eager": sorted(eager)}
    return set(cache[key]["all"]), set(cache[key]["eager"])


def notebook_imports(notebook: Path, cache: dict[str, Any] | None = None) -> set[str]:
    """All module names the notebook's code cells import (including `from a import b` as `a.b`)."""
    data = Path(notebook).read_bytes()
    return _notebook_imports(data, hashlib.sha256(data).hexdigest(), {} if cache is None else cache)


def _notebook_imports(data: bytes, digest: str, cache: dict[str, Any]) -> set[str]:
    # Every cell runs, so everything a notebook imports is imported eagerly.
    return _cached_imports(digest, code_cells(json.loads(data)), None, cache)[0]


def _module_file(name: str, root: Path) -> Path | None:
    base = root.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _files_for(name: str, root: Path) -> list[tuple[str, Path]]:
    """The files importing `name` executes: each parent package's __init__ and the module."""
    found = []
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        module = ".".join(parts[:i])
        path = _module_file(module, root)
        if path is None:
            break
        found.append((module, path))
    return found


def dependencies(
    notebook: Path, source_root: Path, cache: dict[str, Any] | None = None
) -> Dependencies:
    """The notebook's hash, the modules it will import and the helper files it reaches.

    Helper files are followed through every import (a function-level import still runs when the
    notebook calls that function); the modules to pre-import only through imports that run when
    a module is imported. `cache` maps content hashes to the imports found (kept between runs).
    """
    cache = {} if cache is None else cache
    source_root = Path(source_root)
    data = Path(notebook).read_bytes()
    notebook_sha256 = content_digest(data)  # run metadata (language_info, ...) left out
    imported = _notebook_imports(data, notebook_sha256, cache)
    files: dict[Path, str] = {}
    eager_of: dict[str, set[str]] = {}
    everything = set(imported)
    # Only names whose top-level package lives under the source root can be helper modules.
    local = {p.stem for p in source_root.iterdir()} if source_root.is_dir() else set()
    queue = [name for name in imported if name.partition(".")[0] in local]
    while queue:
        for module, path in _files_for(queue.pop(), source_root):
            if module in eager_of:
                continue
            content = path.read_bytes()
            digest = hashlib.sha256(content).hexdigest()
            files[path] = digest
            package = module if path.name == "__init__.py" else module.rpartition(".")[0]
            # The same file imports differently as another package's module: key by both.
            every, eager_of[module] = _cached_imports(
                f"{digest}:{package}", [content.decode("utf-8", "replace")], package, cache
            )
            everything |= every
            queue.extend(name for name in every if name.partition(".")[0] in local)
    return Dependencies(
        notebook_sha256=notebook_sha256,
        modules=sorted(_eager_closure(imported, eager_of)),
        imports=sorted(everything),
        files=dict(sorted(files.items())),
    )


def _eager_closure(start: set[str], eager_of: dict[str, set[str]]) -> set[str]:
    """Modules imported when `start` are: through helper modules' module-level imports."""
    reached = set(start)
    queue = list(start)
    while queue:
        parts = queue.pop().split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b first
            for name in eager_of.get(".".join(parts[:i]), ()):
                if name not in reached:
                    reached.add(name)
                    queue.append(name)
    return reached
