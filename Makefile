# Every target sets up its own environment (.venv) first.
PY := .venv/bin/python
SIMCSE_DATA_DIR ?= $(abspath ../shared/data)
export SIMCSE_DATA_DIR

.PHONY: setup run test test-fast demo bench reproduce clean

setup:
	bash scripts/bootstrap.sh

run: setup
	$(PY) -m simcse search

test: setup
	bash scripts/run_tests.sh

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not browser"

demo: setup
	$(PY) -m simcse demo

bench: setup
	$(PY) -m bench.run_all

reproduce: setup
	$(PY) -m simcse reproduce

clean:
	rm -rf build dist *.egg-info .pytest_cache
