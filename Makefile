# tunnellab: `make quickstart` runs the main job, `make test` runs the tests.
# Both create .venv (pip, editable install) on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?=
PYTEST_ARGS ?=

.PHONY: install quickstart test lint format clean help

help:
	@echo "make quickstart [OUT=dir]  pretrain + probe every layer on the lab data (offline, CPU)"
	@echo "make test                  run the test suite"
	@echo "make lint                  ruff check + format check"
	@echo "make install               create/update .venv"

$(STAMP): pyproject.toml requirements-lock.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-lock.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

quickstart: $(STAMP)
	$(BIN)/tunnellab-run experiment=quickstart $(if $(OUT),hydra.run.dir=$(OUT))

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

format: $(STAMP)
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

clean:
	rm -rf outputs wandb .pytest_cache .ruff_cache
