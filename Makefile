# Two commands for users: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.egfrmet-installed
# Rules call `python -m egfrmet`: put the venv first so they find it without activation.
RUN := PATH="$(CURDIR)/$(BIN):$$PATH"
CORES ?= all

.PHONY: demo test lint install clean-demo

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(RUN) $(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml

lint: $(STAMP)
	$(RUN) $(BIN)/snakemake --lint --configfile config/demo.yaml
	$(BIN)/snakefmt --check Snakefile workflow/rules

test: $(STAMP) lint
	$(RUN) $(BIN)/python -m pytest

clean-demo:
	rm -rf results logs resources/demo/synth
