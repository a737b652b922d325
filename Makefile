# The only entry points: `make run` starts claw, `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-slow check bench chaos mutate setup system-deps clean

run: setup  # the repository's workspace (its CLAUDE.md); state in the per-user CLAW_HOME
	CLAW_WORKSPACE="$${CLAW_WORKSPACE:-$(CURDIR)/workspace}" $(BIN)/claw up

# Two test files at a time (pytest-xdist): most of the suite is end-to-end stacks waiting on
# real timers. --dist loadfile keeps a file's tests (and its module-scoped stack) on one worker;
# every fixture takes a free port and its own temporary directory. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
test: setup
	$(BIN)/pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

test-slow: setup
	$(BIN)/pytest -m slow

check: setup
	$(BIN)/ruff check claw tests

# Mutation testing of the core pipeline ([tool.mutmut] in pyproject.toml lists the modules and the
# tests); slow, so not part of `make test`. One module: make mutate MODULE=claw/pipeline/lease.py;
# on a shared machine CHILDREN=1 (mutmut runs one test process per core otherwise). docs/mutation.md
MUTANTS = $(if $(MODULE),"$(subst /,.,$(basename $(MODULE))).*")
mutate: setup
	$(BIN)/python -m pip install -q -e '.[test,mutate]'
	rm -f mutants/mutmut-stats.json  # which tests call which function: stale once the code changed
	$(BIN)/mutmut run $(if $(CHILDREN),--max-children $(CHILDREN)) $(MUTANTS)
	$(BIN)/mutmut results

bench: setup
	$(BIN)/claw bench

chaos: setup
	$(BIN)/claw chaos

setup: system-deps $(STAMP)

system-deps:
	@scripts/install-system-deps.sh

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "claw needs Python 3.11 or newer as $(PYTHON) (make PYTHON=python3.12 ...)"; exit 1; }
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV) || \
	  { echo "could not create $(VENV): apt-get install python3-venv, then run make again"; exit 1; }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) var .pytest_cache
