"""The user-facing API: ``SimCSE(model).encode / similarity / build_index / search``.

Compatible with the original ``simcse`` 0.4 package (same names, arguments and return shapes),
on a faster engine: tokenization once, length-grouped batches, half precision on GPU, and batched
search over a FAISS or exact torch index.

Why one module: the original package's whole API is one class, kept here
with its argument checks; index storage and search backends live in :mod:`simcse.search`.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .defaults import BATCH_SIZE, NORMALIZE_TO_UNIT, NUM_CELLS, NUM_CELLS_IN_SEARCH
from .encoder import SentenceEncoder, resolve_model_path, token_limit
from .formats.sentence_transformers import ST_MODEL_CONFIG, ST_SETTINGS_KEY
from .experiments.provenance import folder_fingerprint
from .search.index import FaissIndex, check_cells, make_index
from .search.quantization import (
    INDEX_PRECISIONS,
    QuantizedIndex,
    check_precision,
    check_rescore,
    check_truncate_dim,
    quantize_embeddings,
    truncate_embeddings,
)
from .search.store import IndexManifest, SearchIndex, check_index_folder, open_search_index, save_search_index
from .search.texts import FileLines, file_identity, sample_lines, scan_lines
from .text import split_line_ends

logger = logging.getLogger(__name__)

_FINGERPRINT_TEXT = "simcse index fingerprint: a fixed sentence encoded with the model"
STREAM_CHUNK = 16384
"""Lines of a sentence file that ``build_index(path)`` reads and encodes at a time."""


def _check_unicode(text: str, where: str) -> None:
    """A ``ValueError`` naming ``where`` for text the tokenizer cannot take: a lone surrogate, which is
    what Python makes of bytes that are not UTF-8 in a command-line argument or a decoded stream."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{where} is not valid Unicode text: lone surrogate {text[exc.start]!r} at character {exc.start} "
            "(bytes that were not UTF-8?)"
        ) from None


def check_sentences(sentences: Any, what: str = "sentences") -> list[str]:
    """Return ``sentences`` as a list of str; ``TypeError`` naming the first item that is not a str,
    ``ValueError`` naming the first that is not valid Unicode."""
    if isinstance(sentences, str):
        _check_unicode(sentences, what)
        return [sentences]
    if sentences is None:
        raise TypeError(f"{what} must be a string or a list of strings, got None")
    if isinstance(sentences, (np.ndarray, torch.Tensor)):
        raise TypeError(f"{what} must be a string or a list of strings, got {type(sentences).__name__}")
    try:
        items = list(sentences)
    except TypeError:
        raise TypeError(f"{what} must be a string or a list of strings, got {type(sentences).__name__}") from None
    for i, s in enumerate(items):
        if not isinstance(s, str):
            raise TypeError(f"{what}[{i}] is {type(s).__name__}, not str: {s!r:.80}")
    try:  # one C-level pass over the whole list (encode's input path); the culprit is looked for on failure only
        "".join(items).encode("utf-8")
    except UnicodeEncodeError:
        for i, s in enumerate(items):
            _check_unicode(s, f"{what}[{i}]")
    return items


