"""Length-sorted padded batches of token ids, and the worker process that makes them.

This file imports only numpy and ``tokenizers`` (never ``simcse`` or torch), so that
:class:`simcse.batching.TokenizerProcesses` can run it as a fresh process in a fraction of a second:
``python tokenize_worker.py`` reads pickled requests on stdin and writes pickled replies on stdout.
The same functions build the batches in-process (:meth:`simcse.encoder.SentenceEncoder.encode_stream`
without workers), so both paths give identical batches.

Protocol (pickle, one object per message): first ``{"tokenizer": <tokenizer.json text>, "settings": {...}}``,
then any number of ``list[str]`` requests, each answered by ``("ok", batches)`` or ``("error", text)``;
end of input ends the process.
"""
from __future__ import annotations

import os
import pickle
import sys
import traceback
from typing import Any, Sequence

import numpy as np
from tokenizers import Tokenizer

Batch = tuple[np.ndarray, np.ndarray, np.ndarray]
"""(rows into the chunk, input_ids int64 [b, L], attention_mask int64 [b, L])."""


def plan_batches(lengths: np.ndarray, batch_size: int, max_tokens: int | None = None) -> list[np.ndarray]:
    """Rows of a chunk, longest first (ties in input order), cut into batches of at most ``batch_size``
    sentences and, when given, ``max_tokens`` padded tokens (a batch of one sentence may exceed it)."""
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    out = []
    start = 0
    while start < len(order):
        take = batch_size
        if max_tokens:
            take = min(take, max(1, max_tokens // max(1, int(lengths[order[start]]))))
        out.append(order[start : start + take])
        start += take
    return out


def pad_arrays(
    ids: Sequence[Sequence[int]],
    pad_id: int,
    padding_side: str = "right",
    pad_to_multiple_of: int | None = None,
    pad_to: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Token id lists padded to one length (the longest, at least ``pad_to``, rounded up to a multiple of
    ``pad_to_multiple_of``) on ``padding_side``: input_ids and attention_mask, int64 [len(ids), length]."""
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    length = int(lengths.max()) if len(ids) else 0
    if pad_to is not None:
        length = max(length, pad_to)
    if pad_to_multiple_of:
        length = -(-length // pad_to_multiple_of) * pad_to_multiple_of
    positions = np.arange(length)
    if padding_side == "left":
        mask = positions[None, :] >= (length - lengths)[:, None]
    else:
        mask = positions[None, :] < lengths[:, None]
    input_ids = np.full((len(ids), length), pad_id, dtype=np.int64)
    if lengths.sum():
        input_ids[mask] = np.fromiter((t for seq in ids for t in seq), dtype=np.int64, count=int(lengths.sum()))
    return input_ids, mask.astype(np.int64)


def chunk_batches(ids: Sequence[Sequence[int]], settings: dict[str, Any]) -> list[Batch]:
    """A chunk's token ids as padded batches (:func:`plan_batches`, :func:`pad_arrays`). ``settings``:
    batch_size, max_tokens, pad_id, padding_side, pad_multiple."""
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    out = []
    for rows in plan_batches(lengths, settings["batch_size"], settings.get("max_tokens")):
        input_ids, mask = pad_arrays([ids[r] for r in rows], settings["pad_id"], settings.get("padding_side", "right"),
                                     settings.get("pad_multiple"))
        out.append((rows, input_ids, mask))
    return out


def _serve(stdin: Any, stdout: Any) -> int:
    try:
        hello = pickle.load(stdin)
    except EOFError:
        return 0
    tokenizer = Tokenizer.from_str(hello["tokenizer"])
    settings = hello["settings"]
    encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
    while True:
        try:
            texts = pickle.load(stdin)
        except EOFError:
            return 0
        try:
            reply: Any = ("ok", chunk_batches([e.ids for e in encode(texts, add_special_tokens=True)], settings))
        except Exception:  # the parent raises it with this text
            reply = ("error", traceback.format_exc())
        pickle.dump(reply, stdout, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.flush()


if __name__ == "__main__":
    # Replies go to the real stdout only; anything a library prints goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr
    sys.exit(_serve(sys.stdin.buffer, out))
