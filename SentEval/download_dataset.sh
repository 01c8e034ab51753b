#!/usr/bin/env bash
# Download SentEval's evaluation data (SimCSE's senteval.tar) into SentEval/data/downstream.
# Needs internet access; offline it fails with a message saying what to fetch and where to put it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${PYTHON:-python}" "$here/download_dataset.py" "$@"
