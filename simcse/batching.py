"""Tokenizer worker processes for :meth:`simcse.encoder.SentenceEncoder.encode_stream`.

On a GPU the encode loop is bound by the host, not by the model: turning the Rust tokenizer's output into
Python lists and padded arrays holds the interpreter lock, and a thread doing it starves the thread that
launches the model's kernels. :class:`TokenizerProcesses` moves that work into a few fresh processes
(:mod:`simcse.tokenize_worker`, which imports only numpy and ``tokenizers``), each sending back a chunk's
padded batches as arrays. The batches are the ones the in-process path builds from the same token ids.
"""
from __future__ import annotations

import os
import pickle
import queue
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from .tokenize_worker import Batch

WORKER = Path(__file__).with_name("tokenize_worker.py")
_BOOT = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"


def default_workers(cpu_count: int | None = None) -> int:
    """Worker processes worth starting on a machine with ``cpu_count`` cores: none below 4 cores (the model's
    own threads need them), else one per 4 cores beyond the first 2, at most 4."""
    cpus = cpu_count or os.cpu_count() or 1
    return 0 if cpus < 4 else max(1, min(4, (cpus - 2) // 4))


class TokenizerProcesses:
    """``workers`` processes that tokenize chunks of texts into padded batches; :meth:`submit` returns a
    future per chunk. Each process runs the Rust tokenizer on ``threads`` threads. Close it (or use it as a
    context manager) to end the processes."""

    def __init__(self, tokenizer_json: str, settings: dict[str, Any], workers: int, threads: int | None = None):
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        cpus = os.cpu_count() or 1
        threads = threads or max(1, (cpus - 1) // workers)
        env = dict(os.environ, TOKENIZERS_PARALLELISM="true" if threads > 1 else "false",
                   RAYON_NUM_THREADS=str(threads), RAYON_RS_NUM_CPUS=str(threads))
        # Sent by each worker's first request, so that starting the processes never waits for them.
        self._hello = pickle.dumps({"tokenizer": tokenizer_json, "settings": settings}, protocol=pickle.HIGHEST_PROTOCOL)
        self._greeted: set[int] = set()
        self._procs: list[subprocess.Popen] = []
        self._idle: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        try:
            for _ in range(workers):
                proc = subprocess.Popen([sys.executable, "-c", _BOOT, str(WORKER)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=env)
                self._procs.append(proc)
                self._idle.put(proc)
        except BaseException:
            self.close()
            raise
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="simcse-tokenize")
        self._lock = threading.Lock()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def submit(self, texts: list[str], then: Callable[[list[Batch]], Any] | None = None) -> Future:
        """The padded batches of ``texts`` (see :func:`simcse.tokenize_worker.chunk_batches`), from the next
        free worker; with ``then``, what ``then`` makes of them (run in the thread that waited for them)."""
        if self._closed:
            raise RuntimeError("the tokenizer processes are closed")
        return self._pool.submit(self._run, texts, then)

    def _run(self, texts: list[str], then: Callable[[list[Batch]], Any] | None = None) -> Any:
        proc = self._idle.get()
        try:
            try:
                if proc.pid not in self._greeted:
                    proc.stdin.write(self._hello)
                    self._greeted.add(proc.pid)
                pickle.dump(texts, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                proc.stdin.flush()
                status, payload = pickle.load(proc.stdout)
            except (BrokenPipeError, EOFError, OSError, pickle.UnpicklingError) as exc:
                try:  # a closed pipe: the process is ending, give it a moment to say how
                    code = proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    code = None
                raise RuntimeError(
                    f"tokenizer worker process {proc.pid} ({WORKER.name}) "
                    + ("exited with code " + str(code) if code is not None else "stopped answering")
                    + f" while tokenizing a chunk of {len(texts)} texts ({type(exc).__name__}: {exc})"
                ) from exc
            if status != "ok":
                raise RuntimeError(f"tokenizer worker process {proc.pid} failed on a chunk of {len(texts)} texts:\n"
                                   f"{payload}")
        finally:
            self._idle.put(proc)
        return payload if then is None else then(payload)

    def close(self) -> None:
        """End the processes (their input closes; one that does not exit within 5 s is killed)."""
        if self._closed:
            return
        self._closed = True
        for proc in self._procs:  # a worker ends at the end of its input, after the request it is on
            try:
                proc.stdin.close()
            except OSError:
                pass
        for proc in self._procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        pool = getattr(self, "_pool", None)
        if pool is not None:  # its threads have their answers or an end of file by now
            pool.shutdown(wait=True, cancel_futures=True)
        for proc in self._procs:
            if proc.stdout is not None:
                proc.stdout.close()

    def __enter__(self) -> "TokenizerProcesses":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.close()
