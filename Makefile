# Two commands on a fresh machine: `make run` and `make test` (`make help`).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# What is installed: the runtime (requirements.txt) for `make run`, the dev
# tools on top (requirements-dev.txt) for `make test` and the rest.
RUNTIME = $(VENV)/.runtime-installed
DEV     = $(VENV)/.dev-installed
PIP     = $(BIN)/python -m pip install --disable-pip-version-check --progress-bar on

.DEFAULT_GOAL := help
.PHONY: help run demo test lint bench newman lock clean

help: ## list the targets
	@echo "Targets:"
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | \
		awk -F'\t' '{ printf "  make %-8s %s\n", $$1, $$2 }'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# From the locks: every package pinned and hashed (scripts/lock.py writes
# them from requirements*.txt).
$(RUNTIME): requirements.lock | $(BIN)/python
	@echo "==> installing the runtime into $(VENV) (requirements.lock)"
	$(PIP) --require-hashes -r requirements.lock
	@touch $@

$(DEV): requirements-dev.lock $(RUNTIME)
	@echo "==> installing the dev tools into $(VENV) (requirements-dev.lock)"
	$(PIP) --require-hashes -r requirements-dev.lock
	@touch $@

run: $(RUNTIME) ## install the runtime only and start the API (in-memory database)
	$(BIN)/python run.py

demo: $(RUNTIME) ## like run, with the demo bank: three customers, six months of history
	DEMO_DATA=true $(BIN)/python run.py

lint: $(DEV) ## ruff over the tree
	$(BIN)/ruff check .

# The suite runs in TEST_WORKERS processes (pytest-xdist), each test file kept
# in one process (module fixtures are built once); TEST_WORKERS=0 runs it in one.
TEST_WORKERS ?= 2

test: lint ## install the dev tools, lint, run the whole suite
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

newman: $(RUNTIME) ## the Postman collection against a live server (needs node)
	bash scripts/newman.sh $(NEWMAN_ARGS)

bench: $(RUNTIME) ## throughput against a bare Flask + JWT ceiling (needs wrk)
	$(BIN)/python bench/bench.py

lock: $(DEV) ## rewrite requirements*.lock from requirements*.txt (hashed)
	$(BIN)/python scripts/lock.py

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .coverage .pytest_cache .ruff_cache node_modules
