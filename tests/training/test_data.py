"""Training data: file formats, errors naming file:line, the tokenization cache, collation, NLI triplets."""
from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
import torch

from simcse import data as D
from simcse.encoder import SentenceEncoder


@pytest.fixture(scope="module")
def encoder(tiny_bert_path):
    return SentenceEncoder.from_pretrained(str(tiny_bert_path), pooler_type="cls")


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- reading
def test_txt_one_sentence_per_line(tmp_path):
    f = _write(tmp_path / "a.txt", "first sentence\nsecond one\n")
    assert D.read_training_file(f) == [["first sentence", "second one"]]


def test_csv_with_simcse_header_and_quotes(tmp_path):
    f = _write(tmp_path / "nli.csv", 'sent0,sent1,hard_neg\n"a, b",c,d\ne,f,g\n')
    assert D.read_training_file(f) == [["a, b", "e"], ["c", "f"], ["d", "g"]]


def test_csv_without_header_keeps_first_row(tmp_path):
    f = _write(tmp_path / "p.csv", "a cat sits,a cat is sitting\ndogs run,dogs are running\n")
    assert D.read_training_file(f) == [["a cat sits", "dogs run"], ["a cat is sitting", "dogs are running"]]
    # forced header
    assert D.read_training_file(f, header="yes") == [["dogs run"], ["dogs are running"]]


def test_tsv_keeps_quotes(tmp_path):
    f = _write(tmp_path / "p.tsv", 'sentence1\tsentence2\nhe said "hi"\tsomeone greeted\n')
    assert D.read_training_file(f) == [['he said "hi"'], ["someone greeted"]]


def test_jsonl_objects_and_json_array(tmp_path):
    f = _write(tmp_path / "p.jsonl", '{"anchor": "a", "positive": "b"}\n\n{"anchor": "c", "positive": "d"}\n')
    assert D.read_training_file(f) == [["a", "c"], ["b", "d"]]
    g = _write(tmp_path / "p.json", json.dumps([["a", "b", "c"], ["d", "e", "f"]]))
    assert D.read_training_file(g) == [["a", "d"], ["b", "e"], ["c", "f"]]


def test_jsonl_of_lists_is_a_record_a_line(tmp_path):
    # a .jsonl line that is a list is one example (here an anchor-positive pair), even alone in the file
    one = _write(tmp_path / "one.jsonl", '["A man plays a guitar.", "Someone plays music."]\n')
    assert D.read_training_file(one) == [["A man plays a guitar."], ["Someone plays music."]]
    two = _write(tmp_path / "two.jsonl", '["a", "b"]\n["c", "d"]\n')
    assert D.read_training_file(two) == [["a", "c"], ["b", "d"]]
    # a .json written the same way (records a line) reads alike; one array is still one array
    assert D.read_training_file(_write(tmp_path / "lines.json", '["a", "b"]\n["c", "d"]\n')) == [["a", "c"], ["b", "d"]]
    assert D.read_training_file(_write(tmp_path / "array.json", '["a", "b"]\n')) == [["a", "b"]]


@pytest.mark.parametrize(
    "name,text,match",
    [
        ("bad.csv", "sent0,sent1\na,b\nc\n", r"bad.csv:3: 1 columns, but the first example has 2"),
        ("bad.csv", "sent0,sent1\na,b\nc, \n", r"bad.csv:3: column 2 is empty"),
        ("bad.txt", "a\n\nb\n", r"bad.txt:2: empty line"),
        ("bad.jsonl", '{"a": "x", "b": "y"}\n{"a": "x"}\n', r"bad.jsonl:2: fields"),
        ("bad.jsonl", '{"a": "x"}\n{oops\n', r"bad.jsonl:2: invalid JSON"),
        ("bad.csv", "a,b,c,d\n", r"bad.csv:1: 4 columns"),
        ("empty.txt", "", r"holds no examples"),
        ("empty.csv", "sent0,sent1,hard_neg\n", r"holds no examples"),
        ("x.parquet", "a\n", r"unsupported suffix"),
    ],
)
def test_bad_files_name_file_and_line(tmp_path, name, text, match):
    f = _write(tmp_path / name, text)
    with pytest.raises(ValueError, match=match):
        D.read_training_file(f)


