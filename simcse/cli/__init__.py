"""The ``simcse`` command: one module per sub-command (``simcse/cli/<command>.py``), each with ``HELP``
(its one-line description) and ``main(argv) -> int``.

:data:`COMMANDS` lists them. Only the command that runs is imported: the training stack alone
(transformers' Trainer, which imports peft) takes seconds that ``simcse encode`` should not pay, so
``simcse --help`` imports no command and each command imports just its own dependencies. A test
checks that every entry has its module, that its ``HELP`` is the line listed here, and that it has
``main``.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from ..defaults import bundled_corpus  # noqa: F401  (old import path)
from ..version import __version__
from .common import positive_int  # noqa: F401  (old import path)

COMMANDS: dict[str, str] = {
    "encode": "embed sentences (arguments, --file or stdin) and write vectors, or a corpus file into a sharded folder",
    "similarity": "cosine similarity between sentences",
    "search": "index a sentence file and search it",
    "index": "build a FAISS index from an embeddings folder (simcse encode --input), search it, or export it to Parquet",
    "train": "train a SimCSE model (the flags of SimCSE's train.py)",
    "evaluate": "SentEval-style STS / transfer evaluation",
    "mteb": "run MTEB tasks and write leaderboard-ready results (and `simcse mteb submit`)",
    "demo": "start the web demo (semantic search in the browser)",
    "serve": "serve embeddings and search over HTTP (OpenAI-compatible /v1/embeddings, /v1/search)",
    "convert": "convert an original SimCSE checkpoint into our format",
    "reproduce": "run the reproduction table on all-MiniLM-L6-v2",
}
"""Command name -> its one-line help (the module ``simcse.cli.<name>`` holds the same line as ``HELP``)."""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser, for ``simcse --help``: each command parses its own flags."""
    parser = argparse.ArgumentParser(prog="simcse", description="SimCSE sentence embeddings: encode, search, train, evaluate.")
    parser.add_argument("--version", action="version", version=f"simcse {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        command = importlib.import_module(f"{__name__}.{argv[0]}")
        return int(command.main(argv[1:]) or 0)
    parser = build_parser()
    args = parser.parse_args(argv)  # --help, or an unknown command: argparse says which
    parser.print_help()
    return 2 if args.command is None else 0
