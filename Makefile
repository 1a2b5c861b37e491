# Waymark task runner. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv from PATH, else ~/.local/bin (uv's own installer, `pip install --user`), else the copy
# `make uv` puts in .tools/. That copy comes from `pip install --target`, which works where
# the system Python is externally managed (PEP 668: Debian 12 refuses `pip install --user`)
# and needs neither root nor --break-system-packages.
PYTHON ?= python3
TOOLS := $(CURDIR)/.tools
UV_VERSION ?= 0.13.9
UV := $(or $(shell command -v uv 2>/dev/null),$(wildcard $(HOME)/.local/bin/uv),$(TOOLS)/bin/uv)
RUN = $(UV) run --no-sync
# uv trusts the system's certificate store, as Debian's pip does: where the network needs a
# local CA (added to the system store), uv then downloads wherever pip could.
export UV_SYSTEM_CERTS ?= 1
ROADMAP := src/waymark/features/roadmaps/data/backend.toml
SCENARIO ?=

# Sync .venv with uv.lock ($(1): which part), silently when it already matches.
# --compile-bytecode: .pyc files written once at install, so every `waymark` command starts in
# about 1.5 s instead of 4.5 s even where PYTHONDONTWRITEBYTECODE is set (as on CI machines).
sync = $(UV) sync --frozen $(1) --check --quiet 2>/dev/null || $(UV) sync --frozen $(1) --compile-bytecode

.PHONY: help uv install install-dev browser-tools run migrate seed serve test lint typecheck pytest format coverage screenshots bench bench-fanout bench-jobs clean

help: ## List the targets
	@echo "Waymark. A fresh clone needs python3 (with pip) and make; start with make run."
	@echo
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-12s %s\n", $$1, $$2}'
	@echo
	@echo "Settings are WAYMARK_* variables (README.md), e.g. make run WAYMARK_PORT=8001."
	@echo "The waymark command (migrations, roadmaps, users, keys): .venv/bin/waymark --help"

run: install migrate seed serve ## Install, migrate, import the backend roadmap, serve on http://127.0.0.1:8000

test: install-dev browser-tools lint typecheck pytest ## Lint, type-check and run the whole suite (needs PostgreSQL, see README)

uv: ## Install uv into .tools/ unless it is on PATH or in ~/.local/bin
	@test -x "$(UV)" || { \
		$(PYTHON) -m pip --version >/dev/null 2>&1 || { \
			echo "make uv: $(PYTHON) has no pip (Debian: apt install python3-pip); or install uv: https://docs.astral.sh/uv/" >&2; \
			exit 1; }; \
		echo "Installing uv $(UV_VERSION) into .tools/ with pip"; \
		PIP_USER=0 PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
			$(PYTHON) -m pip install --quiet --upgrade --target "$(TOOLS)" "uv==$(UV_VERSION)"; }

install: uv ## Create .venv from uv.lock (runtime dependencies)
	@$(call sync,--no-dev --inexact)

install-dev: uv ## Create .venv from uv.lock, with the dev tools
	@$(call sync,)

# The browser tests drive Debian's Chromium with Playwright (never `playwright install`, which
# downloads a browser of its own), read printed PDFs with poppler's pdftotext, and audit pages
# with axe-core from npm (package-lock.json) in a node_modules/ of this checkout; the
# Socket.IO tests run the stock socket.io-client (npm, the same node_modules/) under Node. As root
# (CI, a fresh machine) what is missing is installed; elsewhere the make says what to run,
# and the browser tests are skipped, loudly, until it is there.
BROWSER_DEBS := chromium poppler-utils fonts-dejavu-core
browser-tools: ## Chromium, pdftotext (Debian), axe-core, socket.io-client and oidc-provider (npm) for the browser, Socket.IO and sign-in tests
	@command -v chromium >/dev/null && command -v pdftotext >/dev/null && command -v npm >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing $(BROWSER_DEBS) with apt-get"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				$(BROWSER_DEBS) $$(command -v npm >/dev/null || echo npm) >/dev/null; \
		else \
			echo "make browser-tools: as root, run: apt-get install $(BROWSER_DEBS) npm" >&2; \
		fi; }
	@test -f node_modules/axe-core/axe.min.js -a -f node_modules/socket.io-client/package.json \
		-a -f node_modules/oidc-provider/package.json \
		-a node_modules/.package-lock.json -nt package-lock.json \
		|| { command -v npm >/dev/null && npm ci --no-audit --no-fund --loglevel=error; } \
		|| echo "make browser-tools: npm ci failed; the accessibility, Socket.IO and OIDC tests will be skipped" >&2

migrate: ## Apply database migrations
	@$(RUN) waymark db upgrade

seed: ## Import the built-in backend roadmap (harmless to repeat)
	@$(RUN) waymark roadmaps import $(ROADMAP)

serve: ## Serve on WAYMARK_HOST:WAYMARK_PORT (default 127.0.0.1:8000)
	@$(RUN) waymark serve

lint: ## ruff lint and format check, and the import contracts (layers, independent features)
	@$(RUN) ruff check
	@$(RUN) ruff format --check
	@$(RUN) lint-imports --no-cache

typecheck: ## mypy --strict on src/
	@$(RUN) mypy

pytest: ## The pytest suite (SQLite and PostgreSQL)
	@$(RUN) pytest -n 2 --dist loadgroup

format: ## Format and autofix
	@$(RUN) ruff format
	@$(RUN) ruff check --fix

coverage: ## Regenerate docs/roadmap-coverage.md
	@$(RUN) waymark roadmaps coverage

screenshots: install-dev browser-tools ## Screenshots of the main pages into docs/screenshots/
	@$(RUN) python -m tests.browser.screenshots docs/screenshots

bench: install-dev ## Benchmarks against their physical limits (SCENARIO=name for one)
	@$(RUN) python -m bench $(if $(SCENARIO),--scenario $(SCENARIO),)

bench-fanout: install-dev ## Live events fanned out to 1,000 streams beside a raw broadcaster
	@$(RUN) python -m bench.fanout

bench-jobs: install-dev ## 10,000 jobs through RabbitMQ beside raw aio-pika; commit-to-start latency
	@$(RUN) python -m bench.jobs

clean: ## Remove caches and the embedded database (not .venv or .tools)
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
