"""Which helper source files a notebook depends on: its imports, followed through the helpers.

Static analysis (`ast`) of the notebook's code cells, then of each helper module it reaches
(absolute imports of modules under the source root, and relative imports), transitively.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

# IPython syntax that is not Python: line magics, shell escapes, `x = !cmd`, `x = %magic`.
_IPYTHON_LINE = re.compile(r"^(\s*)(?:[%!]|\w+\s*=\s*[%!])")


def code_cells(notebook: Path) -> list[str]:
    """Source of each code cell (plain JSON read: no nbformat import on the fast path)."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
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


def _imports(tree: ast.Module, package: str | None) -> set[str]:
    """Absolute names of the modules (and possible submodules) imported in `tree`.

    `package` is the package a module belongs to, for relative imports (None for notebooks).
    """
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if not package:
                    continue
                parts = package.split(".")
                if node.level - 1 >= len(parts):
                    continue
                base = ".".join(parts[: len(parts) - (node.level - 1)])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            # `from pkg import mod` imports a submodule when `mod` is one.
            names.update(f"{module}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def notebook_imports(notebook: Path) -> set[str]:
    """All module names the notebook's code cells import (including `from a import b` as `a.b`)."""
    names: set[str] = set()
    for source in code_cells(notebook):
        tree = _parse(source)
        if tree is not None:
            names |= _imports(tree, None)
    return names


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


def dependencies(notebook: Path, source_root: Path) -> tuple[list[str], dict[str, Path]]:
    """(modules, helper files) of a notebook.

    `modules`: every module the notebook or the helper modules it reaches import, anywhere in their
    code (function-level imports included): what a kernel can import ahead of time.
    `helper files`: `module name -> file` for the modules under `source_root` it reaches.
    """
    source_root = Path(source_root)
    imported = notebook_imports(notebook)
    reached: dict[str, Path] = {}
    queue = list(imported)
    while queue:
        for module, path in _files_for(queue.pop(), source_root):
            if module in reached:
                continue
            reached[module] = path
            package = module if path.name == "__init__.py" else module.rpartition(".")[0]
            tree = _parse(path.read_text(encoding="utf-8"))
            if tree is not None:
                found = _imports(tree, package)
                imported |= found
                queue.extend(found)
    return sorted(imported), dict(sorted(reached.items()))
