"""Retrieval over an embeddings folder (``simcse encode --input``): index build time and memory, bytes
per vector, recall@10 against exact search, query latency and throughput, for several FAISS factory
strings and for the exact torch index on the GPU.

    python scripts/make_bench_corpus.py 2000000 /scratch/corpus.txt
    python scripts/make_bench_corpus.py 10000 /scratch/queries.txt --seed 1
    simcse encode --input /scratch/corpus.txt --output_dir /scratch/emb --batch_size 512
    python -m bench.corpus_retrieval --embeddings /scratch/emb --queries /scratch/queries.txt \\
        --work /scratch/idx --factories Flat "IVF4096,PQ48" HNSW32 --rerank 4 --json out.json

Exact search (the reference of recall@10) is the float16 embeddings themselves, scored by
:class:`simcse.search.index.TorchIndex` (on the GPU when there is one). Each index is built by
``simcse index build`` in a child process, whose peak resident memory (VmHWM) is reported. Latency:
one query per call over ``--latency_queries`` queries (p50, p99); throughput: calls of 1,024 queries.
IVF indexes are searched with ``--nprobe`` cells, HNSW with ``--ef_search``; ``--rerank K [K ...]`` adds a row per
PQ index and K that re-scores ``10 K`` candidates with the stored float16 vectors.

``recall@10_ties`` counts a returned row as found when its exact score reaches the exact 10th score less
0.001: on a corpus with near-duplicate lines (such as the generated one) several rows tie for the last
places of the top 10 and plain recall@10 penalises an index for returning a tied twin.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bench.common import device_info, emit, sync, vm_hwm_mib
from simcse import SimCSE
from simcse.search.index import TorchIndex
from simcse.search.shards import EmbeddingManifest, iter_shards, load_vectors_float32
from simcse.search.store import IndexManifest, open_search_index

K = 10



def build_child(embeddings: str, output: str, factory: str) -> None:
    """Runs in the child process: build one index, print its wall time and peak memory as JSON."""
    from simcse.search.build import build_index_folder

    t0 = time.perf_counter()
    build_index_folder(embeddings, output, factory=factory, say=lambda msg: print(msg, file=sys.stderr))
    print(json.dumps({"build_s": time.perf_counter() - t0, "peak_rss_mib": vm_hwm_mib()}))


def build(args: argparse.Namespace, out: Path, factory: str) -> dict | None:
    """Build one index in a child process (so that its peak memory is its own); None if it failed."""
    child = subprocess.run([sys.executable, "-m", "bench.corpus_retrieval", "--embeddings", str(args.embeddings),
                            "--queries", str(args.queries), "--work", str(args.work),
                            "--_build", str(args.embeddings), str(out), factory],
                           capture_output=True, text=True)
    if child.returncode != 0:
        print(child.stderr[-3000:], file=sys.stderr)
        return None
    return json.loads(child.stdout.strip().splitlines()[-1])


def latency_and_throughput(search, queries: np.ndarray, latency_queries: int, device: str) -> dict:
    lat = []
    for q in queries[:latency_queries]:
        t0 = time.perf_counter()
        search(q[None, :])
        sync(device)
        lat.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    for start in range(0, len(queries), 1024):
        search(queries[start : start + 1024])
    sync(device)
    wall = time.perf_counter() - t0
    return {"p50_ms": round(1000 * float(np.percentile(lat, 50)), 3), "p99_ms": round(1000 * float(np.percentile(lat, 99)), 3),
            "qps_batch_1024": round(len(queries) / wall, 1)}


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[:K]) & set(t[:K])) / K for f, t in zip(found, truth)]))


def exact_scores(embeddings: Path, queries: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The exact score (inner product with the stored float16 vector) of each found position."""
    flat = positions.reshape(-1)
    vectors = np.zeros((len(flat), queries.shape[1]), dtype=np.float32)
    start = 0
    for shard in iter_shards(embeddings):
        end = start + len(shard)
        hit = (flat >= start) & (flat < end)
        if hit.any():  # widen only the rows asked for, not the whole shard
            rows = flat[hit] - start
            vectors[hit] = load_vectors_float32(dataclasses.replace(shard, vectors=np.asarray(shard.vectors[rows]),
                                                                    rows=shard.rows[rows], ids=None))
        start = end
    return np.einsum("qkd,qd->qk", vectors.reshape(*positions.shape, -1), queries)


def recall_with_ties(found_scores: np.ndarray, truth_scores: np.ndarray, tol: float = 1e-3) -> float:
    """Share of the returned top 10 whose exact score reaches the exact 10th score (less ``tol``): recall@10
    that counts a near-duplicate of a true neighbour, tied with it to ``tol``, as found."""
    return float(np.mean(found_scores[:, :K] >= truth_scores[:, K - 1 : K] - tol))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--embeddings", required=True, type=Path)
    p.add_argument("--queries", required=True, type=Path, help="text file, one query a line")
    p.add_argument("--work", required=True, type=Path, help="folder for the index folders")
    p.add_argument("--factories", nargs="*", default=["Flat", "IVF4096,PQ48", "HNSW32"],
                   help="FAISS factory strings to build and measure (none: the exact torch index only)")
    p.add_argument("--rerank", type=int, nargs="*", default=[4],
                   help="re-scoring depths to measure on PQ indexes (each adds a row: 10 K candidates re-scored)")
    p.add_argument("--nprobe", type=int, default=64)
    p.add_argument("--reuse", action="store_true",
                   help="search an index already built in --work instead of building it again (build columns empty)")
    p.add_argument("--ef_search", type=int, default=128)
    p.add_argument("--latency_queries", type=int, default=500)
    p.add_argument("--model", default=None, help="model folder (default: the one recorded in the embeddings folder)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", type=Path)
    p.add_argument("--_build", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._build:
        build_child(*args._build)
        return 0

    emb = EmbeddingManifest.read(args.embeddings)
    n = emb.num_rows
    lines = [s.strip() for s in args.queries.read_text(encoding="utf-8").splitlines() if s.strip()]
    model = SimCSE(args.model or emb.model["name"], device=args.device)
    queries = model.encode(lines, batch_size=512, return_numpy=True, max_length=emb.max_length)
    rows: list[dict] = []

    exact = TorchIndex(emb.dim, device=args.device)
    t0 = time.perf_counter()
    for shard in iter_shards(args.embeddings):
        exact.add(load_vectors_float32(shard))
    load_s = time.perf_counter() - t0
    truth_scores, truth = exact.search(queries, K)
    gaps = truth_scores[:, 0] - truth_scores[:, K - 1]
    ties = {"top1_minus_top10_median": round(float(np.median(gaps)), 4),
            "share_of_queries_with_top10_within_0.01": round(float(np.mean(gaps < 0.01)), 4)}
    print(json.dumps(ties), flush=True)
    row = {"index": f"exact torch ({args.device})", "build_s": round(load_s, 1), "bytes_per_vector": 2 * emb.dim,
           "recall@10": 1.0}
    row.update(latency_and_throughput(lambda q: exact.search(q, K), queries, args.latency_queries, args.device))
    if torch.cuda.is_available() and args.device.startswith("cuda"):
        row["gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    rows.append(row)
    print(json.dumps(row), flush=True)
    del exact
    if torch.cuda.is_available():
        torch.cuda.empty_cache()

    for factory in args.factories:
        out = args.work / factory.replace(",", "_")
        if args.reuse and (out / "index_meta.json").is_file():
            built = {"build_s": None, "peak_rss_mib": None}
        else:
            built = build(args, out, factory)
        if built is None:
            rows.append({"index": factory, "error": "build failed (see stderr)"})
            continue
        manifest = IndexManifest.read(out)
        index = open_search_index(out, manifest, use_faiss=True, device="cpu")
        index.set_search_params(nprobe=args.nprobe if "IVF" in factory else None,
                                ef_search=args.ef_search if "HNSW" in factory else None)
        size = (out / "faiss.index").stat().st_size
        variants = [0] + ([k for k in args.rerank if k > 0] if "PQ" in factory else [])
        for rr in variants:
            found = index.search(queries, K, rerank=rr)[1]
            row = {"index": factory + (f" + rerank {rr}" if rr else ""), "build_s": None if built["build_s"] is None else round(built["build_s"], 1),
                   "build_peak_rss_gib": None if built["peak_rss_mib"] is None else round(built["peak_rss_mib"] / 1024, 2),
                   "bytes_per_vector": round(size / n, 1) + (2 * emb.dim if rr else 0),
                   "recall@10": round(recall(found, truth), 4),
                   "recall@10_ties": round(recall_with_ties(exact_scores(args.embeddings, queries, found), truth_scores), 4),
                   "search": {"nprobe": args.nprobe} if "IVF" in factory else ({"efSearch": args.ef_search} if "HNSW" in factory else {})}
            row.update(latency_and_throughput(lambda q: index.search(q, K, rerank=rr), queries, args.latency_queries, "cpu"))
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {"benchmark": "corpus_retrieval", "rows": n, "dim": emb.dim, "queries": len(lines), "exact_top10": ties,
              "cpu_threads": torch.get_num_threads(), "results": rows, "env": device_info()}
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
