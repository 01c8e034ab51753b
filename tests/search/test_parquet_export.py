"""``simcse index export``: an embeddings folder as one Parquet file of (id, line, text, vector), read back
with pyarrow and compared row by row with the shards and the input; the refusals."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest

from conftest import make_tiny_bert
from simcse.cli import main
from simcse.cli import encode as encode_cli
from simcse.search.shards import iter_shards, load_vectors_float32

pq = pytest.importorskip("pyarrow.parquet")

WORDS = "the a of city river music film team school war king song game book church army party station".split()


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) + f" {i}" for i in range(n)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, minilm_path):
    return make_tiny_bert(tmp_path_factory.mktemp("tiny"), minilm_path)


def encode(model, corpus, out, *extra):
    assert encode_cli.main(["--model", str(model), "--input", str(corpus), "--output_dir", str(out), "--device", "cpu",
                            "--max_length", "16", "--shard_mb", "0.005", *extra]) == 0
    return out


@pytest.fixture(scope="module")
def text_emb(tmp_path_factory, tiny):
    d = tmp_path_factory.mktemp("text_emb")
    lines = sentences(300)
    corpus = d / "corpus.txt"
    corpus.write_text("\n".join(lines[:5] + ["", "   "] + lines[5:]) + "\n", encoding="utf-8")  # blank lines skipped
    return encode(tiny, corpus, d / "emb"), lines


def test_text_corpus_exports_every_row_with_its_line_text_and_vector(text_emb, tmp_path, capsys):
    emb, lines = text_emb
    assert len(list(iter_shards(emb))) >= 3  # several row groups
    out = tmp_path / "corpus.parquet"
    assert main(["index", "export", "--embeddings", str(emb), "--output", str(out)]) == 0
    assert "wrote 300 rows" in capsys.readouterr().err
    f = pq.ParquetFile(out)
    assert f.metadata.num_row_groups == len(list(iter_shards(emb)))
    table = f.read()
    assert table.column_names == ["id", "line", "text", "vector"]
    assert table.column("text").to_pylist() == lines
    line = table.column("line").to_pylist()
    assert line == list(range(5)) + list(range(7, 302))  # the two blank lines keep their numbers out
    assert table.column("id").to_pylist() == line
    want = np.concatenate([load_vectors_float32(s) for s in iter_shards(emb)])
    got = np.asarray(table.column("vector").to_pylist(), dtype=np.float32)
    np.testing.assert_array_equal(got, want)
    meta = json.loads(f.schema_arrow.metadata[b"simcse"])
    assert meta["dim"] == want.shape[1] and meta["rows"] == 300 and meta["stored_dtype"] == "float16"


def test_jsonl_ids_and_float16_vectors(tiny, tmp_path):
    rows = [{"doc": f"d-{i}", "body": s} for i, s in enumerate(sentences(40, seed=1))]
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    emb = encode(tiny, corpus, tmp_path / "emb", "--text_field", "body", "--id_field", "doc")
    out = tmp_path / "c.parquet"
    assert main(["index", "export", "--embeddings", str(emb), "--output", str(out), "--vector_dtype", "float16"]) == 0
    table = pq.read_table(out)
    assert table.column("id").to_pylist() == [r["doc"] for r in rows]
    assert table.column("text").to_pylist() == [r["body"] for r in rows]
    vtype = table.schema.field("vector").type
    assert vtype.list_size == 32 and str(vtype.value_type) == "halffloat"


def test_refusals_leave_existing_files_alone(text_emb, tmp_path, capsys):
    emb, _ = text_emb
    out = tmp_path / "keep.parquet"
    out.write_bytes(b"user data")
    assert main(["index", "export", "--embeddings", str(emb), "--output", str(out)]) != 0
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == b"user data"
    assert main(["index", "export", "--embeddings", str(emb), "--output", str(tmp_path)]) != 0
    assert "is a folder" in capsys.readouterr().err
    assert main(["index", "export", "--embeddings", str(emb), "--output", str(tmp_path / "no" / "x.parquet")]) != 0
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["index", "export", "--embeddings", str(emb), "--output", str(out), "--vector_dtype", "int4"])
    assert "invalid choice: 'int4'" in capsys.readouterr().err
    assert main(["index", "export", "--embeddings", str(emb), "--output", str(out), "--overwrite"]) == 0
    assert pq.read_table(out).num_rows == 300
    assert not list(tmp_path.glob(".keep.parquet*"))  # no temporary sibling left


def test_an_input_changed_since_encoding_is_refused(tiny, tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(sentences(20)) + "\n", encoding="utf-8")
    emb = encode(tiny, corpus, tmp_path / "emb")
    corpus.write_text("\n".join(sentences(20, seed=9)) + "\n", encoding="utf-8")
    out = tmp_path / "c.parquet"
    assert main(["index", "export", "--embeddings", str(emb), "--output", str(out)]) != 0
    assert "changed since embeddings folder" in capsys.readouterr().err and not out.exists()
