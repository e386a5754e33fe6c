# The two commands: `make run` and `make test`. Both work without DATABASE_URL/REDIS_URL
# (embedded PostgreSQL and Redis under var/, see govhub/embedded.py).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements.stamp
BOOT_PYTHON := $(shell command -v python3.11 || command -v python3)
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
PYTEST_ARGS ?=
NAME ?=

export DJANGO_SETTINGS_MODULE ?= govhub.settings
export PYTHONUNBUFFERED := 1

.PHONY: help venv run test chromium bench lint clean

help:
	@echo "make run    - start govhub at http://127.0.0.1:$${PORT:-8000}/ (web, worker, beat)"
	@echo "make test   - run the test suite (pytest -n 2); PYTEST_ARGS=... to pass options"
	@echo "make bench NAME=... - run a benchmark"
	@echo "make lint | venv | clean"

venv: $(STAMP)

# Reinstall only when a requirements file changed since the last successful install.
$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(BOOT_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	@touch $@

run: venv
	$(PY) scripts/run.py

# Browser tests drive Debian's chromium; `apt-get update` only when the cached index is stale.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(SUDO) apt-get install -y -q chromium || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }; \
	fi

test: venv chromium
	GOVHUB_ENV=test $(PY) scripts/with_services.py --redis-db 1 -- $(PY) -m pytest -n 2 $(PYTEST_ARGS)

bench: venv
	$(PY) scripts/with_services.py -- $(PY) benchmarks/run.py $(NAME)

lint: venv
	$(PY) -m ruff check .

# Stops the embedded servers first: var/ holds their data directories and sockets.
clean:
	@if [ -x $(PY) ]; then $(PY) -m govhub.embedded stop || true; fi
	rm -rf var .pytest_cache .ruff_cache benchmarks/out
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