def read_sentence_file(path: str | os.PathLike) -> list[str]:
    """Sentences of a UTF-8 text file, one per line (blank lines skipped)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"sentence file {str(p)!r} does not exist")
    if not p.is_file():
        raise IsADirectoryError(f"sentence file {str(p)!r} is not a file")
    try:
        text = p.read_text(encoding="utf-8-sig")  # a leading byte-order mark is not part of the first sentence
    except UnicodeDecodeError as exc:
        raise ValueError(f"sentence file {str(p)!r} is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    return split_lines(text)


def split_lines(text: str) -> list[str]:
    """Non-blank lines of ``text``, stripped. Lines end at ``\\n``, ``\\r\\n`` or ``\\r`` only (as
    ``for line in file`` reads them), not at the other breaks ``str.splitlines`` knows (form feed,
    U+0085, U+2028, ...), which occur inside sentences of scraped text."""
    return [line.strip() for line in split_line_ends(text) if line.strip()]


def check_max_length(max_length: Any, encoder: SentenceEncoder) -> int:
    """``max_length`` if the model can take it; else ``ValueError`` naming the value and the valid range."""
    try:
        special = int(encoder.tokenizer.num_special_tokens_to_add(pair=False))
    except Exception:  # slow or unusual tokenizers
        special = 1
    low, high = max(2, special + 1), token_limit(encoder)
    valid = f"[{low}, {high}]" if high is not None else f">= {low}"
    if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)):
        raise ValueError(f"max_length must be an integer {'in ' if high else ''}{valid}, got {max_length!r}")
    if max_length < low or (high is not None and max_length > high):
        raise ValueError(
            f"max_length={int(max_length)} is out of range for this model: it must be in {valid} "
            f"({special} special tokens + at least one token of the sentence"
            + (f"; the model has {high} positions)" if high is not None else ")")
        )
    return int(max_length)


def check_threshold(threshold: Any, name: str = "threshold") -> float:
    """``threshold`` as a float in [-1, 1] (a cosine similarity), or ``-inf`` (no threshold: approximate
    indexes such as PQ can score a little outside [-1, 1]); else ``ValueError`` naming ``name``, the value
    and the range."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(threshold, bool) or not (-1.0 <= value <= 1.0 or value == float("-inf")):
        raise ValueError(f"{name} must be a number in [-1, 1] (a cosine similarity), or -inf for no threshold; "
                         f"got {threshold!r}")
    return value


