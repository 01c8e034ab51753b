"""``simcse mteb``: run MTEB tasks and write a results folder (see :mod:`simcse.evaluation.mteb`)."""
from ..evaluation.mteb import main

HELP = "run MTEB tasks and write leaderboard-ready results"
__all__ = ["HELP", "main"]
