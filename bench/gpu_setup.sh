#!/usr/bin/env bash
# Source this on the GPU machine: unpack the carried data (.gpu/data.tar.gz) and restore the
# carried fp16 copy of all-MiniLM-L6-v2 to fp32. Sets SIMCSE_DATA_DIR and MINILM.
set -e
if [ -d .whl ] && ! python3 -c "import datasets" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
mkdir -p /tmp/simcse-data
tar -C /tmp/simcse-data -xzf .gpu/data.tar.gz
export SIMCSE_DATA_DIR=/tmp/simcse-data
export MINILM=/tmp/minilm
if [ ! -f "$MINILM/model.safetensors" ]; then
  mkdir -p "$MINILM" && cp -r .gpu/minilm/. "$MINILM/"
  python3 - <<'PY'
from safetensors.torch import load_file, save_file
sd = load_file("/tmp/minilm/model.fp16.safetensors")
save_file({k: v.float().contiguous() for k, v in sd.items()}, "/tmp/minilm/model.safetensors", metadata={"format": "pt"})
PY
  rm -f "$MINILM/model.fp16.safetensors"
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=true PYTHONUNBUFFERED=1
