"""``simcse similarity``: cosine similarity between query sentences and key sentences."""
from __future__ import annotations

import argparse
import json
from typing import Sequence

import numpy as np

from .common import DefaultsHelpFormatter, add_model_args, load_model, read_inputs, run_command

HELP = "cosine similarity between sentences"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="simcse similarity", description=HELP, formatter_class=DefaultsHelpFormatter)
    add_model_args(p)
    p.add_argument("queries", nargs="*", help="query sentences (default: stdin, one per line)")
    p.add_argument("--keys", nargs="+", help="key sentences (default: the queries themselves)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output: a table or JSON")
    return p


def run(args: argparse.Namespace) -> int:
    queries = read_inputs(args.queries, None)
    if not queries:
        raise ValueError("no query sentences given (arguments or stdin, one per line)")
    model = load_model(args)
    keys = args.keys or queries
    sims = np.atleast_2d(model.similarity(list(queries), list(keys)))
    if args.format == "json":
        print(json.dumps({"queries": queries, "keys": keys, "similarity": sims.round(6).tolist()}, indent=2))
        return 0
    width = min(40, max(len(q) for q in queries))
    for q, row in zip(queries, sims):
        for k, s in zip(keys, row):
            print(f"{s:7.4f}  {q[:width]:<{width}}  |  {k}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command("similarity", run, build_parser().parse_args(argv))
