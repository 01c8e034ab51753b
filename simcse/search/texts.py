"""The sentences of an index, kept on disk instead of in a Python list.

* :class:`TextStore`: a texts file (UTF-8 strings back to back) and an int64 offset table
  (``np.memmap``), read by position at query time; written by :class:`TextStoreWriter`.
* :class:`FileLines`: the non-blank lines of a text file, read back from the file by byte range
  (what ``build_index(path)`` keeps instead of the sentences); the file is checked to be unchanged.
* :func:`scan_lines`: stream a text file's non-blank lines in chunks, with their byte ranges.
* :class:`ConcatSequence`: sequences one after the other (an on-disk corpus plus sentences added later).

All are read-only :class:`collections.abc.Sequence` of str and compare equal (``==``) to any sequence
holding the same strings in the same order, as the list they replace did.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


class _SequenceBase(Sequence):
    """Slicing, ``take`` and list-like equality for the read-only sequences of this module."""

    def _get(self, i: int) -> str:
        raise NotImplementedError

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, slice):
            return [self._get(i) for i in range(*item.indices(len(self)))]
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)):
            raise TypeError(f"{type(self).__name__} indices must be integers or slices, not {type(item).__name__}")
        n = len(self)
        i = int(item) + n if item < 0 else int(item)
        if not 0 <= i < n:
            raise IndexError(f"{type(self).__name__} index {int(item)} out of range (it holds {n})")
        return self._get(i)

    def take(self, positions: Iterable[int]) -> list[str]:
        """The strings at ``positions``, in that order."""
        return [self[int(i)] for i in positions]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        if len(other) != len(self):
            return False
        return all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]  # equality follows the content, which a list's does not hash

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {len(self)} strings>"


class TextStore(_SequenceBase):
    """Strings stored as ``NAME.bin`` (UTF-8, back to back) and ``NAME.offsets.npy`` (int64 [n + 1]);
    both are memory-mapped, so opening reads nothing but the headers."""

    def __init__(self, folder: str | os.PathLike, name: str = "texts"):
        folder = Path(folder)
        self.data_path, self.offsets_path = store_paths(folder, name)
        for p in (self.data_path, self.offsets_path):
            if not p.is_file():
                raise FileNotFoundError(f"text store {str(folder)!r} is incomplete: {p.name} is missing")
        offsets = np.load(self.offsets_path, mmap_mode="r")
        if offsets.dtype != np.int64 or offsets.ndim != 1 or offsets.shape[0] < 1:
            raise ValueError(f"{str(self.offsets_path)!r} must be a 1-d int64 offset table, "
                             f"got {offsets.dtype} {offsets.shape}")
        size = self.data_path.stat().st_size
        if int(offsets[-1]) != size:
            raise ValueError(f"{str(self.data_path)!r} has {size} bytes but {self.offsets_path.name} "
                             f"ends at {int(offsets[-1])}: the text store is cut short or was replaced")
        self.offsets = offsets
        self._data = np.memmap(self.data_path, dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)

    def __len__(self) -> int:
        return int(self.offsets.shape[0]) - 1

    def _get(self, i: int) -> str:
        start, end = int(self.offsets[i]), int(self.offsets[i + 1])
        return bytes(self._data[start:end]).decode("utf-8")

    def take(self, positions: Iterable[int]) -> list[str]:
        pos = np.asarray(list(positions), dtype=np.int64)
        if pos.size and (pos.min() < 0 or pos.max() >= len(self)):
            raise IndexError(f"text store positions must be in [0, {len(self)}), got {pos.min()}..{pos.max()}")
        return [self._get(int(i)) for i in pos]


def store_paths(folder: Path, name: str) -> tuple[Path, Path]:
    """The data file and offset table of the text store ``name`` in ``folder``."""
    return folder / f"{name}.bin", folder / f"{name}.offsets.npy"


class TextStoreWriter:
    """Writes a :class:`TextStore` of exactly ``count`` strings, appended in order."""

    def __init__(self, folder: str | os.PathLike, name: str, count: int):
        self.data_path, self.offsets_path = store_paths(Path(folder), name)
        self.count = int(count)
        self._offsets = np.lib.format.open_memmap(self.offsets_path, mode="w+", dtype=np.int64,
                                                  shape=(self.count + 1,))
        self._offsets[0] = 0
        self._data = open(self.data_path, "wb")
        self._n = 0
        self._pos = 0

    def append(self, items: Iterable[bytes]) -> None:
        """Append UTF-8 encoded strings."""
        for b in items:
            if self._n >= self.count:
                raise ValueError(f"text store {self.data_path.name}: more than the {self.count} strings announced")
            self._data.write(b)
            self._pos += len(b)
            self._n += 1
            self._offsets[self._n] = self._pos

    def close(self) -> None:
        """Flush both files; ``ValueError`` when fewer strings than announced were appended."""
        self._data.close()
        self._offsets.flush()
        del self._offsets
        if self._n != self.count:
            raise ValueError(f"text store {self.data_path.name}: {self._n} strings written, {self.count} announced")


# ---------------------------------------------------------------------- text files
def file_identity(path: Path) -> tuple[int, int]:
    """(size, mtime_ns) of ``path``: what says a file is still the one that was read."""
    st = path.stat()
    return int(st.st_size), int(st.st_mtime_ns)


def _decode_line(raw: bytes, path: Path, offset: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"sentence file {str(path)!r} is not UTF-8 text (byte {offset + exc.start}: "
                         f"{exc.reason})") from None


def scan_lines(path: str | os.PathLike, chunk_lines: int = 16384,
               read_bytes: int = 1 << 22) -> Iterator[tuple[list[str], np.ndarray, np.ndarray]]:
    """The non-blank lines of a UTF-8 text file, stripped, in chunks of up to ``chunk_lines``:
    ``(sentences, starts, ends)`` with each line's byte range in the file (line end excluded).

    Lines end at ``\\n``, ``\\r\\n`` or ``\\r`` and a leading byte-order mark is skipped, as
    :func:`simcse.tool.read_sentence_file` reads them; at most ``read_bytes`` plus one chunk of lines
    is held at a time."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"sentence file {str(p)!r} does not exist")
    if not p.is_file():
        raise IsADirectoryError(f"sentence file {str(p)!r} is not a file")
    return _scan(p, chunk_lines, read_bytes)


