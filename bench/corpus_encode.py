"""Corpus encoding end to end: ``simcse encode --input CORPUS --output_dir EMB/`` on a file made by
``scripts/make_bench_corpus.py``, reported as JSON.

    python scripts/make_bench_corpus.py 1000000 /scratch/corpus.txt
    python -m bench.corpus_encode /scratch/corpus.txt --device cuda [--model minilm|bert-base-random|PATH]

Reports, for one process:

- ``end_to_end_sentences_per_s``: rows written / wall time of the whole command (model loading, reading,
  tokenizing, encoding, writing and hashing the shards, the manifest);
- ``model_only_sentences_per_s`` (the GPU-only rate on a GPU): ``SentenceEncoder.encode`` of the first
  ``--model_sample`` lines already in memory, after a warm-up, with the same batch size, length and
  precision: what the model alone allows;
- ``peak_host_rss_mib``: this process's VmHWM after the command (the benchmark holds nothing of the
  corpus before it runs, so this is the command's peak);
- ``peak_gpu_memory_mib``: ``torch.cuda.max_memory_allocated`` during the command (null on CPU).

The command runs in this process (``simcse.cli.main``), so that the peaks are its own; the output folder
is a temporary one unless ``--output_dir`` is given.
"""
from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench.common import device_info, emit, random_bert_base, sync, vm_hwm_mib
from simcse import SimCSE, default_model_path
from simcse.cli import main as simcse_main
from simcse.search.shards import EmbeddingManifest



def run(corpus: Path, model: str, device: str, dtype: str, batch_size: int, shard_mb: float,
        output_dir: Path | None, model_sample: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="simcse-corpus-bench-"))
    path = default_model_path() if model == "minilm" else (
        random_bert_base(tmp / "bert") if model == "bert-base-random" else Path(model))
    out = output_dir or tmp / "emb"
    on_cuda = torch.device(device).type == "cuda"
    if on_cuda:
        torch.cuda.reset_peak_memory_stats()
    argv = ["encode", "--model", str(path), "--device", device, "--input", str(corpus), "--output_dir", str(out),
            "--dtype", dtype, "--batch_size", str(batch_size), "--shard_mb", str(shard_mb)]
    sync(device)
    t0 = time.perf_counter()
    rc = simcse_main(argv)
    sync(device)
    wall = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"simcse {' '.join(argv)} exited with {rc}")
    peak_rss = vm_hwm_mib()
    peak_gpu = torch.cuda.max_memory_allocated() / 2**20 if on_cuda else None
    manifest = EmbeddingManifest.read(out)

    with open(corpus, encoding="utf-8") as fh:
        sample = [s.strip() for s in itertools.islice(fh, model_sample) if s.strip()]
    if corpus.suffix == ".jsonl":
        sample = [json.loads(s)[manifest.input["text_field"]] for s in sample]
    ours = SimCSE(str(path), device=device)
    autocast = ours.gpu_dtype if on_cuda else None

    def encode() -> None:
        ours.encoder.encode(sample, batch_size=batch_size, max_length=ours.max_length, normalize=True,
                            device=ours.device, dtype=autocast)

    encode()  # warm-up
    sync(device)
    t1 = time.perf_counter()
    encode()
    sync(device)
    model_rate = len(sample) / (time.perf_counter() - t1)
    result = {
        "benchmark": "corpus_encode",
        "corpus": {"path": str(corpus), "bytes": manifest.input["size"], "rows": manifest.num_rows},
        "settings": {"model": model, "device": device, "dtype": dtype, "batch_size": batch_size,
                     "shard_mb": shard_mb, "shards": len(manifest.shards), "max_length": manifest.max_length,
                     "dim": manifest.dim},
        "wall_s": round(wall, 3),
        "end_to_end_sentences_per_s": round(manifest.num_rows / wall, 1),
        "input_mib_per_s": round(manifest.input["size"] / 2**20 / wall, 2),
        "model_only_sentences_per_s": round(model_rate, 1),
        "model_only_sample": len(sample),
        "peak_host_rss_mib": None if peak_rss is None else round(peak_rss, 1),
        "peak_gpu_memory_mib": None if peak_gpu is None else round(peak_gpu, 1),
        "output_mib": round(sum(p.stat().st_size for p in out.iterdir()) / 2**20, 2),
        "env": device_info(),
    }
    shutil.rmtree(tmp, ignore_errors=True)  # the model (bert-base-random) and, without --output_dir, the shards
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", type=Path, help="file from scripts/make_bench_corpus.py")
    p.add_argument("--model", default="minilm", help="minilm (default), bert-base-random, or a model folder")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", default="float16", choices=("float16", "float32", "int8", "binary"))
    p.add_argument("--batch_size", type=int, default=256)
    p.add_argument("--shard_mb", type=float, default=64.0)
    p.add_argument("--output_dir", type=Path, help="keep the embeddings here (default: a temporary folder, removed)")
    p.add_argument("--model_sample", type=int, default=20000, help="lines for the model-only rate")
    p.add_argument("--json", type=Path, help="also write the result to this file")
    args = p.parse_args(argv)
    result = run(args.corpus.resolve(), args.model, args.device, args.dtype, args.batch_size, args.shard_mb,
                 args.output_dir, args.model_sample)
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
