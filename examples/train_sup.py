"""Supervised SimCSE on your own sentence pairs or NLI triplets, then STS evaluation before and after.

    # a CSV of (sentence, positive[, hard negative]) rows, e.g. SimCSE's nli_for_simcse.csv
    python examples/train_sup.py --train_file my_pairs.csv --output_dir result/my-sup
    # here: SNLI dev+test from $SIMCSE_DATA_DIR turned into (premise, entailment, contradiction) triplets
    python examples/train_sup.py --output_dir result/snli-sup --max_steps 200

The positive of each sentence is its pair; the other positives of the batch and every hard negative
(the contradiction) are the negatives. A SentEval NLI folder (s1.*, s2.*, labels.*) given as
--train_file is converted to triplets first (one per premise with both an entailment and a
contradiction, as SimCSE's nli_for_simcse.csv).
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from pathlib import Path

from simcse import TrainConfig, default_model_path, train
from simcse.cli.common import positive_int
from simcse.training.data import nli_triplets, read_nli_pairs, read_training_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_unsup import compare  # noqa: E402  (same before/after table)


def training_csv(source: Path, limit: int | None, folder: Path) -> tuple[Path, int]:
    """A CSV of (sent0, sent1[, hard_neg]) rows from a CSV/TSV/JSON file or a SentEval NLI folder,
    cut to the first ``limit`` rows; returns the file and its row count."""
    if source.is_dir():
        rows = [list(t) for split in ("dev", "test", "train") if (source / f"s1.{split}").is_file()
                for t in nli_triplets(read_nli_pairs(source, [split]))]
    else:
        rows = [list(row) for row in zip(*read_training_file(source))]  # it gives columns; we write rows
    if limit:
        rows = rows[:limit]
    if not rows or len(rows[0]) < 2:
        raise ValueError(f"--train_file {str(source)!r}: supervised SimCSE needs rows of 2 or 3 sentences")
    out = folder / "train.csv"
    with open(out, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["sent0", "sent1", "hard_neg"][: len(rows[0])])
        w.writerows(rows)
    return out, len(rows)


def main(argv: list[str] | None = None) -> int:
    """Train, save to --output_dir, evaluate."""
    data_dir = os.environ.get("SIMCSE_DATA_DIR")
    default_train = Path(data_dir, "nli", "snli-senteval") if data_dir else None
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train_file", default=str(default_train) if default_train else None,
                   help="CSV/TSV/JSON of 2-3 sentences per row, or a SentEval NLI folder "
                        "(default: $SIMCSE_DATA_DIR/nli/snli-senteval)")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--model", default=str(default_model_path()), help="start model (default: all-MiniLM-L6-v2)")
    p.add_argument("--pooler_type", default="avg", help="avg suits all-MiniLM-L6-v2; cls for BERT checkpoints")
    p.add_argument("--limit", type=positive_int, default=None, help="train on the first LIMIT rows only")
    p.add_argument("--max_steps", type=int, default=-1, help="stop after this many steps (default: one epoch)")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--learning_rate", type=float, default=5e-5)
    p.add_argument("--max_seq_length", type=int, default=32)
    p.add_argument("--save_steps", type=int, default=125, help="write checkpoint-N folders this often")
    p.add_argument("--eval_tasks", nargs="+", default=["STSBenchmark", "SICKRelatedness"])
    p.add_argument("--eval_mode", choices=("test", "dev"), default="test")
    p.add_argument("--overwrite_output_dir", action="store_true")
    args = p.parse_args(argv)
    if not args.train_file:
        p.error("--train_file is required (or set SIMCSE_DATA_DIR for the SNLI sample)")
    source = Path(args.train_file)
    if not source.exists():
        p.error(f"--train_file {args.train_file!r} does not exist")

    with tempfile.TemporaryDirectory() as tmp:
        try:
            train_file, n = training_csv(source, args.limit, Path(tmp))
            print(f"training on {n} rows from {source}")
            result = train(TrainConfig(
                model_name_or_path=args.model, train_file=str(train_file), output_dir=args.output_dir,
                pooler_type=args.pooler_type, temp=0.05, max_seq_length=args.max_seq_length, tokenized_cache_dir="",
                overwrite_output_dir=args.overwrite_output_dir,
                training_args={
                    "per_device_train_batch_size": args.batch_size, "learning_rate": args.learning_rate,
                    "num_train_epochs": 1, "max_steps": args.max_steps, "save_steps": args.save_steps,
                    "logging_steps": 10, "report_to": "none", "seed": 42,
                },
            ))
        except (FileNotFoundError, ValueError) as exc:
            print(f"train_sup: error: {exc}", file=sys.stderr)
            return 2
    print(f"\ntrained {result.global_step} steps, mean loss {result.metrics['train_loss']:.4f}; "
          f"model saved to {result.output_dir}")
    compare(args.model, args.output_dir, args.eval_tasks, args.eval_mode, data_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
