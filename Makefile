# The two commands a newcomer runs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Empty: the demo builds into the database every `loyalty` command uses (LOYALTY_DATABASE_URL, else
# var/loyalty.db). `make demo DEMO_DB=var/other.db` builds a separate SQLite file instead.
DEMO_DB ?=
DEMO_ARGS ?=
# Where `make demo` serves the API: `make demo PORT=8001` when 8000 is taken.
HOST ?= 127.0.0.1
PORT ?= 8000
BENCH_ARGS ?=

.PHONY: demo test lint bench bench-check install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Build an embedded SQLite database with a demo chain and serve it on http://$(HOST):$(PORT) (default 127.0.0.1:8000)
demo: $(STAMP)
	mkdir -p var
	$(if $(DEMO_DB),LOYALTY_DATABASE_URL=sqlite:///$(DEMO_DB) )$(BIN)/loyalty demo --host $(HOST) --port $(PORT) $(DEMO_ARGS)

## Run the whole test suite (SQLite and PostgreSQL), a file per worker on up to 4 cores
# The suite starts `loyalty` and servers as subprocesses: compile the sources once first, so that none
# of them compiles every module again where bytecode is not written (PYTHONDONTWRITEBYTECODE).
test: $(STAMP)
	$(BIN)/python -m compileall -q -j 0 src
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4 --dist loadfile

## Check that every benchmark script runs end to end at a tiny size (CI runs it after `make test`)
bench-check: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4 --dist loadfile bench/checks

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

## Full-size benchmarks, each printing our figures beside a baseline and the issue's target (BENCH_ARGS=--small for a quick pass)
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]' || echo "pyfim did not build here: bench/mining.py runs without that baseline"
	$(BIN)/python bench/ledger.py $(BENCH_ARGS)
	$(BIN)/python bench/api.py $(BENCH_ARGS)
	$(BIN)/python bench/pos_batches.py $(BENCH_ARGS)
	$(BIN)/python bench/import.py $(BENCH_ARGS)
	$(BIN)/python bench/analytics.py $(BENCH_ARGS)
	$(BIN)/python bench/mining.py $(BENCH_ARGS)
	$(BIN)/python bench/anomalies.py $(BENCH_ARGS)
	$(BIN)/python bench/clusters.py $(BENCH_ARGS)
	$(BIN)/python bench/churn.py $(BENCH_ARGS)
	$(BIN)/python bench/recommendations.py $(BENCH_ARGS)
	$(BIN)/python bench/cli.py $(BENCH_ARGS)
	$(BIN)/python bench/pages.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