def test_byte_order_mark_is_not_part_of_the_data(tmp_path):
    # Windows editors (Notepad, Excel's "CSV UTF-8") start UTF-8 files with a byte-order mark.
    bom = "\ufeff"
    f = _write(tmp_path / "nli.csv", bom + "sent0,sent1,hard_neg\na,b,c\nd,e,f\n")
    assert D.read_training_file(f) == [["a", "d"], ["b", "e"], ["c", "f"]]  # the header is still found
    t = _write(tmp_path / "w.tsv", bom + "sentence1\tsentence2\na\tb\n")
    assert D.read_training_file(t) == [["a"], ["b"]]
    g = _write(tmp_path / "w.txt", bom + "first\nsecond\n")
    assert D.read_training_file(g) == [["first", "second"]]
    h = _write(tmp_path / "w.jsonl", bom + '{"sent0": "a", "sent1": "b"}\n')
    assert D.read_training_file(h) == [["a"], ["b"]]
    k = _write(tmp_path / "w.json", bom + '[["a", "b"]]')
    assert D.read_training_file(k) == [["a"], ["b"]]


@pytest.mark.parametrize("name,data", [
    ("l.txt", b"fine\ncaf\xe9 au lait\n"),
    ("l.csv", b"sent0,sent1\na,b\ncaf\xe9,c\n"),
    ("l.jsonl", b'{"a": "x"}\n{"a": "y"}\n{"a": "caf\xe9"}\n'),
])
def test_non_utf8_file_names_file_and_line(tmp_path, name, data):
    f = tmp_path / name
    f.write_bytes(data)
    line = data.count(b"\n", 0, data.index(b"\xe9")) + 1
    with pytest.raises(ValueError, match=rf"{name}:{line}: not UTF-8") as info:
        D.read_training_file(f)
    assert not isinstance(info.value, UnicodeDecodeError)


