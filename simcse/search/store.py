"""A saved index folder, written and read here only: :class:`IndexManifest` (``index_meta.json``)
and :class:`SearchIndex`, the index in memory that ``SimCSE.index`` holds.

Files of a folder (each kind of index writes some of them, :data:`INDEX_FILES`):

* ``index_meta.json``: the manifest, written last.
* indexes of ``SimCSE.build_index`` (kinds ``flat``, ``ivf``, ``int8``, ``binary``):
  ``sentences.jsonl`` (one JSON string a line), ``embeddings.npy`` (float32 vectors; for quantised
  indexes only when kept for re-scoring), ``faiss.index`` (IVF cells), ``codes.npy`` and
  ``ranges.npy`` (quantised codes and int8 ranges).
* indexes of ``simcse index build`` (kind ``factory``, see :mod:`simcse.search.build`):
  ``faiss.index`` (any FAISS factory string), ``texts.bin`` + ``texts.offsets.npy`` (the texts,
  read by position), ``rows.npy`` (int64 line number of each row in the input), ``ids.bin`` +
  ``ids.offsets.npy`` (JSON of the user's ids, for .jsonl input with ids) and optionally
  ``vectors_f16.npy`` (float16 vectors for exact re-scoring).

A folder is written whole beside the old one and swapped in (:mod:`simcse.atomic`); the manifest
records each file's size and sha256, checked on load (:meth:`IndexManifest.read`).

Why one module: the folder's format (its files, the manifest's keys, their checksums) is written
and read here only, so the writer, the reader and their checks cannot drift apart.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from ..atomic import remove_dead_siblings, replace_folder, sha256_file, temp_sibling
from .factory import FactoryIndex
from .index import FaissIndex, TorchIndex, faiss_available, faiss_gpus, faiss_wanted, make_index
from .quantization import INDEX_PRECISIONS, QuantizedIndex, check_precision
from .texts import TextStore, extend_texts, take_texts

INDEX_META = "index_meta.json"
LEGACY_FILES = ("sentences.jsonl", "embeddings.npy", "faiss.index", "codes.npy", "ranges.npy")
FACTORY_FILES = ("faiss.index", "texts.bin", "texts.offsets.npy", "rows.npy", "ids.bin", "ids.offsets.npy",
                 "vectors_f16.npy")
INDEX_FILES = tuple(dict.fromkeys(LEGACY_FILES + FACTORY_FILES))
"""The files an index folder holds besides its manifest (each kind of index writes some of them)."""
INDEX_VERSION = 1
KINDS = ("flat", "ivf", "int8", "binary", "factory")
VERIFY_BYTES = 64 << 20
"""A saved index of at most this many bytes has its files' sha256 checked on every load (larger ones
only with ``verify=True``; their sizes always)."""


def guess_kind(folder: Path) -> str:
    """The kind of index in ``folder`` as far as its files tell, for a folder whose manifest cannot be read."""
    return "factory" if (folder / "texts.bin").is_file() else "flat"


def rebuild_hint(folder: Path, kind: str) -> str:
    """What to run to make the index in ``folder`` again."""
    if kind == "factory":
        return (f"rebuild it with `simcse index build --embeddings EMB_DIR --output {folder}` (remove the folder "
                "first), from the embeddings folder it was built from")
    return (f"rebuild it: remove the folder and run `simcse search --corpus CORPUS --index {folder}` "
            "(or SimCSE.build_index(...) then save_index(...))")


class NeedsFaiss(ValueError):
    """A saved index that only FAISS can search, opened without it (not a damaged index)."""


# ---------------------------------------------------------------------- the manifest
@dataclass
class IndexManifest:
    """What ``index_meta.json`` says: the model the vectors come from, the kind of index and its settings."""

    dim: int
    ntotal: int
    kind: str
    backend: str
    model: str | None = None
    pooler: str | None = None
    fingerprint: list[float] | None = None
    """``SimCSE`` indexes: a fixed sentence's embedding by the model (compared at load time)."""
    truncate_dim: int | None = None
    precision: str = "float32"
    num_cells: int | None = None
    num_cells_in_search: int | None = None
    version: int = INDEX_VERSION
    # quantised indexes (simcse.search.quantization)
    rescore_multiplier: int | None = None
    rescore_with: str | None = None
    code_backend: str | None = None
    # indexes of `simcse index build` (kind "factory")
    factory: str | None = None
    metric: str | None = None
    binary: bool | None = None
    normalized: bool | None = None
    max_length: int | None = None
    model_fingerprint: str | None = None
    """Factory indexes: the embeddings folder's model fingerprint (:mod:`simcse.search.shards`)."""
    embeddings: dict[str, Any] | None = None
    input: dict[str, Any] | None = None
    rerank_file: str | None = None
    user_ids: bool | None = None
    files: dict[str, int] | None = None
    """Size in bytes of each file, checked when the index is opened."""
    sha256: dict[str, str] | None = None
    """The sha256 of each file, checked on load when the index is small (:data:`VERIFY_BYTES`) or when asked."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Keys this version does not know, kept as they were."""

    _ALWAYS = ("model", "pooler", "fingerprint", "truncate_dim", "precision", "version", "backend", "kind", "dim",
               "ntotal", "num_cells", "num_cells_in_search")

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: the keys every index has, then those of its kind that are set."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if f.name in self._ALWAYS or value is not None:
                out[f.name] = value
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str) -> "IndexManifest":
        """Read a manifest object; ``ValueError`` naming ``where`` and the key that is missing or wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        for key in ("dim",):
            if key not in data:
                raise ValueError(f"{where}: key {key!r} is missing")
        kw = {k: v for k, v in data.items() if k in names}
        kw.setdefault("kind", "flat")
        kw.setdefault("backend", "torch")
        kw.setdefault("ntotal", 0)
        for key in ("dim", "ntotal"):
            if isinstance(kw[key], bool) or not isinstance(kw[key], int) or kw[key] < 0:
                raise ValueError(f"{where}: {key} must be a non-negative integer, got {kw[key]!r}")
        if kw["kind"] not in KINDS:
            raise ValueError(f"{where}: unknown index kind {kw['kind']!r}; this version reads {', '.join(KINDS)}")
        kw["precision"] = check_precision(kw.get("precision", "float32"), INDEX_PRECISIONS, f"precision in {where}:")
        return cls(**kw, extra={k: v for k, v in data.items() if k not in names})

    @classmethod
    def read(cls, folder: str | os.PathLike, verify: bool | None = None) -> "IndexManifest":
        """The manifest of a saved index folder, after checking that the files its kind needs are there
        and have the sizes it records; their sha256 too with ``verify=True``, or with ``verify=None``
        when they add up to at most :data:`VERIFY_BYTES`. ``ValueError`` names a damaged file."""
        folder = Path(folder)
        meta_file = folder / INDEX_META
        if not meta_file.is_file():
            raise FileNotFoundError(f"{folder} is not a saved index: {INDEX_META} is missing")
        try:
            data = json.loads(meta_file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"saved index {folder} is damaged: {str(meta_file)!r} is not valid JSON ({exc}); "
                             f"{rebuild_hint(folder, guess_kind(folder))}") from None
        try:
            manifest = cls.from_dict(data, repr(str(meta_file)))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"saved index {folder} is damaged: {exc}; {rebuild_hint(folder, guess_kind(folder))}") from None
        for name in manifest.needed_files():
            if not (folder / name).is_file():
                raise FileNotFoundError(f"saved index {folder} is incomplete: {name} is missing; "
                                        f"{rebuild_hint(folder, manifest.kind)}")
        manifest.check_files(folder, verify)
        return manifest

    def check_files(self, folder: Path, verify: bool | None = None) -> None:
        """``ValueError`` naming the first file whose size (always) or sha256 (see :meth:`read`) is not
        the recorded one."""
        sizes = self.files or {}
        for name, size in sizes.items():
            path = folder / name
            if not path.is_file():
                raise FileNotFoundError(f"saved index {folder} is incomplete: {name} is missing; "
                                        f"{rebuild_hint(folder, self.kind)}")
            if path.stat().st_size != size:
                raise ValueError(f"saved index {folder}: {name} is damaged: it has {path.stat().st_size} bytes, "
                                 f"{INDEX_META} says {size}; {rebuild_hint(folder, self.kind)}")
        if not self.sha256 or verify is False:
            return
        if verify is None and sum(sizes.values()) > VERIFY_BYTES:
            return
        for name, digest in self.sha256.items():
            if sha256_file(folder / name) != digest:
                raise ValueError(f"saved index {folder}: {name} is damaged: its sha256 is not the one {INDEX_META} "
                                 f"records (the file changed after the index was saved); {rebuild_hint(folder, self.kind)}")

    def record_files(self, folder: Path, names: Iterable[str]) -> None:
        """Record the size and sha256 of the files ``names`` in ``folder``."""
        names = sorted(names)
        self.files = {name: (folder / name).stat().st_size for name in names}
        self.sha256 = {name: sha256_file(folder / name) for name in names}

    def needed_files(self) -> tuple[str, ...]:
        """The files an index of this kind cannot be opened without (quantised indexes check theirs on load)."""
        if self.kind == "factory":
            return ("faiss.index", "texts.bin", "texts.offsets.npy", "rows.npy") + \
                (("ids.bin", "ids.offsets.npy") if self.user_ids else ()) + \
                ((self.rerank_file,) if self.rerank_file else ())
        if self.precision == "float32":
            return ("sentences.jsonl", "embeddings.npy")
        return ("sentences.jsonl",)

    def write(self, folder: Path) -> None:
        """Write ``index_meta.json`` atomically (temporary file, then rename)."""
        tmp = folder / f".{INDEX_META}.tmp"
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, folder / INDEX_META)


# ---------------------------------------------------------------------- ids of rows
class RowIds:
    """The user's id of each row of a factory index: the JSON ids of a .jsonl input (``ids`` text
    store) or else the row's line number in the input (``rows.npy``)."""

    def __init__(self, folder: Path, user_ids: bool):
        self.lines = np.load(folder / "rows.npy", mmap_mode="r")
        self.user = TextStore(folder, "ids") if user_ids else None

    def __len__(self) -> int:
        return int(self.lines.shape[0])

    def take(self, positions: Iterable[int]) -> list[Any]:
        pos = [int(i) for i in positions]
        if self.user is not None:
            return [json.loads(s) for s in self.user.take(pos)]
        return [int(self.lines[i]) for i in pos]


