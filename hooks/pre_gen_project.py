"""Reject answers that would generate a broken project, before any project file is written.

Cookiecutter renders this file with Jinja before running it; the answers arrive as JSON literals.
Standard library only: it runs under stock cookiecutter and cruft with nothing else installed.
"""

from __future__ import annotations

import json
import keyword
import re
import sys

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PYTHON_VERSION_PATTERN = re.compile(r"^3\.(\d+)$")
MIN_PYTHON_MINOR = 11
MAX_PYTHON_MINOR = 14
SUPPORTED_PYTHONS = ", ".join(f"3.{n}" for n in range(MIN_PYTHON_MINOR, MAX_PYTHON_MINOR + 1))
PROBLEM_TYPES = ("classification", "regression")
LICENSES = ("MIT", "BSD-3-Clause", "Apache-2.0", "none")
ENVIRONMENT_MANAGERS = ("uv", "pip")

# Import names of the generated project's dependencies and tools, and of the packages they pull
# into every kernel: a helper package with one of these names would shadow it (or be shadowed).
DEPENDENCY_MODULES = frozenset(
    {
        "bs4",
        "cookiecutter",
        "cruft",
        "dateutil",
        "ipykernel",
        "ipython",
        "jinja2",
        "joblib",
        "jsonschema",
        "jupyter",
        "jupyter_client",
        "jupyter_core",
        "jupyter_server",
        "jupyterlab",
        "jupyterlab_server",
        "markupsafe",
        "matplotlib",
        "mpl_toolkits",
        "nbclient",
        "nbconvert",
        "nbdime",
        "nbformat",
        "nbstripout",
        "notebook",
        "numpy",
        "packaging",
        "pandas",
        "papermill",
        "pil",
        "pip",
        "pkg_resources",
        "pre_commit",
        "pre_commit_hooks",
        "pyarrow",
        "pygments",
        "pytest",
        "pytz",
        "ruff",
        "scipy",
        "setuptools",
        "skops",
        "sklearn",
        "threadpoolctl",
        "tornado",
        "tqdm",
        "traitlets",
        "uv",
        "wheel",
        "yaml",
        "zmq",
    }
)
# Names the generated project itself uses at its top level (console script, runner, folders).
PROJECT_MODULES = frozenset({"crisp", "notebooks", "pipeline", "src", "tests"})


class AnswerError(ValueError):
    """An answer to the template's questions that cannot produce a working project."""


def suggest_slug(value: str) -> str:
    """Turn `value` into a valid project_slug (a suggestion for the error message)."""
    slug = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
    if not slug:
        return "my-project"
    return slug if slug[0].isalpha() else f"project-{slug}"


def suggest_package(value: str) -> str:
    """Turn `value` into a package name that passes every check (a suggestion)."""
    name = re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_")
    if not name:
        return "my_project"
    if not name[0].isalpha():
        name = f"project_{name}"
    if keyword.iskeyword(name) or is_taken(name):
        name = f"{name}_project"
    return name


def is_taken(name: str) -> bool:
    """Whether a top-level module called `name` already exists for the project."""
    return name in sys.stdlib_module_names or name in DEPENDENCY_MODULES or name in PROJECT_MODULES


def check_project_name(value: str) -> None:
    """The human-readable name must not be blank."""
    if not value.strip():
        raise AnswerError(
            f"project_name {value!r} is empty; enter a human-readable name, e.g. 'Customer Churn'"
        )


def check_project_slug(value: str) -> None:
    """The folder and distribution name: lowercase letters and digits joined by single hyphens."""
    if not SLUG_PATTERN.match(value):
        raise AnswerError(
            f"project_slug {value!r} is not lowercase letters and digits joined by single hyphens "
            f"(starting with a letter); use e.g. {suggest_slug(value)!r}"
        )


def check_package_name(value: str) -> None:
    """The import name: a lowercase ASCII identifier that shadows no other module."""
    hint = f"choose another name, e.g. {suggest_package(value)!r}"
    if not (value.isascii() and value.isidentifier()):
        problem = "is not a valid Python identifier (ASCII letters, digits and underscores)"
    elif value != value.lower():
        problem = "has uppercase letters; package names are lowercase"
    elif keyword.iskeyword(value):
        problem = "is a Python keyword"
    elif value in sys.stdlib_module_names:
        problem = f"shadows the standard-library module {value}"
    elif value in DEPENDENCY_MODULES:
        problem = f"shadows the dependency module {value}"
    elif value in PROJECT_MODULES:
        problem = f"clashes with the project's own top-level name {value}"
    else:
        return
    raise AnswerError(f"package_name {value!r} {problem}; {hint}")


def check_python_version(value: str) -> None:
    """The minimum Python version: 3.N with a supported N."""
    match = PYTHON_VERSION_PATTERN.match(value)
    if not match or not MIN_PYTHON_MINOR <= int(match.group(1)) <= MAX_PYTHON_MINOR:
        raise AnswerError(
            f"python_version {value!r} is not supported; use one of {SUPPORTED_PYTHONS}"
        )


def check_problem_type(value: str) -> None:
    """A choice answer; cookiecutter validates choices, but replayed and cruft answers skip that."""
    check_choice("problem_type", value, PROBLEM_TYPES)


def check_license(value: str) -> None:
    """A choice answer, checked for the same reason as problem_type."""
    check_choice("open_source_license", value, LICENSES)


def check_environment_manager(value: str) -> None:
    """A choice answer, checked for the same reason as problem_type."""
    check_choice("environment_manager", value, ENVIRONMENT_MANAGERS)


def check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    """The answer to `key` must be one of `choices`."""
    if value not in choices:
        raise AnswerError(f"{key} {value!r} is not a choice; use one of {', '.join(choices)}")


def problems(answers: dict[str, str]) -> list[str]:
    """Every problem with the answers, one message each (empty when all is well)."""
    checks = (
        (check_project_name, answers["project_name"]),
        (check_project_slug, answers["project_slug"]),
        (check_package_name, answers["package_name"]),
        (check_python_version, answers["python_version"]),
        (check_problem_type, answers["problem_type"]),
        (check_license, answers["open_source_license"]),
        (check_environment_manager, answers["environment_manager"]),
    )
    found = []
    for check, value in checks:
        try:
            check(value)
        except AnswerError as error:
            found.append(str(error))
    return found


def main() -> int:
    """Validate the rendered answers; print one line per problem and return 1 if any."""
    # tojson escapes every single quote, so a raw single-quoted literal holds any answer.
    # fmt: off
    answers = {
        "project_name": json.loads(r'{{ cookiecutter.project_name | tojson }}'),
        "project_slug": json.loads(r'{{ cookiecutter.project_slug | tojson }}'),
        "package_name": json.loads(r'{{ cookiecutter.package_name | tojson }}'),
        "python_version": json.loads(r'{{ cookiecutter.python_version | tojson }}'),
        "problem_type": json.loads(r'{{ cookiecutter.problem_type | tojson }}'),
        "open_source_license": json.loads(r'{{ cookiecutter.open_source_license | tojson }}'),
        "environment_manager": json.loads(r'{{ cookiecutter.environment_manager | tojson }}'),
    }
    # fmt: on
    found = problems({key: str(value) for key, value in answers.items()})
    for message in found:
        print(f"error: {message}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
