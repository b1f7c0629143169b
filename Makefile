# nnmatch developer commands. Two are all a fresh clone needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Two projects: the library and services (pyproject.toml, what the images install) and the
# tooling (tools/pyproject.toml: the `nnmatch` command). Reinstall whenever either changes.
PROJECTS := pyproject.toml tools/pyproject.toml
STAMP  := $(VENV)/.installed-$(shell cat $(PROJECTS) | cksum | cut -d' ' -f1)
MEMBERS ?= 2000
PYTEST_ARGS ?=

.PHONY: help install system-packages demo up test lint format clean

help:  ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): $(PROJECTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@# torch==2.13.0 is pinned in pyproject: a CPU build (any other version pulls GBs of CUDA).
	$(BIN)/python -m pip install -q -e '.[ml,dev]'
	@# Then the tooling, which needs nnmatch installed (and owns the `nnmatch` script).
	$(BIN)/python -m pip install -q -e ./tools
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)  ## Create .venv and install nnmatch, its tooling and the dev tools.

demo: install  ## Run the whole system end to end on the embedded defaults, then stop it.
	$(BIN)/nnmatch demo --members $(MEMBERS)

up: install  ## Run the dev stack, the services and the web pages until Ctrl-C.
	$(BIN)/nnmatch up

lint: install  ## ruff, mypy --strict and the import-linter layering contracts.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install  ## Apply ruff's fixes and formatting.
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

system-packages:  ## Install the Debian programs the suite drives (prometheus, chromium) if missing.
	@tools/system-packages

test: system-packages lint  ## Lint, then the whole suite on the real broker and Redis (started if needed).
	$(BIN)/pytest $(PYTEST_ARGS)

clean:  ## Remove the venv and caches (stops nothing: see `nnmatch dev down`).
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
