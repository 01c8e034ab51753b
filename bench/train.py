"""Training throughput: our trainer vs sentence-transformers' SimCSE recipe, same model and data.

    python -m bench.train --device cuda                      # the full matrix, JSON + table + plot
    python -m bench.train --only st --batch_sizes 64         # one side

Workload (the issue's baseline): unsupervised SimCSE on Wikipedia sentences (SimCSE's wiki1m
head), a randomly initialised BERT-base (bert-base-uncased config and vocabulary), max length
32, bf16, learning rate 3e-5, temperature 0.05. Throughput is training sentences (examples)
per second over the steps after warm-up (compilation and the first steps excluded); each
sentence is encoded twice (two dropout views) on both sides.

sentence-transformers side: SentenceTransformerTrainer + MultipleNegativesRankingLoss(scale=20)
on (sentence, sentence) pairs, its default settings otherwise.
Our side: ``simcse.train`` (HF Trainer underneath), each run in a fresh process (so compiled graphs and
GPU memory do not carry over), in three variants: ``eager`` (dynamic padding), ``compile``
(torch.compile, fixed padding), ``cudagraphs`` (torch.compile mode reduce-overhead, fixed padding).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from transformers import TrainerCallback

from bench.common import RESULTS, random_bert_base, table, wiki_sentences, write_result
from simcse import TrainConfig, train

try:  # where recent sentence-transformers releases keep it (sentence_transformers.losses is deprecated)
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
except ImportError:  # pragma: no cover - depends on the installed release
    from sentence_transformers.losses import MultipleNegativesRankingLoss


def run_st(model_dir: Path, sentences: list[str], batch: int, steps: int, warmup: int, device: str) -> dict:
    from datasets import Dataset  # optional: the sentence-transformers trainer's data format

    class Timer(TrainerCallback):
        def __init__(self):
            self.t0 = self.t1 = None
            self.losses: list[float] = []

        def on_step_end(self, args, state, control, **kw):
            if state.global_step == warmup:
                torch.cuda.synchronize() if device.startswith("cuda") else None
                self.t0 = time.perf_counter()
            if state.global_step == steps:
                torch.cuda.synchronize() if device.startswith("cuda") else None
                self.t1 = time.perf_counter()

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                self.losses.append(float(logs["loss"]))

    model = SentenceTransformer(str(model_dir), device=device)
    model.max_seq_length = 32
    n = batch * steps
    data = Dataset.from_dict({"anchor": sentences[:n], "positive": sentences[:n]})
    timer = Timer()
    args = SentenceTransformerTrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="st-bench-"), per_device_train_batch_size=batch, learning_rate=3e-5,
        max_steps=steps, bf16=device.startswith("cuda"), logging_steps=25, save_strategy="no", report_to="none",
        seed=42, dataloader_drop_last=True,
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data,
                                         loss=MultipleNegativesRankingLoss(model, scale=20.0), callbacks=[timer])
    trainer.train()
    secs = timer.t1 - timer.t0
    return {"impl": "sentence-transformers", "variant": "MNRL scale 20", "batch": batch,
            "sent_per_s": (steps - warmup) * batch / secs, "losses": timer.losses}


def ours_config(model_dir: Path, train_file: Path, batch: int, steps: int, variant: str, device: str) -> TrainConfig:
    """Our side's run: unsupervised SimCSE (CLS, MLP in training only), no evaluation or checkpoints."""
    fast = variant in ("compile", "cudagraphs")
    return TrainConfig(
        model_name_or_path=str(model_dir), train_file=str(train_file), output_dir=tempfile.mkdtemp(prefix="simcse-bench-"),
        overwrite_output_dir=True, max_seq_length=32, pooler_type="cls", mlp_only_train=True, temp=0.05,
        pad_to_max_length=fast,
        training_args={
            "per_device_train_batch_size": batch, "learning_rate": 3e-5, "do_train": True, "max_steps": steps,
            "logging_steps": 25, "save_strategy": "no", "report_to": "none", "seed": 42, "dataloader_drop_last": True,
            "eval_strategy": "no", "disable_tqdm": True,
            **({"bf16": True} if device.startswith("cuda") else {"use_cpu": True}),
            **({"torch_compile": True} if fast else {}),
            **({"torch_compile_mode": "reduce-overhead"} if variant == "cudagraphs" else {}),
        },
    )


