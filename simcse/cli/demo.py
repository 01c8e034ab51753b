"""``simcse demo``: the web demo (the work is :func:`simcse.demo.app.run_demo`)."""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Sequence

from ..defaults import BATCH_SIZE, bundled_corpus, cache_root
from ..search.texts import file_identity
from .common import DefaultsHelpFormatter, configure_logging

HELP = "start the web demo (semantic search in the browser)"


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``simcse demo``."""
    p = argparse.ArgumentParser(prog="simcse demo", description="Semantic search in the browser over a sentence file.", formatter_class=DefaultsHelpFormatter)
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
    p.add_argument("--batch_size", type=int, default=BATCH_SIZE, help="encoding batch size while indexing")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: localhost only)")
    p.add_argument("--port", type=int, default=5000, help="port (0: any free port; the URL is printed)")
    p.add_argument("--top_k", type=int, default=5, help="default number of results")
    p.add_argument("--threshold", type=float, default=0.0, help="default minimum cosine similarity")
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
    """Build or load the index, then serve until Ctrl+C; returns the exit status (2 on bad input)."""
    args = build_parser().parse_args(argv)
    try:
        # Flask is the [demo] extra: imported when the demo runs, so the other commands work without it
        from ..demo.app import run_demo
    except ImportError as exc:
        print(f"simcse demo: error: {exc}", file=sys.stderr)
        return 2
    configure_logging()  # our loggers only: the root logger (FAISS's loader, werkzeug ...) keeps its level
    try:
        index_dir = args.index
        if index_dir is None and not args.no_index_cache and (not args.corpus or Path(args.corpus).is_file()):
            index_dir = default_index_dir(args.corpus, args.model, args.pooler)  # (a bad corpus: run_demo names it)
            index_dir.parent.mkdir(parents=True, exist_ok=True)
        run_demo(args.corpus, args.model, pooler=args.pooler, device=args.device, index_dir=index_dir,
                 use_faiss=False if args.no_faiss else None, batch_size=args.batch_size, host=args.host,
                 port=args.port, top_k=args.top_k, threshold=args.threshold)
    except (ValueError, OSError) as exc:
        print(f"simcse demo: error: {exc}", file=sys.stderr)
        return 2
    return 0
