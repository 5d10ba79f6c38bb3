# The template's own tasks. `make demo` and `make test` set up everything they need (.venv).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR := build/demo
DEMO_PROJECT := $(DEMO_DIR)/customer-churn
# One project baked with the defaults and set up once per `make test`: the runner's tests and the
# real-table tests run in its environment, the template's tests use it instead of installing anew.
TEST_DIR := build/test
TEST_PROJECT := $(TEST_DIR)/customer-churn
PYTEST_ARGS ?=
# Bake the template with the defaults into $(1). Cookiecutter leaves each hook script it renders
# in the temporary folder: it gets one of its own, removed after the bake.
bake = scratch=$$(mktemp -d) && TMPDIR=$$scratch $(BIN)/cookiecutter --no-input --output-dir $(1) .; \
	status=$$?; rm -rf "$$scratch"; exit $$status

.DEFAULT_GOAL := help
.PHONY: help setup demo test lint bench bench-scale clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(BIN)/.ready: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required: make demo PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r pyproject.toml
	@touch $@

setup: $(BIN)/.ready  ## Create .venv with the template's tools (cookiecutter, cruft, pytest, ruff)

demo: setup  ## Bake a project with the defaults into build/demo and run its whole pipeline
	rm -rf $(DEMO_DIR)
	$(call bake,$(DEMO_DIR))
	$(MAKE) -C $(DEMO_PROJECT) setup pipeline
	@echo "Reports: $(CURDIR)/$(DEMO_PROJECT)/reports/latest/index.html"

test: setup  ## Run the template's tests (bakes projects, runs their tests and pipelines)
	rm -rf $(TEST_DIR)
	$(call bake,$(TEST_DIR))
	$(MAKE) -C $(TEST_PROJECT) setup
	# Test tool of the integration group only (two workers; not a dependency of the project).
	$(BIN)/uv pip install --quiet --python $(TEST_PROJECT)/.venv/bin/python "pytest-xdist>=3.8"
	CRISP_TEST_PROJECT=$(CURDIR)/$(TEST_PROJECT) $(BIN)/python tests/run.py $(PYTEST_ARGS)

lint: setup  ## Lint the template's own Python (hooks, tests, bench)
	$(BIN)/ruff check hooks tests bench runner
	$(BIN)/ruff format --check hooks tests bench runner

bench: setup  ## Benchmark the runner against plain Python and papermill
	$(BIN)/python bench/bench_pipeline.py

BENCH_SCALE_ARGS ?=
bench-scale: setup  ## Pipeline at default parameters on 100k/1M/10M rows (BENCH_SCALE_ARGS="--rows 100000")
	$(BIN)/python bench/bench_scale.py $(BENCH_SCALE_ARGS)

clean:  ## Remove build/ and .venv
	rm -rf build $(VENV)
