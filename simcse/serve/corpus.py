"""A corpus's index, loaded from its folder when it holds this corpus, else built (and saved there).

``simcse serve --corpus`` (and ``simcse demo``, which runs it) uses it, so that a server restarted on the same
corpus loads the saved index instead of encoding the corpus again.
"""
from __future__ import annotations

import logging
from pathlib import Path

from ..defaults import BATCH_SIZE
from ..search.store import INDEX_META, check_index_folder
from ..tool import SimCSE, read_sentence_file

logger = logging.getLogger("simcse.demo")


def load_or_build_index(
    model: SimCSE,
    corpus: str | Path,
    index_dir: str | Path | None = None,
    use_faiss: bool | None = None,
    batch_size: int = BATCH_SIZE,
    show_progress_bar: bool = True,
) -> str:
    """Give ``model`` an index of ``corpus``: loaded from ``index_dir`` when it holds one for this
    corpus and model, else built (and saved to ``index_dir`` when given). Returns "loaded" or "built".
    """
    sentences = read_sentence_file(corpus)
    if not sentences:
        raise ValueError(f"corpus file {str(corpus)!r} holds no sentences (one per line expected)")
    index_path = Path(index_dir) if index_dir is not None else None
    if index_path is not None and not (index_path / INDEX_META).is_file():
        check_index_folder(index_path, "--index")  # before the corpus is encoded, not after
    if index_path is not None and (index_path / INDEX_META).is_file():
        try:
            model.load_index(index_path, use_faiss=use_faiss)
        except (ValueError, OSError, KeyError) as exc:
            logger.warning("cannot reuse the index in %s (%s); rebuilding it", index_path, exc)
        else:
            if model.index.sentences == sentences:
                return "loaded"
            logger.warning("the index in %s holds another corpus (%d sentences, %s has %d); rebuilding it",
                           index_path, len(model.index), corpus, len(sentences))
    model.build_index(sentences, use_faiss=use_faiss, batch_size=batch_size, show_progress_bar=show_progress_bar)
    if index_path is not None:
        model.save_index(index_path)
    return "built"
