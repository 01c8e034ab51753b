"""``simcse index build`` / ``search`` / ``export``: a FAISS index of an embeddings folder, searching it, and
the folder as a Parquet file for a vector database.

    simcse encode --input corpus.jsonl --output_dir emb/
    simcse index build --embeddings emb/ --output idx/ [--factory "IVF4096,PQ48"] [--metric ip]
    simcse index search --index idx/ "a query" [--top_k 10] [--nprobe 32] [--ef_search 64] [--rerank 4]
    simcse index export --embeddings emb/ --output corpus.parquet [--vector_dtype float16]
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..defaults import BATCH_SIZE
from ..search.build import build_index_folder
from ..search.export import VECTOR_DTYPES, export_parquet
from ..search.store import IndexManifest
from ..tool import SimCSE
from .common import DefaultsHelpFormatter, positive_int, print_results, read_inputs, run_command, threshold_value

HELP = "build a FAISS index from an embeddings folder (simcse encode --input), search it, or export it to Parquet"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="simcse index", description=HELP, formatter_class=DefaultsHelpFormatter)
    sub = p.add_subparsers(dest="action", metavar="{build,search,export}", required=True)

    b = sub.add_parser("build", formatter_class=DefaultsHelpFormatter, help="build an index folder from an embeddings folder")
    b.add_argument("--embeddings", required=True, help="embeddings folder written by `simcse encode --input ... --output_dir`")
    b.add_argument("--output", required=True, help="index folder to write (new, empty, or an index folder)")
    b.add_argument("--factory", default=None,
                   help="FAISS index_factory string, e.g. Flat, IVF4096,Flat, IVF16384,PQ48, HNSW32, OPQ48,IVF4096,PQ48; "
                        "BFlat / BIVF1024 for binary embeddings (default: chosen from the number of rows and the dimension)")
    b.add_argument("--metric", choices=("ip", "l2"), default="ip",
                   help="inner product (cosine for normalised embeddings, the default) or L2 distance")
    b.add_argument("--train_size", type=positive_int, default=None,
                   help="rows sampled across shards to train the index (default: enough for its cells and codebooks)")
    b.add_argument("--seed", type=int, default=0, help="seed of the training sample (default: 0)")
    store = b.add_mutually_exclusive_group()
    store.add_argument("--rerank_store", dest="rerank_store", action="store_true", default=None,
                       help="keep float16 vectors in the index folder for --rerank (default for float embeddings)")
    store.add_argument("--no_rerank_store", dest="rerank_store", action="store_false",
                       help="do not keep them (a smaller folder; no --rerank)")

    s = sub.add_parser("search", formatter_class=DefaultsHelpFormatter, help="search an index folder")
    s.add_argument("queries", nargs="*", help="queries (default: stdin, one per line)")
    s.add_argument("--index", required=True, help="index folder written by `simcse index build`")
    s.add_argument("--model", "--model_name_or_path", dest="model", default=None,
                   help="model to encode the queries (default: the one recorded in the index; another one is refused)")
    s.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    s.add_argument("--batch_size", type=positive_int, default=BATCH_SIZE, help="queries encoded per batch")
    s.add_argument("--top_k", type=positive_int, default=5, help="results per query")
    s.add_argument("--threshold", type=threshold_value, default=float("-inf"),
                   help="minimum score, in [-1, 1] (default: -inf, none)")
    s.add_argument("--nprobe", type=positive_int, default=None, help="IVF cells probed per query")
    s.add_argument("--ef_search", type=positive_int, default=None, help="HNSW efSearch")
    s.add_argument("--rerank", type=int, default=0,
                   help="re-score top_k * RERANK candidates with the stored float16 vectors (0: off)")
    s.add_argument("--no_faiss", action="store_true",
                   help="exact torch search over the stored float16 vectors instead of the FAISS index")
    s.add_argument("--format", choices=("table", "json"), default="table", help="output: a table or JSON")

    e = sub.add_parser("export", formatter_class=DefaultsHelpFormatter,
                       help="write an embeddings folder as one Parquet file of (id, line, text, vector)")
    e.add_argument("--embeddings", required=True, help="embeddings folder written by `simcse encode --input ... --output_dir`")
    e.add_argument("--output", required=True, help="the .parquet file to write")
    e.add_argument("--vector_dtype", choices=VECTOR_DTYPES, default="float32",
                   help="type of the vector column")
    e.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    return p


def run_export(args: argparse.Namespace) -> int:
    export_parquet(args.embeddings, args.output, vector_dtype=args.vector_dtype, overwrite=args.overwrite,
                   say=lambda message: print(f"simcse index export: {message}", file=sys.stderr))
    return 0


def run_build(args: argparse.Namespace) -> int:
    def say(message: str) -> None:
        print(f"simcse index build: {message}", file=sys.stderr)

    build_index_folder(args.embeddings, args.output, factory=args.factory, metric=args.metric,
                       train_size=args.train_size, rerank_store=args.rerank_store, seed=args.seed, say=say)
    return 0


def run_search(args: argparse.Namespace) -> int:
    if args.rerank < 0:
        raise ValueError(f"--rerank must be 0 (off) or a positive multiplier, got {args.rerank}")
    manifest = IndexManifest.read(args.index)  # before the model loads
    if manifest.kind != "factory":
        raise ValueError(f"--index {args.index!r} holds a {manifest.kind} index saved by SimCSE.save_index; "
                         "search it with `simcse search --index`")
    queries = read_inputs(args.queries, None)
    if not queries:
        raise ValueError("no queries given (arguments or stdin)")
    model = SimCSE(args.model or manifest.model, device=args.device, pooler=manifest.pooler,
                   max_length=manifest.max_length)
    model.load_index(args.index, use_faiss=False if args.no_faiss else None)
    if args.nprobe is not None or args.ef_search is not None:
        model.index.set_search_params(nprobe=args.nprobe, ef_search=args.ef_search)
    results = model.search(queries, threshold=args.threshold, top_k=args.top_k, return_ids=True, rerank=args.rerank)
    print_results(queries, results, args.format, ids=True)
    return 0


def run(args: argparse.Namespace) -> int:
    return {"build": run_build, "search": run_search, "export": run_export}[args.action](args)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command("index", run, build_parser().parse_args(argv))
