# tunnellab: `make quickstart` runs the main job, `make test` runs the tests.
# Both create .venv (pip, editable install) on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?=
PYTEST_ARGS ?=
UPGRADE ?= 0

.PHONY: install quickstart test lint format clean help zoo paper-tables bench bench-data data-check
.PHONY: gpu-check test-slurm lock browser report

help:
	@echo "make quickstart [OUT=dir]  pretrain + probe every layer on the lab data (offline, CPU)"
	@echo "make test                  run the test suite"
	@echo "make test-slurm            sweeps on a real local SLURM cluster (root; installs packages)"
	@echo "make lint                  ruff check + format check"
	@echo "make report OUT=dir        report.html of a run dir, sweep dir or analysis dir"
	@echo "make install               create/update .venv"
	@echo "make lock [UPGRADE=1]      requirements-lock.txt: every package make install puts in .venv"
	@echo "make zoo [OUT=dir]         zoo.csv: params, taps, feature sizes of the paper's models"
	@echo "make paper-tables [OUT=dir] the paper's statistics, tables and figures from its results"
	@echo "make bench [OUT=dir]       probe-engine benchmark (probe.json)"
	@echo "make data-check            which real datasets are found, with image counts"
	@echo "make bench-data [OUT=dir]  data-loading benchmark (data.json)"
	@echo "make gpu-check [OUT=dir]   GPU rates + GPU-hours per paper study (gpu.json; < 8 min)"

$(STAMP): pyproject.toml requirements-lock.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-lock.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Every package of the venv, transitive too, at exact versions (pip's resolver, nothing installed).
lock:
	PYTHON=$(PYTHON) UPGRADE=$(UPGRADE) bash scripts/lock.sh

quickstart: $(STAMP)
	$(BIN)/tunnellab-run experiment=quickstart $(if $(OUT),hydra.run.dir=$(OUT))

test: $(STAMP) browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Headless Chromium for the report's browser test (apt-installs it where missing and possible).
browser:
	@bash scripts/browser.sh

# report.html of a run dir, sweep dir or tunnellab-analyze out_dir: make report OUT=<dir>
report: $(STAMP)
	$(BIN)/tunnellab-report $(OUT)

# A real single-node SLURM cluster (apt-installs Debian's packages, needs root; else SKIPPED).
test-slurm: $(STAMP)
	VENV=$(abspath $(VENV)) bash scripts/slurm/test_slurm.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

format: $(STAMP)
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

zoo: $(STAMP)
	$(BIN)/tunnellab-zoo --out $(or $(OUT),outputs/zoo)

paper-tables: $(STAMP)
	$(BIN)/tunnellab-analyze source=paper out_dir=$(or $(OUT),outputs/paper)

bench: $(STAMP)
	$(BIN)/tunnellab-bench --out $(or $(OUT),outputs/bench)

bench-data: $(STAMP)
	$(BIN)/tunnellab-bench-data --out $(or $(OUT),outputs/bench)

gpu-check: $(STAMP)
	$(BIN)/tunnellab-gpu-check --out $(or $(OUT),outputs/gpu-check)

data-check: $(STAMP)
	$(BIN)/tunnellab-data-check

clean:
	rm -rf outputs wandb .pytest_cache .ruff_cache
