"""``simcse demo``: the search page of :mod:`simcse.serve` over a corpus (default: the bundled one), its index
saved and loaded back at the next start; the same server as ``simcse serve`` (:func:`simcse.cli.serve.run_server`)."""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Sequence

from ..defaults import BATCH_SIZE, bundled_corpus, cache_root
from ..search.texts import file_identity
from ..serve.config import ServeConfig
from ..tool import read_sentence_file
from . import serve as serve_command
from .common import DefaultsHelpFormatter, configure_logging, positive_int

HELP = "start the web demo (semantic search in the browser)"


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``simcse demo``."""
    p = argparse.ArgumentParser(prog="simcse demo", formatter_class=DefaultsHelpFormatter, description=(
        "Semantic search in the browser over a sentence file: the search page of `simcse serve` at /, with its API "
        "(POST /v1/search, /v1/embeddings, GET /v1/models, /health, /metrics) in the same process."))
    p.add_argument("corpus", nargs="?", default=None,
                   help="text file, one sentence per line (default: the bundled example corpus)")
    p.add_argument("--model", "--model_name_or_path", dest="model", default=None,
                   help="model folder or hub name (default: all-MiniLM-L6-v2)")
    p.add_argument("--pooler", default=None, help="override the pooling head")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    p.add_argument("--index", default=None,
                   help="index folder: loaded if it holds this corpus, else built and saved (default: a folder per "
                        "corpus and model under $SIMCSE_CACHE/demo-indexes, or ~/.cache/simcse/demo-indexes)")
    p.add_argument("--no_index_cache", action="store_true",
                   help="without --index, encode the corpus at every start instead of keeping its index in the cache")
    p.add_argument("--no_faiss", action="store_true", help="use the exact torch index even if faiss is installed")
    p.add_argument("--batch_size", type=positive_int, default=BATCH_SIZE, help="encoding batch size while indexing")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: localhost only)")
    p.add_argument("--port", type=int, default=5000, help="port (0: any free port; the URL is printed)")
    p.add_argument("--top_k", type=int, default=5, help="the page's number of results when it opens")
    p.add_argument("--threshold", type=float, default=0.0, help="the page's minimum cosine similarity when it opens")
    return p


def default_index_dir(corpus: str | None, model: str | None, pooler: str | None) -> Path:
    """The cache folder of the index of ``corpus`` (default: the bundled one) under ``model`` and ``pooler``:
    named by the corpus's absolute path, size and modification time and the model's name, so a restart on the
    same corpus loads it (and an edited corpus or another model gets its own folder)."""
    path = Path(corpus).resolve() if corpus else bundled_corpus()
    size, mtime = file_identity(path)
    key = json.dumps([str(path), size, mtime, model, pooler])
    return cache_root() / "demo-indexes" / f"{path.stem[:40]}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the page and the API until Ctrl+C (the index is loaded or built in the background once the port
    is listened on); returns the exit status (2 on bad input, before anything is encoded)."""
    args = build_parser().parse_args(argv)
    corpus = Path(args.corpus) if args.corpus else bundled_corpus()
    try:
        config = ServeConfig(model=args.model, corpus=str(corpus), index=args.index, device=args.device,
                             pooler=args.pooler, use_faiss=False if args.no_faiss else None,
                             batch_size=args.batch_size, host=args.host, port=args.port,
                             page_top_k=args.top_k, page_threshold=args.threshold).check()
        read_sentence_file(corpus)  # a bad corpus path fails now, not in the loading thread
        if config.index is None and not args.no_index_cache:
            index_dir = default_index_dir(args.corpus, args.model, args.pooler)
            index_dir.parent.mkdir(parents=True, exist_ok=True)
            config.index = str(index_dir)
    except (ValueError, OSError) as exc:
        print(f"simcse demo: error: {exc}", file=sys.stderr)
        return 2
    configure_logging()  # our loggers only: the root logger (FAISS's loader ...) keeps its level
    return serve_command.run_server(config, "simcse demo", "demo")
