"""Training data: reading files, tokenizing once (cached on disk), collating views, NLI triplets.

Formats (one example per line / row):

- ``.txt``: one sentence per line (unsupervised SimCSE: each sentence is its own positive,
  the two views differ by dropout);
- ``.csv`` / ``.tsv``: 1, 2 or 3 columns - sentence; (anchor, positive); (anchor, positive,
  hard negative) - e.g. SimCSE's ``nli_for_simcse.csv`` (``sent0,sent1,hard_neg``) as is. The
  header row is detected (all of its cells are known column names such as ``sent0``,
  ``sentence1``, ``anchor``, ``text``) unless ``header`` says otherwise; a first row of other
  identifier-like names (``premise,positive,hard_negative``) is kept as an example, with a
  logged warning, when no later row looks like that;
- ``.json`` / ``.jsonl``: JSON lines (or, in a ``.json``, one JSON array) of strings, of objects
  with 1-3 string fields (in the first record's order) or of lists of 1-3 strings; a ``.jsonl`` is
  always read a record a line, so ``["anchor", "positive"]`` there is one pair.

Columns are (anchor, positive, hard negative) in file order, except where a header or the JSON
field names give each column a role (``COLUMN_ROLES``: ``sent0/anchor/query/premise``,
``sent1/positive/pos/entailment``, ``hard_neg/negative/neg/contradiction``): then they are read
by role, so ``anchor,negative,positive`` trains the positive as the positive.

Tokenization happens once per (tokenizer, file, max length): the token ids are stored in a
``.npz`` cache under ``$SIMCSE_CACHE`` (default ``~/.cache/simcse/tokenized``) keyed by a hash of
the tokenizer's vocabulary, the file's path and content (a SHA-256 of its bytes), and the max length.

``python -m simcse.training.data nli-triplets --input DIR_OR_FILE ... --output nli.csv`` writes
``sent0,sent1,hard_neg`` triplets (premise, entailment, contradiction) from SNLI/MNLI in SentEval
format (``s1.<split>``, ``s2.<split>``, ``labels.<split>``) or the SNLI/MNLI JSON lines release
(``sentence1``, ``sentence2``, ``gold_label``).

Why one module: every training-file format ends in the same rows and the same tokenization cache,
and the readers share their error messages (file, line, column); the NLI triplet builder reads the
same SentEval files.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import logging
import os
import re
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from ..defaults import cache_root
from ..encoder import pad_batch
from ..outputs import output_problem
from ..text import split_line_ends

logger = logging.getLogger(__name__)

CACHE_VERSION = 4  # 2: a UTF-8 byte-order mark is no longer read as part of the first row; 3: keyed on content;
# 4: role-named columns without a positive (anchor,negative) are refused, no longer read by position
KNOWN_HEADERS = frozenset(
    {
        "sent0", "sent1", "sent2", "hard_neg", "sentence", "sentence1", "sentence2", "sentence3",
        "sentence_a", "sentence_b", "text", "text1", "text2", "anchor", "positive", "negative",
        "query", "pos", "neg", "premise", "hypothesis", "entailment", "contradiction",
    }
)
# Names that say a column's role. A header or JSON record that names roles out of order
# (``anchor,negative,positive``) is read by role, not by position. Numbered names (``sentence1``,
# ``text2``) and ``hypothesis`` (entailed or not) say no role and stay positional.
COLUMN_ROLES = {
    **dict.fromkeys(("sent0", "anchor", "query", "premise"), 0),
    **dict.fromkeys(("sent1", "positive", "pos", "entailment"), 1),
    **dict.fromkeys(("hard_neg", "negative", "neg", "contradiction"), 2),
}
TEXT_SUFFIXES = (".txt",)
TABLE_SUFFIXES = (".csv", ".tsv")
JSON_SUFFIXES = (".json", ".jsonl")


# ---------------------------------------------------------------------- reading
def read_training_file(path: str | os.PathLike, header: str = "auto") -> list[list[str]]:
    """Read a training file into columns (``[[sentences]]``, ``[[anchors], [positives]]`` or with hard negatives).

    Args:
        path: a ``.txt``, ``.csv``, ``.tsv``, ``.json`` or ``.jsonl`` file.
        header: ``"auto"`` (a first row whose cells are all known column names is a header),
            ``"yes"`` or ``"no"``; only used for ``.csv`` / ``.tsv``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: empty file, unknown suffix, a row with the wrong number of columns or an
            empty cell (the message names ``file:line``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training file {str(path)!r} does not exist")
    if header not in ("auto", "yes", "no"):
        raise ValueError(f"header must be 'auto', 'yes' or 'no', got {header!r}")
    suffix = path.suffix.lower()
    try:
        if suffix in TEXT_SUFFIXES:
            rows = _read_txt(path)
        elif suffix in TABLE_SUFFIXES:
            rows = _read_table(path, "\t" if suffix == ".tsv" else ",", header)
        elif suffix in JSON_SUFFIXES:
            rows = _read_json(path)
        else:
            raise ValueError(
                f"training file {str(path)!r}: unsupported suffix {suffix!r}; use .txt, .csv, .tsv, .json or .jsonl"
            )
    except UnicodeDecodeError as exc:
        raise _not_utf8(path) from exc
    if not rows:
        raise ValueError(f"training file {str(path)!r} holds no examples")
    width = len(rows[0][1])
    if width not in (1, 2, 3):
        raise ValueError(
            f"{path}:{rows[0][0]}: {width} columns; expected 1 (sentence), 2 (anchor, positive) "
            "or 3 (anchor, positive, hard negative)"
        )
    columns: list[list[str]] = [[] for _ in range(width)]
    for lineno, cells in rows:
        if len(cells) != width:
            raise ValueError(
                f"{path}:{lineno}: {len(cells)} columns, but the first example has {width}"
            )
        for k, cell in enumerate(cells):
            if not isinstance(cell, str):
                raise ValueError(f"{path}:{lineno}: column {k + 1} is {type(cell).__name__}, expected a string")
            if not cell.strip():
                raise ValueError(f"{path}:{lineno}: column {k + 1} is empty")
            columns[k].append(cell)
    return columns


def _not_utf8(path: Path) -> ValueError:
    """A ``ValueError`` naming ``file:line`` of the first byte that is not UTF-8."""
    raw = path.read_bytes()
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return ValueError(f"{path}:{line}: not UTF-8 text ({exc.reason} at byte {exc.start}); save the file as UTF-8")
    return ValueError(f"{path}: not UTF-8 text; save the file as UTF-8")


def _read_text_file(path: Path) -> str:
    """The file's text: UTF-8, a leading byte-order mark dropped; a ``ValueError`` naming file:line if not UTF-8."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _not_utf8(path) from exc


def _read_txt(path: Path) -> list[tuple[int, list[str]]]:
    rows = []
    # utf-8-sig: a byte-order mark (as Windows editors write) is not part of the first sentence.
    with open(path, encoding="utf-8-sig") as fh:
        for lineno, line in enumerate(fh, 1):
            text = line.rstrip("\r\n")
            if not text.strip():
                raise ValueError(f"{path}:{lineno}: empty line (one sentence per line is expected)")
            rows.append((lineno, [text]))
    return rows


def _read_table(path: Path, delimiter: str, header: str) -> list[tuple[int, list[str]]]:
    rows: list[tuple[int, list[str]]] = []
    # utf-8-sig: with a byte-order mark the header's first cell would read "\ufeffsent0" and the
    # header would be taken for an example.
    with open(path, encoding="utf-8-sig", newline="") as fh:
        if delimiter == "\t":
            reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        else:
            reader = csv.reader(fh)
        start = 1
        try:
            for cells in reader:
                lineno = start
                start = reader.line_num + 1
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    raise ValueError(f"{path}:{lineno}: empty line")
                rows.append((lineno, cells))
        except csv.Error as exc:
            raise ValueError(f"{path}:{reader.line_num}: malformed {path.suffix} row: {exc}") from exc
    if delimiter != "\t":
        _check_closed_quotes(path, rows)
    if rows and _is_header(rows[0][1], header):
        names = rows[0][1]
        rows = rows[1:]
        order = _role_order(path, names)
        if order is not None:
            rows = [(n, [cells[i] for i in order] if len(cells) == len(order) else cells) for n, cells in rows]
    elif header == "auto" and rows and _looks_like_header(rows[0][1]):
        if not any(_looks_like_header(cells) for _, cells in rows[1:]):
            lineno, cells = rows[0]
            logger.warning(
                "%s:%d: the first row %s looks like a header, but its names are not known column names, so it is "
                "trained on as an example; pass --train_file_header yes to skip it as a header, or "
                "--train_file_header no to keep it (and silence this warning)",
                path, lineno, ",".join(cells) if delimiter == "," else "\t".join(cells),
            )
    return rows


def _check_closed_quotes(path: Path, rows: Sequence[tuple[int, list[str]]]) -> None:
    """Refuse a quoted field that the file never closes.

    Python's csv reader then reads the rest of the file, line ends included, into that one cell:
    one "sentence" made of every later row. Only a cell holding a line end can be that, so the
    strict re-read runs only then.
    """
    if not any("\n" in c or "\r" in c for _, cells in rows for c in cells):
        return
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, strict=True)
        try:
            for _ in reader:
                pass
        except csv.Error as exc:
            if "unexpected end of data" not in str(exc):
                return  # another strictness point (a quote inside a field), read leniently as before
        else:
            return
    for lineno, cells in rows:
        if any("\n" in c or "\r" in c for c in cells):
            opened = lineno
    raise ValueError(
        f"{path}:{opened}: a quoted field opened in this row is never closed, so every later line would be "
        f"read into it; close the quote (a quote inside a quoted field is written twice: \"\")"
    )


def _role_order(path: Path, names: Sequence[str]) -> list[int] | None:
    """The column order (anchor, positive, hard negative) that ``names`` ask for, if not the given one.

    ``None`` when the names are already in role order or do not each name a different role.
    """
    roles = [COLUMN_ROLES.get(str(n).strip().lower()) for n in names]
    if None in roles or len(set(roles)) != len(roles):
        return None
    if sorted(roles) != list(range(len(roles))):
        # e.g. anchor,negative: read by position, the negative would be trained as the positive.
        missing = [("anchor", "positive")[r] for r in range(2) if r not in roles]
        raise ValueError(
            f"{path}: the columns are named {', '.join(map(str, names))}, but none holds the {' and the '.join(missing)}; "
            "expected (anchor, positive[, hard negative]), e.g. sent0, sent1, hard_neg"
        )
    if roles == sorted(roles):
        return None
    order = sorted(range(len(names)), key=roles.__getitem__)
    logger.info(
        "%s: columns named %s are read as (%s) by their names",
        path, ", ".join(map(str, names)), ", ".join(str(names[i]) for i in order),
    )
    return order


def _is_header(cells: Sequence[str], header: str) -> bool:
    if header != "auto":
        return header == "yes"
    return all(c.strip().lower() in KNOWN_HEADERS for c in cells)


_HEADER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,39}")


def _looks_like_header(cells: Sequence[str]) -> bool:
    """Every cell is a short identifier-like name (``premise``, ``hard_negative``, ``Sentence-1``): no spaces."""
    return bool(cells) and all(_HEADER_NAME.fullmatch(c.strip()) is not None for c in cells)


def _read_json(path: Path) -> list[tuple[int, list[str]]]:
    text = _read_text_file(path)
    records: list[tuple[int, Any]] = []
    # One JSON array (.json) or one record a line (.jsonl; also a .json whose lines are records, which
    # may themselves be lists such as ["anchor", "positive"]).
    whole = None
    if path.suffix.lower() != ".jsonl" and text.lstrip().startswith("["):
        try:
            whole = json.loads(text)
        except json.JSONDecodeError as exc:
            if exc.msg != "Extra data":  # "Extra data": a first line that is a whole record, then more lines
                raise ValueError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
    if whole is not None:
        # Each record is named by the line it starts on (a pretty-printed array spreads one over many lines).
        records = list(zip(_array_item_lines(text), whole)) if isinstance(whole, list) else [(1, whole)]
        where = "record"
    else:
        # Not str.splitlines: json.dumps(..., ensure_ascii=False) leaves U+2028 / U+0085 raw inside strings.
        for lineno, line in enumerate(split_line_ends(text), 1):
            if not line.strip():
                continue
            try:
                records.append((lineno, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: invalid JSON line: {exc.msg}") from exc
        where = "line"
    rows: list[tuple[int, list[str]]] = []
    keys: list[str] | None = None
    for n, rec in records:
        if isinstance(rec, str):
            cells = [rec]
        elif isinstance(rec, list):
            cells = rec
        elif isinstance(rec, dict):
            if keys is None:
                keys = list(rec)
                order = _role_order(path, keys)
                if order is not None:
                    keys = [keys[i] for i in order]
            elif set(rec) != set(keys):
                raise ValueError(f"{path}:{n}: fields {sorted(rec)} differ from the first {where}'s {sorted(keys)}")
            cells = [rec[k] for k in keys]
        else:
            raise ValueError(f"{path}:{n}: expected an object, a list or a string, got {type(rec).__name__}")
        rows.append((n, cells))
    return rows


def _array_item_lines(text: str) -> list[int]:
    """The line (1-based) on which each item of the JSON array ``text`` (already known to parse) starts."""
    decoder = json.JSONDecoder()
    ws = re.compile(r"[ \t\n\r]*")
    lines = []
    pos = ws.match(text, text.index("[") + 1).end()
    line, counted = 1, 0
    while text[pos] != "]":
        line += text.count("\n", counted, pos)  # counted incrementally: linear in the file's size
        counted = pos
        lines.append(line)
        _, pos = decoder.raw_decode(text, pos)
        pos = ws.match(text, pos).end()
        if text[pos] == ",":
            pos = ws.match(text, pos + 1).end()
    return lines


# ---------------------------------------------------------------------- tokenization + cache
def default_cache_dir() -> Path:
    """``$SIMCSE_CACHE/tokenized`` or ``~/.cache/simcse/tokenized``."""
    return cache_root() / "tokenized"


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A hash that changes when the tokenizer's vocabulary or normalisation does."""
    h = hashlib.sha256()
    h.update(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        h.update(backend.to_str().encode())
    else:
        h.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    for attr in ("padding_side", "truncation_side", "model_max_length"):
        h.update(str(getattr(tokenizer, attr, None)).encode())
    h.update(json.dumps(getattr(tokenizer, "special_tokens_map", {}), sort_keys=True, default=str).encode())
    return h.hexdigest()


def cache_key(path: Path, tokenizer_hash: str, max_length: int, extra: dict[str, Any]) -> str:
    """Hex digest naming the cache file of ``path`` tokenized with these settings."""
    content = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            content.update(block)
    payload = {
        "version": CACHE_VERSION,
        "file": str(path.resolve()),
        # The content, not size + mtime: a file rewritten in place with the same size and a restored
        # mtime (rsync -t, cp -p, an archive) must not load the old tokens. Hashing 100 MB takes 0.08 s (2-core CI machine).
        "sha256": content.hexdigest(),
        "tokenizer": tokenizer_hash,
        "max_length": max_length,
        **extra,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


class TokenizedExamples(torch.utils.data.Dataset):
    """Token ids of every column, stored flat (``ids``) with row ``offsets`` per column.

    An item is a list of ``views`` token-id arrays; a one-column (unsupervised) file yields the
    same sentence twice, the two views then differ only by dropout.
    """

    def __init__(self, columns: Sequence[tuple[np.ndarray, np.ndarray]]):
        if not columns:
            raise ValueError("no columns")
        self.columns = [(np.asarray(ids), np.asarray(off)) for ids, off in columns]
        n = {len(off) - 1 for _, off in self.columns}
        if len(n) != 1:
            raise ValueError(f"columns have different numbers of rows: {sorted(n)}")
        self._n = n.pop()

    @property
    def views(self) -> int:
        """Views per example: 2 (unsupervised or pairs) or 3 (with hard negatives)."""
        return max(2, len(self.columns))

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> list[np.ndarray]:
        out = [ids[off[i] : off[i + 1]] for ids, off in self.columns]
        if len(out) == 1:
            out = out * 2
        return out

    @classmethod
    def from_id_lists(cls, columns: Sequence[Sequence[Sequence[int]]]) -> "TokenizedExamples":
        """Build from per-column lists of token-id lists."""
        return cls([_flatten(col) for col in columns])


def _flatten(seqs: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.fromiter((t for s in seqs for t in s), dtype=np.int32, count=int(offsets[-1]))
    return ids, offsets


def tokenize_columns(
    columns: Sequence[Sequence[str]],
    tokenize: Callable[[Sequence[str]], list[list[int]]],
    chunk_size: int = 50_000,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Tokenize every column in chunks with a batched ``tokenize`` (list of sentences -> id lists)."""
    out = []
    for col in columns:
        ids: list[list[int]] = []
        for start in range(0, len(col), chunk_size):
            ids.extend(tokenize(col[start : start + chunk_size]))
        out.append(_flatten(ids))
    return out


def load_training_data(
    train_file: str | os.PathLike,
    encoder: Any,
    max_length: int,
    cache_dir: str | os.PathLike | None = None,
    overwrite_cache: bool = False,
    header: str = "auto",
) -> TokenizedExamples:
    """Read and tokenize ``train_file`` with ``encoder.tokenize_ids``, through the on-disk cache.

    ``cache_dir=""`` disables the cache. The cache is written atomically (temporary file, then
    rename), so concurrent processes never read a partial file.
    """
    path = Path(train_file)
    if not path.is_file():
        raise FileNotFoundError(f"--train_file {str(path)!r} does not exist")
    use_cache = cache_dir != ""
    cache_file: Path | None = None
    if use_cache:
        root = Path(cache_dir) if cache_dir else default_cache_dir()
        extra = {
            "prompt": encoder.config.prompt,
            "header": header,
        }
        key = cache_key(path, tokenizer_fingerprint(encoder.tokenizer), max_length, extra)
        cache_file = root / f"{path.stem[:40]}-{key}.npz"
        if cache_file.is_file() and not overwrite_cache:
            try:
                with np.load(cache_file) as npz:
                    k = int(npz["n_columns"])
                    cols = [(npz[f"ids{i}"], npz[f"offsets{i}"]) for i in range(k)]
                logger.info("loaded tokenized %s from cache %s", path, cache_file)
                return TokenizedExamples(cols)
            except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # emptied or cut short
                logger.warning("ignoring unreadable tokenization cache %s (%s)", cache_file, exc)
    columns = read_training_file(path, header=header)
    logger.info("tokenizing %d examples x %d columns of %s (max_length %d)", len(columns[0]), len(columns), path, max_length)
    cols = tokenize_columns(columns, lambda s: encoder.tokenize_ids(s, max_length))
    if cache_file is not None:
        try:
            _atomic_savez(cache_file, cols)
        except OSError as exc:
            logger.warning("could not write the tokenization cache %s (%s); continuing without it", cache_file, exc)
    return TokenizedExamples(cols)


def _atomic_savez(target: Path, cols: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {"n_columns": np.asarray(len(cols))}
    for i, (ids, off) in enumerate(cols):
        arrays[f"ids{i}"] = ids
        arrays[f"offsets{i}"] = off
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------- collation
@dataclass
class ContrastiveCollator:
    """Pad a list of examples (each a list of views' token ids) into ``[B, V, L]`` tensors.

    Pads to the longest sentence in the batch (rounded up to ``pad_to_multiple_of``), or to
    ``max_length`` with ``pad_to_max_length`` (fixed shapes, e.g. for ``torch.compile``). With
    ``mlm_probability`` it adds BERT-style masked copies (``mlm_input_ids``) and their targets
    (``mlm_targets``, -100 where not masked) for the auxiliary MLM loss.
    """

    pad_id: int
    padding_side: str = "right"
    with_token_type_ids: bool = False
    pad_to_multiple_of: int | None = None
    pad_to_max_length: bool = False
    max_length: int | None = None
    mlm_probability: float = 0.0
    mask_token_id: int | None = None
    vocab_size: int | None = None
    special_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.pad_to_max_length and not self.max_length:
            raise ValueError("pad_to_max_length needs max_length")
        if self.mlm_probability and self.mask_token_id is None:
            raise ValueError("the MLM objective needs a tokenizer with a mask token")
        if not 0.0 <= self.mlm_probability < 1.0:
            raise ValueError(f"mlm_probability must be in [0, 1), got {self.mlm_probability!r}")

    def __call__(self, examples: Sequence[Sequence[np.ndarray]]) -> dict[str, torch.Tensor]:
        b = len(examples)
        v = len(examples[0])
        for i, ex in enumerate(examples):
            if len(ex) != v:
                raise ValueError(f"example {i} of the batch has {len(ex)} views, the first has {v}")
        flat = pad_batch(
            [seq for ex in examples for seq in ex],
            pad_id=self.pad_id,
            padding_side=self.padding_side,
            with_token_type_ids=self.with_token_type_ids,
            pad_to_multiple_of=self.pad_to_multiple_of,
            pad_to=self.max_length if self.pad_to_max_length else None,
        )
        batch = {k: t.view(b, v, -1) for k, t in flat.items()}
        if self.mlm_probability:
            batch["mlm_input_ids"], batch["mlm_targets"] = self.mask_tokens(batch["input_ids"], batch["attention_mask"])
        return batch

    def mask_tokens(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """BERT masking: of the chosen tokens 80% become [MASK], 10% a random token, 10% stay."""
        targets = ids.clone()
        prob = torch.full(ids.shape, self.mlm_probability)
        special = mask == 0
        for sid in self.special_ids:
            special |= ids == sid
        prob.masked_fill_(special, 0.0)
        chosen = torch.bernoulli(prob).bool()
        targets[~chosen] = -100
        masked = ids.clone()
        to_mask = torch.bernoulli(torch.full(ids.shape, 0.8)).bool() & chosen
        masked[to_mask] = int(self.mask_token_id)  # type: ignore[arg-type]
        to_random = torch.bernoulli(torch.full(ids.shape, 0.5)).bool() & chosen & ~to_mask
        vocab = int(self.vocab_size or int(ids.max()) + 1)
        masked[to_random] = torch.randint(vocab, ids.shape, dtype=ids.dtype)[to_random]
        return masked, targets


def collator_for(
    tokenizer: Any,
    max_length: int,
    pad_to_max_length: bool = False,
    pad_to_multiple_of: int | None = None,
    mlm_probability: float = 0.0,
) -> ContrastiveCollator:
    """A :class:`ContrastiveCollator` set up from a Hugging Face tokenizer."""
    return ContrastiveCollator(
        pad_id=tokenizer.pad_token_id,
        padding_side=getattr(tokenizer, "padding_side", "right"),
        with_token_type_ids="token_type_ids" in getattr(tokenizer, "model_input_names", ()),
        pad_to_multiple_of=pad_to_multiple_of,
        pad_to_max_length=pad_to_max_length,
        max_length=max_length,
        mlm_probability=mlm_probability,
        mask_token_id=getattr(tokenizer, "mask_token_id", None),
        vocab_size=len(tokenizer),
        special_ids=tuple(sorted(set(getattr(tokenizer, "all_special_ids", ())))),
    )


# ---------------------------------------------------------------------- NLI triplets
NLI_LABELS = ("entailment", "neutral", "contradiction")


def read_nli_pairs(source: str | os.PathLike, splits: Sequence[str] = ("train",)) -> list[tuple[str, str, str]]:
    """(premise, hypothesis, label) from a SentEval NLI folder (``s1.<split>``, ``s2.<split>``,
    ``labels.<split>`` for each split) or a SNLI/MNLI ``.jsonl`` file (``sentence1``,
    ``sentence2``, ``gold_label``; pairs without a gold label, ``-``, are skipped)."""
    src = Path(source)
    pairs: list[tuple[str, str, str]] = []
    if src.is_dir():
        for split in splits:
            files = [src / f"{p}.{split}" for p in ("s1", "s2", "labels")]
            missing = [str(f) for f in files if not f.is_file()]
            if missing:
                raise FileNotFoundError(f"NLI folder {str(src)!r} lacks {', '.join(missing)} (SentEval format)")
            cols = [split_line_ends(_read_text_file(f)) for f in files]
            if len({len(c) for c in cols}) != 1:
                raise ValueError(
                    f"{src}: s1.{split}, s2.{split}, labels.{split} have different line counts "
                    f"({', '.join(str(len(c)) for c in cols)})"
                )
            for lineno, (p, h, lab) in enumerate(zip(*cols), 1):
                lab = lab.strip()
                if lab not in NLI_LABELS:
                    raise ValueError(f"{files[2]}:{lineno}: unknown label {lab!r}; expected one of {NLI_LABELS}")
                pairs.append((p.strip(), h.strip(), lab))
    elif src.is_file():
        try:
            with open(src, encoding="utf-8-sig") as fh:
                for lineno, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"{src}:{lineno}: invalid JSON line: {exc.msg}") from exc
                    try:
                        p, h, lab = rec["sentence1"], rec["sentence2"], rec["gold_label"]
                    except (KeyError, TypeError):
                        raise ValueError(f"{src}:{lineno}: expected fields sentence1, sentence2, gold_label") from None
                    if lab == "-":
                        continue
                    if lab not in NLI_LABELS:
                        raise ValueError(f"{src}:{lineno}: unknown gold_label {lab!r}")
                    if not isinstance(p, str) or not isinstance(h, str):
                        raise ValueError(f"{src}:{lineno}: sentence1 and sentence2 must be strings, got "
                                         f"{type(p).__name__} and {type(h).__name__}")
                    pairs.append((p.strip(), h.strip(), lab))
        except UnicodeDecodeError as exc:
            raise _not_utf8(src) from exc
    else:
        raise FileNotFoundError(f"NLI source {str(src)!r} does not exist")
    return pairs


def nli_triplets(pairs: Iterable[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """(premise, entailment, contradiction) for every premise that has both, in first-seen order.

    Like SimCSE's ``nli_for_simcse.csv``: one triplet per premise, taking its first entailed and
    first contradicting hypothesis; premises are matched by exact text within ``pairs``.
    """
    ent: dict[str, str] = {}
    con: dict[str, str] = {}
    order: dict[str, None] = {}
    for p, h, lab in pairs:
        if not p or not h:
            continue
        order.setdefault(p, None)
        if lab == "entailment":
            ent.setdefault(p, h)
        elif lab == "contradiction":
            con.setdefault(p, h)
    return [(p, ent[p], con[p]) for p in order if p in ent and p in con]


def write_triplets_csv(triplets: Sequence[tuple[str, str, str]], output: str | os.PathLike) -> None:
    """Write ``sent0,sent1,hard_neg`` rows (with that header), atomically."""
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["sent0", "sent1", "hard_neg"])
    w.writerows(triplets)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_triplets_output(
    inputs: Sequence[str | os.PathLike], output: str | os.PathLike, splits: Sequence[str], overwrite: bool = False
) -> None:
    """Refuse an ``output`` that is a folder, one of the files read, or (unless ``overwrite``) any existing file."""
    read: list[Path] = []
    for src in map(Path, inputs):
        read += [src / f"{c}.{split}" for c in ("s1", "s2", "labels") for split in splits] if src.is_dir() else [src]
    problem = output_problem(output, overwrite, read, example="nli.csv")
    if problem:
        raise ValueError(problem)


def build_nli_triplets(
    inputs: Sequence[str | os.PathLike], output: str | os.PathLike, splits: Sequence[str] = ("train",),
    overwrite: bool = False,
) -> int:
    """Read NLI pairs from ``inputs`` (SentEval folders or JSON lines files), write the triplet
    CSV to ``output`` and return the number of triplets. An existing ``output`` is replaced only
    with ``overwrite`` (and never when it is one of the inputs)."""
    check_triplets_output(inputs, output, splits, overwrite)
    triplets: list[tuple[str, str, str]] = []
    for src in inputs:
        for split in splits if Path(src).is_dir() else splits[:1]:
            # Premises are matched within one split of one source (SNLI dev + test: 2,943 + 2,921
            # = 5,864 triplets; one premise occurs in both splits, so matching across them gives 5,863).
            triplets.extend(nli_triplets(read_nli_pairs(src, [split])))
    if not triplets:
        raise ValueError(f"no premise in {', '.join(map(str, inputs))} has both an entailment and a contradiction")
    write_triplets_csv(triplets, output)
    return len(triplets)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m simcse.training.data nli-triplets --input ... --output ...``."""
    parser = argparse.ArgumentParser(prog="python -m simcse.training.data", description="training data helpers")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("nli-triplets", help="write sent0,sent1,hard_neg triplets from SNLI/MNLI")
    p.add_argument("--input", nargs="+", required=True,
                   help="SentEval NLI folders (s1.*, s2.*, labels.*) and/or SNLI/MNLI .jsonl files")
    p.add_argument("--splits", nargs="+", default=["train"], help="splits to read from SentEval folders (default: train)")
    p.add_argument("--output", required=True, help="CSV file to write")
    p.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    args = parser.parse_args(argv)
    try:
        n = build_nli_triplets(args.input, args.output, args.splits, overwrite=args.overwrite)
    except (OSError, ValueError) as exc:
        print(f"simcse.training.data nli-triplets: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {n} triplets to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
