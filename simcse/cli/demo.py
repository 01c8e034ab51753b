"""``simcse demo``: the web demo (see :mod:`simcse.demo.app`)."""
from ..demo.app import main

HELP = "start the web demo (semantic search in the browser)"
__all__ = ["HELP", "main"]