def check_batch_size(batch_size: Any) -> int:
    """``batch_size`` if it is a positive integer; else ``ValueError`` naming the value."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _check_int8_calibration(index: Any, vectors: np.ndarray, call: str) -> None:
    """An int8 index takes its per-dimension ranges from the first vectors added: refuse, with what
    to do instead, when they cannot give ranges (fewer than 2 vectors, or all the same vector: the same
    sentence twice encodes to vectors that differ by float noise, ~1e-7, and ranges that narrow clip
    every later vector to the ends of the code range)."""
    if not isinstance(index, QuantizedIndex) or index.precision != "int8" or index.ntotal or len(vectors) == 0:
        return
    if len(vectors) >= 2 and float(np.ptp(np.asarray(vectors, dtype=np.float32), axis=0).max()) > 1e-4:
        return
    n = len(vectors)
    what = f"{n} sentence" if n == 1 else f"{n} sentences, all with the same embedding"
    if call == "build_index":
        where, fix = f"the corpus, which has {what}", "index at least 2 different sentences"
    else:
        where = f"the first sentences added to the empty index, here {what}"
        fix = "add at least 2 different sentences in one call"
    raise ValueError(
        f"{call}: an int8 index calibrates its per-dimension ranges on {where}; that needs at least 2 "
        f"sentences with different embeddings. {fix[0].upper() + fix[1:]}, or use precision='binary' or "
        "precision='float32', which need no calibration"
    )


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a ``torch.device`` (default: CUDA when available); ``ValueError`` naming it when
    torch does not know it or this machine does not have it."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device {device!r} is not a device torch knows (e.g. cpu, cuda, cuda:1, mps): {exc}") from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"device {str(device)!r}: no CUDA GPU is available here "
                             f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); use device='cpu'")
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"device {str(device)!r}: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {str(device)!r}: Apple MPS is not available here; use device='cpu'")
    return dev


class SimCSE:
    """A sentence encoder with similarity and search.

    Args:
        model_name_or_path: a model folder (ours, sentence-transformers or Hugging Face) or a hub
            name; ``None`` loads the default model, all-MiniLM-L6-v2.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default: CUDA when available.
        num_cells: IVF cells when ``build_index(..., faiss_fast=True)``.
        num_cells_in_search: IVF cells probed per query (also for an index loaded with ``load_index``).
        pooler: override the pooling head (see :data:`simcse.pooling.POOLERS`).
        max_length: tokens kept per sentence in ``encode``, ``similarity``, ``build_index`` and
            ``search`` (``encode(max_length=...)`` overrides it); default: the length the model
            folder was saved with (ours, or sentence-transformers' ``max_seq_length``: 256 for
            all-MiniLM-L6-v2), so embeddings equal ``SentenceTransformer(path)``'s; for a plain Hugging
            Face model :data:`simcse.defaults.MAX_LENGTH` (128, as in the original package); never more
            than the model's positions.
        truncate_dim: keep only the first ``truncate_dim`` dimensions (Matryoshka models) in
            ``encode``, ``build_index`` and ``search`` unless they are given another value.
    """

    def __init__(
        self,
        model_name_or_path: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        num_cells: int = NUM_CELLS,
        num_cells_in_search: int = NUM_CELLS_IN_SEARCH,
        pooler: str | None = None,
        max_length: int | None = None,
        truncate_dim: int | None = None,
    ):
        check_cells(num_cells, num_cells_in_search)  # before the model loads
        self.model_name_or_path = str(model_name_or_path) if model_name_or_path is not None else str(
            resolve_model_path(None)
        )
        self.device = pick_device(device)
        self.encoder = SentenceEncoder.from_pretrained(self.model_name_or_path, pooler_type=pooler, max_length=max_length)
        self.encoder.to(self.device).eval()
        self.model = self.encoder.backbone
        self.tokenizer = self.encoder.tokenizer
        # a --mlp_only_train model embeds before its MLP: `cls_before_pooler` (`pooler="cls"` adds the MLP)
        self.pooler = self.encoder.embedding_pooler
        self.num_cells = num_cells
        self.num_cells_in_search = num_cells_in_search
        self.index: SearchIndex | None = None
        self.truncate_dim = check_truncate_dim(truncate_dim, self.encoder.dim)
        limit = token_limit(self.encoder)
        self.max_length = (
            check_max_length(max_length, self.encoder) if max_length is not None
            # The folder's own length (ours, or sentence-transformers' max_seq_length), as
            # SentenceTransformer(path) uses it; defaults.MAX_LENGTH for a plain Hugging Face model.
            else min(self.encoder.config.max_length, limit) if limit is not None else self.encoder.config.max_length
        )
        # Half precision on GPU for speed; float32 on CPU.
        self.gpu_dtype: torch.dtype = torch.float16

    @property
    def is_faiss_index(self) -> bool:
        """Whether the current index is searched with FAISS (the original package's attribute, read-only):
        False without an index or for the exact torch index. ``self.index["index"]`` is the backend and
        ``self.index["sentences"]`` the indexed texts, as in the original package's ``index`` dict."""
        return self.index is not None and getattr(self.index.index, "backend", None) == "faiss"

    # ------------------------------------------------------------------ encode
    @property
    def prompts(self) -> dict[str, str]:
        """The model folder's named prompts (``config_sentence_transformers.json`` ``prompts``)."""
        return dict(self.encoder.config.extra.get(ST_SETTINGS_KEY, {}).get("prompts", {}))

    def resolve_prompt(self, prompt: str | None = None, prompt_name: str | None = None) -> str | None:
        """The prompt text for ``encode(prompt=, prompt_name=)``; None for the folder's default."""
        if prompt is not None and prompt_name is not None:
            raise ValueError(f"give prompt= or prompt_name=, not both (prompt={prompt!r}, prompt_name={prompt_name!r})")
        if prompt_name is None:
            return prompt
        prompts = self.prompts
        if prompt_name not in prompts:
            raise ValueError(f"prompt_name={prompt_name!r} is not one of this model's prompts "
                             f"({', '.join(map(repr, sorted(prompts))) or 'it has none'}; they are the 'prompts' of "
                             f"{ST_MODEL_CONFIG} in its folder)")
        return prompts[prompt_name]

    def encode(
        self,
        sentence: str | Sequence[str],
        device: str | torch.device | None = None,
        return_numpy: bool = False,
        normalize_to_unit: bool = NORMALIZE_TO_UNIT,
        keepdim: bool = False,
        batch_size: int = BATCH_SIZE,
        max_length: int | None = None,
        show_progress_bar: bool = False,
        dtype: torch.dtype | None = None,
        truncate_dim: int | None = None,
        precision: str = "float32",
        calibration_embeddings: np.ndarray | torch.Tensor | None = None,
        prompt: str | None = None,
        prompt_name: str | None = None,
    ) -> np.ndarray | torch.Tensor:
        """Embed one sentence (a 1-d vector unless ``keepdim``) or a list (an [N, dim] matrix).

        On a GPU the backbone runs in ``dtype`` (float16 unless given); results are float32.
        Sentences are cut to ``max_length`` tokens (default: the constructor's).
        ``normalize_to_unit=False`` gives the raw pooled vectors, also for a sentence-transformers folder
        whose pipeline ends in a ``Normalize`` module (that module is skipped).

        ``truncate_dim`` (default: the constructor's) keeps the first ``truncate_dim`` dimensions,
        before the L2 normalisation (Matryoshka). ``precision`` quantises the result (see
        :mod:`simcse.search.quantization`): ``int8``/``uint8`` (one byte per dimension; per-dimension
        ranges from ``calibration_embeddings`` when given, else from this batch itself, which then
        needs at least 2 sentences) or ``binary``/``ubinary`` (sign bits packed into
        ``ceil(dim / 8)`` int8/uint8 bytes); quantised results are int8/uint8 tensors (arrays with
        ``return_numpy``).

        ``prompt`` (a text) or ``prompt_name`` (one of :attr:`prompts`, the folder's
        ``config_sentence_transformers.json`` prompts) goes before every sentence instead of the
        folder's default prompt, as in sentence-transformers' ``encode``; ``prompt=""`` embeds with none.
        """
        prompt = self.resolve_prompt(prompt, prompt_name)
        check_precision(precision)
        batch_size = check_batch_size(batch_size)
        dim_out = check_truncate_dim(self.truncate_dim if truncate_dim is None else truncate_dim, self.encoder.dim)
        if dim_out == self.encoder.dim:
            dim_out = None
        max_length = self.max_length if max_length is None else check_max_length(max_length, self.encoder)
        single = isinstance(sentence, str)
        sentences = check_sentences(sentence, "sentence")
        dev = pick_device(device) if device is not None else self.device
        if dtype is None:
            dtype = self.gpu_dtype if dev.type == "cuda" else None
        emb = self.encoder.encode(
            sentences,
            batch_size=batch_size,
            max_length=max_length,
            normalize=normalize_to_unit and dim_out is None,
            folder_normalize=normalize_to_unit,  # False skips a sentence-transformers Normalize module too
            device=dev,
            dtype=dtype,
            show_progress_bar=show_progress_bar,
            prompt=prompt,
        )
        if dim_out is not None:
            emb = truncate_embeddings(emb, dim_out, normalize=normalize_to_unit)
        if precision != "float32":
            if precision in ("int8", "uint8") and calibration_embeddings is None and emb.shape[0] < 2:
                raise ValueError(
                    f"encode(precision={precision!r}) of a single sentence cannot calibrate the int8 ranges: pass "
                    "calibration_embeddings= (float embeddings of a sample of your corpus), or encode at least 2 "
                    "sentences together"
                )
            codes = quantize_embeddings(emb, precision, calibration_embeddings=calibration_embeddings)
            emb = torch.from_numpy(codes)
        if single and not keepdim:
            emb = emb[0]
        if return_numpy:
            return emb.cpu().numpy()
        return emb

    # ------------------------------------------------------------------ similarity
    def similarity(
        self,
        queries: str | Sequence[str],
        keys: str | Sequence[str] | np.ndarray | torch.Tensor,
        device: str | torch.device | None = None,
    ) -> float | np.ndarray:
        """Cosine similarity between queries and keys (sentences or precomputed vectors).

        As in the original package: a single query and a single key give a float, a single query
        and several keys a 1-d array [n_keys], and several queries an array [n_queries, n_keys],
        also against a single key ([n_queries, 1])."""
        q = self.encode(queries, device=device, return_numpy=True)
        if isinstance(keys, (np.ndarray, torch.Tensor)):
            k = keys.detach().float().cpu().numpy() if isinstance(keys, torch.Tensor) else np.asarray(keys, np.float32)
            if k.shape[-1] != q.shape[-1]:
                raise ValueError(f"key vectors have dimension {k.shape[-1]}, the model gives {q.shape[-1]}")
            k = k / np.clip(np.linalg.norm(k, axis=-1, keepdims=True), 1e-12, None)
        else:
            k = self.encode(keys, device=device, return_numpy=True)
        single_q, single_k = q.ndim == 1, k.ndim == 1
        sims = np.atleast_2d(q) @ np.atleast_2d(k).T
        if single_q and single_k:
            return float(sims[0, 0])
        if single_q:
            return sims[0]
        return sims

    # ------------------------------------------------------------------ index
    def build_index(
        self,
        sentences_or_file_path: str | os.PathLike | Sequence[str],
        use_faiss: bool | None = None,
        faiss_fast: bool = False,
        device: str | torch.device | None = None,
        batch_size: int = BATCH_SIZE,
        show_progress_bar: bool = False,
        truncate_dim: int | None = None,
        precision: str = "float32",
        rescore_multiplier: int = 4,
        rescore_with: str = "quantized",
    ) -> None:
        """Encode a corpus (a list of sentences, or a text file with one per line) and index it.

        FAISS is used when installed, unless ``use_faiss=False``; ``faiss_fast`` builds an IVF index with
        ``num_cells`` cells. Without FAISS the exact torch index serves (fast on GPU); ``use_faiss=True``
        without faiss installed falls back to it with a warning, as in the original package.

        A file is streamed: read and encoded :data:`STREAM_CHUNK` lines at a time, its sentences read
        back from the file by byte range at search time (``self.index.sentences`` is a lazy sequence,
        and the file must not change while the index is used). An IVF index then learns its cells, and
        an int8 index its ranges, from :data:`STREAM_CHUNK` lines drawn at random across the whole file
        (seeded; one extra read of the file and one extra chunk encoded), so a sorted file trains them
        as well as a shuffled one; a list (or a file of one chunk) trains them on all of its sentences.

        ``truncate_dim`` (default: the constructor's) indexes the first ``truncate_dim`` dimensions
        (re-normalised); queries are truncated alike. ``precision="int8"`` (scalar quantisation,
        1 byte per dimension) or ``"binary"`` (1 bit per dimension, Hamming search) builds a
        :class:`simcse.search.quantization.QuantizedIndex`: its search retrieves
        ``top_k * rescore_multiplier`` candidates (0 = no re-scoring) and re-ranks them with the
        float query against their quantised vectors (``rescore_with="quantized"``, no extra memory)
        or their float vectors (``"float"``, 4 bytes per dimension on disk: memory-mapped from a temporary
        file from ``build_index`` on, and from the saved folder after ``load_index``; not held in RAM).
        :func:`simcse.search.quantization.index_memory` gives the bytes per vector.
        ``int8`` takes its per-dimension ranges from the corpus, so it needs at least 2 sentences
        with different embeddings (``binary`` and ``float32`` need no calibration).
        """
        check_precision(precision, INDEX_PRECISIONS, "index precision")
        batch_size = check_batch_size(batch_size)
        rescore_multiplier, rescore_with = check_rescore(rescore_multiplier, rescore_with)
        tdim = check_truncate_dim(self.truncate_dim if truncate_dim is None else truncate_dim, self.encoder.dim)
        dim = tdim or self.encoder.dim
        if isinstance(sentences_or_file_path, (str, os.PathLike)):
            path = Path(sentences_or_file_path)
            chunks: Any = scan_lines(path, chunk_lines=STREAM_CHUNK)  # a missing file is named here, before encoding
            identity = file_identity(path)
        else:
            path, identity = None, None
            chunks = [(check_sentences(sentences_or_file_path, "sentences"), None, None)]
        dev = pick_device(device) if device is not None else self.device
        if precision == "float32":
            index: Any = make_index(dim, use_faiss, faiss_fast, self.num_cells, self.num_cells_in_search, dev)
        else:
            if faiss_fast:
                logger.warning("faiss_fast (IVF) is not combined with precision=%r; using a flat quantised index", precision)
            index = QuantizedIndex(dim, precision, use_faiss, rescore_multiplier, rescore_with, dev)
        learns = (isinstance(index, FaissIndex) and index.kind == "ivf") or \
            (isinstance(index, QuantizedIndex) and index.precision == "int8")
        sample = sample_lines(path, STREAM_CHUNK) if path is not None and learns else None
        if sample is not None:
            vectors = self.encode(sample, device=dev, batch_size=batch_size, normalize_to_unit=True,
                                  return_numpy=True, truncate_dim=dim).reshape(-1, dim)
            _check_int8_calibration(index, vectors, "build_index")
            index.train(vectors)  # the cells / ranges of the whole file; the calls below keep them
        sentences: list[str] = []
        starts, ends, kept = [], [], []
        for chunk, chunk_starts, chunk_ends in chunks:
            vectors = self.encode(
                chunk, device=dev, batch_size=batch_size, normalize_to_unit=True, return_numpy=True,
                show_progress_bar=show_progress_bar, truncate_dim=dim,
            ).reshape(-1, dim)
            _check_int8_calibration(index, vectors, "build_index")
            if isinstance(index, FaissIndex) and index.kind == "ivf" and len(vectors):
                index.train(vectors)  # unless trained on the sample above: the first (only) chunk's vectors
            if len(vectors):
                index.add(vectors)
            if path is None:
                sentences = chunk
            else:
                starts.append(chunk_starts)
                ends.append(chunk_ends)
            if not isinstance(index, QuantizedIndex) and not index.keeps_float32:
                kept.append(vectors)
        corpus: Sequence[str] = sentences
        if path is not None:
            if file_identity(path) != identity:
                raise ValueError(f"sentence file {str(path)!r} changed while it was being indexed; index it again")
            corpus = FileLines(path, _concat(starts, np.int64), _concat(ends, np.int64), identity)
        if isinstance(index, QuantizedIndex):
            copy = index.vectors()  # float vectors only when kept for re-scoring
        else:
            copy = None if index.keeps_float32 else _concat(kept, np.float32, dim)
        self.index = SearchIndex(index, corpus, copy, dev, tdim, precision)

    def add_to_index(
        self,
        sentences_or_file_path: str | Sequence[str],
        device: str | torch.device | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        """Encode more sentences and add them to the current index (building one if none exists)."""
        batch_size = check_batch_size(batch_size)
        if self.index is None:
            self.build_index(sentences_or_file_path, device=device, batch_size=batch_size)
            return
        sentences = self._corpus(sentences_or_file_path)
        if not sentences:
            return
        dim = self.index.dim
        vectors = self.encode(
            sentences, device=device, batch_size=batch_size, return_numpy=True, truncate_dim=dim
        ).reshape(-1, dim)
        _check_int8_calibration(self.index.index, vectors, "add_to_index")
        self.index.add(vectors, sentences)

    def search(
        self,
        queries: str | Sequence[str],
        device: str | torch.device | None = None,
        threshold: float = 0.6,
        top_k: int = 5,
        return_ids: bool = False,
        rerank: int = 0,
    ) -> list[tuple] | list[list[tuple]]:
        """The ``top_k`` most similar indexed sentences with cosine >= ``threshold`` (a number in [-1, 1];
        -1 keeps every result).

        One query gives a list of (sentence, score); a list of queries gives one such list per
        query. All queries are encoded and searched in batches. ``return_ids`` gives
        (sentence, score, id) instead: the id is the sentence's position in the index, or for an
        index of ``simcse index build`` the row's id in its input (a .jsonl id, else the line
        number). ``rerank`` (indexes of ``simcse index build`` stored with float vectors) re-scores
        ``top_k * rerank`` candidates exactly.
        """
        self._check_search(top_k, threshold)
        single = isinstance(queries, str)
        q = self.encode(queries, device=device, return_numpy=True, keepdim=True, truncate_dim=self.index.dim)
        results = self.search_vectors(q, threshold=threshold, top_k=top_k, return_ids=return_ids, rerank=rerank)
        return results[0] if single else results

    def search_vectors(
        self,
        vectors: np.ndarray,
        threshold: float = 0.6,
        top_k: int = 5,
        return_ids: bool = False,
        rerank: int = 0,
    ) -> list[list[tuple]]:
        """:meth:`search` for queries already encoded: ``vectors`` [n, index dim] float32, unit length (what
        ``encode(queries, truncate_dim=index.dim)`` gives); one list of results per row."""
        threshold = self._check_search(top_k, threshold)
        q = np.ascontiguousarray(vectors, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.index.dim:
            raise ValueError(f"vectors must be [n, {self.index.dim}] (the index's dimension), got {list(q.shape)}")
        # no more than the index holds: the backends allocate top_k slots per query
        scores, positions = self.index.search(q, max(1, min(int(top_k), self.index.ntotal)), rerank=rerank)
        keep = [[(int(i), float(s)) for s, i in zip(row_s, row_i) if i >= 0 and s >= threshold]
                for row_s, row_i in zip(scores, positions)]
        flat = [i for row in keep for i, _ in row]
        texts = iter(self.index.texts(flat))
        ids = iter(self.index.ids(flat) if return_ids else flat)
        return [[(next(texts), s, next(ids)) if return_ids else (next(texts), s) for _, s in row] for row in keep]

    def _check_search(self, top_k: Any, threshold: Any) -> float:
        if self.index is None:
            raise RuntimeError("no index: call build_index(...) or load_index(...) before search(...)")
        if not isinstance(top_k, (int, np.integer)) or isinstance(top_k, bool) or top_k < 1:
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
        return check_threshold(threshold)

    # ------------------------------------------------------------------ persistence
    def _fingerprint(self) -> list[float]:
        return self.encode(_FINGERPRINT_TEXT, return_numpy=True, truncate_dim=self.encoder.dim).tolist()

    def save_index(self, path: str | os.PathLike) -> None:
        """Save the current index (sentences, vectors, FAISS cells, model identity) to a folder.

        ``path`` must be a new or empty folder, or a folder holding an index saved before (one with
        ``index_meta.json``), whose index files are then replaced: those the new index does not use
        (an IVF index's cells, int8 ranges, codes, float vectors) are removed, and any other file in the
        folder is left alone. A file, or a non-empty folder
        without ``index_meta.json``, is refused (``FileExistsError``) before anything is written,
        so no file of yours is overwritten. An index of ``simcse index build`` is copied as it is.
        The new index is written whole beside the old one and swapped in, so a crash or a full disk
        leaves the old index as it was; the manifest records each file's size and sha256.
        """
        if self.index is None:
            raise RuntimeError("no index to save: call build_index(...) first")
        check_index_folder(path)
        identity = {"model": self.model_name_or_path, "pooler": self.pooler, "fingerprint": self._fingerprint()}
        save_search_index(path, self.index, identity)

    def load_index(
        self, path: str | os.PathLike, use_faiss: bool | None = None, device: str | torch.device | None = None,
        verify: bool | None = None,
    ) -> None:
        """Load an index saved by :meth:`save_index` or built by ``simcse index build``; it must come
        from the same model. IVF indexes probe ``num_cells_in_search`` cells per query.

        The files' sizes are always checked against the manifest, their sha256 when ``verify=True``
        (or, with ``verify=None``, when the index is at most 64 MiB); a damaged folder is a
        ``ValueError`` naming the file and how to rebuild it."""
        p = Path(path)
        manifest = IndexManifest.read(p, verify)
        if manifest.kind == "factory":
            self._check_factory_model(p, manifest)
        else:
            self._check_index_model(p, manifest)
        dev = pick_device(device) if device is not None else self.device
        # the probes per query are this model's setting, not the one the index was saved with
        self.index = open_search_index(p, manifest, use_faiss, dev, self.num_cells_in_search)

    def model_fingerprint(self) -> str:
        """The content hash of this model's folder (weights and configs) that ``simcse encode --input``
        records in an embeddings folder, and ``simcse index build`` in the index made from it."""
        return folder_fingerprint(resolve_model_path(self.model_name_or_path))

    def _check_factory_model(self, p: Path, manifest: IndexManifest) -> None:
        """``ValueError`` unless this model (folder fingerprint, width, pooler) made the embeddings the
        index of ``simcse index build`` in ``p`` holds."""
        if manifest.dim != self.encoder.dim:
            raise ValueError(f"index {str(p)!r} holds {manifest.dim}-d vectors of model {manifest.model!r}; "
                             f"this model ({self.model_name_or_path!r}) gives {self.encoder.dim}-d vectors")
        mine = self.model_fingerprint()
        if manifest.model_fingerprint and mine != manifest.model_fingerprint:
            raise ValueError(
                f"index {str(p)!r} was built from embeddings of model {manifest.model!r} (fingerprint "
                f"{manifest.model_fingerprint[:16]}); this model ({self.model_name_or_path!r}, fingerprint {mine[:16]}) "
                "is another one: search it with the model it was built with, or encode and build again")
        if manifest.pooler and manifest.pooler != self.pooler:
            raise ValueError(f"index {str(p)!r} holds embeddings of pooler {manifest.pooler!r}; this model embeds "
                             f"with pooler {self.pooler!r}: give pooler={manifest.pooler!r}")
        if manifest.max_length and manifest.max_length != self.max_length:
            logger.warning("index %s was encoded with max_length=%d, queries are cut at %d tokens", p,
                           manifest.max_length, self.max_length)

    def _check_index_model(self, p: Path, manifest: IndexManifest) -> None:
        """``ValueError`` unless this model made the vectors of the saved index (width and fingerprint)."""
        tdim = manifest.truncate_dim
        if tdim is not None and not 1 <= int(tdim) <= self.encoder.dim:
            raise ValueError(
                f"index {str(p)!r} holds vectors truncated to {tdim} dimensions; this model "
                f"({self.model_name_or_path!r}) gives only {self.encoder.dim}"
            )
        if manifest.dim != (int(tdim) if tdim is not None else self.encoder.dim):
            raise ValueError(
                f"index {str(p)!r} holds {manifest.dim}-d vectors from model {manifest.model!r}; "
                f"this model ({self.model_name_or_path!r}) gives {self.encoder.dim}-d vectors"
            )
        fp = np.asarray(manifest.fingerprint or [], dtype=np.float32)
        if fp.size:
            mine = np.asarray(self._fingerprint(), dtype=np.float32)
            if mine.shape != fp.shape or float(mine @ fp) < 0.99:  # another width: a Matryoshka index of another model
                raise ValueError(
                    f"index {str(p)!r} was built with model {manifest.model!r} (pooler {manifest.pooler!r}); "
                    f"this model ({self.model_name_or_path!r}, pooler {self.pooler!r}) embeds differently. "
                    "Rebuild the index with this model."
                )

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _corpus(sentences_or_file_path: str | Sequence[str]) -> list[str]:
        if isinstance(sentences_or_file_path, (str, os.PathLike)):
            return read_sentence_file(sentences_or_file_path)
        return check_sentences(sentences_or_file_path, "sentences")

    def __repr__(self) -> str:
        return f"SimCSE({self.model_name_or_path!r}, pooler={self.pooler!r}, device={str(self.device)!r})"


def _concat(parts: list[np.ndarray], dtype: Any, width: int | None = None) -> np.ndarray:
    """The arrays one after the other (an empty array of ``dtype``, ``width`` columns, for none)."""
    if parts:
        return np.concatenate(parts, axis=0)
    return np.zeros((0,) if width is None else (0, width), dtype=dtype)
