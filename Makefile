# Tocsin: `make run` serves the demo console; `make test` runs lint and the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: install run test lint format assets clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Tocsin needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/tocsin db upgrade
	$(BIN)/tocsin seed-demo
	$(BIN)/tocsin run --host $(HOST) --port $(PORT)

test: lint
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Re-create the vendored Leaflet / markercluster / socket.io files from npm (pinned versions).
assets:
	bash maps/fetch_assets.sh

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache test-artifacts
