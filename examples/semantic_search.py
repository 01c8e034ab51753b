"""Semantic search over your own text file (one sentence per line), with a saved index.

    python examples/semantic_search.py "How do I reset my password?"                 # bundled corpus
    python examples/semantic_search.py --corpus my.txt --index my_index "a query" "another query"

With --index DIR the index is loaded from DIR when it was built from the same corpus with the same
model (restarts are instant), else built and saved there (a folder holding other files is
refused). Queries may also come on stdin, one per line.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from simcse import SimCSE
from simcse.cli.common import positive_int
from simcse.defaults import bundled_corpus
from simcse.search.store import check_index_folder
from simcse.tool import read_sentence_file


def main(argv: list[str] | None = None) -> int:
    """Index the corpus (or load its saved index) and print the nearest sentences for each query."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("queries", nargs="*", help="queries (default: stdin)")
    p.add_argument("--corpus", default=str(bundled_corpus()), help="text file, one sentence per line")
    p.add_argument("--index", default=None, help="index folder: loaded if it holds this corpus, else built and saved")
    p.add_argument("--model", default=None, help="model folder (default: all-MiniLM-L6-v2)")
    p.add_argument("--top_k", type=positive_int, default=3)
    p.add_argument("--threshold", type=float, default=0.0)
    args = p.parse_args(argv)

    queries = args.queries or [line.strip() for line in sys.stdin if line.strip()]
    if not queries:
        p.error("give queries as arguments or on stdin")
    index_dir = Path(args.index) if args.index else None
    if index_dir is not None:
        try:
            check_index_folder(index_dir, "--index")  # a folder of other files: refused before encoding
        except FileExistsError as exc:
            p.error(str(exc))
    model = SimCSE(args.model)
    corpus = read_sentence_file(args.corpus)
    start = time.perf_counter()
    if index_dir and (index_dir / "index_meta.json").is_file():
        try:
            model.load_index(index_dir)
        except (ValueError, OSError, KeyError) as exc:  # e.g. built with another model
            print(f"cannot reuse the index in {index_dir} ({exc}); rebuilding", file=sys.stderr)
        else:
            if model.index["sentences"] != corpus:
                print(f"{index_dir} holds another corpus; rebuilding", file=sys.stderr)
                model.index = None
    if model.index is None:
        model.build_index(corpus, show_progress_bar=len(corpus) > 1000)
        if index_dir:
            model.save_index(index_dir)
        action = "built" + (f" and saved to {index_dir}" if index_dir else "")
    else:
        action = f"loaded from {index_dir}"
    print(f"index of {len(corpus)} sentences {action} in {time.perf_counter() - start:.2f}s")

    for query, hits in zip(queries, model.search(queries, top_k=args.top_k, threshold=args.threshold)):
        print(f"\n{query}")
        for score_sentence in hits or [("(nothing above the threshold)", float("nan"))]:
            sentence, score = score_sentence
            print(f"  {score:.4f}  {sentence}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
