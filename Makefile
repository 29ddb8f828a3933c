# Two commands set everything up: `make demo` and `make test`. Each creates .venv (pinned by
# constraints.txt) on first use and reinstalls when pyproject.toml or constraints.txt change.
# The pinned stack (numpy 2.4, scipy 1.17, pandas 3.1, torch 2.13) needs Python 3.11+: use the
# first of python3.11, python3, python3.12, python3.13 on PATH that is at least 3.11 (3.11 first:
# the tested one, and the torch CPU wheel this project pins is built for it), or set PYTHON=...
PYTHON ?= $(or $(shell for p in python3.11 python3 python3.12 python3.13; do $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && echo $$p && break; done),python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint venv clean bench

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "optcompare needs Python 3.11+ (its pinned numpy, scipy, pandas and torch do), found " + sys.version.split()[0] + "; set PYTHON=/path/to/python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,dashboard]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/optcompare demo

# Lint: ruff, the package layers (import-linter contracts) and the types (mypy), each configured
# in pyproject.toml. Both test targets run it first, so CI (.ci/run -> make test) checks
# whatever is added here.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

# Lanes (README, "Tests"). The fast lane: no Ray, no test over 2 s, on 2 xdist workers (its tests
# are CPU-bound). The whole suite: one session on 2 workers, each with its own shared Ray of one
# CPU (they keep the 2 cores 80-86% busy; with 3 or 4 a Ray that a test started died mid-test:
# docs/decisions.md), the Ray tests first, longest first (tests/durations.json), the many short
# tests last, so that the two workers end together; the 25 slowest are printed so that growth
# shows in every CI log. In both, a test without the `ray` mark cannot start Ray.
# --dist loadgroup keeps the tests of one xdist_group (the gloo jobs) on one worker, one at a time.
FAST := -m "not slow and not ray"

test-fast: lint
	$(BIN)/python -m pytest $(FAST) -n 2

test: lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=25

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