# ---------------------------------------------------------------------- the index in memory
LEGACY_KEYS = ("index", "sentences", "vectors", "device", "truncate_dim", "precision")


@dataclass(eq=False)
class SearchIndex:
    """An index with its sentences: what ``SimCSE.index`` holds.

    ``model.index["index"]`` and ``model.index["sentences"]`` (and the other :data:`LEGACY_KEYS`)
    still read the attributes, as the original package's dict did.
    """

    index: Any
    """The backend: :class:`TorchIndex`, :class:`FaissIndex`, :class:`QuantizedIndex` or :class:`FactoryIndex`."""
    sentences: Sequence[str]
    """The indexed texts by position: a list, or a lazy sequence read from disk."""
    vectors: np.ndarray | None = None
    """float32 corpus vectors kept where the backend cannot give them back exactly (IVF, fp16 on GPU)."""
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    truncate_dim: int | None = None
    precision: str = "float32"
    row_ids: RowIds | None = None
    """Factory indexes: the user's ids of the rows (else ids are positions)."""
    manifest: IndexManifest | None = None
    """The manifest it was loaded with (None for an index built in memory)."""
    path: Path | None = None
    """The folder it was loaded from."""

    def __getitem__(self, key: str) -> Any:
        if key not in LEGACY_KEYS:
            raise KeyError(f"{key!r}: SimCSE.index has the keys {', '.join(LEGACY_KEYS)} (read-only)")
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in LEGACY_KEYS else default

    def keys(self) -> tuple[str, ...]:
        return LEGACY_KEYS

    def __contains__(self, key: object) -> bool:
        return key in LEGACY_KEYS

    def __bool__(self) -> bool:  # an index, even an empty one, is truthy, as the original package's dict was
        return True

    @property
    def kind(self) -> str:
        return self.index.kind

    @property
    def dim(self) -> int:
        return int(self.index.dim)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def __len__(self) -> int:
        return len(self.sentences)

    def add(self, vectors: np.ndarray, sentences: list[str]) -> None:
        """Add vectors and their sentences (the float copy, where one is kept, grows with them)."""
        self.index.add(vectors)
        self.sentences = extend_texts(self.sentences, sentences)
        if isinstance(self.index, QuantizedIndex):
            self.vectors = self.index.vectors()
        elif self.vectors is not None:
            self.vectors = np.concatenate([self.vectors, vectors], axis=0)

    def search(self, queries: np.ndarray, k: int, rerank: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (scores, positions) per query; ``rerank`` (factory indexes) re-scores
        ``k * rerank`` candidates with the stored float vectors."""
        if isinstance(self.index, FactoryIndex):
            return self.index.search(queries, k, rerank=rerank)
        if rerank:
            raise ValueError(f"rerank={rerank!r} applies to indexes built by `simcse index build`; a "
                             f"{self.kind} index re-scores with build_index(precision=..., rescore_multiplier=...)")
        return self.index.search(queries, k)

    def set_search_params(self, nprobe: int | None = None, ef_search: int | None = None) -> None:
        """IVF cells probed per query and/or HNSW ``efSearch`` (factory indexes; ``nprobe`` also for
        ``faiss_fast`` IVF indexes)."""
        if isinstance(self.index, FactoryIndex):
            self.index.set_search_params(nprobe=nprobe, ef_search=ef_search)
        elif ef_search is not None:
            raise ValueError(f"ef_search applies to HNSW indexes built by `simcse index build`; this index is {self.kind}")
        elif nprobe is not None:
            if not (isinstance(self.index, FaissIndex) and self.index.kind == "ivf"):
                raise ValueError(f"nprobe applies to IVF indexes; this index is {self.kind}")
            self.index.set_num_cells_in_search(nprobe)

    def texts(self, positions: Iterable[int]) -> list[str]:
        """The sentences at ``positions``."""
        return take_texts(self.sentences, positions)

    def ids(self, positions: Iterable[int]) -> list[Any]:
        """The ids of the rows at ``positions``: the user's ids (factory indexes), else the positions."""
        if self.row_ids is not None:
            return self.row_ids.take(positions)
        return [int(i) for i in positions]


# ---------------------------------------------------------------------- the folder
def check_index_folder(path: str | os.PathLike, what: str = "index folder") -> None:
    """Refuse to write an index into ``path`` when that could replace files that are not an
    index's: ``path`` must not exist, be an empty folder, or hold a saved index (``index_meta.json``)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{what} {str(path)!r} is a file, not a folder: cannot save an index there")
    if path.is_dir() and not (path / INDEX_META).is_file() and any(path.iterdir()):
        raise FileExistsError(
            f"{what} {str(path)!r} is not empty and holds no saved index ({INDEX_META} is missing): "
            "refusing to write an index into it, which could replace files of yours; give a new or empty folder"
        )


def save_search_index(path: str | os.PathLike, index: SearchIndex, identity: dict[str, Any]) -> None:
    """Write ``index`` to the folder ``path`` with the model ``identity`` (model, pooler, fingerprint).

    ``path`` must pass :func:`check_index_folder`. The index is written whole into a temporary
    sibling folder and swapped in (:func:`install_index_folder`): at every instant ``path`` holds the
    old or the new complete index. A factory index is copied file by file from the folder it was
    opened from (nothing is written when that is ``path`` itself)."""
    path = Path(path)
    check_index_folder(path)
    if isinstance(index.index, FactoryIndex):
        assert index.path is not None  # a FactoryIndex is only ever opened from a folder
        if path.exists() and path.resolve() == index.path.resolve():
            return
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_siblings(path)  # what a killed save left
    tmp = temp_sibling(path)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        if isinstance(index.index, FactoryIndex):
            manifest = _copy_factory_files(index, tmp)
        else:
            manifest = _write_index_files(index, identity, tmp)
        install_index_folder(tmp, path, manifest)
    except OSError as exc:  # a full disk, say: what was at path is as it was
        raise OSError(exc.errno, f"cannot save the index to {str(path)!r}: {exc.strerror or exc}; "
                                 "what the folder held before is unchanged") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def install_index_folder(tmp: Path, out: Path, manifest: IndexManifest) -> None:
    """Record the size and sha256 of the index files written in ``tmp`` in ``manifest``, write it
    there, and swap ``tmp`` in as ``out`` (:func:`simcse.atomic.replace_folder`); files in ``out``
    that are not index files (the user's) are kept."""
    manifest.record_files(tmp, [e.name for e in tmp.iterdir() if e.name != INDEX_META])
    manifest.write(tmp)
    keep = [e.name for e in out.iterdir() if e.name != INDEX_META and e.name not in INDEX_FILES] if out.is_dir() else []
    replace_folder(tmp, out, keep)


def _write_index_files(index: SearchIndex, identity: dict[str, Any], path: Path) -> IndexManifest:
    backend = index.index
    with open(path / "sentences.jsonl", "w", encoding="utf-8") as f:
        for s in index.sentences:
            f.write(json.dumps(s, ensure_ascii=False) + "\n")
    manifest = IndexManifest(
        dim=backend.dim, ntotal=len(index.sentences), kind=backend.kind, backend=backend.backend,
        model=identity.get("model"), pooler=identity.get("pooler"), fingerprint=identity.get("fingerprint"),
        truncate_dim=index.truncate_dim, precision=index.precision,
        num_cells=getattr(backend, "num_cells", None), num_cells_in_search=getattr(backend, "num_cells_in_search", None),
    )
    if isinstance(backend, QuantizedIndex):
        qmeta = backend.meta()
        manifest.rescore_multiplier = qmeta["rescore_multiplier"]
        manifest.rescore_with = qmeta["rescore_with"]
        manifest.code_backend = qmeta["code_backend"]
        backend.save(path)  # codes.npy (+ ranges.npy, + embeddings.npy when float vectors are kept)
    else:
        vectors = index.vectors if index.vectors is not None else backend.vectors()
        np.save(path / "embeddings.npy", vectors)
        if isinstance(backend, FaissIndex):
            backend.write_cells(str(path / "faiss.index"))
    return manifest


def _copy_factory_files(index: SearchIndex, path: Path) -> IndexManifest:
    source, manifest = index.path, index.manifest
    assert source is not None and manifest is not None  # a FactoryIndex is only ever opened from a folder
    names = set(manifest.files or {}) | set(manifest.needed_files())
    for name in sorted(names):
        shutil.copyfile(source / name, path / name)
    return dataclasses.replace(manifest)


def _read_sentences(path: Path) -> list[str]:
    with open(path / "sentences.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def open_search_index(
    path: str | os.PathLike,
    manifest: IndexManifest,
    use_faiss: bool | None,
    device: str | torch.device,
    num_cells_in_search: int | None = None,
) -> SearchIndex:
    """The index saved in ``path`` (its ``manifest`` read by :meth:`IndexManifest.read`).

    ``num_cells_in_search`` (IVF cells probed per query, a search-time setting) replaces the saved
    one when given. A factory index opens on FAISS, memory-mapped; without FAISS (or with
    ``use_faiss=False``) its float16 vectors, when stored, serve the exact torch index instead."""
    p = Path(path)
    try:
        return _open_saved(p, manifest, use_faiss, torch.device(device), num_cells_in_search)
    except NeedsFaiss:
        raise
    except (KeyError, IndexError, EOFError, RuntimeError, ValueError, TypeError, UnicodeDecodeError, OSError) as exc:
        raise ValueError(f"saved index {p} is damaged and cannot be read ({type(exc).__name__}: {exc}); "
                         f"{rebuild_hint(p, manifest.kind)}") from exc


def _open_saved(p: Path, manifest: IndexManifest, use_faiss: bool | None, dev: torch.device,
                num_cells_in_search: int | None) -> SearchIndex:
    tdim = manifest.truncate_dim
    if manifest.kind == "factory":
        return _open_factory(p, manifest, use_faiss, dev, num_cells_in_search)
    if manifest.precision != "float32":
        index: Any = QuantizedIndex.load(p, manifest.to_dict(), use_faiss, dev)
        sentences = _read_sentences(p)
        if len(sentences) != index.ntotal:
            raise ValueError(f"saved index {p}: {len(sentences)} sentences but {index.ntotal} vectors")
        vectors = index.vectors()  # float vectors only when kept for re-scoring
        return SearchIndex(index, sentences, vectors, dev, tdim, manifest.precision, manifest=manifest, path=p)
    sentences = _read_sentences(p)
    vectors = np.load(p / "embeddings.npy")
    if len(sentences) != vectors.shape[0]:
        raise ValueError(f"saved index {p}: {len(sentences)} sentences but {vectors.shape[0]} vectors")
    use = manifest.backend == "faiss" and faiss_available() if use_faiss is None else faiss_wanted(use_faiss)
    fast = manifest.kind == "ivf" and use
    index = make_index(manifest.dim, use, fast, int(manifest.num_cells or 100),
                       num_cells_in_search or int(manifest.num_cells_in_search or 10), dev)
    if fast and (p / "faiss.index").is_file():
        assert isinstance(index, FaissIndex)
        index.read_cells(str(p / "faiss.index"))
    elif len(vectors):  # an empty IVF index has no cells yet: they are learnt from the first vectors added
        index.add(vectors)
    kept = None if index.keeps_float32 else vectors
    return SearchIndex(index, sentences, kept, dev, tdim, "float32", manifest=manifest, path=p)


TORCH_GPU_BYTES = 4 << 30
"""An exact (``Flat``) factory index of at most this many bytes of float16 vectors is searched by the
torch index on a CUDA device when faiss has no GPU support there."""


def torch_serves(manifest: IndexManifest, use_faiss: bool | None, dev: torch.device) -> bool:
    """Whether the exact torch index on the GPU serves a small ``Flat`` factory index (``use_faiss=None``
    on a CUDA device without faiss-gpu), as exact as FAISS and faster than FAISS on the CPU."""
    if use_faiss is not None or dev.type != "cuda" or manifest.factory != "Flat" or not manifest.rerank_file:
        return False
    if manifest.metric == "l2" and not manifest.normalized:
        return False
    if faiss_available() and faiss_gpus() > 0:
        return False
    return manifest.ntotal * manifest.dim * 2 <= TORCH_GPU_BYTES


def _open_factory(p: Path, manifest: IndexManifest, use_faiss: bool | None, dev: torch.device,
                  num_cells_in_search: int | None) -> SearchIndex:
    texts = TextStore(p, "texts")
    rows = RowIds(p, bool(manifest.user_ids))
    if len(texts) != manifest.ntotal or len(rows) != manifest.ntotal:
        raise ValueError(f"saved index {p}: {len(texts)} texts and {len(rows)} rows but {INDEX_META} says "
                         f"{manifest.ntotal} vectors")
    factory = manifest.factory or "?"
    if torch_serves(manifest, use_faiss, dev):
        use_faiss = False
    if faiss_wanted(use_faiss):
        index: Any = FactoryIndex.open(p, manifest.dim, manifest.metric or "ip", factory, bool(manifest.normalized),
                                       bool(manifest.binary), manifest.rerank_file, dev)
        if index.ntotal != manifest.ntotal:
            raise ValueError(f"saved index {p}: faiss.index holds {index.ntotal} vectors, {INDEX_META} says "
                             f"{manifest.ntotal}")
        if num_cells_in_search and "IVF" in factory.upper():
            index.set_search_params(nprobe=num_cells_in_search)
    else:
        if not manifest.rerank_file or manifest.binary or (manifest.metric == "l2" and not manifest.normalized):
            raise NeedsFaiss(f"the {factory!r} index in {str(p)!r} needs faiss (pip install faiss-cpu): the exact torch "
                             "index serves only float vectors stored at build time (--rerank_store) ranked by cosine")
        index = TorchIndex(manifest.dim, dev)
        vectors = np.load(p / manifest.rerank_file, mmap_mode="r")
        for lo in range(0, vectors.shape[0], 65536):
            index.add(np.asarray(vectors[lo : lo + 65536], dtype=np.float32))
    return SearchIndex(index, texts, None, dev, manifest.truncate_dim, manifest.precision, rows, manifest, p)
