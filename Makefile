# Two commands: `make run` (set up and serve on SQLite with demo data) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
HOST   ?= 127.0.0.1
PORT   ?= 5000
PG_VERSION_DIR := $(firstword $(wildcard /etc/postgresql/*))

.PHONY: run setup test test-sqlite lint bench bench-tools browser-tools axe-tools screenshots pg-up clean

$(VENV)/.installed: requirements.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=python3"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	@touch $@

setup: $(VENV)/.installed

run: $(VENV)/.installed
	$(PY) manage.py bootstrap
	$(PY) manage.py run --host $(HOST) --port $(PORT)

# Starts the local PostgreSQL cluster if it is installed but down; tests decide whether to skip.
pg-up:
	@if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then \
	  if [ -n "$(PG_VERSION_DIR)" ] && command -v pg_ctlcluster >/dev/null 2>&1; then \
	    echo "starting PostgreSQL..."; pg_ctlcluster --skip-systemctl-redirect $(notdir $(PG_VERSION_DIR)) main start || true; \
	  fi; fi

# wrk, sqlite3 and sqlmap (Debian packages) for the benchmark suite, the SQL injection scan and their smoke tests;
# installed if missing and we are root, otherwise named (the smoke tests then skip, saying why).
bench-tools:
	@missing=""; for t in wrk sqlite3 sqlmap; do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing$$missing..."; \
	    apt-get install -y -qq $$missing >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq $$missing; } || true; \
	  else echo "note: install$$missing (sudo apt-get install -y$$missing) for the benchmark suite"; fi; fi

# Debian's Chromium for the browser journeys (tests/e2e, driven by Playwright); installed if missing and we are
# root, otherwise named (the journeys then skip, saying why, unless CI is set).
browser-tools:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing chromium..."; \
	    apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; } || true; \
	  else echo "note: install chromium (sudo apt-get install -y chromium) for the browser journeys"; fi; fi

# axe-core (npm, pinned in tests/e2e/axe/package-lock.json) for the accessibility audit of the browser journeys;
# installed if missing and npm is here, otherwise named (the audit then skips, saying why, unless CI is set).
axe-tools:
	@if [ ! -f tests/e2e/axe/node_modules/axe-core/axe.min.js ]; then \
	  if command -v npm >/dev/null 2>&1; then echo "installing axe-core (npm ci in tests/e2e/axe)..."; \
	    (cd tests/e2e/axe && npm ci --no-audit --no-fund --silent) \
	      || echo "note: npm ci failed in tests/e2e/axe; the accessibility audit will skip (fail under CI)"; \
	  else echo "note: install npm (sudo apt-get install -y npm), then make axe-tools, for the accessibility audit"; fi; fi

# ruff (lint + import order), mypy (types) and import-linter (layers, no cycles, definitions never imported by the
# mechanism); configured in pyproject.toml. Any finding fails `make test`.
lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: lint pg-up bench-tools browser-tools axe-tools
	$(PY) -m pytest -n 2 -rs

# Refresh the README's screenshots (docs/screenshots/) from the browser journeys, on SQLite.
screenshots: $(VENV)/.installed-dev browser-tools axe-tools
	E2E_SCREENSHOTS=docs/screenshots $(PY) -m pytest -p no:xdist -m "e2e and sqlite" -k screenshot

test-sqlite: $(VENV)/.installed-dev
	$(PY) -m pytest -n 2 -rs -m "not postgresql"

# The benchmark suite (python -m bench.suite; figures in docs/PERFORMANCE.md): needs wrk, sqlite3 and PostgreSQL on
# 127.0.0.1:5432. Seeded databases are cached in bench/.data/ and admin_app_bench_<N>; results go to
# bench/results.json. Options: make bench BENCH_ARGS="--sizes 100000,1000000 --db sqlite" (python -m bench.suite --help).
BENCH_ARGS ?=
bench: $(VENV)/.installed-dev pg-up bench-tools
	@for t in wrk sqlite3; do command -v $$t >/dev/null 2>&1 || { echo "error: $$t is missing (apt-get install -y $$t)"; exit 2; }; done
	$(PY) -m bench.suite $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
