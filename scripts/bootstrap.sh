#!/usr/bin/env bash
# Create .venv (if missing or stale) and install simcse with everything the tests, examples and
# benchmarks need. torch is pinned to 2.13.0 so that machines with a local CPU wheel take it
# instead of downloading CUDA packages; a user's own install may take any recent torch.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
STAMP="$VENV/.simcse-installed"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
if [ ! -f "$STAMP" ] || [ setup.py -nt "$STAMP" ] || [ scripts/bootstrap.sh -nt "$STAMP" ]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q "torch==2.13.0"
  "$VENV/bin/python" -m pip install -q -e ".[dev]"
  touch "$STAMP"
fi
