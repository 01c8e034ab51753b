#!/usr/bin/env python
"""Benchmark: evaluating all seven STS tasks with our engine vs. the naive way.

Ours: ``simcse.evaluation.evaluate(SimCSE(model), task_set="sts")``: every distinct sentence of the
seven tasks encoded once, in length-sorted batches, then scored.
Naive: for every subset / split, ``SentenceTransformer(model).encode(s1)`` and ``encode(s2)``, then
cosine and ``scipy.stats.spearmanr`` (what a hand-written STS loop does).

Both load the model outside the timed region and run on the same device. Wall time and the
process's CPU time are both recorded (on a shared machine CPU time is the steadier of the two).
Prints a table and writes
JSON (``--output``, default ``bench/results/sts7_eval.json``).

    SIMCSE_DATA_DIR=../shared/data python bench/sts7_eval.py [--model PATH] [--device cpu]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simcse import SimCSE, default_model_path  # noqa: E402
from simcse.evaluation import STS_TASKS, evaluate  # noqa: E402
from simcse.evaluation.engine import DTYPES  # noqa: E402
from simcse.evaluation.datadir import read_sick, read_stsb, read_sts_year  # noqa: E402


def naive(model_path: str, device: str, batch_size: int, max_length: int, data_dir: str | None
          ) -> tuple[float, float, dict]:
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(model_path, device=device)
    st.max_seq_length = max_length
    scores = {}
    t0, c0 = time.perf_counter(), time.process_time()
    for task in STS_TASKS:
        if task.startswith("STS1"):
            subsets = read_sts_year(task, data_dir)
        elif task == "STSBenchmark":
            subsets = {"test": read_stsb(data_dir, "test")}
        else:
            subsets = {"test": read_sick(data_dir, "test")[:3]}
        sys_all, gold_all = [], []
        for s1, s2, gold in subsets.values():
            e1 = st.encode(s1, batch_size=batch_size, convert_to_numpy=True)
            e2 = st.encode(s2, batch_size=batch_size, convert_to_numpy=True)
            cos = (e1 * e2).sum(1) / (np.linalg.norm(e1, axis=1) * np.linalg.norm(e2, axis=1))
            sys_all.append(cos)
            gold_all += list(gold)
        scores[task] = round(100 * float(spearmanr(np.concatenate(sys_all), gold_all)[0]), 2)
    return time.perf_counter() - t0, time.process_time() - c0, scores


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(default_model_path()))
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--max_length", type=int, default=256)
    p.add_argument("--data_dir", default=None)
    p.add_argument("--output", default="bench/results/sts7_eval.json")
    p.add_argument("--dtype", choices=DTYPES, default="float32",
                   help="our engine's precision (the naive path stays float32)")
    args = p.parse_args()

    model = SimCSE(args.model, device=args.device)
    t0, c0 = time.perf_counter(), time.process_time()
    ours = evaluate(model, task_set="sts", mode="test", data_dir=args.data_dir, batch_size=args.batch_size,
                    max_length=args.max_length, dtype=args.dtype)
    t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0
    t_naive, c_naive, naive_scores = naive(args.model, args.device, args.batch_size, args.max_length, args.data_dir)

    result = {
        "model": args.model,
        "device": args.device,
        "cpu": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "dtype": args.dtype,
        "ours_seconds": round(t_ours, 2),
        "naive_seconds": round(t_naive, 2),
        "speedup": round(t_naive / t_ours, 2),
        "ours_cpu_seconds": round(c_ours, 2),
        "naive_cpu_seconds": round(c_naive, 2),
        "cpu_time_speedup": round(c_naive / c_ours, 2),
        "load_average_at_end": os.getloadavg(),
        "sentences_encoded": {"ours": ours["n_sentences"]["distinct"], "naive": ours["n_sentences"]["requested"]},
        "scores": {"ours": ours["scores"], "naive": naive_scores},
    }
    print(f"{'':8}{'wall s':>10}{'CPU s':>10}  sentences encoded")
    print(f"{'ours':8}{t_ours:10.1f}{c_ours:10.1f}  {ours['n_sentences']['distinct']}")
    print(f"{'naive':8}{t_naive:10.1f}{c_naive:10.1f}  {ours['n_sentences']['requested']}")
    print(f"speedup {t_naive / t_ours:.2f}x wall, {c_naive / c_ours:.2f}x CPU time on {args.device}")
    print("scores (ours / naive):", {t: (ours["scores"][t], naive_scores[t]) for t in STS_TASKS})
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