def test_jsonl_with_unicode_line_separators_inside_strings(tmp_path):
    # json.dumps(..., ensure_ascii=False) keeps U+2028, U+2029 and U+0085 raw inside strings.
    recs = [{"sent0": "a\u2028b", "sent1": "c\x85d"}, {"sent0": "e\u2029f", "sent1": "g"}]
    f = _write(tmp_path / "u.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs))
    assert D.read_training_file(f) == [["a\u2028b", "e\u2029f"], ["c\x85d", "g"]]


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        D.read_training_file(tmp_path / "nope.txt")


# ---------------------------------------------------------------- tokenization cache
def test_tokenize_once_then_cache(tmp_path, encoder, monkeypatch):
    f = _write(tmp_path / "s.csv", "sent0,sent1,hard_neg\na dog runs,a dog is running,a cat sleeps\nhello there,hi,bye now\n")
    cache = tmp_path / "cache"
    ds = D.load_training_data(f, encoder, max_length=8, cache_dir=cache)
    assert len(ds) == 2 and ds.views == 3
    assert [list(x) for x in ds[0]] == encoder.tokenize_ids(["a dog runs", "a dog is running", "a cat sleeps"], 8)
    assert len(list(cache.glob("*.npz"))) == 1

    def boom(*a, **k):
        raise AssertionError("tokenized again")

    monkeypatch.setattr(D, "read_training_file", boom)
    again = D.load_training_data(f, encoder, max_length=8, cache_dir=cache)
    assert [list(x) for x in again[1]] == [list(x) for x in ds[1]]
    # another max length is another cache entry
    monkeypatch.undo()
    D.load_training_data(f, encoder, max_length=4, cache_dir=cache)
    assert len(list(cache.glob("*.npz"))) == 2
    # a changed file is tokenized again
    _write(f, "sent0,sent1,hard_neg\nnew words,other words,third words\n")
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    changed = D.load_training_data(f, encoder, max_length=8, cache_dir=cache)
    assert len(changed) == 1


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04 cut short"])
def test_damaged_cache_file_is_ignored_and_rewritten(tmp_path, encoder, damage):
    f = _write(tmp_path / "s.txt", "a dog runs\nhello there\n")
    cache = tmp_path / "cache"
    first = D.load_training_data(f, encoder, max_length=8, cache_dir=cache)
    (cache_file,) = cache.glob("*.npz")
    cache_file.write_bytes(damage)  # emptied or cut short outside our atomic writes
    again = D.load_training_data(f, encoder, max_length=8, cache_dir=cache)
    assert [list(x) for x in again[1]] == [list(x) for x in first[1]]
    assert cache_file.stat().st_size > len(damage)  # written again


def test_cache_follows_content_even_with_same_size_and_mtime(tmp_path, encoder):
    # An in-place rewrite of the same length whose mtime is restored (rsync -t, cp -p) must not
    # load the old tokens.
    cache = tmp_path / "cache"
    f = _write(tmp_path / "u.txt", "alpha words here\n")
    stamp = (f.stat().st_atime_ns, f.stat().st_mtime_ns)
    first = D.load_training_data(f, encoder, max_length=8, cache_dir=cache)
    _write(f, "gamma words here\n")
    os.utime(f, ns=stamp)
    again = D.load_training_data(f, encoder, max_length=8, cache_dir=cache)
    assert list(again[0][0]) != list(first[0][0])
    assert list(again[0][0]) == list(D.load_training_data(f, encoder, max_length=8, cache_dir="")[0][0])


def test_columns_named_by_role_are_read_by_role(tmp_path):
    csv_file = _write(tmp_path / "t.csv", "anchor,negative,positive\na cat,a truck,a kitten\n")
    assert D.read_training_file(csv_file) == [["a cat"], ["a kitten"], ["a truck"]]
    tsv_file = _write(tmp_path / "t.tsv", "sent0\thard_neg\tsent1\na cat\ta truck\ta kitten\n")
    assert D.read_training_file(tsv_file) == [["a cat"], ["a kitten"], ["a truck"]]
    jsonl = _write(
        tmp_path / "t.jsonl",
        json.dumps({"negative": "a truck", "anchor": "a cat", "positive": "a kitten"}) + "\n"
        + json.dumps({"anchor": "a dog", "positive": "a puppy", "negative": "a car"}) + "\n",
    )
    assert D.read_training_file(jsonl) == [["a cat", "a dog"], ["a kitten", "a puppy"], ["a truck", "a car"]]
    # names without a role, or in role order, stay positional
    plain = _write(tmp_path / "p.csv", "sentence2,sentence1\nfirst,second\n")
    assert D.read_training_file(plain) == [["first"], ["second"]]
    pair = _write(tmp_path / "q.csv", "positive,anchor\nb,a\n")
    assert D.read_training_file(pair) == [["a"], ["b"]]


@pytest.mark.parametrize(
    "name,text",
    [
        ("an.csv", "anchor,negative\nthe dog runs,the cat sleeps\n"),
        ("an.tsv", "sent0\thard_neg\nthe dog runs\tthe cat sleeps\n"),
        ("an.jsonl", '{"query": "the dog runs", "neg": "the cat sleeps"}\n'),
    ],
)
def test_named_columns_without_a_positive_are_refused(tmp_path, name, text):
    # Read by position, the hard negative would silently be trained as the positive.
    f = _write(tmp_path / name, text)
    with pytest.raises(ValueError, match=r"none holds the positive"):
        D.read_training_file(f)


def test_json_array_errors_name_the_line_of_the_record(tmp_path):
    records = [{"sent0": "a man plays", "sent1": "someone plays"}, {"sent0": "a woman reads", "sent1": " "}]
    f = _write(tmp_path / "pretty.json", json.dumps(records, indent=2) + "\n")
    # The second record starts on line 6 of the pretty-printed array (not "line 2").
    with pytest.raises(ValueError, match=r"pretty.json:6: column 2 is empty"):
        D.read_training_file(f)
    one_line = _write(tmp_path / "flat.json", json.dumps(records))
    with pytest.raises(ValueError, match=r"flat.json:1: column 2 is empty"):
        D.read_training_file(one_line)
    assert D.read_training_file(_write(tmp_path / "ok.json", json.dumps(records[:1], indent=2))) == [
        ["a man plays"], ["someone plays"]
    ]


def test_unclosed_quote_is_an_error_naming_its_row(tmp_path):
    f = _write(tmp_path / "t.csv", 'sent0,sent1\na man,a person\n"a dog runs,an animal\nx,y\nz,w\n')
    with pytest.raises(ValueError, match=r"t\.csv:3: a quoted field opened in this row is never closed"):
        D.read_training_file(f)
    # a quoted field with a line end that is closed is still one cell, and a quote inside an
    # unquoted field is still read leniently
    ok = _write(tmp_path / "ok.csv", 'sent0,sent1\n"two\nlines",b\nhe said "hi" there,c\n')
    assert D.read_training_file(ok) == [["two\nlines", 'he said "hi" there'], ["b", "c"]]


def test_unsupervised_item_repeats_the_sentence(tmp_path, encoder):
    f = _write(tmp_path / "u.txt", "one sentence here\n")
    ds = D.load_training_data(f, encoder, max_length=16, cache_dir="")
    a, b = ds[0]
    assert ds.views == 2 and list(a) == list(b)


def test_truncation_to_max_length(tmp_path, encoder):
    f = _write(tmp_path / "long.txt", " ".join(["word"] * 100) + "\n")
    ds = D.load_training_data(f, encoder, max_length=10, cache_dir="")
    assert len(ds[0][0]) == 10


# ---------------------------------------------------------------- collation
def _examples():
    return [
        [np.array([101, 5, 6, 102]), np.array([101, 7, 102])],
        [np.array([101, 8, 102]), np.array([101, 9, 10, 11, 12, 102])],
    ]


def test_collator_pads_to_longest_and_multiple():
    batch = D.ContrastiveCollator(pad_id=0, with_token_type_ids=True)(_examples())
    assert batch["input_ids"].shape == (2, 2, 6)
    assert batch["attention_mask"][0, 0].tolist() == [1, 1, 1, 1, 0, 0]
    assert batch["input_ids"][1, 1].tolist() == [101, 9, 10, 11, 12, 102]
    assert batch["token_type_ids"].shape == (2, 2, 6)
    assert D.ContrastiveCollator(pad_id=0, pad_to_multiple_of=8)(_examples())["input_ids"].shape == (2, 2, 8)
    fixed = D.ContrastiveCollator(pad_id=0, pad_to_max_length=True, max_length=32)(_examples())
    assert fixed["input_ids"].shape == (2, 2, 32)


def test_collator_left_padding():
    batch = D.ContrastiveCollator(pad_id=0, padding_side="left")(_examples())
    assert batch["input_ids"][0, 1].tolist() == [0, 0, 0, 101, 7, 102]
    assert batch["attention_mask"][0, 1].tolist() == [0, 0, 0, 1, 1, 1]


def test_mlm_masking_only_real_non_special_tokens(tiny_bert_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_bert_path))
    coll = D.collator_for(tok, max_length=32, mlm_probability=0.5)
    ids = [tok("the quick brown fox jumps over the lazy dog")["input_ids"]] * 2
    torch.manual_seed(0)
    batch = coll([[np.array(x) for x in ids] for _ in range(8)])
    targets, masked, orig = batch["mlm_targets"], batch["mlm_input_ids"], batch["input_ids"]
    chosen = targets != -100
    assert chosen.any()
    assert torch.equal(targets[chosen], orig[chosen])
    assert not chosen[orig == tok.cls_token_id].any() and not chosen[orig == tok.sep_token_id].any()
    assert torch.equal(masked[~chosen], orig[~chosen])
    assert (masked[chosen] == tok.mask_token_id).float().mean() > 0.5


