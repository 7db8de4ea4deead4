# KeyProxy. `make run` serves the API; `make test` runs the suite. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: run test bench clean

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -c 'import sys; sys.exit("KeyProxy needs Python 3.13 or newer (see .python-version)") if sys.version_info < (3, 13) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	$(PY) app.py

test: $(VENV)/.dev
	$(PY) -m pytest $(PYTEST_ARGS)

# Not a test, not run by CI: see bench/README.md. e.g. make bench BENCH_ARGS="--quick --workers 4"
bench: $(VENV)/.dev
	$(PY) -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
