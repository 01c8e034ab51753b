"""``simcse train`` / ``python train.py``: the flags of SimCSE's train.py (see :mod:`simcse.training.config`),
parsed into a :class:`~simcse.training.config.TrainConfig` and trained by :func:`simcse.training.run.train`."""
from __future__ import annotations

import logging
import sys
from typing import Sequence

from ..training.config import TrainConfig, build_parser
from ..training.run import train

HELP = "train a SimCSE model (the flags of SimCSE's train.py)"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``simcse train`` and ``train.py``; returns the exit status."""
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", datefmt="%H:%M:%S", level=logging.INFO
    )
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        build_parser().print_help()
        return 0
    try:
        train(TrainConfig.from_argv(args))
    except (OSError, ValueError, FloatingPointError) as exc:  # OSError: a model or file that cannot be loaded
        print(f"simcse train: error: {exc}", file=sys.stderr)
        return 2
    return 0