# ---------------------------------------------------------------- NLI triplets
def test_snli_senteval_triplets(data_dir, tmp_path):
    src = data_dir / "nli" / "snli-senteval"
    out = tmp_path / "nli.csv"
    n = D.build_nli_triplets([src], out, splits=["dev", "test"])
    # dev 2,943 + test 2,921 (the data README's 5,864); one premise is in both splits, so matching
    # premises across the two splits instead gives 5,863.
    assert n == 5864
    assert len(D.nli_triplets(D.read_nli_pairs(src, ["dev", "test"]))) == 5863
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[0] == ["sent0", "sent1", "hard_neg"] and len(rows) == n + 1
    pairs = {(p, h): lab for p, h, lab in D.read_nli_pairs(src, ["dev"])}
    p, e, c = rows[1]
    assert pairs[(p, e)] == "entailment" and pairs[(p, c)] == "contradiction"
    # the file trains as is
    assert [len(col) for col in D.read_training_file(out)] == [n, n, n]


def test_senteval_nli_with_odd_characters_and_bom(tmp_path, capsys):
    src = tmp_path / "nli"
    src.mkdir()
    # a premise holding U+2028 / U+0085 (str.splitlines would cut it in two); files with a BOM
    _write(src / "s1.train", "\ufeffA man\u2028sleeps .\nA man\u2028sleeps .\nKids\x85play .\nKids\x85play .\n")
    _write(src / "s2.train", "A person rests .\nA man runs .\nChildren play .\nNobody plays .\n")
    _write(src / "labels.train", "\ufeffentailment\ncontradiction\nentailment\ncontradiction\n")
    out = tmp_path / "t.csv"
    assert D.main(["nli-triplets", "--input", str(src), "--output", str(out)]) == 0, capsys.readouterr().err
    assert D.read_training_file(out) == [
        ["A man\u2028sleeps .", "Kids\x85play ."], ["A person rests .", "Children play ."], ["A man runs .", "Nobody plays ."],
    ]
    (src / "s2.train").write_bytes(b"A person rests .\nA man runs .\nChildren play .\nNobody pl\xe4ys .\n")
    assert D.main(["nli-triplets", "--input", str(src), "--output", str(out), "--overwrite"]) == 2
    assert "s2.train:4: not UTF-8" in capsys.readouterr().err


