"""``simcse reproduce``: the reproduction table on all-MiniLM-L6-v2 (the work is :mod:`simcse.experiments.reproduce`).

    simcse reproduce                       # GPU: the five rows x 3 seeds (minutes on one H100)
    simcse reproduce --groups ablation     # temperature, pooler, batch size, hard-negative weight
    simcse reproduce --preset cpu          # a reduced form for a 2-core CPU (1 seed, short runs)
    simcse reproduce --merge a.json b.json --output all.json   # combine seeds run separately
    simcse reproduce --compare results.json [base.json]       # explain a gap: deltas and what differs

Rows: no training (mean and CLS pooling), unsupervised SimCSE (mean; CLS with the MLP in training
only) on the wiki1m head, supervised SimCSE (mean) on SNLI triplets; scored on STS7 (Spearman x 100).
Result files record the library versions, the device, and fingerprints of the model and data;
``--compare`` puts two of them side by side (or one against the bundled sentence-transformers
reference results): per-row deltas, deltas paired by seed, and every setting, version or fingerprint that differs.
"""
from __future__ import annotations

import argparse
from typing import Any, Sequence

from ..experiments.reproduce import (
    GROUPS,
    PRESETS,
    REFERENCE_NAME,
    compare,
    compare_files,
    default_preset,
    markdown_table,
    merge_files,
    reference_result,
    reproduce_table,
)
from ..training.config import typed_flags
from .common import DefaultsHelpFormatter, run_command

HELP = "run the reproduction table on all-MiniLM-L6-v2"


def add_run_args(p: argparse.ArgumentParser) -> None:
    """The flags every table run takes (``simcse reproduce`` and ``bench.st_reference``)."""
    p.add_argument("--model", default=None, help="backbone (default: all-MiniLM-L6-v2)")
    p.add_argument("--data_dir", default=None, help="folder holding wiki/, nli/ and SentEval-downstream/ (default: $SIMCSE_DATA_DIR)")
    p.add_argument("--preset", choices=PRESETS, default=default_preset(),
                   help="gpu: the full runs; cpu: a reduced form for a 2-core CPU (1 seed, short runs); chosen by "
                        "whether a GPU is present, here")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="default: 42 43 44 (gpu), 42 (cpu)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="simcse reproduce", description=__doc__,
                                formatter_class=DefaultsHelpFormatter)
    add_run_args(p)
    p.add_argument("--groups", nargs="+", choices=GROUPS, default=["baseline", "main"], help="row groups to run")
    p.add_argument("--only", nargs="+", default=None, help="run only these row names")
    p.add_argument("--output", default="reproduce_results.json", help="JSON file for every number")
    p.add_argument("--work_dir", default=None, help="where runs are written (default: a temporary folder)")
    p.add_argument("--eval_steps", type=int, default=None,
                   help="STS-B dev evaluation (and checkpoint) interval; default 25, which gives short runs a real "
                        "choice (SimCSE used 125 on 1M sentences), or half the steps with --preset cpu")
    p.add_argument("--set", nargs="+", default=[], metavar="FLAG=VALUE",
                   help="override a training flag (of train.py) in every trained run, e.g. --set mlp_init=pooler")
    p.add_argument("--suffix", default="", help="appended to row names (to keep variants apart in one JSON)")
    p.add_argument("--all_seeds", action="store_true",
                   help="run every seed for ablation rows too (default: ablation rows use the first seed only)")
    p.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                   help="no training: combine the runs of same-named rows from these result files (e.g. seeds run on "
                        "different machines) into --output, and print the table")
    p.add_argument("--compare", nargs="+", default=None, metavar="JSON",
                   help="no training: compare a result file with another (RESULT BASE) or, given one file, with "
                        "the bundled sentence-transformers reference results; prints per-row deltas, deltas paired by "
                        "seed, and the settings, versions and data fingerprints that differ")
    return p


def run(args: argparse.Namespace) -> int:
    if args.compare:
        print(compare_files(*args.compare))
        return 0
    if args.merge:
        print(markdown_table(merge_files(args.merge, args.output)))
        return 0
    results = reproduce_table(
        args.output, model=args.model, data_dir=args.data_dir, preset=args.preset, seeds=args.seeds,
        work_dir=args.work_dir, groups=args.groups, only=args.only, eval_steps=args.eval_steps,
        overrides=args.set, suffix=args.suffix, all_seeds=args.all_seeds,
    )
    print(markdown_table(results))
    if args.model is None and "main" in args.groups and args.preset == "gpu":
        print()
        print(compare(results, reference_result(), (args.output, REFERENCE_NAME)))
    else:
        print(f"\nto compare with another result file: simcse reproduce --compare {args.output} OTHER.json")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if args.compare and len(args.compare) > 2:
        p.error(f"--compare takes one or two result files, got {len(args.compare)}")
    if args.eval_steps is not None and args.eval_steps < 1:
        p.error(f"--eval_steps must be a positive integer, got {args.eval_steps}")
    overrides: dict[str, Any] = {}
    for item in args.set:  # checked before any work
        if "=" not in item:
            p.error(f"--set expects FLAG=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        overrides[key.lstrip("-")] = value
    try:
        args.set = typed_flags(overrides)
    except ValueError as exc:
        p.error(f"--set: {exc}")
    return run_command("reproduce", run, args)
