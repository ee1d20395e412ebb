# Quick start: `make demo` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean test-live

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

# The suite runs in TEST_WORKERS processes (pytest-xdist), a test file per worker at a time
# (module fixtures stay in one process); TEST_WORKERS=0 runs it in this process alone.
TEST_WORKERS ?= 2
# Tests that cannot run on this machine by their nature are deselected, not skipped: `live`
# needs a real hosted service and its credentials (`make test-live`), `windows` needs Windows.
# Anything that still skips is listed (-rs), and .ci/run fails on it.
TEST_MARKS ?= not live and not windows
test: $(STAMP)
	$(PY) -m pytest -q -rs -n $(TEST_WORKERS) --dist loadfile --durations=25 -m "$(TEST_MARKS)"

# The live tests against a real hosted service (set the variables tests/test_account_live.py names).
test-live: $(STAMP)
	$(PY) -m pytest -q -rs -m live

# The speed-and-memory table (docs/performance.md): --quick sizes unless BENCH_FULL=1;
# writes bench/results.md and bench/results.json. BENCH_ARGS passes more (e.g. --only search).
$(VENV)/.bench-installed: $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e '.[bench]'
	touch $@

bench: $(VENV)/.bench-installed
	$(PY) bench/run_all.py $(if $(BENCH_FULL),--full) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