def _scan(p: Path, chunk_lines: int, read_bytes: int) -> Iterator[tuple[list[str], np.ndarray, np.ndarray]]:
    sentences: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    with open(p, "rb") as f:
        buf = f.read(read_bytes)
        base = 0
        if buf.startswith(_BOM):
            buf, base = buf[3:], 3
        while True:
            more = f.read(read_bytes)
            pos = 0
            for m in _LINE_END.finditer(buf):
                if m.end() == len(buf) and buf.endswith(b"\r") and more:
                    break  # a "\r" at the end of the buffer may be the first half of "\r\n"
                line = buf[pos : m.start()]
                text = _decode_line(line, p, base + pos).strip()
                if text:
                    sentences.append(text)
                    starts.append(base + pos)
                    ends.append(base + m.start())
                pos = m.end()
                if len(sentences) >= chunk_lines:
                    yield sentences, np.asarray(starts, np.int64), np.asarray(ends, np.int64)
                    sentences, starts, ends = [], [], []
            buf, base = buf[pos:] + more, base + pos
            if not more:
                break
        if buf:  # the last line, without a line end
            text = _decode_line(buf, p, base).strip()
            if text:
                sentences.append(text)
                starts.append(base)
                ends.append(base + len(buf))
    if sentences:
        yield sentences, np.asarray(starts, np.int64), np.asarray(ends, np.int64)


