"""Reading a corpus file shard by shard: a text file (one sentence a line) or a .jsonl file (one object a
line), cut into shards by byte ranges so that any process can read any shard without reading the others.

Shard ``k`` holds the lines that start in ``[k * shard_bytes, (k + 1) * shard_bytes)``; a line ends at
``\\n`` (a ``\\r`` before it is stripped with the other surrounding whitespace). Rows keep the 0-based
line number of their line in the file; to know the line number of a shard's first line, the bytes
before it are counted for newlines once per process (:class:`LineCounter`, a ``bytes.count`` scan,
about 1 GB/s or faster), so a process whose shards sit late in a large file pays that one read.

Error messages give 1-based line numbers ("line 12"), as editors show them; ids and rows are 0-based.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

BOM = b"\xef\xbb\xbf"
SCAN_BYTES = 1 << 24


@dataclass(frozen=True)
class CorpusFile:
    """An input file and how to read it: ``format`` is ``txt`` or ``jsonl``; ``text_field`` and
    ``id_field`` are the .jsonl keys of the text and of the user id (``id_field`` is None when the
    records carry no ids: rows are then known by line number)."""

    path: Path
    format: str
    text_field: str | None
    id_field: str | None
    size: int
    mtime_ns: int

    def identity(self) -> dict[str, Any]:
        """What the manifest records of the input (and a rerun must find unchanged)."""
        return {"path": str(self.path), "size": self.size, "mtime_ns": self.mtime_ns, "format": self.format,
                "text_field": self.text_field, "id_field": self.id_field}

    def num_shards(self, shard_bytes: int) -> int:
        """How many shards of ``shard_bytes`` the file makes (the last may be shorter)."""
        return math.ceil(self.size / shard_bytes)


def open_corpus(path: str | os.PathLike, text_field: str | None = None, id_field: str | None = None) -> CorpusFile:
    """The corpus at ``path``: ``.jsonl`` files are read as JSON lines, anything else as text.

    For .jsonl, ``text_field`` defaults to ``"text"``; ids come from ``id_field`` (every record must
    have it) or, when it is not given, from an ``"id"`` key if the first record has one. ``ValueError``
    for an input with no non-blank line, for key options given with a text file, and for a first
    record that cannot be read (file and line named)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"--input {str(p)!r} does not exist")
    if not p.is_file():
        raise IsADirectoryError(f"--input {str(p)!r} is not a file")
    p = p.resolve()
    st = p.stat()
    fmt = "jsonl" if p.suffix.lower() == ".jsonl" else "txt"
    if fmt == "txt" and (text_field is not None or id_field is not None):
        given = "--text_field" if text_field is not None else "--id_field"
        raise ValueError(f"{given} applies to .jsonl input; --input {str(p)!r} is read as text, one sentence a line")
    first = _first_nonblank(p)
    if first is None:
        raise ValueError(f"--input {str(p)!r} is empty: it has no non-blank line, so there is nothing to encode")
    corpus = CorpusFile(p, fmt, None, None, st.st_size, st.st_mtime_ns)
    if fmt == "txt":
        return corpus
    text_field = "text" if text_field is None else text_field
    line_no, raw = first
    record = _parse_record(raw, p, line_no)
    if id_field is None:
        id_field = "id" if "id" in record else None
    corpus = CorpusFile(p, fmt, text_field, id_field, st.st_size, st.st_mtime_ns)
    corpus_record(corpus, record, line_no)  # the first record's text and id are checked before any work
    return corpus


def _first_nonblank(path: Path) -> tuple[int, bytes] | None:
    """The 0-based line number and bytes of the first line that is not blank, or None."""
    with open(path, "rb") as fh:
        for i, raw in enumerate(fh):
            if i == 0:
                raw = raw.removeprefix(BOM)
            if raw.strip():
                return i, raw.rstrip(b"\r\n")
    return None


def _parse_record(raw: bytes, path: Path, line_no: int) -> dict[str, Any]:
    try:
        record = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} line {line_no + 1}: not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path} line {line_no + 1}: expected a JSON object, got {type(record).__name__}")
    return record


def corpus_record(corpus: CorpusFile, record: dict[str, Any], line_no: int) -> tuple[str, str | int | None]:
    """The text and id (None without an id field) of a .jsonl record, or ``ValueError`` naming file and line."""
    where = f"{corpus.path} line {line_no + 1}"
    if corpus.text_field not in record:
        raise ValueError(f"{where}: no {corpus.text_field!r} field (fields: {', '.join(map(repr, record)) or 'none'}); "
                         "--text_field names the field that holds the text")
    text = record[corpus.text_field]
    if not isinstance(text, str):
        raise ValueError(f"{where}: field {corpus.text_field!r} is {type(text).__name__}, not a string")
    if corpus.id_field is None:
        return text, None
    if corpus.id_field not in record:
        raise ValueError(f"{where}: no {corpus.id_field!r} field, while ids are read from {corpus.id_field!r} "
                         "(the first record has one, or --id_field asks for it): every record needs an id")
    rid = record[corpus.id_field]
    if isinstance(rid, bool) or not isinstance(rid, (str, int)):
        raise ValueError(f"{where}: id {corpus.id_field!r} is {type(rid).__name__} ({rid!r}); ids must be strings or integers")
    return text, rid


