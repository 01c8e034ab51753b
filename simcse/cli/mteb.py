"""``simcse mteb``: run MTEB tasks and write a results folder (:func:`simcse.evaluation.mteb.run`);
``simcse mteb submit``: turn that folder into a leaderboard submission (:mod:`simcse.evaluation.mteb_submit`)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from ..defaults import BATCH_SIZE
from ..evaluation.mteb import DEFAULT_TASKS, LOCAL_TASKS, load_prompts, run, summary_table
from ..evaluation.mteb_submit import submit

HELP = "run MTEB tasks and write leaderboard-ready results (and `simcse mteb submit`)"

META_FLAGS = ("license", "release_date", "reference", "public_training_code", "public_training_data", "languages",
              "training_datasets", "adapted_from", "citation")


def add_meta_flags(p: argparse.ArgumentParser) -> None:
    """The ModelMeta fields a user gives (the rest come from the model folder and its training record)."""
    g = p.add_argument_group("model metadata (mteb's ModelMeta; a submission needs --name, --revision, "
                             "--license, --release_date, --languages)")
    g.add_argument("--name", default=None, help="model name in the results: org/model, its Hugging Face Hub name")
    g.add_argument("--revision", default=None, help="model revision: the hub commit (40 hex digits) of these weights")
    g.add_argument("--license", default=None, help="e.g. apache-2.0, mit, cc-by-4.0 (mteb's licence names)")
    g.add_argument("--release_date", default=None, help="YYYY-MM-DD")
    g.add_argument("--reference", default=None, help="URL of the model page")
    g.add_argument("--public_training_code", default=None, help="URL of the training code")
    g.add_argument("--public_training_data", default=None, help="URL of the training data")
    g.add_argument("--languages", nargs="+", default=None, metavar="LANG", help="ISO 639-3 + script, e.g. eng-Latn")
    g.add_argument("--training_datasets", nargs="*", default=None, metavar="NAME",
                   help="MTEB dataset names the model was trained on (default: from its training record)")
    g.add_argument("--adapted_from", default=None, help="base model (org/model); default: from the training record")
    g.add_argument("--citation", default=None, help="BibTeX of the model's paper")


def meta_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The ModelMeta fields given as flags (None: not given)."""
    meta = {k: getattr(args, k) for k in META_FLAGS}
    if meta["training_datasets"] is not None:
        meta["training_datasets"] = set(meta["training_datasets"])
    return meta


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``simcse mteb``."""
    p = argparse.ArgumentParser(prog="simcse mteb", description="MTEB for SimCSE models: an encoder adapter, offline "
                                "task loading, prompts, and results in the MTEB results layout. "
                                "`simcse mteb submit --help`: make a leaderboard submission of the results.")
    p.add_argument("--model", "--model_name_or_path", dest="model", default=None,
                   help="model folder or hub name (default: all-MiniLM-L6-v2)")
    p.add_argument("--tasks", nargs="+", default=None, metavar="TASK",
                   help=f"MTEB task names (offline: {', '.join(LOCAL_TASKS)}; others need the hub); "
                        f"default: {' '.join(DEFAULT_TASKS)}")
    p.add_argument("--benchmark", default=None, help="an MTEB benchmark name, e.g. 'MTEB(eng, v2)': its tasks whose "
                   "data can be reached run, the others are listed")
    p.add_argument("--prompts", default=None, metavar="JSON",
                   help="prompts file: {key: prompt}, keys task names, task types, query/document or "
                        "'<task or type>-<query|document>' (mteb's priority order); default: the folder's prompts")
    p.add_argument("--output_folder", default="mteb_results", help="results are written under OUTPUT_FOLDER/results/")
    p.add_argument("--data_dir", default=None, help="SentEval data/downstream folder (STS tasks)")
    p.add_argument("--mteb_data_dir", default=None, help="folder with Banking77/ and AmazonCounterfactual/")
    p.add_argument("--batch_size", type=int, default=BATCH_SIZE)
    p.add_argument("--max_length", type=int, default=None, help="token limit (default: the model's)")
    p.add_argument("--pooler", default=None, help="override the pooling head")
    p.add_argument("--device", default=None)
    add_meta_flags(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the MTEB command; returns the exit status (2 on bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["submit"]:
        return submit_main(argv[1:])
    args = build_parser().parse_args(argv)
    tasks = args.tasks if args.tasks is not None else ([] if args.benchmark else list(DEFAULT_TASKS))
    try:
        prompts = load_prompts(args.prompts) if args.prompts else None
        summary = run(args.model, tasks, args.output_folder, benchmark=args.benchmark, data_dir=args.data_dir,
                      mteb_data_dir=args.mteb_data_dir, batch_size=args.batch_size, max_length=args.max_length,
                      name=args.name, revision=args.revision, pooler=args.pooler, device=args.device,
                      prompts=prompts, meta=meta_from_args(args))
    except (FileNotFoundError, ValueError, OSError, FloatingPointError, RuntimeError) as exc:
        print(f"simcse mteb: error: {exc}", file=sys.stderr)
        return 2
    print(summary_table(summary))
    print(f"results: {summary['results_dir']}; summary: {Path(args.output_folder) / 'summary.json'}", file=sys.stderr)
    return 0


def build_submit_parser() -> argparse.ArgumentParser:
    """Arguments of ``simcse mteb submit``."""
    p = argparse.ArgumentParser(prog="simcse mteb submit", description="Make an MTEB leaderboard submission from "
                                "the --output_folder of a `simcse mteb` run: the results folder for "
                                "embeddings-benchmark/results and the ModelMeta registry entry for mteb.")
    p.add_argument("--output_folder", required=True, help="the --output_folder of the `simcse mteb` run")
    p.add_argument("--submission", required=True, metavar="DIR", help="where to write results/ and the registry entry")
    p.add_argument("--model", default=None, help="the model folder, checked to be the one the results came from")
    p.add_argument("--accept_local_data", action="store_true",
                   help="submit results computed from local copies of task data that are not verified to be the "
                        "hub's files (you vouch for them; recorded in simcse_submission.json)")
    add_meta_flags(p)
    return p


def submit_main(argv: Sequence[str]) -> int:
    """``simcse mteb submit``; returns the exit status (2 on bad input)."""
    args = build_submit_parser().parse_args(list(argv))
    try:
        out = submit(args.output_folder, args.submission, name=args.name, revision=args.revision, model=args.model,
                     meta=meta_from_args(args), accept_local_data=args.accept_local_data)
    except (FileNotFoundError, ValueError, OSError) as exc:
        print(f"simcse mteb submit: error: {exc}", file=sys.stderr)
        return 2
    name = out["meta"].name
    print(f"""Submission of {name} @ {out['meta'].revision} ({len(out['tasks'])} tasks) written.
1. Results: copy {out['results_dir']}/ to results/{out['meta'].model_name_as_path()}/{out['meta'].revision}/ in a fork of
   https://github.com/embeddings-benchmark/results and open a pull request there.
2. Model: add the ModelMeta in {out['registry_file']} to a file of mteb/models/model_implementations/ in a fork of
   https://github.com/embeddings-benchmark/mteb (the model must be on the hub as {name} at that revision), and open a
   pull request there; the results pull request passes its checks once this entry is in mteb's registry.""")
    return 0