def sample_lines(path: str | os.PathLike, k: int, seed: int = 0) -> list[str] | None:
    """``k`` of the file's non-blank lines (stripped, as :func:`scan_lines` gives them) drawn at random
    across the whole file (``seed``), in file order; ``None`` when the file has at most ``k`` such lines
    (its first chunk of ``k`` lines is then all of it). One pass over the file holds 16 bytes per line."""
    starts, ends = [], []
    for _, chunk_starts, chunk_ends in scan_lines(path, chunk_lines=max(k, 1)):
        starts.append(chunk_starts)
        ends.append(chunk_ends)
    n = sum(len(x) for x in starts)
    if n <= k:
        return None
    all_starts, all_ends = np.concatenate(starts), np.concatenate(ends)
    picks = np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))
    with open(path, "rb") as f:
        out = []
        for i in picks.tolist():
            f.seek(int(all_starts[i]))
            out.append(f.read(int(all_ends[i] - all_starts[i])).decode("utf-8").strip())
    return out


class FileLines(_SequenceBase):
    """Lines of a text file read back by byte range (stripped), from the file as it was indexed:
    a file whose size or modification time changed is refused, naming it."""

    def __init__(self, path: str | os.PathLike, starts: np.ndarray, ends: np.ndarray, identity: tuple[int, int]):
        self.path = Path(path).resolve()
        self.starts = np.asarray(starts, np.int64)
        self.ends = np.asarray(ends, np.int64)
        self.identity = identity

    def __len__(self) -> int:
        return int(self.starts.shape[0])

    def check(self) -> None:
        """``ValueError`` naming the file when it is gone or changed since it was indexed."""
        try:
            now = file_identity(self.path)
        except FileNotFoundError:
            raise ValueError(f"sentence file {str(self.path)!r}, whose lines the index holds, is gone; "
                             "build the index again") from None
        if now != self.identity:
            raise ValueError(f"sentence file {str(self.path)!r} changed since it was indexed (size or modification "
                             "time differ): its lines no longer match the vectors; build the index again")

    def take(self, positions: Iterable[int]) -> list[str]:
        pos = [int(i) for i in positions]
        self.check()
        with open(self.path, "rb") as f:
            out = []
            for i in pos:
                start = int(self.starts[i])
                f.seek(start)
                out.append(f.read(int(self.ends[i]) - start).decode("utf-8").strip())
            return out

    def _get(self, i: int) -> str:
        return self.take([i])[0]

    def __iter__(self) -> Iterator[str]:
        step = 4096
        for lo in range(0, len(self), step):
            yield from self.take(range(lo, min(len(self), lo + step)))


class ConcatSequence(_SequenceBase):
    """Sequences of str one after the other, without copying them."""

    def __init__(self, parts: Sequence[Sequence[str]]):
        self.parts: list[Sequence[str]] = []
        for part in parts:  # flatten, so that adding again and again does not nest
            self.parts.extend(part.parts if isinstance(part, ConcatSequence) else [part])
        self._ends = np.cumsum([len(p) for p in self.parts], dtype=np.int64)

    def __len__(self) -> int:
        return int(self._ends[-1]) if len(self._ends) else 0

    def _get(self, i: int) -> str:
        k = int(np.searchsorted(self._ends, i, side="right"))
        start = int(self._ends[k - 1]) if k else 0
        return self.parts[k][i - start]

    def __iter__(self) -> Iterator[str]:
        for part in self.parts:
            yield from part


def take_texts(sentences: Sequence[str], positions: Iterable[int]) -> list[str]:
    """``sentences[i]`` for each position, read in one pass where the sequence is on disk."""
    if isinstance(sentences, _SequenceBase):
        return sentences.take(positions)
    return [sentences[int(i)] for i in positions]


def extend_texts(sentences: Sequence[str], more: list[str]) -> Sequence[str]:
    """``sentences`` followed by ``more``: a new list for a list, else a :class:`ConcatSequence`."""
    if isinstance(sentences, list):
        return sentences + more
    return ConcatSequence([sentences, more])
