# make run   -> install everything and start the demo (mock providers, demo users and chats)
# make test  -> install everything (with dev tools and Chromium) and run ruff, mypy --strict and pytest
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PACKAGES := msgcenter connectors handoff bot storage dashboard_api

.PHONY: run test lint typecheck pytest install install-dev browser migrate clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("msgcenter needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/msgcenter demo

migrate: install
	$(BIN)/msgcenter migrate

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy

# The console's browser tests drive Debian's Chromium (Playwright's own browser download is not
# used). Installed here where it is missing and apt-get can run as root; without it those
# tests skip, which .ci/run (MSGCENTER_TEST_REQUIRE_SERVICES) turns into a failure.
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's chromium for the browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends chromium fonts-dejavu-core >/dev/null) \
			|| echo "could not install chromium; the browser tests will skip"; \
	fi
	@[ -x $(CHROMIUM) ] || echo "note: $(CHROMIUM) is missing; the browser tests will skip"

pytest: install-dev browser
	$(BIN)/pytest -q

test: lint typecheck pytest

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
