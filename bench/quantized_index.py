"""Quantised indexes and Matryoshka truncation: memory and recall@10 against the exact float index.

Corpus: every unique sentence of the SentEval sets under ``$SIMCSE_DATA_DIR`` (STS12-16, STS-B,
SICK, MR, CR, SUBJ, MPQA, SST-2/SST-5, TREC, MRPC), embedded with all-MiniLM-L6-v2 (L2-normalised,
float32). ``--num_queries`` sentences (default 1,000) drawn at random (seed 0) are held out as
queries and are not in the indexed corpus. The ground truth for each query is the top 10 of the
exact float32 inner-product index over the full 384-d vectors; each configuration reports
recall@10 (the fraction of those 10 found in its own top 10), the top-1 agreement, memory per
vector and per million vectors (index payload, see :func:`simcse.quantization.index_memory`)
and search time for all queries.

Embeddings are cached in ``bench/results/raw/`` (git-ignored) as ``.npy`` next to the sentence
list's hash, so a re-run only searches. ``--max_sentences N`` uses a random subset of N sentences
(documented in the JSON) when the full corpus is too slow to encode.

    PYTHONPATH=. SIMCSE_DATA_DIR=/work/shared/data python bench/quantized_index.py
"""
from __future__ import annotations

import argparse
import hashlib
import json
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
