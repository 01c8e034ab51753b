#!/usr/bin/env bash
# Install what the browser test (tests/demo/test_demo_browser.py) needs: Debian's chromium and
# chromium-driver (apt-get, only when missing) and the Python package playwright (which drives
# /usr/bin/chromium; no `playwright install`, the browser comes from Debian). Idempotent: a second
# run installs nothing. Exits non-zero only when something missing could not be installed.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
status=0

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  echo "install_browser: chromium already installed ($(chromium --version 2>/dev/null | head -1))"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
      echo "install_browser: chromium missing and not root (no sudo): cannot install it" >&2; status=1; fi
  fi
  if [ $status -eq 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
      echo "install_browser: chromium missing and apt-get not found: cannot install it" >&2; status=1
    else
      export DEBIAN_FRONTEND=noninteractive
      $SUDO apt-get update -qq || echo "install_browser: apt-get update failed; trying the cached lists" >&2
      if $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null; then
        echo "install_browser: installed $(chromium --version 2>/dev/null | head -1)"
      else
        echo "install_browser: apt-get install chromium chromium-driver failed" >&2; status=1
      fi
    fi
  fi
fi

if "$PY" -c "import playwright.sync_api" >/dev/null 2>&1; then
  echo "install_browser: playwright (Python) already installed"
elif "$PY" -m pip install -q "playwright>=1.40"; then
  echo "install_browser: installed playwright (Python)"
else
  echo "install_browser: pip install playwright failed" >&2; status=1
fi
exit $status
