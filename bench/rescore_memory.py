"""Bytes per vector, in RAM and on disk, of a binary index with float re-scoring
(``build_index(precision="binary", rescore_with="float")``) against the plain float index.

    python -m bench.rescore_memory --n 100000 --dim 384 [--out bench/results/rescore_memory.json]

Each configuration runs in a fresh child process that adds ``n`` unit vectors in chunks of
:data:`simcse.tool.STREAM_CHUNK` rows (as ``build_index`` of a file does), then saves the index.
RAM is the growth of the process's anonymous resident memory (``RssAnon``: heap and arrays, not the
page cache of memory-mapped files, which the OS can reclaim; measured after ``malloc_trim`` so
freed temporaries do not count), per vector; disk is the size of the
temporary re-scoring file while built and of the saved folder. Linux only (``/proc/self/status``).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def rss_anon_bytes() -> int:
    """Anonymous resident memory, after giving the allocator's free pages back (``malloc_trim``), so that
    what freed temporaries leave in the heap is not counted."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon in /proc/self/status")


def child(config: str, n: int, dim: int) -> dict:
    import gc

    import numpy as np

    from simcse.search.index import TorchIndex
    from simcse.search.quantization import QuantizedIndex
    from simcse.tool import STREAM_CHUNK

    rng = np.random.default_rng(0)
    chunk = rng.standard_normal((STREAM_CHUNK, dim)).astype(np.float32)
    chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
    if config == "float":
        index = TorchIndex(dim, "cpu")
    else:
        index = QuantizedIndex(dim, "binary", use_faiss=False, rescore_multiplier=4, rescore_with="float")
    gc.collect()
    before = rss_anon_bytes()
    added = 0
    while added < n:
        rows = min(STREAM_CHUNK, n - added)
        index.add(np.roll(chunk[:rows], added % 7, axis=1))  # a fresh array each time, as encoding gives
        added += rows
    gc.collect()
    ram = rss_anon_bytes() - before
    out = {"config": config, "n": n, "dim": dim, "ram_bytes_per_vector": round(ram / n, 1)}
    if config != "float":
        fv = index.float_vectors
        out["float_vectors_type"] = type(fv).__name__
        out["temp_file_bytes_per_vector"] = getattr(fv, "nbytes", 0) / n if isinstance(fv, np.memmap) else 0
        with tempfile.TemporaryDirectory() as d:
            written = index.save(Path(d))
            out["saved_bytes_per_vector"] = round(sum((Path(d) / f).stat().st_size for f in written) / n, 1)
            out["saved_files"] = sorted(written)
        q = chunk[:100]
        index.search(q, 10)
        out["ram_bytes_per_vector_after_100_queries"] = round((rss_anon_bytes() - before) / n, 1)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--out", default=None)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.n, args.dim)))
        return
    rows = []
    for config in ("float", "binary+float-rescore"):
        run = subprocess.run([sys.executable, "-m", "bench.rescore_memory", "--child", config, "--n", str(args.n),
                              "--dim", str(args.dim)], capture_output=True, text=True, check=True)
        rows.append(json.loads(run.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]))
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
