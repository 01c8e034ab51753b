"""``simcse evaluate``: SentEval-style STS / transfer evaluation (see :mod:`simcse.evaluation.cli`)."""
from ..evaluation.cli import main

HELP = "SentEval-style STS / transfer evaluation"
__all__ = ["HELP", "main"]
