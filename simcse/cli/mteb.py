"""``simcse mteb``: run MTEB tasks and write a results folder (the work is :func:`simcse.evaluation.mteb.run`)."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..defaults import BATCH_SIZE
from ..evaluation.mteb import DEFAULT_TASKS, LOCAL_TASKS, run, summary_table

HELP = "run MTEB tasks and write leaderboard-ready results"


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``simcse mteb``."""
    p = argparse.ArgumentParser(prog="simcse mteb", description="MTEB for SimCSE models: an encoder adapter, offline "
                                "task loading, and leaderboard-ready results.")
    p.add_argument("--model", "--model_name_or_path", dest="model", default=None,
                   help="model folder or hub name (default: all-MiniLM-L6-v2)")
    p.add_argument("--tasks", nargs="+", default=None, metavar="TASK",
                   help=f"MTEB task names (offline: {', '.join(LOCAL_TASKS)}; others need the hub); "
                        f"default: {' '.join(DEFAULT_TASKS)}")
    p.add_argument("--benchmark", default=None, help="an MTEB benchmark name, e.g. 'MTEB(eng, v2)' (needs the hub)")
    p.add_argument("--output_folder", default="mteb_results", help="results are written under OUTPUT_FOLDER/results/")
    p.add_argument("--data_dir", default=None, help="SentEval data/downstream folder (STS tasks)")
    p.add_argument("--mteb_data_dir", default=None, help="folder with Banking77/ and AmazonCounterfactual/")
    p.add_argument("--batch_size", type=int, default=BATCH_SIZE)
    p.add_argument("--max_length", type=int, default=None, help="token limit (default: the model's)")
    p.add_argument("--pooler", default=None, help="override the pooling head")
    p.add_argument("--device", default=None)
    p.add_argument("--name", default=None, help="model name in the results (org/model)")
    p.add_argument("--revision", default=None, help="model revision in the results")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the MTEB command; returns the exit status (2 on bad input)."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    tasks = args.tasks if args.tasks is not None else ([] if args.benchmark else list(DEFAULT_TASKS))
    try:
        summary = run(args.model, tasks, args.output_folder, benchmark=args.benchmark, data_dir=args.data_dir,
                      mteb_data_dir=args.mteb_data_dir, batch_size=args.batch_size, max_length=args.max_length,
                      name=args.name, revision=args.revision, pooler=args.pooler, device=args.device)
    except (FileNotFoundError, ValueError, OSError, FloatingPointError, RuntimeError) as exc:
        print(f"simcse mteb: error: {exc}", file=sys.stderr)
        return 2
    print(summary_table(summary))
    print(f"results: {summary['results_dir']}", file=sys.stderr)
    return 0
