"""Run the benchmark suite (``make bench``): each benchmark writes JSON (and a table) to bench/results.

On a machine with CUDA: encoding (BERT-base random and all-MiniLM-L6-v2, 50k sentences), training
throughput against sentence-transformers (batch sweep and plot), loss parity of the compiled
paths, the exact torch index on 1M vectors, gradient caching. On CPU: encoding with
all-MiniLM-L6-v2, the index backends, and the STS7 evaluation time against the naive path.
"""
from __future__ import annotations

import subprocess
import sys

import torch


def main() -> int:
    py = [sys.executable, "-m"]
    if torch.cuda.is_available():
        runs = [
            ["bench.encode", "--model", "bert-base-random", "--n", "50000", "--batch_sizes", "512"],
            ["bench.encode", "--model", "minilm", "--n", "50000", "--batch_sizes", "64", "512", "--precisions", "fp16", "bf16"],
            ["bench.train_parity"],
            ["bench.train", "--batch_sizes", "32", "64", "128", "256", "--variants", "eager", "compile", "cudagraphs",
             "--st_batch_sizes", "32", "64", "128", "256", "--steps", "120"],
            ["bench.index", "--n", "1000000", "--queries", "10000", "--backends", "torch", "faiss_flat", "faiss_ivf"],
            ["bench.grad_cache"],
        ]
    else:
        runs = [
            ["bench.encode", "--model", "minilm", "--n", "5000", "--device", "cpu", "--batch_sizes", "64", "128", "--repeats", "2"],
            ["bench.index", "--n", "200000", "--queries", "2000", "--device", "cpu"],
            ["bench.sts7_eval", "--device", "cpu"],
        ]
    failed = 0
    for args in runs:
        print("==>", " ".join(args), flush=True)
        failed += subprocess.call(py + args) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
