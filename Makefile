# The two commands: `make run` (serve the embedded SQLite default) and `make test` (everything).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/tessera: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/tessera

## run: create the virtualenv, install, migrate SQLite, create the demo tenant, serve on :8000
run: $(BIN)/tessera
	$(BIN)/tessera serve --demo

## test: install the development dependencies, then ruff, mypy and the whole pytest suite
# Two test processes, a file each at a time; the 25 slowest tests are printed at the end, so a
# CI run says where its minutes went.
test: $(BIN)/tessera lint
	$(BIN)/pytest -q -n 2 --dist loadfile --durations=25

lint: $(BIN)/tessera
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) tessera.db tessera.db-wal tessera.db-shm .pytest_cache .mypy_cache .ruff_cache
