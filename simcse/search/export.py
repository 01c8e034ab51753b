"""Export an embeddings folder (``simcse encode --input``) as one Parquet file of (id, line, text, vector),
the table that vector databases (LanceDB, Milvus, Qdrant, Weaviate, pgvector via COPY, DuckDB) ingest.

The file is written shard by shard, one Parquet row group per shard, so memory holds one shard whatever
the corpus size; it is written to a temporary sibling and renamed into place, so an interrupted export
leaves no half file under the name asked for. Columns:

- ``id``: the ``.jsonl`` id of each row (int64 when every id is an integer, else string) or, for a text
  input or a ``.jsonl`` without ids, the 0-based line number (int64);
- ``line``: the 0-based line number in the input (int64);
- ``text``: the sentence (the text field of a ``.jsonl`` line; the stripped line of a text file);
- ``vector``: ``fixed_size_list<float32 | float16>[dim]``, the stored vectors widened (int8 codes mapped
  back to their buckets' centres; binary sign bits as ``±1/sqrt(dim)``).

The schema's metadata key ``simcse`` holds the embeddings manifest's model name and fingerprint, pooler,
normalisation, max_length, dim and stored dtype, so the file says what made its vectors.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..atomic import atomic_file
from .build import check_embeddings, check_input_unchanged, read_shard_texts
from .shards import EmbeddingManifest, iter_shards, load_vectors_float32

VECTOR_DTYPES = ("float32", "float16")


def _id_type(ids: list[Any]) -> str:
    if all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        return "int64"
    if all(isinstance(i, str) for i in ids):
        return "string"
    kinds = sorted({type(i).__name__ for i in ids})
    raise ValueError(f"the input's ids mix types ({', '.join(kinds)}): Parquet needs one type per column; "
                     "give every row an integer id or every row a string id")


def export_parquet(
    embeddings: str | os.PathLike,
    output: str | os.PathLike,
    vector_dtype: str = "float32",
    overwrite: bool = False,
    say: Callable[[str], None] = print,
) -> int:
    """Write the embeddings folder ``embeddings`` to the Parquet file ``output`` (see the module docstring)
    and return the number of rows written. ``vector_dtype`` is ``"float32"`` (what most vector databases
    expect) or ``"float16"`` (half the size). An existing ``output`` is replaced only with ``overwrite``."""
    try:
        import pyarrow as pa  # optional dependency (pip install "simcse[parquet]")
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError('Parquet export needs pyarrow: pip install "simcse[parquet]" (or pip install pyarrow)') from None
    if vector_dtype not in VECTOR_DTYPES:
        raise ValueError(f"vector_dtype must be one of {', '.join(VECTOR_DTYPES)}, got {vector_dtype!r}")
    out = Path(output)
    if out.is_dir():
        raise ValueError(f"--output {str(out)!r} is a folder: give the path of the .parquet file to write")
    if out.exists() and not overwrite:
        raise FileExistsError(f"--output {str(out)!r} exists: pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"the folder of --output {str(out)!r} does not exist")
    emb = EmbeddingManifest.read(embeddings)
    check_embeddings(emb)
    input_path = check_input_unchanged(emb)

    first = next(iter_shards(emb))
    id_type = _id_type(first.ids) if emb.has_ids and first.ids else "int64"
    arrow_float = pa.float32() if vector_dtype == "float32" else pa.float16()
    schema = pa.schema(
        [("id", pa.int64() if id_type == "int64" else pa.string()), ("line", pa.int64()), ("text", pa.string()),
         ("vector", pa.list_(arrow_float, emb.dim))],
        metadata={"simcse": json.dumps({
            "model": emb.model.get("name"), "model_fingerprint": emb.model.get("fingerprint"),
            "pooler": emb.pooler, "normalized": emb.normalized, "max_length": emb.max_length,
            "dim": emb.dim, "stored_dtype": emb.dtype, "rows": emb.num_rows,
        })},
    )
    written = 0
    with atomic_file(out) as tmp, open(input_path, "rb") as f:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for shard in iter_shards(emb):
                if not len(shard):
                    continue
                keys = shard.keys
                if emb.has_ids and _id_type(keys) != id_type:
                    raise ValueError(f"shard {shard.index} of {str(emb.folder)!r} holds {_id_type(keys)} ids but "
                                     f"earlier shards hold {id_type} ids: Parquet needs one type per column")
                texts = [t.decode("utf-8") for t in read_shard_texts(f, shard, emb, input_path)]
                vectors = load_vectors_float32(shard).astype(np.dtype(vector_dtype), copy=False)
                column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), type=arrow_float), emb.dim)
                writer.write_table(pa.Table.from_arrays(
                    [pa.array(keys, type=schema.field("id").type), pa.array(np.asarray(shard.rows)[:, 0]),
                     pa.array(texts, type=pa.string()), column], schema=schema))
                written += len(shard)
                say(f"shard {shard.index}: {len(shard)} rows ({written}/{emb.num_rows})")
        check_input_unchanged(emb)  # the texts written are those of the embeddings
    say(f"wrote {written} rows of {emb.dim} dimensions ({vector_dtype}) to {out}")
    return written
