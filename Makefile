# The two commands of the README. Everything they need is installed by them.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test venv lint typecheck clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

## make demo: create .venv, install, run the demo on the embedded default (no servers).
demo: venv
	$(BIN)/orbweaver demo

## make test: install what the tests need, make sure the real servers are available, run pytest.
test: venv
	bash scripts/ensure-test-servers.sh
	$(BIN)/ruff check core crawler hashing matcher review notifier web orbweaver tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest

## make bench: build the benchmark corpus if missing, then run every benchmark (results in benchmarks/results/).
bench: venv
	$(BIN)/pip install --quiet -e ".[test,bench]"
	$(BIN)/pip install --quiet --no-deps "perception==0.9.3"
	$(BIN)/python -m benchmarks.run

lint: venv
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) demo-output .orbweaver .pytest_cache .mypy_cache .ruff_cache
