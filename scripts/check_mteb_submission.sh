#!/usr/bin/env bash
# Run the embeddings-benchmark/results repository's own tests on a submission written by
# `simcse mteb submit --submission SUB`, before opening the pull requests.
#
#   bash scripts/check_mteb_submission.sh SUB [RESULTS_REPO]
#
# RESULTS_REPO is a clone of https://github.com/embeddings-benchmark/results (default: a shallow clone
# is made in a temporary folder; cloning needs the network). A scratch repository is made with that
# repository's tests and pyproject.toml, a `main` commit without results and a branch that adds
# SUB/results/*, as a pull request would; the registry entry SUB/*.py is registered in mteb's model
# registry for the run (as it will be once the mteb pull request is merged), and pytest runs the tests.
# Two things are left out: tests/test_load_datasets.py (it loads the whole repository through its
# datasets script) and a stray module-level line in test_correct_folder_structure.py that expects one
# particular model's folder to be present. Tests that clone the live repository need the network.
set -euo pipefail
SUB=$(cd "${1:?usage: check_mteb_submission.sh SUB [RESULTS_REPO]}" && pwd)
PY=${PYTHON:-python3}
case "$PY" in */*) PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")" ;; esac  # absolute (a venv's own path): the tests run elsewhere
[ -d "$SUB/results" ] || { echo "check_mteb_submission: $SUB has no results/ folder (written by simcse mteb submit)" >&2; exit 2; }
ENTRY=$(ls "$SUB"/*.py 2>/dev/null | head -1)
[ -n "$ENTRY" ] || { echo "check_mteb_submission: $SUB has no registry entry (*.py)" >&2; exit 2; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if [ -n "${2:-}" ]; then
  REPO=$(cd "$2" && pwd)
else
  git clone -q --depth 1 --filter=blob:none --sparse https://github.com/embeddings-benchmark/results "$WORK/upstream"
  git -C "$WORK/upstream" sparse-checkout set tests
  REPO="$WORK/upstream"
fi
CHECK="$WORK/check"
mkdir -p "$CHECK/tests/mock_cache_dir/results" "$CHECK/results"
for f in $(git -C "$REPO" ls-tree --name-only HEAD tests/ | grep '\.py$'); do
  git -C "$REPO" show "HEAD:$f" > "$CHECK/$f"
done
git -C "$REPO" show HEAD:pyproject.toml > "$CHECK/pyproject.toml"
ln -s ../../../results "$CHECK/tests/mock_cache_dir/results/results"
rm -f "$CHECK/tests/test_load_datasets.py"
"$PY" - "$CHECK/tests/test_correct_folder_structure.py" <<'EOF'
import re, sys
path = sys.argv[1]
text = open(path).read()
text = re.sub(r'^p = \[p for p in model_rev_pairs if "[^"]+" in p\[0\]\.name\]\[0\]\[1\] ?/ ?"model_meta\.json"\np\.exists\(\)\n?',
              "", text, flags=re.M)
open(path, "w").write(text)
EOF
touch "$CHECK/results/.keep"
cat > "$CHECK/conftest.py" <<EOF
from mteb.models.model_implementations import MODEL_REGISTRY
from mteb.models.model_meta import ModelMeta
namespace = {}
exec(open("$ENTRY").read(), namespace)
for value in namespace.values():
    if isinstance(value, ModelMeta):
        MODEL_REGISTRY[value.name] = value
EOF
cd "$CHECK"
git init -q -b main
git add -A
git -c user.email=check@localhost -c user.name=check commit -q -m "base"
git checkout -q -b submission
cp -r "$SUB"/results/* results/
git add -A
git -c user.email=check@localhost -c user.name=check commit -q -m "submission"
echo "results repository tests at $(git -C "$REPO" rev-parse --short HEAD) on $(ls "$SUB/results")"
HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} "$PY" -m pytest -p no:cacheprovider -rA tests
