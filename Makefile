# RNN Lab. `make setup` once, then `make run` (the app) or `make test` (every test, browser included).
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: setup run test test-fast lint format typecheck bench browser clean

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .  # import rnnlab from anywhere
	touch $@

setup: $(VENV)/.installed  ## create .venv and install pinned runtime + test dependencies

browser:  ## the system Chromium the browser tests drive (Debian/Ubuntu package; needs root or sudo)
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  ( if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	    else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi )

run: setup  ## start the app on http://localhost:$(PORT)
	$(VENV)/bin/streamlit run app.py --server.port $(PORT)

test: setup browser lint typecheck  ## lint, type check, then the whole suite: unit, page (AppTest) and browser tests
	$(PY) -m pytest

test-fast: setup  ## everything but the browser tests
	$(PY) -m pytest -m "not e2e"

lint: setup  ## ruff's rules and the formatter's check, as CI runs them
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup  ## format the code and apply ruff's safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: setup  ## mypy on rnnlab/ (configured in pyproject.toml); part of `make test`, so of CI
	$(PY) -m mypy

bench: setup  ## benchmark scripts: ratios measured side by side in one process
	$(PY) bench/train_step.py
	$(PY) bench/jacobian.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache
