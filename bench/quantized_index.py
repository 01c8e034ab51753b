"""Quantised indexes and Matryoshka truncation: memory and recall@10 against the exact float index.

Corpus: every unique sentence of the SentEval sets under ``$SIMCSE_DATA_DIR`` (STS12-16, STS-B,
SICK, MR, CR, SUBJ, MPQA, SST-2/SST-5, TREC, MRPC), embedded with all-MiniLM-L6-v2 (L2-normalised,
float32). ``--num_queries`` sentences (default 1,000) drawn at random (seed 0) are held out as
queries and are not in the indexed corpus. The ground truth for each query is the top 10 of the
exact float32 inner-product index over the full 384-d vectors; each configuration reports
recall@10 (the fraction of those 10 found in its own top 10), the top-1 agreement, memory per
vector and per million vectors (index payload, see :func:`simcse.search.quantization.index_memory`)
and search time for all queries.

Embeddings are cached in ``bench/results/raw/`` (git-ignored) as ``.npy`` next to the sentence
list's hash, so a re-run only searches. ``--max_sentences N`` uses a random subset of N sentences
(documented in the JSON) when the full corpus is too slow to encode.

    PYTHONPATH=. SIMCSE_DATA_DIR=/work/shared/data python bench/quantized_index.py
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, table, write_result  # noqa: E402

RAW = RESULTS / "raw"


def senteval_corpus(data_dir: str | None = None) -> tuple[list[str], dict[str, int]]:
    """All unique sentences of the SentEval sets (first occurrence order) and the count read per task."""
    from simcse.evaluation import datadir as dd

    counts: dict[str, int] = {}
    seen: dict[str, None] = {}

    def take(task: str, sents: list[str]) -> None:
        counts[task] = counts.get(task, 0) + len(sents)
        for s in sents:
            s = dd.senteval_text(s)
            if s:
                seen.setdefault(s, None)

    for year in dd.STS_SUBSETS:
        for a, b, _ in dd.read_sts_year(year, data_dir).values():
            take(year, a + b)
    for split in dd.STSB_SPLITS:
        a, b, _ = dd.read_stsb(data_dir, split)
        take("STSB", a + b)
    for split in dd.SICK_FILES:
        a, b, _, _ = dd.read_sick(data_dir, split)
        take("SICK", a + b)
    for task in dd.BINARY_FILES:
        take(task, dd.read_binary(task, data_dir)[0])
    for split in dd.STSB_SPLITS:
        take("SST2", dd.read_sst2(data_dir, split)[0])
    for split in dd.TREC_FILES:
        take("TREC", dd.read_trec(data_dir, split)[0])
    for split in dd.MRPC_FILES:
        a, b, _ = dd.read_mrpc(data_dir, split)
        take("MRPC", a + b)
    return list(seen), counts


def embed_cached(sentences: list[str], model_path: str, upto: int | None = None, batch_size: int = 128,
                 part: int = 4096) -> np.ndarray:
    """L2-normalised float32 embeddings of ``sentences[:upto]``, cached in parts of ``part`` sentences.

    The cache key is the hash of the whole list and the model, so a smaller ``upto`` reuses the
    parts of a larger run and a larger one continues where an interrupted run stopped.
    """
    import torch

    from simcse.encoder import SentenceEncoder

    n = len(sentences) if upto is None else min(upto, len(sentences))
    key = hashlib.sha1(("\n".join(sentences) + "\0" + model_path).encode("utf-8")).hexdigest()[:12]
    RAW.mkdir(parents=True, exist_ok=True)
    encoder = None
    parts = []
    t0 = time.perf_counter()
    for i, start in enumerate(range(0, n, part)):
        f = RAW / f"quantized_index_emb_{key}.part{i:03d}.npy"
        if f.is_file():
            parts.append(np.load(f))
            continue
        if encoder is None:
            encoder = SentenceEncoder.from_pretrained(model_path)
            encoder.eval()
        with torch.inference_mode():
            emb = encoder.encode(sentences[start : start + part], batch_size=batch_size, max_length=128,
                                 normalize=True, device="cpu").numpy()
        np.save(f, emb)
        parts.append(emb)
        print(f"encoded {start + len(emb)}/{len(sentences)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    out = np.concatenate(parts, axis=0).astype(np.float32) if parts else np.zeros((0, 0), np.float32)
    return out[:n]


def shuffled_corpus(data_dir: str | None = None, seed: int = 0) -> tuple[list[str], dict[str, int]]:
    """The unique SentEval sentences in a fixed random order (queries are taken from the front)."""
    sents, counts = senteval_corpus(data_dir)
    order = np.random.default_rng(seed).permutation(len(sents))
    return [sents[i] for i in order], counts


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean over queries of |found ∩ truth| / |truth| (rows of ids)."""
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / len(t) for f, t in zip(found, truth)]))


def run_configs(docs: np.ndarray, queries: np.ndarray, k: int = 10, use_faiss: bool | None = None) -> list[dict[str, Any]]:
    """Every configuration's memory, recall@k and top-1 agreement against the exact float32 top-k."""
    from simcse.search.index import make_index
    from simcse.search.quantization import QuantizedIndex, index_memory, truncate_embeddings

    dim = docs.shape[1]
    truth = np.argsort(-(queries @ docs.T), axis=1)[:, :k]
    configs: list[tuple[str, str, int | None, int, str]] = [
        ("float32", "float32", None, 0, "-"),
        ("int8", "int8", None, 0, "-"),
        ("int8 + float rescore x4", "int8", None, 4, "float"),
        ("binary", "binary", None, 0, "-"),
        ("binary + sign rescore x4", "binary", None, 4, "quantized"),
        ("binary + float rescore x4", "binary", None, 4, "float"),
        ("binary + float rescore x10", "binary", None, 10, "float"),
        ("float32 truncate 256", "float32", 256, 0, "-"),
        ("float32 truncate 128", "float32", 128, 0, "-"),
        ("float32 truncate 64", "float32", 64, 0, "-"),
        ("int8 truncate 128", "int8", 128, 0, "-"),
    ]
    rows = []
    for name, precision, tdim, mult, rescore_with in configs:
        d = tdim or dim
        x = truncate_embeddings(docs, tdim) if tdim else docs
        q = truncate_embeddings(queries, tdim) if tdim else queries
        if precision == "float32":
            index: Any = make_index(d, use_faiss)
        else:
            index = QuantizedIndex(d, precision, use_faiss, mult, rescore_with if mult else "quantized")
        t0 = time.perf_counter()
        index.add(x)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, ids = index.search(q, k)
        search_s = time.perf_counter() - t0
        mem = index_memory(dim, precision, tdim, rescore_with if mult else None)
        rows.append({
            "config": name, "precision": precision, "dim": d, "rescore_multiplier": mult,
            "rescore_with": rescore_with, "backend": index.backend,
            "bytes_per_vector": mem["bytes_per_vector"],
            "MiB_per_1M": round(mem["mib_per_million"], 1),
            "rescore_MiB_per_1M": round(mem["rescore_mib_per_million"], 1) or None,
            "compression": f"{4 * dim / mem['bytes_per_vector']:g}x",
            "recall@10": round(recall_at_k(ids, truth), 4),
            "top1_agree": round(float(np.mean(ids[:, 0] == truth[:, 0])), 4),
            "build_s": round(build_s, 3),
            "search_ms_per_query": round(1000 * search_s / len(q), 3),
        })
        print(f"{name}: recall@10 {rows[-1]['recall@10']:.4f}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data_dir", default=None, help="SentEval data folder (default: $SIMCSE_DATA_DIR)")
    ap.add_argument("--model", default=None, help="model folder (default: all-MiniLM-L6-v2)")
    ap.add_argument("--num_queries", type=int, default=1000)
    ap.add_argument("--max_sentences", type=int, default=None,
                    help="index only this many corpus sentences (a random subset; default: all)")
    ap.add_argument("--cached_only", action="store_true",
                    help="use as many corpus sentences as are already encoded in the cache (whole parts)")
    ap.add_argument("--out", default=str(RESULTS / "quantized_index.json"))
    args = ap.parse_args(argv)

    from simcse.encoder import default_model_path

    model = str(args.model or default_model_path())
    sentences, counts = shuffled_corpus(args.data_dir)
    n_total = len(sentences)
    n = n_total if args.max_sentences is None else min(n_total, args.num_queries + args.max_sentences)
    if args.cached_only:
        key = hashlib.sha1(("\n".join(sentences) + "\0" + model).encode("utf-8")).hexdigest()[:12]
        cached = len(list(RAW.glob(f"quantized_index_emb_{key}.part*.npy"))) * 4096
        n = min(n, cached)
    emb = embed_cached(sentences, model, upto=n)
    queries, docs = emb[: args.num_queries], emb[args.num_queries : n]
    print(f"corpus: {len(docs)} of {n_total - args.num_queries} unique SentEval sentences, "
          f"{len(queries)} held-out queries", flush=True)
    rows = run_configs(docs, queries)
    cols = ["config", "dim", "bytes_per_vector", "MiB_per_1M", "rescore_MiB_per_1M", "compression",
            "recall@10", "top1_agree", "search_ms_per_query"]
    md = table(rows, cols)
    payload = {
        "model": Path(model).name,
        "corpus": "unique sentences of SentEval STS12-16, STS-B, SICK, MR, CR, SUBJ, MPQA, SST-2, TREC, MRPC",
        "sentences_per_task_read": counts,
        "unique_sentences": n_total,
        "indexed_sentences": int(len(docs)),
        "subset": len(docs) < n_total - args.num_queries,
        "num_queries": int(len(queries)),
        "queries": "random held-out unique sentences (seed 0), not in the indexed corpus",
        "ground_truth": "exact float32 inner-product top-10 over the full-width vectors",
        "memory_note": "bytes_per_vector = index payload; rescore_MiB_per_1M = float32 vectors that "
                       "float re-scoring reads (memory-mapped from disk after load_index)",
        "rows": rows,
        "table_markdown": md,
    }
    out = Path(args.out)
    write_result(out.stem, payload, out.parent)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
