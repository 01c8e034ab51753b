"""Load test of ``simcse serve``: concurrent clients against the same requests sent one by one.

    python -m bench.serve_load --device cpu                       # all-MiniLM-L6-v2, 32 clients, 1-16 sentences each
    python -m bench.serve_load --device cuda --dtype float16 --name serve_load_cuda

The server runs as its own process (``python -m simcse serve``), as in production. The same
``--requests`` requests (each 1-16 Wikipedia sentences, or the bundled corpus) are sent first one by
one (one client, each waiting for its answer), then by ``--clients`` concurrent asyncio/httpx
clients; throughput, p50/p99 latency and errors of both are reported. Then a second server with a
small queue (``--overload_queue``) gets ``--overload_clients`` clients at once: every answer must
be 200 or 429 (with Retry-After), none a timeout or a 5xx.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from bench.common import table, wiki_sentences, write_result
from simcse.serve.server import free_port

ROOT = Path(__file__).resolve().parents[1]


def make_requests(n: int, low: int, high: int, seed: int = 0) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(low, high + 1, size=n)
    pool, _ = wiki_sentences(int(sizes.sum()))
    out, start = [], 0
    for k in sizes:
        out.append(pool[start:start + int(k)])
        start += int(k)
    return out


class Server:
    """``python -m simcse serve`` in a subprocess, ready once /health answers 200."""

    def __init__(self, args: argparse.Namespace, *extra: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "simcse", "serve", "--port", str(self.port), "--log_level", "warning",
               "--device", args.device, "--dtype", args.dtype, *(["--model", args.model] if args.model else []), *extra]
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen(cmd, env=env)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with status {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not become ready")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def run_clients(url: str, requests: list[list[str]], clients: int, timeout: float) -> dict:
    """Send ``requests`` with ``clients`` concurrent clients; statuses, latencies and wall time."""
    queue: asyncio.Queue = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    retry_after: list[int] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:
        async def worker() -> None:
            while not queue.empty():
                texts = queue.get_nowait()
                t = time.perf_counter()
                try:
                    r = await client.post("/v1/embeddings", json={"input": texts, "encoding_format": "base64"})
                    key = str(r.status_code)
                    if r.status_code == 200:
                        assert len(r.json()["data"]) == len(texts)
                    elif r.status_code == 429:
                        retry_after.append(int(r.headers["Retry-After"]))
                except httpx.TimeoutException:
                    key = "timeout"
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                latencies.append(time.perf_counter() - t)
                statuses[key] = statuses.get(key, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1000
    return {"clients": clients, "requests": len(requests), "sentences": sum(map(len, requests)), "wall_s": wall,
            "requests_per_s": len(requests) / wall, "sentences_per_s": sum(map(len, requests)) / wall,
            "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "statuses": statuses, "retry_after_s": sorted(set(retry_after))}


def batch_counts(url: str) -> dict[str, float]:
    """The server's merged-pass counters (``simcse_batch_*_sum`` / ``_count``)."""
    text = httpx.get(url + "/metrics", timeout=10).text
    return {k: float(v) for k, v in (line.split() for line in text.splitlines()
                                     if line.startswith("simcse_batch_") and line.split()[0].endswith(("_sum", "_count")))}


def direct_reference(args: argparse.Namespace, requests: list[list[str]]) -> dict:
    """``SimCSE.encode`` in this process, no server: request by request, then all requests in one call
    (the model's own gain from bigger batches on this machine, the ceiling of what merging can give)."""
    import torch

    from simcse import SimCSE

    model = SimCSE(args.model, device=args.device)
    dtype = {"float32": None, "float16": torch.float16, "bfloat16": torch.bfloat16}[args.dtype]
    model.encode(requests[0], dtype=dtype)
    t = time.perf_counter()
    for r in requests:
        model.encode(r, dtype=dtype)
    alone = time.perf_counter() - t
    flat = [s for r in requests for s in r]
    t = time.perf_counter()
    model.encode(flat, dtype=dtype)
    merged = time.perf_counter() - t
    del model
    return {"requests": len(requests), "sentences": len(flat), "one_call_per_request_sentences_per_s": len(flat) / alone,
            "one_call_sentences_per_s": len(flat) / merged, "ratio": alone / merged}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="model folder (default: all-MiniLM-L6-v2)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"))
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--requests", type=int, default=320)
    p.add_argument("--min_sentences", type=int, default=1)
    p.add_argument("--max_sentences", type=int, default=16)
    p.add_argument("--overload_clients", type=int, default=128)
    p.add_argument("--overload_queue", type=int, default=16)
    p.add_argument("--timeout", type=float, default=120.0, help="client timeout per request (s)")
    p.add_argument("--direct_requests", type=int, default=64,
                   help="requests encoded in-process without the server, for the reference ratio (0: skip)")
    p.add_argument("--name", default="serve_load_cpu")
    args = p.parse_args()

    load_before = os.getloadavg()
    requests = make_requests(args.requests, args.min_sentences, args.max_sentences)
    direct = direct_reference(args, requests[:args.direct_requests]) if args.direct_requests else None
    rows, passes = [], {}
    server = Server(args)
    try:
        asyncio.run(run_clients(server.url, requests[:16], 4, args.timeout))  # warm-up
        for mode, clients in (("one by one", 1), (f"{args.clients} concurrent", args.clients)):
            before = batch_counts(server.url)
            rows.append({"mode": mode, **asyncio.run(run_clients(server.url, requests, clients, args.timeout))})
            after = batch_counts(server.url)
            n = after["simcse_batch_requests_count"] - before["simcse_batch_requests_count"]
            passes[mode] = {"passes": n, "requests_per_pass": (after["simcse_batch_requests_sum"] - before[
                "simcse_batch_requests_sum"]) / n, "sentences_per_pass": (after["simcse_batch_sentences_sum"] - before[
                    "simcse_batch_sentences_sum"]) / n}
    finally:
        server.stop()
    speedup = rows[1]["requests_per_s"] / rows[0]["requests_per_s"]

    server = Server(args, "--max_queue", str(args.overload_queue))
    try:
        overload = asyncio.run(run_clients(server.url, make_requests(args.overload_clients * 2, args.min_sentences,
                                                                     args.max_sentences, seed=1),
                                           args.overload_clients, args.timeout))
    finally:
        server.stop()
    rows.append({"mode": f"{args.overload_clients} concurrent, max_queue {args.overload_queue}", **overload})

    cols = ["mode", "clients", "requests", "sentences", "wall_s", "requests_per_s", "sentences_per_s", "p50_ms",
            "p99_ms", "statuses"]
    print(table([{**r, "statuses": " ".join(f"{k}:{v}" for k, v in sorted(r["statuses"].items()))} for r in rows], cols))
    print(f"concurrent / one by one: {speedup:.2f}x requests/s")
    print("merged passes:", passes)
    if direct:
        print(f"direct SimCSE.encode (no server), {direct['requests']} requests: one call per request "
              f"{direct['one_call_per_request_sentences_per_s']:.1f} sentences/s, one call for all "
              f"{direct['one_call_sentences_per_s']:.1f} sentences/s ({direct['ratio']:.2f}x)")
    load_after = os.getloadavg()
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    path = write_result(args.name, {"args": vars(args), "rows": rows, "speedup": speedup, "passes": passes,
                                    "direct": direct, "loadavg_before": load_before, "loadavg_after": load_after})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
