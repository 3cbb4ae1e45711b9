# Two commands for users: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.egfrmet-installed
# Rules call `python -m egfrmet`: put the venv first so they find it without activation.
RUN := PATH="$(CURDIR)/$(BIN):$$PATH"
CORES ?= all

.PHONY: demo test test-fast test-precision test-slurm lint install clean-demo

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e '.[dev,cluster,ants]'
	$(BIN)/pip install --no-deps antspyx==0.6.3  # see pyproject.toml: its numpy cap is not ours
	$(BIN)/pip install --no-deps deepbet==1.0.2  # its run-time needs are ours; not its GUI
	$(BIN)/pip install --no-deps --no-build-isolation pyradiomics==3.0.1  # builds against our numpy
	touch $(STAMP)

install: $(STAMP)

# In two Snakemake processes: Snakemake 9's scheduler keeps a timer chain alive for every job
# that finished (docs/benchmarks/inputs.md), so after the ~900 preprocessing jobs its own
# process takes up to half a core from the trainings; a fresh one for the rest starts without
# them. The same DAG and results as one call (docs/benchmarks/demo.md).
demo: $(STAMP)
	$(RUN) $(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml --until features clinical
	$(RUN) $(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml

lint: $(STAMP)
	$(RUN) $(BIN)/snakemake --lint --configfile config/demo.yaml
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

test: $(STAMP) lint
	$(RUN) $(BIN)/python -m pytest --ignore=tests/workflow/slurm

# The tests not marked slow (no workflow runs, no multi-epoch trainings): for edit-test loops.
test-fast: $(STAMP)
	$(RUN) $(BIN)/python -m pytest --ignore=tests/workflow/slurm -m "not slow"

# The trainings and scorings of the suite in each precision, whatever this CPU's `auto` picks
# (bf16 with AMX, fp32 without): `EGFRMET_TEST_PRECISION=bf16 make test` runs the whole suite so.
PRECISION_TESTS := tests/unit/test_train.py tests/unit/test_selection.py tests/unit/test_resume.py
test-precision: $(STAMP)
	for precision in bf16 fp32; do \
		EGFRMET_TEST_PRECISION=$$precision $(RUN) $(BIN)/python -m pytest $(PRECISION_TESTS) || exit 1; \
	done

# The tiny workflow through the SLURM profile on a real single-node Slurm (root; installs
# slurm-wlm and munge with apt-get when missing), stopped again afterwards.
test-slurm: $(STAMP)
	eval "$$(tests/workflow/slurm/start.sh)" && $(RUN) $(BIN)/python -m pytest tests/workflow/slurm; \
	status=$$?; tests/workflow/slurm/stop.sh; exit $$status

clean-demo:
	rm -rf results logs resources/demo/synth
