"""``simcse search``: index a sentence file (or load a saved index) and search it."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from ..defaults import EXAMPLE_QUERIES, bundled_corpus
from ..search.index import faiss_available
from ..search.store import INDEX_META, check_index_folder
from ..tool import read_sentence_file
from .common import DefaultsHelpFormatter, add_model_args, load_model, positive_int, print_results, read_inputs, run_command, threshold_value

HELP = "index a sentence file and search it"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="simcse search", description=HELP, formatter_class=DefaultsHelpFormatter)
    add_model_args(p)
    p.add_argument("queries", nargs="*", help="queries (default: stdin, or a few examples)")
    p.add_argument("--corpus", help="text file, one sentence per line (default: the bundled example corpus)")
    p.add_argument("--top_k", type=positive_int, default=5, help="results per query")
    p.add_argument("--threshold", type=threshold_value, default=0.0,
                   help="keep results whose cosine similarity is at least this (-1 to 1)")
    p.add_argument("--faiss_fast", action="store_true", help="IVF index instead of exact search")
    p.add_argument("--no_faiss", action="store_true", help="use the exact torch index even if faiss is installed")
    p.add_argument("--index", help="index folder: loaded if it holds an index, else built and saved there "
                   "(a new or empty folder; a folder holding other files is refused)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output: a table or JSON")
    return p


def check_corpus_file(path: str) -> None:
    """``--corpus``: refuse a missing file, a folder, or a file without a sentence (reads up to its first one)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"--corpus {path!r}: sentence file {path!r} does not exist")
    if not p.is_file():
        raise IsADirectoryError(f"--corpus {path!r}: sentence file {path!r} is not a file (it is a folder)")
    with open(p, "rb") as f:
        if not any(line.strip().lstrip(b"\xef\xbb\xbf").strip() for line in f):
            raise ValueError(f"--corpus {path!r} has no sentences (it is empty or holds only blank lines); give "
                             "a text file with one sentence per line")


def run(args: argparse.Namespace) -> int:
    if args.faiss_fast and args.no_faiss:
        raise ValueError("--faiss_fast builds a FAISS IVF index and --no_faiss searches without FAISS: give one of them")
    if args.faiss_fast and not faiss_available():
        print("simcse search: warning: --faiss_fast needs faiss (pip install faiss-cpu or faiss-gpu); "
              "searching exactly with torch", file=sys.stderr)

    corpus = args.corpus or str(bundled_corpus())
    use_faiss = False if args.no_faiss else None
    index_dir = Path(args.index) if args.index else None
    load = index_dir is not None and (index_dir / INDEX_META).is_file()
    if index_dir is not None and not load:
        check_index_folder(index_dir, "--index")  # before the corpus is encoded
    if not load:
        check_corpus_file(corpus)  # before the model loads
    model = load_model(args)
    if load:
        model.load_index(index_dir, use_faiss=use_faiss)
        if args.faiss_fast and model.index.kind != "ivf":
            print(f"simcse search: warning: --faiss_fast is ignored: the saved index in {index_dir} is used as it "
                  f"was built ({model.index.kind}); give another --index (or remove that folder) to "
                  "build an IVF index", file=sys.stderr)
        if args.corpus:
            wanted = read_sentence_file(args.corpus)
            if model.index.sentences != wanted:
                raise ValueError(
                    f"--index {str(index_dir)!r} holds {len(model.index)} sentences that are not "
                    f"those of --corpus {args.corpus!r} ({len(wanted)} sentences); remove that folder (or "
                    "give another --index) to index the corpus, or drop --corpus to search the saved index"
                )
        print(f"loaded index {index_dir} ({len(model.index)} sentences)", file=sys.stderr)
    else:
        model.build_index(corpus, use_faiss=use_faiss, faiss_fast=args.faiss_fast, batch_size=args.batch_size,
                          show_progress_bar=True)
        print(f"indexed {len(model.index)} sentences from {corpus} with {model.model_name_or_path} "
              f"({type(model.index.index).__name__})", file=sys.stderr)
        if index_dir is not None:
            model.save_index(index_dir)
            print(f"saved index to {index_dir}", file=sys.stderr)
    queries = read_inputs(args.queries, None) or EXAMPLE_QUERIES
    results = model.search(queries, threshold=args.threshold, top_k=args.top_k)
    print_results(queries, results, args.format)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command("search", run, build_parser().parse_args(argv))
