"""The web demo (``simcse demo``): semantic search in the browser; see :mod:`simcse.demo.app`."""
from .app import SearchService, create_app, load_or_build_index, run_demo

__all__ = ["SearchService", "create_app", "load_or_build_index", "run_demo"]
