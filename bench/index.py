"""Index build and search: FAISS flat / IVF vs the exact torch index, on CPU or GPU.

    python -m bench.index --n 200000 --queries 2000 --device cpu
    python -m bench.index --n 1000000 --queries 10000 --device cuda
    python -m bench.index --n 1000000 --queries 10000 --device cuda --backends torch int8 binary binary_rescore

Vectors are synthetic unit vectors drawn around 2,000 cluster centres (dimension 384, as
all-MiniLM-L6-v2 gives), so IVF cells are meaningful; recall@10 is measured against exact search.
Quantised backends (:class:`simcse.search.quantization.QuantizedIndex`, as ``build_index(precision=...)``
makes them): ``int8``, ``binary`` (Hamming, no re-scoring) and ``binary_rescore`` (40 Hamming
candidates re-scored with the float vectors). On cuda they search with torch on the GPU; on the CPU
with FAISS when it is installed. Indexes of ``simcse index build`` (:class:`simcse.search.factory.FactoryIndex`
over a FAISS factory string): ``hnsw32``, ``ivf_pq`` (IVF with ``4 sqrt(n)`` cells, ``dim / 8`` bytes
a vector) and ``ivf_pq_rerank`` (the same, ``4 k`` candidates re-scored with float16 vectors).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from bench.common import table, timed, write_result
from simcse.search.build import pq_width, validate_factory
from simcse.search.factory import FactoryIndex
from simcse.search.index import FaissIndex, TorchIndex, faiss_available
from simcse.search.quantization import QuantizedIndex

QUANTISED = {"int8": ("int8", 0, "quantized"), "binary": ("binary", 0, "quantized"),
             "binary_rescore": ("binary", 4, "float")}
FACTORY = {"hnsw32": ("HNSW32", 0), "ivf_pq": ("IVF{cells},PQ{m}x8", 0), "ivf_pq_rerank": ("IVF{cells},PQ{m}x8", 4)}


class _Factory:
    """A factory-string index built in memory, searched as ``simcse index search`` does."""

    def __init__(self, name: str, n: int, dim: int, device: str):
        spec, self.rerank = FACTORY[name]
        self.cells = int(4 * np.sqrt(n))
        self.factory = spec.format(cells=self.cells, m=pq_width(dim))
        self.raw, self.dim, self.device, self.index = validate_factory(self.factory, dim, False), dim, device, None

    def train(self, x: np.ndarray) -> None:
        self.raw.train(x)

    def add(self, x: np.ndarray) -> None:
        self.raw.add(x)
        self.index = FactoryIndex(self.raw, self.dim, "ip", self.factory, True,
                                  x.astype(np.float16) if self.rerank else None, self.device)
        if "IVF" in self.factory:
            self.index.set_search_params(nprobe=max(1, self.cells // 32))

    def search(self, q: np.ndarray, k: int):
        return self.index.search(q, k, rerank=self.rerank)


def clustered_vectors(n: int, dim: int, seed: int, centres: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim)).astype(np.float32)
    x = c[rng.integers(0, centres, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def run(n: int, nq: int, dim: int, device: str, k: int, backends: list[str]) -> dict:
    base = clustered_vectors(n, dim, 0)
    queries = clustered_vectors(nq, dim, 1)
    rows, exact_ids = [], None
    for name in backends:
        if name.startswith("faiss") or name in FACTORY:
            if not faiss_available():
                continue
        if name in FACTORY:
            idx = _Factory(name, n, dim, device)
        elif name in QUANTISED:
            precision, mult, rescore_with = QUANTISED[name]
            idx = QuantizedIndex(dim, precision, rescore_multiplier=mult, rescore_with=rescore_with, device=device)
        elif name == "torch":
            idx = TorchIndex(dim, device)
        elif name == "faiss_flat":
            idx = FaissIndex(dim, fast=False, device=device)
        else:
            cells = int(4 * np.sqrt(n))
            idx = FaissIndex(dim, fast=True, num_cells=cells, num_cells_in_search=max(1, cells // 32), device=device)

        def build():
            idx.train(base)
            idx.add(base)

        t_build, _ = timed(build, device)
        idx.search(queries[:10], k)  # warm-up
        t_search, (scores, ids) = timed(lambda: idx.search(queries, k), device, repeats=3)
        if exact_ids is None and name in ("torch", "faiss_flat"):
            exact_ids = ids
        recall = None
        if exact_ids is not None:
            recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ids, exact_ids)]))
        on_gpu = getattr(getattr(idx, "index", idx), "on_gpu", False) or (name == "torch" and device.startswith("cuda")) or (
            name in QUANTISED and idx.base.device.type == "cuda")
        rows.append({"backend": name if name not in QUANTISED else f"{name} ({idx.backend})", "where": "gpu" if on_gpu else "cpu",
                     "build_s": t_build, "search_s": t_search, "queries_per_s": nq / t_search,
                     "recall_at_10": recall, "cells": getattr(idx, "num_cells", None) if name == "faiss_ivf" else None,
                     "probes": getattr(idx, "num_cells_in_search", None) if name == "faiss_ivf" else None,
                     "factory": getattr(idx, "factory", None)})
        del idx
    return {"n": n, "queries": nq, "dim": dim, "k": k, "device": device, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--queries", type=int, default=2000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--backends", nargs="+", default=["torch", "faiss_flat", "faiss_ivf"],
                   choices=["torch", "faiss_flat", "faiss_ivf", *QUANTISED, *FACTORY])
    p.add_argument("--name", default=None)
    p.add_argument("--out_dir", default=None)
    args = p.parse_args(argv)
    res = run(args.n, args.queries, args.dim, args.device, args.k, args.backends)
    name = args.name or f"index_{args.device.split(':')[0]}_{args.n}"
    path = write_result(name, res, Path(args.out_dir) if args.out_dir else None)
    print(table(res["rows"], ["backend", "where", "build_s", "search_s", "queries_per_s", "recall_at_10", "cells", "probes",
                              "factory"]))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
