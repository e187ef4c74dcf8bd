# make run   -> install everything and start the demo (mock providers, demo users and chats)
# make test  -> install everything (with dev tools and Chromium) and run ruff, mypy --strict and pytest
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PACKAGES := msgcenter connectors handoff bot storage dashboard_api
# Dependencies are locked: requirements.lock pins every package (runtime, dev tools and the build
# system) with its hashes, and both commands install exactly that. uv, pinned here, resolves the
# lock (`make lock`) and installs from it; it lives in a venv of its own, apart from the project's.
# requirements-runtime.lock, made with it, is its runtime part: what the container image installs.
LOCK := requirements.lock
RUNTIME_LOCK := requirements-runtime.lock
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv

.PHONY: run test lint dockerlint typecheck pytest install install-dev browser migrate clean lock lockcheck

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit("msgcenter needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Fails with a clear message when pyproject.toml changed since the lock was made.
lockcheck:
	@$(PYTHON) msgcenter/lockfile.py check

lock: | $(UV)
	$(PYTHON) msgcenter/lockfile.py compile $(UV)
	@echo "$(LOCK) and $(RUNTIME_LOCK) refreshed from pyproject.toml; run make test, then commit the three"

# One venv with everything the lock pins, then msgcenter itself in editable mode (its build
# system is in the lock too, so nothing unpinned is downloaded).
$(VENV)/.installed: $(LOCK) pyproject.toml | lockcheck $(UV)
	@[ -x $(BIN)/python ] || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --python $(BIN)/python --require-hashes --build-constraints $(LOCK) $(LOCK)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
	touch $@

install: lockcheck $(VENV)/.installed
install-dev: install

run: install
	$(BIN)/msgcenter demo

migrate: install
	$(BIN)/msgcenter migrate

lint: install-dev dockerlint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The Dockerfile, with hadolint (a dev dependency: its binary comes in a wheel, no Docker
# needed). Every rule applies and every finding fails, down to "info".
dockerlint: install-dev
	$(BIN)/hadolint Dockerfile

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
	rm -rf $(VENV) $(TOOLS) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
