"""The uvicorn server of ``simcse serve``, with the header-read timeout uvicorn lacks.

uvicorn (0.3x-0.5x, h11 protocol) times out idle keep-alive connections, but arms no timer while a
request's headers arrive: a client that opens a connection and sends its headers a byte at a time
(slow loris) holds the connection for ever. :class:`HeaderTimeoutProtocol` closes a connection
whose request headers are not complete ``header_timeout`` seconds after the connection opened (or
after the previous response). The body's own deadline is the app's (:func:`simcse.serve.app.read_body`).
Connections are coroutines on one event loop, not threads: slow clients cost a socket and a few
kilobytes each (headers are capped at ``h11_max_incomplete_event_size``), and past
``max_connections`` new requests get 503 at once.
"""
from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .config import ServeConfig

MAX_HEADER_BYTES = 16 * 1024


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request headers take over ``header_timeout`` seconds."""

    header_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.header_timer: asyncio.TimerHandle | None = None
        self.arm_header_timer()

    def arm_header_timer(self) -> None:
        self.cancel_header_timer()
        self.header_timer = self.loop.call_later(self.header_timeout, self.header_timed_out)

    def cancel_header_timer(self) -> None:
        timer = getattr(self, "header_timer", None)
        if timer is not None:
            timer.cancel()
            self.header_timer = None

    def header_timed_out(self) -> None:
        self.header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.logger.debug("closing a connection whose request headers took over %ss", self.header_timeout)
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the request line and headers are in
            self.cancel_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self.arm_header_timer()  # the next request on this connection gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self.cancel_header_timer()
        super().connection_lost(exc)


def protocol_class(header_timeout: float) -> type[HeaderTimeoutProtocol]:
    """:class:`HeaderTimeoutProtocol` with this timeout (uvicorn instantiates the class itself)."""
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout": float(header_timeout)})


def make_server(app: Any, config: ServeConfig, log_level: str = "info") -> uvicorn.Server:
    """A uvicorn server for ``app`` with the config's connection limits and timeouts."""
    return uvicorn.Server(uvicorn.Config(
        app, host=config.host, port=config.port, http=protocol_class(config.header_timeout),
        timeout_keep_alive=config.timeout_keep_alive, limit_concurrency=config.max_connections,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES, log_level=log_level, access_log=False,
        server_header=False, lifespan="on",
    ))


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket on ``host:port`` (port 0: a free one), for ``Server.run(sockets=[...])``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServerThread:
    """A server run in a background thread (tests, benchmarks): ``with ServerThread(app, config) as url: ...``."""

    def __init__(self, app: Any, config: ServeConfig, log_level: str = "warning"):
        if config.port == 0:
            config.port = free_port(config.host)
        self.server = make_server(app, config, log_level)
        self.url = f"http://{config.host}:{config.port}"
        self.thread = threading.Thread(target=self.server.run, name="simcse-serve", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self.url

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
