"""CUDA graphs for the encode loop: one captured forward per padded batch shape, replayed.

A length-sorted encode runs many batches of few shapes (``batch_size`` rows, lengths in steps of 8), and at
these sizes launching a transformer's few hundred kernels one by one from Python costs as much as running
them. :class:`ShapeGraphs` captures the forward once per (rows, length) shape and replays it: a batch of
``b`` rows runs in the graph of the smallest row bucket that holds it (powers of two, and ``max_rows``), the
extra rows computing throw-away vectors that are never read. Rows of a transformer do not interact, so the
real rows' vectors are those of the eager forward on the same shape.

With ``capture=False`` the same bucketing and static buffers run eagerly (no CUDA needed): the CPU tests
check it against the plain path, and a model whose forward cannot be captured falls back to it.
"""
from __future__ import annotations

import logging
from typing import Callable

import torch

logger = logging.getLogger(__name__)

Forward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(input_ids [B, L], attention_mask [B, L], on the device) -> float32 vectors [B, dim], with no host
synchronisation."""


def row_bucket(rows: int, max_rows: int) -> int:
    """The rows a batch of ``rows`` runs with: the smallest power of two that holds it, or ``max_rows``."""
    if rows < 1 or rows > max_rows:
        raise ValueError(f"a batch of {rows} rows does not fit buckets of at most {max_rows} rows")
    bucket = 1 << (rows - 1).bit_length()
    return min(bucket, max_rows)


class ShapeGraphs:
    """Runs ``forward`` on batches of at most ``max_rows`` rows through one CUDA graph per padded shape
    (captured on first use, sharing one memory pool), or through the same static buffers eagerly when
    ``capture`` is False. The vectors returned are a view of the graph's output: use them before the next call
    (a copy queued on the same stream, as the encode loop does, is in time)."""

    def __init__(self, forward: Forward, device: torch.device, max_rows: int, pad_id: int, capture: bool = True):
        self.forward = forward
        self.device = torch.device(device)
        self.max_rows = max_rows
        self.pad_id = pad_id
        self.capture = capture and self.device.type == "cuda"
        self.pool = torch.cuda.graph_pool_handle() if self.capture else None
        self.shapes: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor, object]] = {}

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The vectors of a batch (host tensors, pinned for an asynchronous copy, or device tensors)."""
        rows, length = input_ids.shape
        key = (row_bucket(rows, self.max_rows), length)
        entry = self.shapes.get(key)
        if entry is None:
            entry = self._build(*key)
            self.shapes[key] = entry
        ids, mask, out, graph = entry
        ids[:rows].copy_(input_ids, non_blocking=True)
        mask[:rows].copy_(attention_mask, non_blocking=True)
        if graph is None:
            out = self.forward(ids, mask)
        else:
            graph.replay()
        return out[:rows]

    def _build(self, rows: int, length: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, object]:
        ids = torch.full((rows, length), self.pad_id, dtype=torch.long, device=self.device)
        mask = torch.zeros(rows, length, dtype=torch.long, device=self.device)
        if length:
            mask[:, 0] = 1  # rows no batch fills yet still hold one token, so no row attends to nothing
        if not self.capture:
            return ids, mask, None, None
        try:
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                for _ in range(2):  # warm-up: kernel selection and lazy initialisation happen outside capture
                    self.forward(ids, mask)
            torch.cuda.current_stream(self.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self.pool):
                out = self.forward(ids, mask)
        except Exception as exc:  # a forward that cannot be captured (a host sync, a CPU op): run it eagerly
            logger.warning("CUDA graph capture of the encoder failed (%s: %s); encoding without CUDA graphs",
                           type(exc).__name__, exc)
            torch.cuda.synchronize(self.device)
            self.capture = False
            self.shapes.clear()
            return ids, mask, None, None
        return ids, mask, out, graph
