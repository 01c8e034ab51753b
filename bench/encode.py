"""Encoding throughput: ``SimCSE.encode`` vs ``SentenceTransformer.encode`` on the same model and sentences.

    python -m bench.encode --model minilm --n 5000 --device cpu
    python -m bench.encode --model bert-base-random --n 50000 --device cuda --variants eager full --profile

Both sides encode the same list (Wikipedia sentences, max length 128, mean pooling), after a
warm-up; the table gives sentences/s, the ratio to SentenceTransformer.encode (fp32, its
defaults), the cosine between each side's embeddings and the fp32 reference, and on a GPU the model
FLOPs utilisation (``mfu``: the real tokens' matrix FLOPs per second over the card's dense fp16/bf16
peak, or its fp32 peak for fp32 rows).

``--variants`` picks our encode paths, each measured in the same run (see ``SentenceEncoder.encode_stream``):
``eager`` (2-d mask, tokenizing thread, no graphs: the path before these options), ``mask`` (+ the
expanded mask), ``workers`` (+ tokenizer processes), ``graphs`` (mask + CUDA graphs, tokenizing thread)
and ``full`` (the defaults: all of them on CUDA). ``data`` times the batch pipeline alone (tokenize,
sort, pad, pin; no model) with workers. ``--profile`` adds, per variant, the share of wall time the GPU
spends in kernels (torch.profiler) on the first precision and batch size.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.common import random_bert_base, sync, table, timed, wiki_sentences, write_result


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


VARIANTS = {
    "eager": {"tokenize_workers": 0, "cuda_graphs": False, "mask": False},
    "mask": {"tokenize_workers": 0, "cuda_graphs": False, "mask": True},
    "workers": {"tokenize_workers": None, "cuda_graphs": False, "mask": True},
    "graphs": {"tokenize_workers": 0, "cuda_graphs": True, "mask": True},
    "full": {"tokenize_workers": None, "cuda_graphs": None, "mask": True},
}

PEAK_TFLOPS = {"H100": (989.0, 67.0), "H200": (989.0, 67.0), "A100": (312.0, 19.5)}
"""Dense fp16/bf16 tensor-core and fp32 peaks (TFLOP/s) of the cards the benchmark knows."""


def model_flops(config, lengths: np.ndarray) -> float:
    """Matrix FLOPs of a BERT-shaped encoder over sentences of these token lengths (projections, FFN,
    attention scores and sums; no padding counted)."""
    d, ff, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    tokens = float(lengths.sum())
    return layers * (tokens * (8 * d * d + 4 * d * ff) + 4 * d * float((lengths.astype(np.float64) ** 2).sum()))


def peak_flops(device: str, precision: str) -> float | None:
    if not device.startswith("cuda"):
        return None
    name = torch.cuda.get_device_name(torch.device(device))
    for key, (half, single) in PEAK_TFLOPS.items():
        if key in name:
            return 1e12 * (single if precision == "fp32" else half)
    return None


def _set_mask(encoder, on: bool) -> None:
    """Switch the expanded attention mask off (for the ``eager`` variant) or back to its own check."""
    if on:
        encoder.__dict__.pop("_takes_expanded_mask", None)
    else:
        encoder._takes_expanded_mask = lambda device: False


def _gpu_busy(fn, device: str) -> dict:
    """Wall time of ``fn`` under torch.profiler, and the share of it the GPU spent in kernels."""
    from torch.profiler import ProfilerActivity, profile

    sync(device)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        t0 = time.perf_counter()
        fn()
        sync(device)
        wall = time.perf_counter() - t0
    kernels = sum(e.self_device_time_total for e in prof.key_averages() if e.self_device_time_total > 0) / 1e6
    return {"wall_s": wall, "kernel_s": kernels, "gpu_busy": kernels / wall if wall else None}


def run(model: str, n: int, device: str, max_length: int, batch_sizes: list[int], repeats: int,
        precisions: list[str] | None = None, variants: list[str] | None = None, profile: bool = False) -> dict:
    from sentence_transformers import SentenceTransformer

    from simcse import SimCSE, default_model_path

    tmp = Path(tempfile.mkdtemp(prefix="simcse-bench-"))
    path = default_model_path() if model == "minilm" else (random_bert_base(tmp / "bert") if model == "bert-base-random" else Path(model))
    sentences, source = wiki_sentences(n)
    st = SentenceTransformer(str(path), device=device)
    st.max_seq_length = max_length
    ours = SimCSE(str(path), device=device, max_length=max_length)
    warm = sentences[:1000]
    st.encode(warm)
    ours.encode(warm, max_length=max_length)
    rows = []
    t, ref = timed(lambda: st.encode(sentences, convert_to_numpy=True), device, repeats)
    rows.append({"impl": "sentence-transformers", "precision": "fp32", "batch": 32, "seconds": t, "sent_per_s": n / t})
    if device.startswith("cuda"):
        st.half()
        st.encode(warm)
        t, emb = timed(lambda: st.encode(sentences, convert_to_numpy=True), device, repeats)
        rows.append({"impl": "sentence-transformers", "precision": "fp16", "batch": 32, "seconds": t,
                     "sent_per_s": n / t, "min_cos_vs_fp32": float(_cos(emb.astype(np.float32), ref).min())})
        st.float()
    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    names = precisions or (["fp32", "fp16", "bf16"] if device.startswith("cuda") else ["fp32"])
    variants = variants or ["full"]
    enc = ours.encoder
    lengths = np.array([len(x) for x in enc.tokenize_ids(sentences, max_length)])
    flops = model_flops(enc.backbone.config, lengths)
    profiles = []
    for pname in names:
        dtype = dtypes[pname]
        peak = peak_flops(device, pname)
        for bs in batch_sizes:
            for variant in variants:
                if variant == "data":
                    t, _ = timed(lambda: _drain(enc, sentences, bs, max_length, device), device, repeats)
                    rows.append({"impl": "batches only (no model)", "variant": "data", "batch": bs, "seconds": t,
                                 "sent_per_s": n / t})
                    continue
                opts = dict(VARIANTS[variant])
                _set_mask(enc, opts.pop("mask"))
                fn = lambda: enc.encode(sentences, batch_size=bs, max_length=max_length, device=device, dtype=dtype,
                                        **opts).numpy()
                fn()  # warm this batch size, precision and variant (CUDA graphs are captured here)
                t, emb = timed(fn, device, repeats)
                cos = _cos(emb, ref)
                rows.append({"impl": "simcse", "variant": variant, "precision": pname, "batch": bs, "seconds": t,
                             "sent_per_s": n / t, "mfu": flops / t / peak if peak else None,
                             "min_cos_vs_fp32": float(cos.min()), "mean_cos_vs_fp32": float(cos.mean())})
                if profile and device.startswith("cuda") and pname == names[0] and bs == batch_sizes[0]:
                    profiles.append({"variant": variant, "precision": pname, "batch": bs, **_gpu_busy(fn, device)})
    _set_mask(enc, True)
    base = rows[0]["sent_per_s"]
    for r in rows:
        r["speedup_vs_st_fp32"] = r["sent_per_s"] / base
    return {"model": model, "model_path": str(path), "n": n, "max_length": max_length, "device": device,
            "device_name": torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else None,
            "sentences": source, "real_tokens": int(lengths.sum()), "model_tflop": flops / 1e12, "rows": rows,
            "profile": profiles}


def _drain(enc, sentences: list[str], batch_size: int, max_length: int, device: str) -> None:
    """The batch pipeline of ``encode`` (tokenizer processes as on CUDA, sorting, padding, pinning), no model."""
    from simcse.batching import default_workers
    from simcse.encoder import CHUNK_SIZE, _HostStaging

    staging = _HostStaging(batch_size, enc.dim, torch.device(device))
    chunks = iter([sentences[s : s + CHUNK_SIZE] for s in range(0, len(sentences), CHUNK_SIZE)])
    workers = default_workers() if device.startswith("cuda") else 0
    for _ in enc._chunk_batches(chunks, batch_size, max_length, None, None, workers, staging):
        pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="minilm", help="minilm, bert-base-random, or a model folder")
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--max_length", type=int, default=128)
    p.add_argument("--batch_sizes", type=int, nargs="+", default=[64, 256])
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--precisions", nargs="+", choices=("fp32", "fp16", "bf16"), default=None,
                   help="our precisions (default: fp32 fp16 bf16 on GPU, fp32 on CPU)")
    p.add_argument("--variants", nargs="+", choices=(*VARIANTS, "data"), default=None,
                   help="our encode paths to measure (default: full)")
    p.add_argument("--profile", action="store_true", help="GPU kernel share of wall time per variant")
    p.add_argument("--name", default=None, help="result file name (default encode_<model>_<device>)")
    p.add_argument("--out_dir", default=None)
    args = p.parse_args(argv)
    res = run(args.model, args.n, args.device, args.max_length, args.batch_sizes, args.repeats, args.precisions,
              args.variants, args.profile)
    name = args.name or f"encode_{args.model}_{args.device.split(':')[0]}"
    path = write_result(name, res, Path(args.out_dir) if args.out_dir else None)
    print(table(res["rows"], ["impl", "variant", "precision", "batch", "seconds", "sent_per_s", "speedup_vs_st_fp32",
                              "mfu", "min_cos_vs_fp32"]))
    if res["profile"]:
        print(table(res["profile"], ["variant", "precision", "batch", "wall_s", "kernel_s", "gpu_busy"]))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