def test_jsonl_triplets_and_cli(tmp_path, capsys):
    recs = [
        {"sentence1": "A man sleeps.", "sentence2": "A person rests.", "gold_label": "entailment"},
        {"sentence1": "A man sleeps.", "sentence2": "A man runs.", "gold_label": "contradiction"},
        {"sentence1": "A man sleeps.", "sentence2": "A man dreams.", "gold_label": "neutral"},
        {"sentence1": "Kids play.", "sentence2": "Children play.", "gold_label": "-"},
        {"sentence1": "Kids play.", "sentence2": "Nobody plays.", "gold_label": "contradiction"},
    ]
    src = _write(tmp_path / "snli.jsonl", "\n".join(json.dumps(r) for r in recs) + "\n")
    out = tmp_path / "t.csv"
    assert D.main(["nli-triplets", "--input", str(src), "--output", str(out)]) == 0
    assert "wrote 1 triplets" in capsys.readouterr().out
    assert list(csv.reader(out.open()))[1] == ["A man sleeps.", "A person rests.", "A man runs."]
    bad = _write(tmp_path / "bad.jsonl", '{"sentence1": "a", "sentence2": "b", "gold_label": "maybe"}\n')
    assert D.main(["nli-triplets", "--input", str(bad), "--output", str(out), "--overwrite"]) == 2
    assert "bad.jsonl:1: unknown gold_label 'maybe'" in capsys.readouterr().err


