# The template's own tasks. `make demo` and `make test` set up everything they need (.venv).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR := build/demo
DEMO_PROJECT := $(DEMO_DIR)/customer-churn

.DEFAULT_GOAL := help
.PHONY: help setup demo test lint bench clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(BIN)/.ready: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required: make demo PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r pyproject.toml
	@touch $@

setup: $(BIN)/.ready  ## Create .venv with the template's tools (cookiecutter, cruft, pytest, ruff)

demo: setup  ## Bake a project with the defaults into build/demo and run its whole pipeline
	rm -rf $(DEMO_DIR)
	$(BIN)/cookiecutter --no-input --output-dir $(DEMO_DIR) .
	$(MAKE) -C $(DEMO_PROJECT) setup pipeline
	@echo "Reports: $(CURDIR)/$(DEMO_PROJECT)/reports/latest/index.html"

test: setup  ## Run the template's tests (bakes projects, runs their tests and pipelines)
	$(BIN)/python -m pytest

lint: setup  ## Lint the template's own Python (hooks, tests, bench)
	$(BIN)/ruff check hooks tests bench
	$(BIN)/ruff format --check hooks tests bench

bench: setup  ## Benchmark the runner against plain Python and papermill
	$(BIN)/python bench/bench_pipeline.py

clean:  ## Remove build/ and .venv
	rm -rf build $(VENV)
