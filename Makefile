# RNN Lab. `make setup` once, then `make run` (the app) or `make test` (every test, browser included).
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: setup run test test-fast lint format typecheck bench system browser clean

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .  # import rnnlab from anywhere
	touch $@

setup: $(VENV)/.installed  ## create .venv and install pinned runtime + test dependencies

system:  ## what the browser and deployment tests need from the system: Debian's chromium and nginx (needs root or sudo)
	@missing=""; \
	  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing="chromium"; \
	  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing; \
	    else sudo apt-get update -qq && sudo apt-get install -y -qq $$missing; fi; \
	  fi

browser: system  ## the old name of `system`

run: setup  ## start the app on http://localhost:$(PORT)
	$(PY) -m ui.serve --server.port $(PORT)  # streamlit run app.py, warmed at start (ui/serve.py)

test: setup system lint typecheck  ## lint, type check, then the whole suite: unit, page (AppTest), browser and deployment tests
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
	$(PY) bench/lyapunov.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache
