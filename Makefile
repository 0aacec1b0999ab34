# The two commands of the README. Everything they need is installed by them, from the lock files in
# requirements/ (every dependency pinned; `make lock` regenerates them from pyproject.toml's ranges).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# pytest-xdist workers for `make test`: the suite waits on servers and subprocesses much of its time,
# so two workers on two cores take it from ~18 to ~11 min; files stay whole on one worker (--dist loadfile).
PYTEST_WORKERS ?= 2
# A stamp per profile, named after the lock and pyproject it installed: a changed lock reinstalls.
stamp   = $(VENV)/.installed-$(1)-$(shell cat requirements/$(1).txt pyproject.toml | sha1sum | cut -c1-12)
# --no-deps: the lock is complete, so pip resolves nothing and installs exactly what it names.
install = $(BIN)/pip install -qq --no-deps -r requirements/$(1).txt \
	&& $(BIN)/pip install -qq --no-deps --no-build-isolation -e . \
	&& $(BIN)/pip check >/dev/null \
	&& rm -f $(VENV)/.installed-$(1)-* && touch $(call stamp,$(1))

.PHONY: demo test venv venv-test lint typecheck clean bench lock

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV)

$(call stamp,demo): $(BIN)/python requirements/demo.txt pyproject.toml
	@echo "Installing the demo's dependencies into $(VENV) from requirements/demo.txt (once; about 1.5 min)..."
	@$(call install,demo)

$(call stamp,test): $(BIN)/python requirements/test.txt pyproject.toml
	@echo "Installing the test tooling into $(VENV) from requirements/test.txt (once; about 3 min: vpdq builds from source)..."
	@bash scripts/ensure-test-servers.sh build-deps
	@$(call install,test)

venv: $(call stamp,demo)
venv-test: $(call stamp,test)

## make demo: create .venv, install what the demo needs (requirements/demo.txt), run it on the embedded default.
demo: venv
	@$(BIN)/orbweaver demo

## make test: install the test tooling too (requirements/test.txt), make sure the real servers are there, run the checks.
test: venv-test
	bash scripts/ensure-test-servers.sh
	$(BIN)/ruff check core crawler hashing matcher review notifier web orbweaver tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

## make lock: re-resolve requirements/*.txt from pyproject.toml (after changing a dependency, or to upgrade).
lock:
	bash scripts/lock.sh

## make bench: build the benchmark corpus if missing, then run every benchmark (results in benchmarks/results/).
bench: venv-test
	$(call install,bench)
	$(BIN)/pip install -qq --no-deps "perception==0.9.3"
	$(BIN)/python -m benchmarks.run

lint: venv-test
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .venv-lock demo-output .orbweaver .pytest_cache .mypy_cache .ruff_cache
