"""The exact torch index: blocked search equals a full matrix product; adding in pieces keeps every vector."""
import numpy as np

from simcse.search.index import TorchIndex


def test_blocked_search_equals_the_full_product_and_pads_past_the_corpus():
    rng = np.random.default_rng(0)
    docs = rng.standard_normal((5000, 32)).astype(np.float32)
    queries = rng.standard_normal((300, 32)).astype(np.float32)
    index = TorchIndex(32, chunk_size=64, block_elements=1000)  # blocks of 15 documents for 64 queries
    for start in range(0, len(docs), 700):
        index.add(docs[start : start + 700])
    assert index.ntotal == 5000 and np.array_equal(index.vectors(), docs)
    scores, ids = index.search(queries, 7)
    full = queries @ docs.T
    expected = np.argsort(-full, axis=1)[:, :7]
    assert np.array_equal(ids, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(full, expected, 1), atol=1e-4)
    scores, ids = index.search(queries[:3], 5003)
    assert (ids[:, :5000] >= 0).all() and (ids[:, 5000:] == -1).all() and np.isneginf(scores[:, 5000:]).all()
