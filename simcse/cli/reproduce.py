"""``simcse reproduce``: the reproduction table on all-MiniLM-L6-v2 (see :mod:`simcse.experiments.reproduce`)."""
from ..experiments.reproduce import main

HELP = "run the reproduction table on all-MiniLM-L6-v2"
__all__ = ["HELP", "main"]
