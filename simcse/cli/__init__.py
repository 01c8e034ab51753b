"""The ``simcse`` command: one module per sub-command, each with ``HELP`` (one line) and ``main(argv)``."""
from __future__ import annotations

import argparse
import sys
from types import ModuleType
from typing import Sequence

from ..defaults import bundled_corpus  # noqa: F401  (old import path)
from . import convert, demo, encode, evaluate, index, mteb, reproduce, search, similarity, train
from .common import positive_int  # noqa: F401  (old import path)

COMMANDS: dict[str, ModuleType] = {
    "encode": encode,
    "similarity": similarity,
    "search": search,
    "index": index,
    "train": train,
    "evaluate": evaluate,
    "mteb": mteb,
    "demo": demo,
    "convert": convert,
    "reproduce": reproduce,
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser, for ``simcse --help``: each command parses its own flags."""
    parser = argparse.ArgumentParser(prog="simcse", description="SimCSE sentence embeddings: encode, search, train, evaluate.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        sub.add_parser(name, help=module.HELP, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        return int(COMMANDS[argv[0]].main(argv[1:]) or 0)
    parser = build_parser()
    args = parser.parse_args(argv)  # --help, or an unknown command: argparse says which
    parser.print_help()
    return 2 if args.command is None else 0
