"""``simcse encode``: embed sentences (arguments, --file or stdin) and print JSON lines or write a .npy file."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

import numpy as np

from ..outputs import output_problem
from .common import add_model_args, load_model, read_inputs, run_command

HELP = "embed sentences (arguments, --file or stdin) and write vectors"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="simcse encode", description=HELP)
    add_model_args(p)
    p.add_argument("sentences", nargs="*", help="sentences (default: read --file or stdin)")
    p.add_argument("--file", help="text file, one sentence per line")
    p.add_argument("--output", help="write a .npy file (default: JSON lines on stdout)")
    p.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    p.add_argument("--no_normalize", action="store_true", help="keep raw (unnormalised) vectors")
    return p


def run(args: argparse.Namespace) -> int:
    if args.output:  # checked before the model loads and encodes
        problem = output_problem(args.output, args.overwrite, [args.file] if args.file else [],
                                 "the --file it reads", example="vectors.npy")
        if problem:
            raise ValueError(problem)
    sentences = read_inputs(args.sentences, args.file)
    if not sentences:
        raise ValueError("no sentences given (arguments, --file or stdin)")
    model = load_model(args)
    vecs = model.encode(sentences, return_numpy=True, normalize_to_unit=not args.no_normalize,
                        batch_size=args.batch_size, show_progress_bar=len(sentences) > 1000)
    if args.output:
        with open(args.output, "wb") as f:  # the path as given: np.save(name) would append ".npy"
            np.save(f, vecs)
        print(f"wrote {vecs.shape[0]} x {vecs.shape[1]} vectors to {args.output}", file=sys.stderr)
    else:
        for s, v in zip(sentences, vecs):
            print(json.dumps({"sentence": s, "embedding": [round(float(x), 6) for x in v]}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command("encode", run, build_parser().parse_args(argv))
