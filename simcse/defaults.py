"""Every default a user can meet, in one place: open this file to see what a command does when a flag is left out."""
from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent

EXAMPLE_QUERIES = [
    "A man is playing a guitar.",
    "How do I reset my password?",
    "The stock market fell sharply today.",
]
"""Queries ``simcse search`` runs when none are given."""


def bundled_corpus() -> Path:
    """The example corpus shipped with the package (sentences we wrote, one per line), searched by default."""
    return PACKAGE_DIR / "resources" / "example_corpus.txt"