class LineCounter:
    """Line numbers at byte offsets of a file: the newlines before an offset, counted by reading forward
    from the last offset asked for (or from the start, for an earlier offset)."""

    def __init__(self, path: Path):
        self.path = path
        self.pos = 0
        self.lines = 0

    def at(self, offset: int) -> int:
        """The number of newlines in the file's bytes ``[0, offset)``."""
        if offset < self.pos:
            self.pos, self.lines = 0, 0
        with open(self.path, "rb") as fh:
            fh.seek(self.pos)
            while self.pos < offset:
                data = fh.read(min(SCAN_BYTES, offset - self.pos))
                if not data:
                    break
                self.lines += data.count(b"\n")
                self.pos += len(data)
        return self.lines

    def known(self, offset: int, lines: int) -> None:
        """Record that ``lines`` newlines precede ``offset`` (what a reader just counted)."""
        if offset > self.pos:
            self.pos, self.lines = offset, lines


@dataclass
class ShardInput:
    """The rows of one shard: texts to encode, ``rows`` int64 [n, 3] (line, byte_start, byte_end), user
    ids (or None), and the byte range ``[byte_start, byte_end)`` of the input the shard's lines start in."""

    texts: list[str]
    rows: np.ndarray
    ids: list[str | int] | None
    byte_start: int
    byte_end: int


def read_shard_input(corpus: CorpusFile, k: int, shard_bytes: int, counter: LineCounter) -> ShardInput:
    """Read shard ``k`` of ``corpus`` (see the module docstring); blank lines give no row. ``ValueError``
    naming file and line for text that is not UTF-8, a bad .jsonl record or an id twice in the shard
    (ids repeated across shards are found by :func:`duplicate_ids` once all shards are written)."""
    start, end = k * shard_bytes, min((k + 1) * shard_bytes, corpus.size)
    with open(corpus.path, "rb") as fh:
        first = start
        if start > 0:
            fh.seek(start - 1)
            if fh.read(1) != b"\n":  # the range starts inside a line, which belongs to an earlier shard
                fh.readline()
                first = fh.tell()
        data = fh.read(end - first) if first < end else b""
        if data and not data.endswith(b"\n"):
            data += fh.readline()  # the last line runs past the range
    line = counter.at(first)
    counter.known(first + len(data), line + data.count(b"\n"))
    texts: list[str] = []
    rows: list[tuple[int, int, int]] = []
    ids: list[str | int] | None = [] if corpus.id_field is not None else None
    seen: dict[str | int, int] = {}
    pos = first
    for raw in data.split(b"\n"):
        line_start = pos
        pos += len(raw) + 1
        if line_start >= first + len(data) and not raw:
            break  # the empty piece after a final newline
        if line_start == 0 and raw.startswith(BOM):
            raw, line_start = raw[len(BOM):], len(BOM)
        if raw.strip():
            if corpus.format == "txt":
                texts.append(_decode(raw, corpus.path, line).strip())
            else:
                text, rid = corpus_record(corpus, _parse_record(raw, corpus.path, line), line)
                texts.append(text)
                if ids is not None:
                    if rid in seen:
                        raise ValueError(f"{corpus.path}: id {rid!r} is on line {seen[rid] + 1} and again on line "
                                         f"{line + 1}; ids must be unique")
                    seen[rid] = line
                    ids.append(rid)
            rows.append((line, line_start, line_start + len(raw)))
        line += 1
    row_array = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
    return ShardInput(texts, row_array, ids, start, end)


def _decode(raw: bytes, path: Path, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} line {line + 1}: not UTF-8 text (byte {exc.start} of the line: {exc.reason})") from None


def duplicate_ids(shards: Callable[[], Iterable[tuple[Sequence[str | int], np.ndarray]]]) -> tuple[str | int, int, int] | None:
    """The first id (in hash order) that two rows share, with both 0-based line numbers, or None when every
    id is unique. ``shards()`` gives each shard's (ids, line numbers); it is called twice, so that memory
    holds a 16-byte hash per row and the ids of one shard at a time, not every id."""
    hashes = [np.fromiter((hash(i) for i in ids), dtype=np.int64, count=len(ids)) for ids, _ in shards()]
    flat = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.int64)
    del hashes
    flat.sort()
    repeated = set(flat[1:][flat[1:] == flat[:-1]].tolist())
    if not repeated:
        return None
    first_line: dict[str | int, int] = {}
    for ids, lines in shards():  # equal hashes: equal ids, or (rarely) a collision
        for i, line in zip(ids, lines.tolist()):
            if hash(i) in repeated:
                if i in first_line:  # "1" and 1 are different ids (bools are refused as ids)
                    return i, first_line[i], int(line)
                first_line[i] = int(line)
    return None
