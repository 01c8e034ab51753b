"""The fast encode paths (tokenizer processes, the expanded attention mask, shape-bucketed CUDA graphs) give
the plain path's vectors, and fail clearly."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch

from simcse.batching import TokenizerProcesses, default_workers
from simcse.cuda_graphs import ShapeGraphs, row_bucket
from simcse.encoder import SentenceEncoder, _truncating_backend
from simcse.tokenize_worker import chunk_batches, pad_arrays, plan_batches

WORDS = ("the cat sat on a mat while rain fell over quiet hills and seven small boats drifted past an old "
         "harbour wall where children counted gulls").split()


def _sentences(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 40)))) for _ in range(n)]


@pytest.fixture(scope="module")
def tiny(tiny_bert_path) -> SentenceEncoder:
    return SentenceEncoder.from_pretrained(str(tiny_bert_path)).eval()


def _greedy(lengths: list[int], batch_size: int, max_tokens: int | None) -> list[list[int]]:
    """The batching rule written out one sentence at a time: longest first (ties in input order); a batch
    closes when it has batch_size sentences or one more would pass max_tokens padded tokens."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    out, batch = [], []
    for i in order:
        if batch and (len(batch) >= batch_size or (max_tokens and lengths[batch[0]] * (len(batch) + 1) > max_tokens)):
            out.append(batch)
            batch = []
        batch.append(i)
    return out + ([batch] if batch else [])


@pytest.mark.parametrize("batch_size,max_tokens", [(4, None), (3, 20), (64, 7), (1, None)])
def test_plan_batches_is_the_greedy_rule(batch_size, max_tokens):
    lengths = [5, 9, 9, 2, 7, 9, 1, 5, 5, 3, 12, 4]
    got = [list(map(int, rows)) for rows in plan_batches(np.array(lengths), batch_size, max_tokens)]
    assert got == _greedy(lengths, batch_size, max_tokens)
    assert sorted(i for rows in got for i in rows) == list(range(len(lengths)))


