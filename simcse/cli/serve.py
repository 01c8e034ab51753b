"""``simcse serve``: the OpenAI-compatible embedding and search server (the work is :mod:`simcse.serve`)."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from ..defaults import BATCH_SIZE
from ..serve.config import DTYPES, ServeConfig, read_api_keys
from ..tool import read_sentence_file
from .common import DefaultsHelpFormatter, positive_float, positive_int

HELP = "serve embeddings and search over HTTP (OpenAI-compatible /v1/embeddings, /v1/search)"


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``simcse serve``."""
    d = ServeConfig()
    p = argparse.ArgumentParser(prog="simcse serve", formatter_class=DefaultsHelpFormatter, description=(
        "Serve a model over HTTP: POST /v1/embeddings (OpenAI's embeddings API), POST /v1/search (with --index), "
        "GET /v1/models, /health, /metrics (Prometheus) and a search page at /."))
    p.add_argument("--model", "--model_name_or_path", dest="model", default=None,
                   help="model folder or hub name (default: all-MiniLM-L6-v2)")
    p.add_argument("--corpus", default=None,
                   help="sentence file (one per line) to search; with --index it is encoded once and saved there")
    p.add_argument("--index", default=None,
                   help="index folder: a saved index to search (SimCSE.save_index, simcse demo --index, "
                        "simcse index build), or where the --corpus index is saved and found at the next start")
    p.add_argument("--served_model_name", default=None,
                   help="the model id clients send and see (default: the model folder's name)")
    p.add_argument("--pooler", default=None, help="override the pooling head")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--dtype", choices=DTYPES, default=d.dtype,
                   help="precision the model runs in (float16/bfloat16: autocast; vectors are float32)")
    p.add_argument("--max_length", type=positive_int, default=None, help="tokens kept per input (default: the model's)")
    p.add_argument("--no_faiss", action="store_true", help="search the index with the exact torch backend")
    p.add_argument("--host", default=d.host, help="address to listen on (default: localhost only)")
    p.add_argument("--port", type=int, default=d.port, help=f"port (default {d.port})")
    p.add_argument("--api_key", action="append", default=[],
                   help="accept this key (Authorization: Bearer KEY); repeat for several; none: no auth")
    p.add_argument("--api_key_file", default=None, help="file of accepted keys, one per line")
    g = p.add_argument_group("batching")
    g.add_argument("--batch_size", type=positive_int, default=BATCH_SIZE, help="sentences per forward pass")
    g.add_argument("--max_batch_size", type=positive_int, default=d.max_batch_size,
                   help="sentences merged from concurrent requests into one encode call")
    g.add_argument("--max_wait_ms", type=float, default=d.max_wait_ms,
                   help="how long the first request of a merge waits for others")
    g.add_argument("--no_cuda_graphs", action="store_true",
                   help="on CUDA, run the model eagerly instead of replaying a CUDA graph per batch shape")
    g = p.add_argument_group("limits")
    g.add_argument("--max_queue", type=positive_int, default=d.max_queue,
                   help="requests waiting for the model; more get 429 with Retry-After")
    g.add_argument("--max_body_bytes", type=positive_int, default=d.max_body_bytes, help="request body size (413 above)")
    g.add_argument("--max_inputs", type=positive_int, default=d.max_inputs, help="strings per request")
    g.add_argument("--max_input_chars", type=positive_int, default=d.max_input_chars, help="characters per string")
    g.add_argument("--max_top_k", type=positive_int, default=d.max_top_k, help="largest top_k of /v1/search")
    g.add_argument("--request_timeout", type=positive_float, default=d.request_timeout,
                   help="seconds a request may wait for the model (504 after)")
    g.add_argument("--body_timeout", type=positive_float, default=d.body_timeout,
                   help="seconds to receive a request body (408 after)")
    g.add_argument("--header_timeout", type=positive_float, default=d.header_timeout,
                   help="seconds to receive a request's headers (the connection is closed after)")
    g.add_argument("--timeout_keep_alive", type=positive_float, default=d.timeout_keep_alive,
                   help="seconds an idle connection is kept")
    g.add_argument("--max_connections", type=positive_int, default=d.max_connections,
                   help="open connections; requests beyond get 503")
    p.add_argument("--log_level", default="info", choices=("critical", "error", "warning", "info", "debug"),
                   help="log level of the server and its access log")
    return p


def config_from_args(args: argparse.Namespace) -> ServeConfig:
    keys = list(args.api_key)
    if args.api_key_file:
        keys += read_api_keys(args.api_key_file)
    return ServeConfig(
        model=args.model, index=args.index, corpus=args.corpus, served_model_name=args.served_model_name, device=args.device,
        dtype=args.dtype, pooler=args.pooler, max_length=args.max_length, use_faiss=False if args.no_faiss else None,
        api_keys=keys, host=args.host, port=args.port, batch_size=args.batch_size, max_batch_size=args.max_batch_size,
        max_wait_ms=args.max_wait_ms, cuda_graphs=not args.no_cuda_graphs, max_queue=args.max_queue, max_body_bytes=args.max_body_bytes,
        max_inputs=args.max_inputs, max_input_chars=args.max_input_chars, max_top_k=args.max_top_k,
        request_timeout=args.request_timeout, body_timeout=args.body_timeout, header_timeout=args.header_timeout,
        timeout_keep_alive=args.timeout_keep_alive, max_connections=args.max_connections,
    ).check()


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until Ctrl+C; returns the exit status (2 on bad input or a model that cannot load)."""
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
        if args.corpus:
            read_sentence_file(args.corpus)  # a bad corpus path fails now, not in the loading thread
    except (ValueError, OSError) as exc:
        print(f"simcse serve: error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    return run_server(config, "simcse serve", "serve", args.log_level)


def run_server(config: ServeConfig, prog: str, extra: str, log_level: str = "info") -> int:
    """Serve ``config`` until Ctrl+C (``simcse serve`` and ``simcse demo``): the app listens first (a busy
    port fails at once), then loads the model and its index in the background. Prints "PROG: serving ...
    at http://HOST:PORT/"; returns the exit status (2 when the extra is missing, the port cannot be
    listened on or the model cannot load)."""
    try:
        # fastapi and uvicorn are the [serve] extra: imported when the server runs
        from ..serve.app import create_app
        from ..serve.server import bind, make_server
    except ImportError as exc:
        print(f"{prog}: error: {exc}: pip install 'simcse[{extra}]'", file=sys.stderr)
        return 2
    failed: list[BaseException] = []

    def on_load_error(exc: BaseException) -> None:
        failed.append(exc)
        server.should_exit = True

    server = make_server(create_app(config, on_load_error=on_load_error), config, log_level)
    try:
        sock = bind(config.host, config.port)
    except OSError as exc:
        print(f"{prog}: error: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 2
    shown = config.host if config.host not in ("0.0.0.0", "::") else "127.0.0.1"
    print(f"{prog}: serving {config.model_name()} at http://{shown}:{sock.getsockname()[1]}/ "
          "(GET /health says when the model is loaded; Ctrl+C to stop)", flush=True)
    server.run(sockets=[sock])
    if failed:
        print(f"{prog}: error: {failed[0]}", file=sys.stderr)
        return 2
    return 0
