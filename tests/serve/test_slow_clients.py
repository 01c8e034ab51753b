"""Slow and oversized clients: slow-loris headers, a body that never ends, huge bodies, header floods.

None of them may pin a thread, grow memory without bound, or keep normal clients from being served.
"""
from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest

from servers import start, tiny_model  # tiny_model: a fixture


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    return s


def read_all(s: socket.socket, timeout: float = 10) -> bytes:
    s.settimeout(timeout)
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return out


@pytest.fixture(scope="module")
def strict_server(tiny_model):
    with start(tiny_model, header_timeout=1.0, body_timeout=1.0, max_body_bytes=32 * 1024,
               timeout_keep_alive=1.0) as url:
        yield url


def test_slow_loris_clients_are_cut_off_and_do_not_block_others(strict_server):
    threads_before = threading.active_count()
    stop = threading.Event()
    sockets = [connect(strict_server) for _ in range(60)]
    closed_at: dict[int, float] = {}
    start_time = time.monotonic()

    def trickle() -> None:  # a header line every 0.2 s: never a complete request
        for s in sockets:
            s.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n")
        n = 0
        while not stop.is_set() and len(closed_at) < len(sockets):
            for i, s in enumerate(sockets):
                if i in closed_at:
                    continue
                try:
                    s.sendall(b"X-Slow-%d: y\r\n" % n)
                except OSError:
                    closed_at[i] = time.monotonic() - start_time
            n += 1
            time.sleep(0.2)

    slow = threading.Thread(target=trickle)
    slow.start()
    try:
        latencies = []
        with httpx.Client(base_url=strict_server, timeout=10) as client:
            for i in range(15):
                t = time.monotonic()
                r = client.post("/v1/embeddings", json={"input": f"normal client {i}"})
                latencies.append(time.monotonic() - t)
                assert r.status_code == 200
        assert threading.active_count() <= threads_before + 2  # the trickle thread; no thread per connection
        slow.join(timeout=8)
    finally:
        stop.set()
        slow.join()
        for s in sockets:
            s.close()
    assert max(latencies) < 2.0, latencies
    assert len(closed_at) == len(sockets), f"{len(sockets) - len(closed_at)} slow connections stayed open"
    assert max(closed_at.values()) < 5.0  # closed about header_timeout (1 s) after they opened


def test_a_connection_that_sends_nothing_is_closed(strict_server):
    s = connect(strict_server)
    t = time.monotonic()
    assert read_all(s) == b""
    assert time.monotonic() - t < 5
    s.close()


def test_a_body_shorter_than_its_content_length_gets_408_not_a_hang(strict_server):
    s = connect(strict_server)
    s.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 1000\r\n\r\n{\"input\": \"hel")
    t = time.monotonic()
    answer = read_all(s)
    s.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"body_timeout" in answer and time.monotonic() - t < 5


def test_an_oversized_body_is_refused_before_it_is_read(strict_server):
    s = connect(strict_server)
    s.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 1000000000\r\n\r\n")
    answer = read_all(s)
    s.close()
    assert answer.startswith(b"HTTP/1.1 413") and b"at most 32768" in answer


def test_a_chunked_body_past_the_limit_is_cut_off(strict_server):
    s = connect(strict_server)
    s.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    sent = 0
    try:
        for _ in range(200):  # up to 800 KB, far past the 32 KB limit
            s.sendall(b"1000\r\n" + b"a" * 4096 + b"\r\n")
            sent += 4096
    except OSError:
        pass  # the server closed the connection: it stopped reading
    answer = read_all(s)
    s.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def test_header_floods_are_refused_and_do_not_grow_memory(strict_server):
    """20 connections each sending 2 MB of header: h11 stops buffering at 16 KiB a connection."""
    before = rss_bytes()
    socks = [connect(strict_server) for _ in range(20)]
    answers = []
    for s in socks:
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
            for _ in range(32):
                s.sendall(b"a" * 65536)
        except OSError:
            pass  # the server closed the connection: it stopped reading
    for s in socks:
        answers.append(read_all(s))
        s.close()
    growth = rss_bytes() - before
    assert all(a == b"" or a.startswith(b"HTTP/1.1 4") for a in answers), [a[:100] for a in answers]
    assert growth < 32 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB for 40 MB of headers"
    assert httpx.get(strict_server + "/health", timeout=10).status_code == 200
