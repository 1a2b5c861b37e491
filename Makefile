# Waymark task runner. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv from PATH, else where `pip install --user` puts it.
UV = $(shell command -v uv 2>/dev/null || echo "$$HOME/.local/bin/uv")
RUN = $(UV) run --no-sync
ROADMAP := src/waymark/features/roadmaps/data/backend.toml
SCENARIO ?=

.PHONY: help uv install install-dev run migrate seed serve test lint typecheck pytest format coverage bench clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

uv: ## Install uv if it is missing
	@command -v uv >/dev/null 2>&1 || test -x "$$HOME/.local/bin/uv" || { \
		echo "Installing uv with pip..."; python3 -m pip install --quiet --user uv; }

# --compile-bytecode: .pyc files written once at install, so every `waymark` command starts in
# about 1.5 s instead of 4.5 s even where PYTHONDONTWRITEBYTECODE is set (as on CI machines).
install: uv ## Create the environment from uv.lock (runtime dependencies)
	@$(UV) sync --frozen --no-dev --inexact --compile-bytecode

install-dev: uv ## Create the environment from uv.lock, with the dev tools
	@$(UV) sync --frozen --compile-bytecode

run: install migrate seed serve ## Migrate, import the backend roadmap, serve (embedded SQLite by default)

migrate: ## Apply database migrations
	@$(RUN) waymark db upgrade

seed: ## Import the built-in backend roadmap (harmless to repeat)
	@$(RUN) waymark roadmaps import $(ROADMAP)

serve: ## Serve on WAYMARK_HOST:WAYMARK_PORT (default 127.0.0.1:8000)
	@$(RUN) waymark serve

test: install-dev lint typecheck pytest ## Lint, type-check and run the whole test suite

lint: ## ruff lint and format check
	@$(RUN) ruff check
	@$(RUN) ruff format --check

typecheck: ## mypy --strict on src/
	@$(RUN) mypy

pytest: ## The pytest suite (SQLite and PostgreSQL)
	@$(RUN) pytest -n 2 --dist loadgroup

format: ## Format and autofix
	@$(RUN) ruff format
	@$(RUN) ruff check --fix

coverage: ## Regenerate docs/roadmap-coverage.md
	@$(RUN) waymark roadmaps coverage

bench: install-dev ## Benchmarks against their physical limits (SCENARIO=name for one)
	@$(RUN) python -m bench $(if $(SCENARIO),--scenario $(SCENARIO),)

clean: ## Remove caches and the embedded database
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
