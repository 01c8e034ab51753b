"""Every default a user can meet, in one place: open this file to see what a command does when a flag is left out.

Not here: the training defaults (the flags of train.py / ``simcse train``), which stay with their flags
in :mod:`simcse.training.config` as SimCSE's train.py declares them; and the pooler of a model folder that
records none, which depends on the model and is chosen by :func:`simcse.pooling.default_pooler`
(a folder that records one, ours or sentence-transformers', keeps it).
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent

MAX_LENGTH = 128
"""Tokens kept per sentence when the model folder records no length (a plain Hugging Face model), and the
length ``simcse convert`` records: the original package's ``encode(max_length=128)``. A folder's own length
wins (ours, or sentence-transformers' ``max_seq_length``: 256 for all-MiniLM-L6-v2), so ``SimCSE``,
``simcse encode / similarity / search``, the demo and ``simcse mteb`` embed as ``SentenceTransformer(path)``
does; never more than the model's positions."""

EVAL_MAX_LENGTH = 512
"""``simcse evaluate`` differs on purpose: SimCSE's evaluation does not truncate, so it keeps as many tokens
as the model takes (its position embeddings or its tokenizer's limit: 512 for all-MiniLM-L6-v2, where
``simcse encode`` keeps the folder's 256), and this many when the tokenizer sets no limit."""

BATCH_SIZE = 64
"""Sentences per forward pass when encoding: ``SimCSE.encode`` / ``build_index``, ``simcse encode /
similarity / search``, the demo's indexing, ``simcse evaluate`` and ``simcse mteb``."""

NORMALIZE_TO_UNIT = True
"""``SimCSE.encode`` returns unit vectors (cosine similarity is their dot product), as the original package did."""

EVAL_NORMALIZE = False
"""``simcse evaluate`` scores the raw pooled vectors, as SimCSE's evaluation does (cosine for STS; the
transfer probes see the vectors as they are)."""

NUM_CELLS = 100
"""IVF cells of an index built with ``build_index(..., faiss_fast=True)``: the original package's ``num_cells``."""

NUM_CELLS_IN_SEARCH = 10
"""IVF cells probed per query: the original package's ``num_cells_in_search``."""

EXAMPLE_QUERIES = [
    "A man is playing a guitar.",
    "How do I reset my password?",
    "The stock market fell sharply today.",
]
"""Queries ``simcse search`` runs when none are given."""


def bundled_corpus() -> Path:
    """The example corpus shipped with the package (sentences we wrote, one per line), searched by default."""
    return PACKAGE_DIR / "resources" / "example_corpus.txt"


def cache_root() -> Path:
    """Where simcse keeps what it can rebuild (tokenized training data, the demo's indexes):
    ``$SIMCSE_CACHE``, else ``~/.cache/simcse``."""
    return Path(os.environ.get("SIMCSE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "simcse"))
