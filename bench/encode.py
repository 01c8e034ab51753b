"""Encoding throughput: ``SimCSE.encode`` vs ``SentenceTransformer.encode`` on the same model and sentences.

    python -m bench.encode --model minilm --n 5000 --device cpu
    python -m bench.encode --model bert-base-random --n 50000 --device cuda

Both sides encode the same list (Wikipedia sentences, max length 128, mean pooling), after a
warm-up; the table gives sentences/s, the ratio to SentenceTransformer.encode (fp32, its
defaults), and the cosine between each side's embeddings and the fp32 reference.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from bench.common import random_bert_base, table, timed, wiki_sentences, write_result


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def run(model: str, n: int, device: str, max_length: int, batch_sizes: list[int], repeats: int,
        precisions: list[str] | None = None) -> dict:
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
    for pname in names:
        dtype = dtypes[pname]
        for bs in batch_sizes:
            fn = lambda: ours.encode(sentences, batch_size=bs, max_length=max_length, normalize_to_unit=False,
                                     return_numpy=True, dtype=dtype)
            fn()  # warm this batch size and precision
            t, emb = timed(fn, device, repeats)
            cos = _cos(emb, ref)
            rows.append({"impl": "simcse", "precision": pname, "batch": bs, "seconds": t, "sent_per_s": n / t,
                         "min_cos_vs_fp32": float(cos.min()), "mean_cos_vs_fp32": float(cos.mean())})
    base = rows[0]["sent_per_s"]
    for r in rows:
        r["speedup_vs_st_fp32"] = r["sent_per_s"] / base
    return {"model": model, "model_path": str(path), "n": n, "max_length": max_length, "device": device,
            "sentences": source, "rows": rows}


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
    p.add_argument("--name", default=None, help="result file name (default encode_<model>_<device>)")
    p.add_argument("--out_dir", default=None)
    args = p.parse_args(argv)
    res = run(args.model, args.n, args.device, args.max_length, args.batch_sizes, args.repeats, args.precisions)
    name = args.name or f"encode_{args.model}_{args.device.split(':')[0]}"
    path = write_result(name, res, Path(args.out_dir) if args.out_dir else None)
    print(table(res["rows"], ["impl", "precision", "batch", "seconds", "sent_per_s", "speedup_vs_st_fp32", "min_cos_vs_fp32"]))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
