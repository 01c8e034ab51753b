"""``simcse convert``: an original SimCSE checkpoint into our format (see :mod:`simcse.convert`)."""
from ..convert import main

HELP = "convert an original SimCSE checkpoint into our format"
__all__ = ["HELP", "main"]
