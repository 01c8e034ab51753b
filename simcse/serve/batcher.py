"""Dynamic batching: concurrent requests merged into one forward pass, on one model thread.

Requests wait in a bounded queue (:class:`QueueFull` when it holds ``max_queue``). One worker thread
takes the oldest request, then keeps taking requests until it holds ``max_batch_size`` sentences or
``max_wait_ms`` have passed since the first arrived, and encodes all their sentences with one
:meth:`SimCSE.encode` call, which sorts them by token length and pads each batch of ``batch_size``
to its own longest sentence (length grouping). Each request gets back its own rows, L2-normalised
(after Matryoshka truncation to its ``dimensions``), as ``SimCSE.encode`` would give for that
request alone. A request whose caller stopped waiting (timeout, disconnect) is dropped unencoded.
Each sentence is tokenized once: the token counts of ``usage`` come from the ids the model encodes.
On CUDA the forward passes replay CUDA graphs (one per batch shape, captured the first time it is seen).

Searches run on the same thread, so the model never runs twice at once; consecutive searches with the
same ``top_k`` are merged the same way (one encode of all their queries, one index search), each request
then keeping its own rows above its own threshold, which is what searching it alone gives.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ..search.quantization import truncate_embeddings
from ..tool import SimCSE
from .metrics import Metrics

logger = logging.getLogger("simcse.serve")

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class QueueFull(Exception):
    """The queue holds ``max_queue`` requests: the caller should answer 429."""


@dataclass
class Job:
    texts: list[str] | None  # an embedding request's inputs, or a search's queries
    dims: int | None
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    call: Callable[[], Any] | None = None  # any other work: run alone on the model thread
    search: tuple[int, float] | None = None  # a search: (top_k, threshold)
    arrived: float = field(default_factory=time.perf_counter)

    def merges_with(self, other: "Job") -> bool:
        """Whether ``other`` can join this job's merged pass: embeddings with embeddings, searches with searches
        of the same ``top_k``."""
        if self.call is not None or other.call is not None:
            return False
        if self.search is None or other.search is None:
            return self.search is None and other.search is None
        return self.search[0] == other.search[0]


@dataclass
class Embeddings:
    vectors: np.ndarray  # [n, dims] float32, unit length
    tokens: int


class Batcher:
    """The model thread and its bounded queue; :meth:`embed` and :meth:`run` are awaited from the event loop."""

    def __init__(self, model: SimCSE, metrics: Metrics, max_batch_size: int = 256, max_wait_ms: float = 5.0,
                 max_queue: int = 256, batch_size: int = 64, dtype: str = "float32", cuda_graphs: bool = True):
        self.model = model
        self.metrics = metrics
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.dtype = DTYPES[dtype]
        self.cuda_graphs = cuda_graphs and model.device.type == "cuda"
        self.queue: deque[Job] = deque()
        self.cond = threading.Condition()
        self.closed = False
        self.last_batch_seconds = 0.0
        self.thread = threading.Thread(target=self.work, name="simcse-serve-model", daemon=True)
        self.thread.start()

    # ------------------------------------------------------------------ event loop side
    def submit(self, job: Job) -> None:
        with self.cond:
            if self.closed:
                raise RuntimeError("the server is shutting down")
            if len(self.queue) >= self.max_queue:
                self.metrics.rejected.inc()
                raise QueueFull(f"{len(self.queue)} requests are waiting for the model (the limit is {self.max_queue})")
            self.queue.append(job)
            self.metrics.queue_depth.set(len(self.queue))
            self.cond.notify()

    def retry_after(self) -> int:
        """Seconds a refused client should wait: the merged passes the queue needs, at the last pass's
        duration, at least 1."""
        with self.cond:
            waiting = sum(len(j.texts) if j.texts is not None else self.max_batch_size for j in self.queue)
        passes = -(-waiting // self.max_batch_size)
        return max(1, int(np.ceil(passes * self.last_batch_seconds)))

    async def embed(self, texts: list[str], dims: int | None, timeout: float) -> Embeddings:
        loop = asyncio.get_running_loop()
        job = Job(texts, dims, loop.create_future(), loop)
        self.submit(job)
        return await asyncio.wait_for(job.future, timeout)

    async def search(self, queries: list[str], top_k: int, threshold: float, timeout: float) -> list[list[tuple]]:
        """For each query, (text, score, id) of its ``top_k`` nearest indexed sentences scoring >= ``threshold``."""
        loop = asyncio.get_running_loop()
        job = Job(queries, None, loop.create_future(), loop, search=(top_k, threshold))
        self.submit(job)
        return await asyncio.wait_for(job.future, timeout)

    async def run(self, call: Callable[[], Any], timeout: float) -> Any:
        loop = asyncio.get_running_loop()
        job = Job(None, None, loop.create_future(), loop, call=call)
        self.submit(job)
        return await asyncio.wait_for(job.future, timeout)

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.thread.join(timeout=30)

    # ------------------------------------------------------------------ model thread
    def take(self) -> list[Job] | None:
        """The next group of jobs: one call, or embedding (or search) jobs that merge, up to the size and wait
        bounds."""
        with self.cond:
            while not self.queue and not self.closed:
                self.cond.wait()
            if self.closed:
                return None
            first = self.queue.popleft()
            if first.call is not None:
                self.metrics.queue_depth.set(len(self.queue))
                return [first]
            jobs, size = [first], len(first.texts)
            deadline = first.arrived + self.max_wait
            while size < self.max_batch_size:
                if self.queue:
                    nxt = self.queue[0]
                    if not first.merges_with(nxt) or size + len(nxt.texts) > self.max_batch_size:
                        break
                    jobs.append(self.queue.popleft())
                    size += len(nxt.texts)
                    continue
                left = deadline - time.perf_counter()
                if left <= 0 or self.closed:
                    break
                self.cond.wait(left)
            self.metrics.queue_depth.set(len(self.queue))
            return jobs

    def work(self) -> None:
        while True:
            jobs = self.take()
            if jobs is None:
                return
            jobs = [j for j in jobs if not j.future.cancelled()]  # callers that stopped waiting
            if not jobs:
                continue
            start = time.perf_counter()
            if jobs[0].call is not None:
                self.finish(jobs[0], jobs[0].call)
            elif jobs[0].search is not None:
                self.search_jobs(jobs)
            else:
                self.encode_jobs(jobs)
            self.last_batch_seconds = time.perf_counter() - start

    def finish(self, job: Job, compute: Callable[[], Any]) -> None:
        try:
            result, error = compute(), None
        except Exception as exc:  # handed to the request that caused it
            result, error = None, exc
        job.loop.call_soon_threadsafe(_settle, job.future, result, error)

    def encode_jobs(self, jobs: list[Job]) -> None:
        texts = [t for j in jobs for t in j.texts]
        try:
            raw = self.encode(texts)
        except Exception:  # one bad request must not fail the others: encode each alone
            logger.exception("a merged batch of %d requests failed; encoding them one by one", len(jobs))
            for job in jobs:
                self.finish(job, lambda job=job: self.result(job, self.encode(job.texts)))
            return
        self.metrics.batch_sentences.observe(len(texts))
        self.metrics.batch_requests.observe(len(jobs))
        vectors, tokens = raw
        start = 0
        for job in jobs:
            end = start + len(job.texts)
            rows = (vectors[start:end], tokens[start:end])
            start = end
            self.finish(job, lambda job=job, rows=rows: self.result(job, rows))

    def search_jobs(self, jobs: list[Job]) -> None:
        """Merged searches (one ``top_k``): every query encoded and searched at once, each job keeping its rows
        above its threshold; if the merged search fails, each job is searched alone for its own error."""
        top_k = jobs[0].search[0]
        try:
            hits = self.search_queries([q for j in jobs for q in j.texts], top_k, -1.0)
        except Exception:
            if len(jobs) > 1:
                logger.exception("a merged search of %d requests failed; searching them one by one", len(jobs))
            for job in jobs:
                self.finish(job, lambda job=job: self.search_queries(job.texts, *job.search))
            return
        self.metrics.batch_sentences.observe(len(hits))
        self.metrics.batch_requests.observe(len(jobs))
        start = 0
        for job in jobs:
            rows, threshold = hits[start : start + len(job.texts)], job.search[1]
            start += len(job.texts)
            self.finish(job, lambda rows=rows, threshold=threshold: [[h for h in row if h[1] >= threshold]
                                                                        for row in rows])

    def search_queries(self, queries: list[str], top_k: int, threshold: float) -> list[list[tuple]]:
        """(text, score, id) of each query's ``top_k`` nearest sentences scoring >= ``threshold``: as
        ``SimCSE.search(queries, ..., return_ids=True)``, encoding as this batcher encodes."""
        vectors, _ = self.encode(queries)
        vectors = truncate_embeddings(vectors, self.model.index.dim, normalize=True)
        return self.model.search_vectors(vectors.numpy(), top_k=top_k, threshold=threshold, return_ids=True)

    def encode(self, texts: list[str]) -> tuple[torch.Tensor, list[int]]:
        """Float32 vectors of ``texts`` (unnormalised: a folder's Normalize module is skipped too) and their
        token counts, from one tokenization."""
        encoder = self.model.encoder
        ids = encoder.tokenize_ids(texts, self.model.max_length)
        vectors = encoder.encode_token_ids(ids, batch_size=self.batch_size, device=self.model.device, dtype=self.dtype,
                                           folder_normalize=False, cuda_graphs=self.cuda_graphs)
        return vectors, [len(x) for x in ids]

    def result(self, job: Job, encoded: tuple[torch.Tensor, list[int]]) -> Embeddings:
        vectors, tokens = encoded
        if job.dims is None:
            vectors = torch.nn.functional.normalize(vectors, dim=-1)  # once, as SimCSE.encode does
        else:
            vectors = truncate_embeddings(vectors, job.dims, normalize=True)
        return Embeddings(vectors.numpy().astype(np.float32, copy=False), sum(tokens))


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