def run_ours(model_dir: Path, train_file: Path, batch: int, steps: int, variant: str, device: str) -> dict:
    config = ours_config(model_dir, train_file, batch, steps, variant, device)
    t0 = time.perf_counter()
    # a fresh process per run: compiled graphs, CUDA graphs and GPU memory of the previous run do not carry over
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            result = pool.submit(train, config).result()
        except Exception as exc:  # the row records the failure; the other rows still run
            return {"impl": "simcse", "variant": variant, "batch": batch, "error": f"{type(exc).__name__}: {exc}"[-3000:]}
    wall = time.perf_counter() - t0
    logs = [h for h in result.log_history if "examples_per_second" in h]
    rates = [h["examples_per_second"] for h in logs[1:]] or [h["examples_per_second"] for h in logs]
    losses = [h["loss"] for h in result.log_history if "loss" in h]
    return {"impl": "simcse", "variant": variant, "batch": batch, "sent_per_s": statistics.median(rates),
            "windows": rates, "losses": losses, "wall_s": wall}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib  # optional: only the plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    series: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        if "sent_per_s" in r:
            series.setdefault(f"{r['impl']} ({r['variant']})", []).append((r["batch"], r["sent_per_s"]))
    for name, pts in series.items():
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size (sentences per step)")
    ax.set_ylabel("training sentences / s")
    ax.set_title("Unsupervised SimCSE, BERT-base, max len 32, bf16")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch_sizes", type=int, nargs="+", default=[32, 64, 128, 256])
    p.add_argument("--variants", nargs="+", default=["eager", "compile", "cudagraphs"])
    p.add_argument("--st_batch_sizes", type=int, nargs="+", default=[64])
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--only", choices=("st", "simcse"), default=None)
    p.add_argument("--out_dir", default=None)
    p.add_argument("--name", default=None, help="result name (default train_<device>)")
    p.add_argument("--combine", nargs="+", default=None, metavar="JSON",
                   help="merge the rows of earlier result files into one result, table and plot (no training)")
    args = p.parse_args(argv)
    out_dir = Path(args.out_dir) if args.out_dir else RESULTS
    if args.combine:
        rows, first = [], None
        for f in args.combine:
            d = json.loads(Path(f).read_text())
            first = first or d
            rows += d["rows"]
        _finish(rows, first["device"], first["steps"], first["sentences"], out_dir, args.name or f"train_{first['device'].split(':')[0]}")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="simcse-train-bench-"))
    model_dir = random_bert_base(tmp / "bert-base", pooler="cls")
    n = max(args.batch_sizes + args.st_batch_sizes) * args.steps
    sentences, source = wiki_sentences(n)
    train_file = tmp / "wiki.txt"
    train_file.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    rows = []
    if args.only in (None, "st"):
        for b in args.st_batch_sizes:
            rows.append(run_st(model_dir, sentences, b, args.steps, 25, args.device))
            print(rows[-1]["impl"], b, rows[-1].get("sent_per_s"), flush=True)
    if args.only in (None, "simcse"):
        for variant in args.variants:
            for b in args.batch_sizes:
                rows.append(run_ours(model_dir, train_file, b, args.steps, variant, args.device))
                print(variant, b, rows[-1].get("sent_per_s"), rows[-1].get("error", "")[-500:], flush=True)
    _finish(rows, args.device, args.steps, source, out_dir, args.name or f"train_{args.device.split(':')[0]}")
    return 0


def _finish(rows: list[dict], device: str, steps: int, source: str, out_dir: Path, name: str) -> None:
    st = {r["batch"]: r["sent_per_s"] for r in rows if r["impl"] == "sentence-transformers" and "sent_per_s" in r}
    for r in rows:
        if "sent_per_s" in r and 64 in st:
            r["speedup_vs_st_b64"] = r["sent_per_s"] / st[64]
        if "sent_per_s" in r and r["batch"] in st:
            r["speedup_vs_st_same_batch"] = r["sent_per_s"] / st[r["batch"]]
    res = {"device": device, "steps": steps, "warmup": "first 25 steps", "sentences": source, "rows": rows}
    path = write_result(name, res, out_dir)
    plot(rows, out_dir / f"{name}_throughput.png")
    print(table(rows, ["impl", "variant", "batch", "sent_per_s", "speedup_vs_st_b64", "speedup_vs_st_same_batch"]))
    print(f"wrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
