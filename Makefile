# The two commands: `make lab` runs the whole study, `make test` runs the test suite.
# Both create .venv on first use and install nidslab with its dev extras into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test check venv clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

lab: $(STAMP)
	$(BIN)/nidslab lab

test: $(STAMP)
	$(BIN)/python -m pytest -q

# ruff (pyflakes' undefined names among its checks), mypy (every body checked; strict on nidslab.study, the public
# modules fully annotated), import-linter (the study's layers, no import circles, torch only where networks run);
# settings in pyproject.toml
check: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) runs .pytest_cache
