#!/usr/bin/env bash
# The full test suite (what CI runs). Installs what the browser test needs when it can.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export SIMCSE_DATA_DIR=${SIMCSE_DATA_DIR:-$(cd .. && pwd)/shared/data}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if [ -f scripts/install_browser.sh ]; then bash scripts/install_browser.sh || echo "browser set-up failed; browser tests will skip"; fi
exec .venv/bin/python -m pytest -ra -q "$@"
