"""Remove files the chosen options do not need, then make sure no unrendered Jinja is left.

Cookiecutter renders this file with Jinja and runs it inside the generated project.
Standard library only: it runs under stock cookiecutter and cruft with nothing else installed.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import sys
from pathlib import Path

# (question, answer) -> project-relative files that answer makes unnecessary.
UNNEEDED_FILES: dict[tuple[str, str], tuple[str, ...]] = {
    ("open_source_license", "none"): ("LICENSE",),
    ("experiment_tracking", "none"): (
        "src/{{ cookiecutter.package_name }}/tracking.py",
        "tests/test_tracking.py",
    ),
}
# Jinja's opening delimiters, spelled in two pieces so that rendering this hook leaves them alone.
OPEN = "{"
JINJA_MARKERS = (OPEN + "{", OPEN + "%", OPEN + "#")


def remove_unneeded(project: Path, answers: dict[str, str]) -> list[str]:
    """Delete the files the answers make unnecessary; return their relative paths."""
    removed = []
    for (question, answer), paths in UNNEEDED_FILES.items():
        if answers.get(question) != answer:
            continue
        for relative in paths:
            (project / relative).unlink(missing_ok=True)
            removed.append(relative)
    return removed


CACHES = ("__pycache__", ".ruff_cache", ".pytest_cache", "*.egg-info")


def remove_caches(project: Path) -> None:
    """Drop tool caches that came along with folders copied verbatim (the runner's)."""
    for pattern in CACHES:
        for cache in sorted(project.rglob(pattern), reverse=True):
            shutil.rmtree(cache, ignore_errors=True)


def read_text(path: Path) -> str | None:
    """The file's text, or None for binary files."""
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def unrendered(project: Path, copy_without_render: list[str]) -> list[str]:
    """One message per text file that still contains a Jinja delimiter."""
    found = []
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project).as_posix()
        if not path.is_file() or relative.startswith(".git/"):
            continue
        parts = relative.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes for pattern in copy_without_render):
            continue  # copied verbatim, or inside a folder copied verbatim (the runner)
        text = read_text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            marker = next((m for m in JINJA_MARKERS if m in line), None)
            if marker:
                found.append(f"{relative}:{number} holds unrendered Jinja {marker!r}")
                break
    return found


def main() -> int:
    """Clean up the generated project; return 1 if a template bug left Jinja in it."""
    # tojson escapes every single quote, so a raw single-quoted literal holds any answer.
    # fmt: off
    answers = {
        "open_source_license": json.loads(r'{{ cookiecutter.open_source_license | tojson }}'),
        "problem_type": json.loads(r'{{ cookiecutter.problem_type | tojson }}'),
        "experiment_tracking": json.loads(r'{{ cookiecutter.experiment_tracking | tojson }}'),
    }
    copy_without_render = json.loads(r'{{ cookiecutter.get("_copy_without_render", []) | tojson }}')
    # fmt: on
    project = Path.cwd()
    remove_unneeded(project, answers)
    remove_caches(project)
    problems = unrendered(project, copy_without_render)
    for message in problems:
        print(
            f"error: {message}; fix the template file, or list it in _copy_without_render",
            file=sys.stderr,
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