def test_pad_arrays_right_left_and_multiple():
    ids, mask = pad_arrays([[1, 2, 3], [4]], pad_id=0, pad_to_multiple_of=4)
    assert ids.tolist() == [[1, 2, 3, 0], [4, 0, 0, 0]] and mask.tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]
    ids, mask = pad_arrays([[1, 2, 3], [4]], pad_id=9, padding_side="left")
    assert ids.tolist() == [[1, 2, 3], [9, 9, 4]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert ids.dtype == np.int64 and mask.dtype == np.int64


def test_worker_processes_give_the_in_process_batches(tiny):
    texts = _sentences(300)
    settings = {"batch_size": 16, "max_tokens": 300, "pad_id": tiny.tokenizer.pad_token_id, "padding_side": "right",
                "pad_multiple": 8}
    local = chunk_batches(tiny.tokenize_ids(texts, 24), settings)
    with TokenizerProcesses(_truncating_backend(tiny.tokenizer, 24).to_str(), settings, workers=2) as procs:
        first, second = procs.submit(texts[:150] + texts[150:]), procs.submit(texts[:10], then=len)
        remote = first.result(timeout=60)
        assert second.result(timeout=60) == len(chunk_batches(tiny.tokenize_ids(texts[:10], 24), settings))
        pids = procs.pids
    assert len(remote) == len(local)
    for (r1, i1, m1), (r2, i2, m2) in zip(local, remote):
        assert np.array_equal(r1, r2) and np.array_equal(i1, i2) and np.array_equal(m1, m2)
    for pid in pids:  # closing ends the processes
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.parametrize("options", [
    {"batch_size": 8},
    {"batch_size": 5, "max_tokens_per_batch": 60, "normalize": True},
    {"batch_size": 16, "prompt": "query: ", "max_length": 12},
])
def test_encode_with_tokenizer_processes_equals_the_thread(tiny, options):
    texts = _sentences(230, seed=1)
    plain = tiny.encode(texts, chunk_size=50, tokenize_workers=0, **options)
    fast = tiny.encode(texts, chunk_size=50, tokenize_workers=2, **options)
    assert torch.equal(plain, fast)


def test_a_template_after_the_sentence_stays_in_process(tiny):
    assert tiny._worker_texts(None) is list
    assert tiny._worker_texts("query: ")(["a"]) == ["query: a"]
    tiny.config.prompt = 'This sentence : "{}" means in one word:"'
    try:
        assert tiny._worker_texts(None) is None
        texts = _sentences(60, seed=2)
        assert torch.equal(tiny.encode(texts, chunk_size=20, tokenize_workers=2),
                           tiny.encode(texts, chunk_size=20, tokenize_workers=0))
    finally:
        tiny.config.prompt = None


def test_a_dead_worker_is_reported_by_pid(tiny):
    settings = {"batch_size": 4, "pad_id": 0}
    procs = TokenizerProcesses(_truncating_backend(tiny.tokenizer, 16).to_str(), settings, workers=1)
    try:
        assert procs.submit(["warm up"]).result(timeout=60)
        pid = procs.pids[0]
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(RuntimeError, match=rf"tokenizer worker process {pid} .*exited with code -9"):
            procs.submit(["a", "b"]).result(timeout=60)
    finally:
        procs.close()


def test_a_worker_error_comes_back_with_its_traceback(tiny):
    with TokenizerProcesses(_truncating_backend(tiny.tokenizer, 16).to_str(), {"batch_size": 4, "pad_id": 0},
                            workers=1) as procs:
        with pytest.raises(RuntimeError, match=r"failed on a chunk of 2 texts:\n.*Traceback"):
            procs.submit(["fine", 42]).result(timeout=60)
        assert len(procs.submit(["still", "serving"]).result(timeout=60)) == 1


def test_default_workers():
    assert default_workers(2) == 0 and default_workers(3) == 0
    assert default_workers(4) == 1 and default_workers(16) == 3 and default_workers(128) == 4


def test_bad_options_are_refused(tiny):
    with pytest.raises(ValueError, match="cuda_graphs=True needs a CUDA device, not cpu"):
        next(tiny.encode_stream([["a"]], cuda_graphs=True, device="cpu"))
    with pytest.raises(ValueError, match="tokenize_workers must be a whole number >= 0 or None, not -1"):
        tiny.encode(["a"], tokenize_workers=-1)
    with pytest.raises(ValueError, match="row"):
        row_bucket(9, 8)


def test_row_buckets():
    assert [row_bucket(r, 12) for r in (1, 2, 3, 5, 8, 9, 12)] == [1, 2, 4, 8, 8, 12, 12]


def test_expanded_mask_gives_the_same_states(tiny):
    assert tiny._takes_expanded_mask(torch.device("cpu"))
    texts = _sentences(40, seed=3)
    masked = tiny.encode(texts, batch_size=7)
    tiny._takes_expanded_mask = lambda device: False
    try:
        plain = tiny.encode(texts, batch_size=7)
    finally:
        del tiny._takes_expanded_mask
    torch.testing.assert_close(masked, plain, atol=1e-5, rtol=1e-5)


def test_a_backbone_that_refuses_a_4d_mask_keeps_the_2d_one(tiny_bert_path):
    enc = SentenceEncoder.from_pretrained(str(tiny_bert_path)).eval()
    inner = enc.backbone.forward

    def strict(*args, attention_mask=None, **kwargs):
        if attention_mask is not None and attention_mask.dim() != 2:
            raise ValueError("2-d masks only")
        return inner(*args, attention_mask=attention_mask, **kwargs)

    enc.backbone.forward = strict
    assert not enc._takes_expanded_mask(torch.device("cpu"))
    assert enc.encode(["a cat", "a cat sat on the mat"]).shape == (2, enc.dim)


def test_shape_buckets_give_the_eager_vectors(tiny):
    """The static-buffer path (the one CUDA graphs replay) on CPU: batches of any row count run in their row
    bucket, earlier batches' rows left in the buffers, and each row's vector is the eager one."""
    forward = tiny._inference_forward(torch.device("cpu"), None, normalize=False)
    graphs = ShapeGraphs(forward, "cpu", max_rows=8, pad_id=tiny.tokenizer.pad_token_id)
    assert graphs.capture is False
    texts = _sentences(30, seed=4)
    with torch.inference_mode():
        for rows in (8, 3, 5, 8, 1, 6):
            batch = tiny.collate(tiny.tokenize_ids(texts[:rows], 16), pad_to=16)
            got = graphs(batch["input_ids"], batch["attention_mask"])
            want = forward(batch["input_ids"], batch["attention_mask"])
            assert got.shape == (rows, tiny.dim)
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
            texts = texts[rows:] + texts[:rows]
    assert sorted(graphs.shapes) == [(1, 16), (4, 16), (8, 16)]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graphs_give_the_eager_vectors(tiny_bert_path):
    enc = SentenceEncoder.from_pretrained(str(tiny_bert_path)).eval().to("cuda")
    texts = _sentences(500, seed=5)
    for dtype in (None, torch.float16):
        eager = enc.encode(texts, batch_size=64, dtype=dtype, cuda_graphs=False, tokenize_workers=0)
        graphs = enc.encode(texts, batch_size=64, dtype=dtype, cuda_graphs=True, tokenize_workers=2)
        cos = torch.nn.functional.cosine_similarity(eager, graphs)
        assert cos.min() > 0.9999, dtype
