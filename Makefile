# The two commands: `make demo` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)

.PHONY: demo test lint typecheck pytest install servers bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## demo: enqueue sample tasks on the embedded SQLite backend and drain them
demo: $(STAMP)
	$(BIN)/python -m alligator.demo

## servers: install redis-server, beanstalkd, PostgreSQL and Chromium (the dashboard's browser
## test drives it through Playwright) when missing; the tests start their own servers
servers:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v beanstalkd >/dev/null 2>&1 || [ -x /usr/bin/beanstalkd ] || missing="$$missing beanstalkd"; \
	{ command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; } || \
		ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check alligator tests benchmarks
	$(BIN)/ruff format --check alligator tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) servers
	$(BIN)/pytest

## test: ruff, mypy --strict (package, tests, typing cases) and pytest
test: lint typecheck pytest

## docs: build the HTML documentation (warnings are errors)
docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

## bench: the benchmark run against the peers (BENCH_ARGS=--quick for a short one)
bench: $(STAMP) servers
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
