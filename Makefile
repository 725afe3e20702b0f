# Two commands on a fresh machine: `make demo` (tiny grid end to end) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
# the demo's study folder: results/<study>/ of configs/tiny.yaml
DEMO := results/tiny-offline-grid
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_PROGRESS_BARS := 1

.PHONY: demo test bench lint dry-run-paper clean

$(BIN)/teachergrid: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# the jobs fork from one warm Python (`teachergrid worker`): no 4 s of imports per job
demo: $(BIN)/teachergrid
	$(BIN)/teachergrid worker -- $(BIN)/snakemake --configfile configs/tiny.yaml --cores $(CORES) --keep-going
	@echo "screening report: $(DEMO)/report/metrics.csv, rankings: $(DEMO)/report/screening/"

test: $(BIN)/teachergrid
	$(BIN)/python -m pytest -v --durations=30 tests

bench: $(BIN)/teachergrid
	$(BIN)/python benchmarks/tiny_grid.py --cores $(CORES)

lint: $(BIN)/teachergrid
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint
	$(BIN)/snakemake --lint --configfile configs/tiny.yaml

dry-run-paper: $(BIN)/teachergrid
	$(BIN)/snakemake -n --quiet rules

# the demo's study folder (configs/tiny.yaml's `study`); other studies' folders are left alone
clean:
	rm -rf $(DEMO)
