"""Gradient caching: peak GPU memory and training throughput against the contrastive batch size.

    python -m bench.grad_cache --out_dir bench/results            # GPU: BERT-base, bf16, batch 64..4096
    python -m bench.grad_cache --chunk_size 128 512 1024 --batch_sizes 64 128 256 512 1024 2048 4096 8192
    python -m bench.grad_cache --tiny --out_dir /tmp/gc           # CPU smoke test: tiny BERT, small batches

Workload: unsupervised SimCSE steps (each sentence encoded twice, dropout views; InfoNCE over the
batch; AdamW step) on Wikipedia sentences (SimCSE's wiki1m head via ``SIMCSE_DATA_DIR``, else the
bundled corpus), padded to ``--max_len`` tokens, a randomly initialised BERT-base
(bert-base-uncased config) with SimCSE's CLS + MLP head, bf16 autocast on CUDA. For every batch
size the plain step (one forward/backward over ``2 * batch`` sequences) and the gradient-cached
step (:func:`simcse.training.grad_cache.grad_cache_step`, chunks of ``--chunk_size`` sequences, one mode per
value) are run for
``--warmup`` + ``--steps`` steps; reported are ``torch.cuda.max_memory_allocated`` over the timed
steps and sentences (examples) per second. An out-of-memory step is recorded as ``"OOM"`` (and
larger batches of that mode are skipped). Writes ``grad_cache_<device>.json`` and
``grad_cache_<device>.png`` to ``--out_dir``.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import time
from pathlib import Path
from typing import Any

import torch

from bench.common import RESULTS, random_bert_base, sync, table, wiki_sentences, write_result

BATCHES = [64, 128, 256, 512, 1024, 2048, 4096]
TINY_BATCHES = [8, 16, 32]


def _tiny_bert(folder: Path) -> Path:
    """A 2-layer, 32-wide random BERT with the bert-base-uncased vocabulary (for ``--tiny``)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from simcse.encoder import EncoderConfig, SentenceEncoder, default_model_path

    if (folder / "simcse_config.json").is_file():
        return folder
    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    tok = AutoTokenizer.from_pretrained(str(default_model_path()))
    SentenceEncoder(BertModel(config), tok, EncoderConfig(pooler_type="cls", max_length=128)).save_pretrained(folder)
    return folder


def _batch(encoder: Any, sentences: list[str], max_len: int, device: torch.device) -> dict[str, torch.Tensor]:
    ids = encoder.tokenize_ids(sentences, max_length=max_len)
    n = len(ids)
    input_ids = torch.full((n, max_len), encoder.tokenizer.pad_token_id or 0, dtype=torch.long)
    mask = torch.zeros(n, max_len, dtype=torch.long)
    for i, t in enumerate(ids):
        input_ids[i, : len(t)] = torch.tensor(t)
        mask[i, : len(t)] = 1
    # Two views of each sentence (unsupervised SimCSE): [n, 2, L].
    return {
        "input_ids": input_ids.unsqueeze(1).repeat(1, 2, 1).to(device),
        "attention_mask": mask.unsqueeze(1).repeat(1, 2, 1).to(device),
    }


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def run_one(
    model: torch.nn.Module,
    batch: dict[str, torch.Tensor],
    chunk_size: int | None,
    steps: int,
    warmup: int,
    device: torch.device,
    bf16: bool,
) -> dict[str, Any]:
    """Time ``warmup + steps`` training steps; returns memory (GiB) and throughput, or ``"OOM"``."""
    from simcse.training.grad_cache import grad_cache_step

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    autocast = (
        (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    )

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        if chunk_size is None:
            with autocast():
                loss = model(**batch)["loss"]
            loss.backward()
        else:
            loss = grad_cache_step(model, batch, chunk_size, forward_context=autocast)
        optimizer.step()
        return loss

    examples = batch["input_ids"].shape[0]
    try:
        for _ in range(warmup):
            step()
        sync(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            loss = step()
        sync(device)
        seconds = time.perf_counter() - t0
    except (RuntimeError, torch.cuda.OutOfMemoryError) as exc:
        if not _is_oom(exc):
            raise
        return {"status": "OOM"}
    finally:
        optimizer.zero_grad(set_to_none=True)
        del optimizer
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    out: dict[str, Any] = {
        "status": "ok",
        "loss": float(loss.detach()),
        "seconds_per_step": seconds / steps,
        "examples_per_second": examples * steps / seconds,
        "sentences_per_second": 2 * examples * steps / seconds,
    }
    if device.type == "cuda":
        out["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return out


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Peak memory and throughput against batch size, one line per mode (OOM points left out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for mode in dict.fromkeys(r["mode"] for r in rows):
        ok = [r for r in rows if r["mode"] == mode and r["status"] == "ok"]
        xs = [r["batch_size"] for r in ok]
        if ok and "peak_memory_gib" in ok[0]:
            axes[0].plot(xs, [r["peak_memory_gib"] for r in ok], marker="o", label=mode)
        axes[1].plot(xs, [r["examples_per_second"] for r in ok], marker="o", label=mode)
        oom = [r["batch_size"] for r in rows if r["mode"] == mode and r["status"] == "OOM"]
        if oom:
            axes[1].scatter(oom, [0] * len(oom), marker="x", label=f"{mode}: OOM")
    for ax, ylabel in zip(axes, ["peak GPU memory (GiB)", "training examples / s"]):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("contrastive batch size (examples; 2 views each)")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    if not any("peak_memory_gib" in r for r in rows):
        axes[0].text(0.5, 0.5, "no GPU: memory not measured", ha="center", va="center", transform=axes[0].transAxes)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.grad_cache", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out_dir", type=Path, default=RESULTS)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=None)
    parser.add_argument("--chunk_size", type=int, nargs="+", default=None,
                        help="sequences per chunk, one gradient-cached mode per value (default 128; 8 with --tiny)")
    parser.add_argument("--max_len", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--no_bf16", action="store_true", help="float32 instead of bf16 autocast (CUDA)")
    parser.add_argument("--tiny", action="store_true", help="tiny random BERT and small batches (CPU smoke test)")
    parser.add_argument("--model_dir", type=Path, default=None, help="where the random model is kept (default: out_dir/models)")
    args = parser.parse_args(argv)

    from simcse.training.loss import InfoNCELoss
    from simcse.training.trainer import ContrastiveModel, load_encoder_for_training

    device = torch.device(args.device)
    batches = args.batch_sizes or (TINY_BATCHES if args.tiny else BATCHES)
    chunks = args.chunk_size or ([8] if args.tiny else [128])
    if any(c < 1 for c in chunks) or any(b < 2 for b in batches):
        parser.error(f"--chunk_size must be >= 1 and batch sizes >= 2, got {chunks} and {batches}")
    bf16 = device.type == "cuda" and not args.no_bf16
    model_root = args.model_dir or args.out_dir / "models"
    model_dir = _tiny_bert(model_root / "tiny-bert") if args.tiny else random_bert_base(model_root / "bert-base-random", pooler="cls")
    torch.manual_seed(0)
    encoder, _ = load_encoder_for_training(str(model_dir), pooler_type="cls", mlp_init="fresh")
    model = ContrastiveModel(encoder, InfoNCELoss(0.05)).to(device).train()
    sentences, source = wiki_sentences(max(batches))

    rows: list[dict[str, Any]] = []
    failed: set[str] = set()
    for b in batches:
        batch = _batch(encoder, sentences[:b], args.max_len, device)
        for mode, size in [("full batch", None)] + [(f"grad cache (chunk {c})", c) for c in chunks]:
            row: dict[str, Any] = {"mode": mode, "batch_size": b, "chunk_size": size}
            if mode in failed:
                row["status"] = "OOM"
                row["note"] = "skipped: a smaller batch ran out of memory"
            else:
                row.update(run_one(model, batch, size, args.steps, args.warmup, device, bf16))
                if row["status"] == "OOM":
                    failed.add(mode)
            rows.append(row)
            print(f"{mode:>24} batch {b:>5}: {row.get('status')}"
                  f" {row.get('examples_per_second', 0):.1f} ex/s {row.get('peak_memory_gib', float('nan')):.2f} GiB", flush=True)
        del batch
    name = f"grad_cache_{device.type}" + ("_tiny" if args.tiny else "")
    config = {
        "model": "tiny random BERT (2x32)" if args.tiny else "random BERT-base (bert-base-uncased config)",
        "data": source, "max_len": args.max_len, "bf16": bf16, "chunk_sizes": chunks,
        "steps": args.steps, "warmup": args.warmup, "optimizer": "AdamW",
    }
    path = write_result(name, {"config": config, "rows": rows}, args.out_dir)
    png = args.out_dir / f"{name}.png"
    plot(rows, png, f"Gradient caching, {config['model']}, max len {args.max_len}" + (", bf16" if bf16 else ""))
    print(table(rows, ["mode", "batch_size", "status", "examples_per_second", "peak_memory_gib"]))
    print(f"wrote {path} and {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
