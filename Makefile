# The asyncio course: two commands do all the set-up.
#   make lab    creates .venv if missing and opens JupyterLab on the course
#   make test   the same set-up, then every test
# Set-up is idempotent: pip runs again only when pyproject.toml changed.

VENV   ?= .venv
PYTHON ?= python3
PORT   ?= 8888
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# nbgrader starts helper programs (alembic, jupyter) by name: the venv must come first on PATH.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: setup lab test release check-release grade clean help

help:
	@echo "make lab      open JupyterLab on the course (creates .venv on first use)"
	@echo "make test     run every test (release gate, helpers, grading)"
	@echo "make release  regenerate notebooks/ from solutions/ with nbgrader"
	@echo "make clean    remove the venv, caches and grading output"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP)

lab: setup
	$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" \
		--LabApp.default_url=/lab/tree/notebooks --port=$(PORT) \
		$(if $(DISPLAY),,--no-browser) $(if $(filter 0,$(shell id -u)),--allow-root)

test: setup
	$(PY) -m pytest

release: setup
	$(PY) -m grader release

clean:
	rm -rf $(VENV) grading .pytest_cache .ruff_cache test-artifacts
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +
