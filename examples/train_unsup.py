"""Unsupervised SimCSE on your own sentences, then STS evaluation of the model before and after.

    python examples/train_unsup.py --train_file my_sentences.txt --output_dir result/my-unsup
    # here: the Wikipedia sample in $SIMCSE_DATA_DIR (default), a few hundred steps on a CPU
    python examples/train_unsup.py --output_dir result/wiki-unsup --max_steps 200
    # the paper's setting for a BERT checkpoint: CLS pooling with the MLP head in training only
    python examples/train_unsup.py --model bert-base-uncased --pooler_type cls --mlp_only_train ...

Each sentence of --train_file (one per line) is its own positive pair, through two dropout masks;
the other sentences of the batch are the negatives. Checkpoints (every --save_steps) are complete
model folders: plot their alignment and uniformity with
``python examples/alignment_uniformity.py --run_dir OUTPUT_DIR --start MODEL``.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from simcse import TrainConfig, default_model_path, train
from simcse.cli.common import positive_int
from simcse.evaluation import evaluate


def first_lines(path: Path, limit: int, folder: Path) -> Path:
    """A copy of the first ``limit`` non-empty lines of ``path`` in ``folder``."""
    lines = [s for s in path.read_text(encoding="utf-8").splitlines() if s.strip()][:limit]
    out = folder / f"{path.stem}.first{limit}.txt"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def compare(before: str, after: str, tasks: list[str], mode: str, data_dir: str | None) -> None:
    """Print the STS scores (Spearman x100) of the start model and the trained one."""
    rows = [(name, evaluate(path, tasks=tasks, mode=mode, data_dir=data_dir)["scores"]) for name, path in
            (("start", before), ("trained", after))]
    print(f"\nSTS ({mode}), Spearman x100")
    print(f"{'model':<10}" + "".join(f"{t:>16}" for t in tasks))
    for name, scores in rows:
        print(f"{name:<10}" + "".join(f"{scores[t]:16.2f}" for t in tasks))


def main(argv: list[str] | None = None) -> int:
    """Train, save to --output_dir, evaluate."""
    data_dir = os.environ.get("SIMCSE_DATA_DIR")
    default_train = Path(data_dir, "wiki", "wiki1m_for_simcse.head11913.txt") if data_dir else None
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train_file", default=str(default_train) if default_train else None,
                   help="one sentence per line (default: $SIMCSE_DATA_DIR/wiki/wiki1m_for_simcse.head11913.txt)")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--model", default=str(default_model_path()), help="start model (default: all-MiniLM-L6-v2)")
    p.add_argument("--pooler_type", default="avg", help="avg suits all-MiniLM-L6-v2; cls for BERT checkpoints")
    p.add_argument("--mlp_only_train", action="store_true", help="MLP head in training only (with --pooler_type cls)")
    p.add_argument("--limit", type=positive_int, default=None, help="train on the first LIMIT sentences only")
    p.add_argument("--max_steps", type=int, default=-1, help="stop after this many steps (default: one epoch)")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--learning_rate", type=float, default=3e-5)
    p.add_argument("--max_seq_length", type=int, default=32)
    p.add_argument("--save_steps", type=int, default=125, help="write checkpoint-N folders this often")
    p.add_argument("--eval_steps", type=int, default=0, help="STS-B dev during training this often (0: never)")
    p.add_argument("--eval_tasks", nargs="+", default=["STSBenchmark", "SICKRelatedness"])
    p.add_argument("--eval_mode", choices=("test", "dev"), default="test")
    p.add_argument("--overwrite_output_dir", action="store_true")
    args = p.parse_args(argv)
    if not args.train_file:
        p.error("--train_file is required (or set SIMCSE_DATA_DIR for the Wikipedia sample)")
    train_file = Path(args.train_file)
    if not train_file.is_file():
        p.error(f"--train_file {args.train_file!r} does not exist")

    with tempfile.TemporaryDirectory() as tmp:
        if args.limit:
            train_file = first_lines(train_file, args.limit, Path(tmp))
        config = TrainConfig(
            model_name_or_path=args.model, train_file=str(train_file), output_dir=args.output_dir,
            pooler_type=args.pooler_type, mlp_only_train=args.mlp_only_train, temp=0.05,
            max_seq_length=args.max_seq_length, tokenized_cache_dir="", overwrite_output_dir=args.overwrite_output_dir,
            data_dir=data_dir,
            training_args={
                "per_device_train_batch_size": args.batch_size, "learning_rate": args.learning_rate,
                "num_train_epochs": 1, "max_steps": args.max_steps, "save_steps": args.save_steps,
                "logging_steps": 10, "report_to": "none", "seed": 42,
                **({"eval_strategy": "steps", "eval_steps": args.eval_steps} if args.eval_steps > 0 else {}),
            },
        )
        try:
            result = train(config)
        except (FileNotFoundError, ValueError) as exc:
            print(f"train_unsup: error: {exc}", file=sys.stderr)
            return 2
    print(f"\ntrained {result.global_step} steps, mean loss {result.metrics['train_loss']:.4f}; "
          f"model saved to {result.output_dir}")
    compare(args.model, args.output_dir, args.eval_tasks, args.eval_mode, data_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