def test_unknown_header_like_first_row_is_kept_with_a_warning(tmp_path, caplog):
    text = "premise,positive,hard_negative\na dog runs,a dog is running,a cat sleeps\nhello there,hi,bye now\n"
    f = _write(tmp_path / "t.csv", text)
    with caplog.at_level("WARNING", logger="simcse.training.data"):
        cols = D.read_training_file(f)
    assert cols[0] == ["premise", "a dog runs", "hello there"]  # still trained on, as before
    assert f"{f}:1: the first row premise,positive,hard_negative looks like a header" in caplog.text
    assert "--train_file_header yes" in caplog.text and "--train_file_header no" in caplog.text
    tsv = _write(tmp_path / "t.tsv", text.replace(",", "\t"))
    caplog.clear()
    with caplog.at_level("WARNING", logger="simcse.training.data"):
        assert len(D.read_training_file(tsv)[0]) == 3
    assert f"{tsv}:1: the first row premise\tpositive\thard_negative looks like a header" in caplog.text
    # settled by the flag, a known header, or rows that all look alike: no warning
    for path, header in ((f, "yes"), (f, "no"), (_write(tmp_path / "k.csv", "sent0,sent1\na b,c d\n"), "auto"),
                         (_write(tmp_path / "w.csv", "alpha,beta\ngamma,delta\nwords here,more words\n"), "auto"),
                         (_write(tmp_path / "s.csv", "a cat sits,a cat is sitting\ndogs run,dogs are running\n"), "auto")):
        caplog.clear()
        with caplog.at_level("WARNING", logger="simcse.training.data"):
            D.read_training_file(path, header=header)
        assert "looks like a header" not in caplog.text, (path, header)


def test_nli_triplets_never_replaces_a_file_unasked_nor_its_input(tmp_path, capsys):
    recs = [
        {"sentence1": "A man sleeps.", "sentence2": "A person rests.", "gold_label": "entailment"},
        {"sentence1": "A man sleeps.", "sentence2": "A man runs.", "gold_label": "contradiction"},
    ]
    text = "\n".join(json.dumps(r) for r in recs) + "\n"
    src = _write(tmp_path / "snli.jsonl", text)
    mine = _write(tmp_path / "mine.csv", "my notes\n")
    assert D.main(["nli-triplets", "--input", str(src), "--output", str(mine)]) == 2
    assert f"--output '{mine}' exists; pass --overwrite to replace it" in capsys.readouterr().err
    assert mine.read_text() == "my notes\n"
    assert D.main(["nli-triplets", "--input", str(src), "--output", str(mine), "--overwrite"]) == 0
    assert list(csv.reader(mine.open()))[1] == ["A man sleeps.", "A person rests.", "A man runs."]
    for flags in ([], ["--overwrite"]):
        assert D.main(["nli-triplets", "--input", str(src), "--output", str(src), *flags]) == 2
        assert "is one of the input files" in capsys.readouterr().err
        assert src.read_text() == text
    folder = tmp_path / "out"
    folder.mkdir()
    assert D.main(["nli-triplets", "--input", str(src), "--output", str(folder)]) == 2
    assert f"--output '{folder}' is a folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.csv", "out", "snli.jsonl"]  # no temporary file left


def test_nli_jsonl_with_a_null_sentence_names_the_line(tmp_path, capsys):
    src = _write(tmp_path / "nul.jsonl", '{"sentence1": null, "sentence2": "b", "gold_label": "entailment"}\n')
    assert D.main(["nli-triplets", "--input", str(src), "--output", str(tmp_path / "t.csv")]) == 2
    assert "nul.jsonl:1: sentence1 and sentence2 must be strings, got NoneType and str" in capsys.readouterr().err
