"""``simcse train``: the flags of SimCSE's train.py (see :mod:`simcse.training.run`)."""
from ..training.run import main

HELP = "train a SimCSE model (the flags of SimCSE's train.py)"
__all__ = ["HELP", "main"]
