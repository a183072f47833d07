# Every target creates .venv first (python3 -m venv) and reinstalls when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PLOOMBER_STATS_ENABLED := false
export PLOOMBER_VERSION_CHECK_DISABLED := 1
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: build test test-fast lab plot bench soak clean docs

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

build: $(STAMP)  ## run the pipeline on the configured warehouse (embedded by default): starloom run
	$(BIN)/starloom run

test: $(STAMP)  ## the whole test suite
	$(BIN)/python -m pytest

test-fast: $(STAMP)  ## everything but the whole-pipeline tests
	$(BIN)/python -m pytest -m "not slow"

lab: $(STAMP)  ## JupyterLab on the project, with Ploomber's parameter injection (starloom lab)
	$(BIN)/starloom lab

plot: $(STAMP)  ## the DAG picture, offline
	@mkdir -p output
	$(BIN)/ploomber plot --backend pygraphviz --output output/pipeline.png

SF ?= 1
REPEAT ?= 1
PEER ?=
MEMORY_MB ?= 1200
SKIP ?=
bench: $(STAMP)  ## TPC-H to a star schema against file(), pandas (and PEER=dbt): make bench SF=1 REPEAT=3
	$(BIN)/python benchmarks/bench.py --sf $(SF) --repeat $(REPEAT) --memory-limit-mb $(MEMORY_MB) $(if $(PEER),--peer $(PEER)) $(if $(SKIP),--skip $(SKIP))

N ?= 20
SEED ?= 1
soak: $(STAMP)  ## SIGKILL trials: N ingests (half per CSV path), N/2 builds, each rerun and checked: make soak N=40
	$(BIN)/python benchmarks/soak.py --ingest $(N) --builds $(shell expr $(N) / 2) --seed $(SEED)

clean:  ## remove products and the embedded warehouse (keeps .venv)
	rm -rf output .warehouse data
