"""Import every module of the given packages (not their __main__) and every module the notebooks
import, in the current environment; print a JSON object of the ones that fail (empty: all good).

Run with the project folder as the working directory: `python import_everything.py PACKAGE...`.
"""

import ast
import importlib
import json
import pkgutil
import sys
from pathlib import Path

names: set[str] = set()
for name in sys.argv[1:]:
    package = importlib.import_module(name)
    modules = pkgutil.walk_packages(package.__path__, package.__name__ + ".")
    names |= {name} | {m.name for m in modules if not m.name.endswith(".__main__")}
for notebook in Path("notebooks").glob("*.ipynb"):
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).splitlines()
        python = [line for line in lines if not line.lstrip().startswith(("%", "!"))]
        for node in ast.walk(ast.parse("\n".join(python))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
failed = {}
for name in sorted(names):
    try:
        importlib.import_module(name)
    except Exception as error:
        failed[name] = f"{type(error).__name__}: {error}"
print(json.dumps(failed))
