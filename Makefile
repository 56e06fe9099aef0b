# The two commands of the quick start are `make demo` and `make test`; each does its own set-up.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# The PostgreSQL + Redis pass of `make test` (the services this machine runs; override as needed).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/varietysound
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15
DEBIAN_PACKAGES := ffmpeg chromium chromium-driver espeak-ng
STAMP := $(VENV)/.installed

.PHONY: help setup system-packages demo test test-embedded test-services bench lint format clean

help:
	@echo "make demo    set up, build the demo data, serve the dashboard on http://127.0.0.1:$(PORT)/"
	@echo "make test    set up, run the suite on SQLite + eager tasks, then on PostgreSQL + Redis + a worker"
	@echo "make setup   virtualenv (torch CPU first), Python and Debian packages"
	@echo "make bench   benchmarks under bench/ (figures go to docs/benchmarks.md)"
	@echo "make lint    ruff"

setup: system-packages $(STAMP)

# ffmpeg (ffprobe), espeak-ng (spoken attention checks) and Chromium (browser tests) come from Debian; skipped when already present.
system-packages:
	@missing=""; \
	command -v ffprobe >/dev/null || missing="$$missing ffmpeg"; \
	command -v chromium >/dev/null || missing="$$missing chromium chromium-driver"; \
	command -v espeak-ng >/dev/null || missing="$$missing espeak-ng"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else \
	    echo "Missing Debian packages:$$missing (install them as root)"; exit 1; fi; \
	  echo "Installing Debian packages:$$missing"; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $(DEBIAN_PACKAGES); \
	fi

# torch goes in first, from the CPU build: anything that depends on torch installed before it would
# pull a CUDA build and gigabytes of packages.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24"
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -c "import torch, django, celery; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	touch $(STAMP)

# Embedded defaults: SQLite and media under var/, tasks in-process, CPU. Builds SynthVAS, trains tiny
# checkpoints of both systems, runs the protocol on two categories, creates the three MOS studies and
# prints their links (about 10 minutes on 2 cores the first time); re-running keeps what exists.
DEMO_CLIPS ?= 8
demo: setup
	DJANGO_DEBUG=1 $(PY) manage.py migrate --noinput
	DJANGO_DEBUG=1 $(PY) manage.py demo --clips-per-category $(DEMO_CLIPS) --base-url http://127.0.0.1:$(PORT)
	DJANGO_DEBUG=1 $(PY) manage.py create_researcher researcher
	@echo "Open http://127.0.0.1:$(PORT)/ and log in with the credentials above (Ctrl-C stops the server)."
	DJANGO_DEBUG=1 $(PY) manage.py runserver --noreload 127.0.0.1:$(PORT)

test: setup
	$(MAKE) --no-print-directory test-embedded
	$(MAKE) --no-print-directory test-services

# Pass 1: the embedded default (SQLite under a temporary folder, tasks in-process).
test-embedded:
	env -u DATABASE_URL -u CELERY_BROKER_URL $(PY) -m pytest

# Pass 2: the code paths that depend on the database and the broker, on PostgreSQL + Redis with a
# real `celery worker` subprocess (the slow end-to-end tests ran in pass 1; their distributed
# counterparts in tests/platform/test_distributed.py run here). Skipped with a printed reason when the services are unreachable;
# with CI=true that is a failure.
test-services:
	@$(PY) tests/services_ready.py "$(TEST_DATABASE_URL)" "$(TEST_BROKER_URL)"; rc=$$?; \
	if [ $$rc = 0 ]; then \
	  DATABASE_URL="$(TEST_DATABASE_URL)" CELERY_BROKER_URL="$(TEST_BROKER_URL)" \
	  CELERY_KEY_PREFIX="vstest-$$(date +%s)-$$$$" \
	    $(PY) -m pytest -m "not browser and not slow" tests/platform tests/studies; \
	elif [ $$rc != 3 ]; then exit $$rc; fi

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: setup
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:
	rm -rf var/ .pytest_cache
