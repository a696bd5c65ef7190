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

.PHONY: setup lab test release clean help collect autograde feedback grades-csv report grade bench-grading hub hub-env

help:
	@echo "make lab      open JupyterLab on the course (creates .venv on first use)"
	@echo "make test     run every test (release gate, helpers, grading)"
	@echo "make release  regenerate notebooks/ from solutions/ with nbgrader"
	@echo "make collect A=.. FROM=..  bring in submissions (a folder or an LMS zip)"
	@echo "make grade [A=..]          autograde in parallel, then feedback, grades CSV, report"
	@echo "make autograde|feedback|grades-csv|report   one step of it"
	@echo "make bench-grading [STUDENTS=8]         sequential nbgrader against ours (minutes)"
	@echo "make hub     a JupyterHub for a class on this machine (root; see deploy/README.md)"
	@echo "make student-kit [KIT_DIR=..]  a zip of the course for students, without solutions"
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

# As root, the tests include a class on a real JupyterHub (tests/hub), which runs from the
# hub's own environment: build it first, so that its set-up is not counted as test time.
test: setup $(if $(filter 0,$(shell id -u)),hub-env)
	$(PY) -m pytest

release: setup
	$(PY) -m grader release

# --- Grading a class (python -m grader; see `python -m grader COMMAND --help`) -------------
# Add to .PHONY: collect autograde feedback grades-csv report grade bench-grading
# (the CSV target is not called "export": that word is a make directive)
# Variables: A=assignment id(s) (default: all), FROM=folder or .zip to collect from,
#            JOBS=notebooks run at once (default: cores), FORCE=1 to regrade / replace.
A     ?=
FROM  ?=
JOBS  ?=
GRADER_FLAGS := $(if $(JOBS),--jobs $(JOBS)) $(if $(FORCE),--force)

collect: setup
	@test -n "$(A)" -a -n "$(FROM)" || { echo "usage: make collect A=01_coroutines FROM=download.zip"; exit 2; }
	$(PY) -m grader collect $(A) "$(FROM)" $(if $(FORCE),--force)

autograde: setup
	$(PY) -m grader autograde $(A) $(GRADER_FLAGS)

feedback: setup
	$(PY) -m grader feedback $(A) $(if $(FORCE),--force)

grades-csv: setup
	$(PY) -m grader export

report: setup
	$(PY) -m grader report

# The whole round after collecting: grade, feedback pages, grades CSV, class report.
# Every step runs even if some submissions failed; the exit status says whether any did.
grade: setup
	$(PY) -m grader autograde $(A) $(GRADER_FLAGS); s=$$?; \
	$(PY) -m grader feedback $(A) || s=1; \
	$(PY) -m grader export || s=1; \
	$(PY) -m grader report || s=1; exit $$s

# --- A class on JupyterHub (deploy/README.md) ------------------------------------------------
# hub-env: the environment the hub and every user's server run from (a venv of a Python all
#          users can run, the course installed non-editable, the proxy from package-lock.json).
# hub:     a hub in a temporary folder, as root. INSTRUCTOR=name STUDENTS="a b" name existing
#          users; CREATE_USERS=1 creates missing ones for the trial (removed when it stops).
INSTRUCTOR ?=
STUDENTS   ?=
HUB_PORT   ?= 8000

hub-env:
	$(PYTHON) deploy/localhub.py setup

hub:
	$(PYTHON) deploy/localhub.py run --port $(HUB_PORT) $(if $(INSTRUCTOR),--instructor $(INSTRUCTOR)) \
		$(foreach s,$(STUDENTS),--student $(s)) $(if $(CREATE_USERS),--create-users)

# --- The student kit (student/; README "Students without a hub") ----------------------------
# The released notebooks, an asynclab wheel, pinned requirements, start.py and its JupyterLab
# settings, in a zip for students who work on their own machine. KIT_DIR=folder also writes
# the kit unpacked into that (new) folder.
KIT_ZIP ?= dist/asyncio-course-student.zip
KIT_DIR ?=

.PHONY: student-kit
student-kit: setup
	$(PY) student/build_kit.py --zip "$(KIT_ZIP)" $(if $(KIT_DIR),--dir "$(KIT_DIR)")

bench-grading: setup
	$(PY) bench/grading.py $(if $(STUDENTS),--students $(STUDENTS))

clean:
	rm -rf $(VENV) .venv-hub deploy/node_modules grading .pytest_cache .ruff_cache test-artifacts dist
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +
