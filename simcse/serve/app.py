"""The FastAPI app of ``simcse serve``: :func:`create_app`.

Routes: ``POST /v1/embeddings`` (OpenAI's embeddings API), ``POST /v1/search`` (the loaded index),
``GET /v1/models``, ``GET /health`` (503 until the model is loaded), ``GET /metrics`` (Prometheus),
and the search page at ``/`` (``/static/...``). With API keys set, every route but ``/health`` and
the page's own files needs ``Authorization: Bearer KEY``. Every error is OpenAI's error object;
no answer holds a filesystem path or a traceback.
"""
from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Callable

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..tool import SimCSE
from .batcher import Batcher, QueueFull
from .config import ServeConfig
from .corpus import load_or_build_index
from .metrics import Metrics
from .requests import ApiError, embedding_request, parse_json, search_request

logger = logging.getLogger("simcse.serve")

PAGE_DIR = Path(__file__).resolve().parent / "page"
PUBLIC = ("/health", "/")
PUBLIC_PREFIX = "/static/"
"""Paths served without an API key: the health probe and the search page's own files (it holds no data)."""


def load_model(config: ServeConfig) -> SimCSE:
    """The model (and its index) the config names: ``corpus`` indexed through ``index`` (loaded when the
    folder holds that corpus, else built and saved), or the saved ``index`` alone."""
    model = SimCSE(config.model, device=config.device, pooler=config.pooler, max_length=config.max_length)
    if config.corpus:
        start = time.perf_counter()
        source = load_or_build_index(model, config.corpus, config.index, use_faiss=config.use_faiss,
                                     batch_size=config.batch_size, show_progress_bar=False)
        logger.info("%s index of %d sentences from %s in %.1fs%s", source, model.index.ntotal, config.corpus,
                    time.perf_counter() - start, f" ({config.index})" if config.index else "")
    elif config.index:
        model.load_index(config.index, use_faiss=config.use_faiss)
    return model


class Service:
    """What the routes share: the config, the metrics, and the model with its batcher once loaded."""

    def __init__(self, config: ServeConfig, model: SimCSE | None):
        self.config = config
        self.metrics = Metrics()
        self.model_name = config.model_name()
        self.model = model
        self.batcher: Batcher | None = None
        self.failed = False
        self.created = int(time.time())
        self.keys = [k.encode() for k in config.api_keys]

    def start(self, model: SimCSE) -> None:
        c = self.config
        self.batcher = Batcher(model, self.metrics, max_batch_size=c.max_batch_size, max_wait_ms=c.max_wait_ms,
                               max_queue=c.max_queue, batch_size=c.batch_size, dtype=c.dtype,
                               cuda_graphs=c.cuda_graphs)
        self.model = model
        self.metrics.ready.set(1)

    def authorized(self, header: str | None) -> bool:
        if not self.keys:
            return True
        if not header or not header.startswith("Bearer "):
            return False
        given = header[len("Bearer "):].strip().encode()
        return any(hmac.compare_digest(given, k) for k in self.keys)

    def require_model(self) -> tuple[SimCSE, Batcher]:
        if self.batcher is None or self.model is None:
            state = "failed to load" if self.failed else "is still loading"
            raise ApiError(503, f"the model {state}: see GET /health", kind="server_error", code="model_not_ready",
                           headers={"Retry-After": "5"})
        return self.model, self.batcher


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def read_body(request: Request, config: ServeConfig) -> bytes:
    """The request body, at most ``max_body_bytes``, received within ``body_timeout`` seconds."""
    close = {"Connection": "close"}  # the rest of the body is not read: the connection cannot be reused
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise ApiError(400, f"Content-Length {length!r:.40} is not a number", headers=close)
        if int(length) > config.max_body_bytes:
            raise ApiError(413, f"the request body has {int(length)} bytes; at most {config.max_body_bytes} are accepted",
                           code="body_too_large", headers=close)
    chunks: list[bytes] = []
    size = 0

    async def receive() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > config.max_body_bytes:
                raise ApiError(413, f"the request body has more than {config.max_body_bytes} bytes, the limit",
                               code="body_too_large", headers=close)
            chunks.append(chunk)

    try:
        await asyncio.wait_for(receive(), config.body_timeout)
    except asyncio.TimeoutError:
        raise ApiError(408, f"the request body was not received within {config.body_timeout:g} seconds "
                            f"({size} bytes came)", code="body_timeout", headers=close) from None
    return b"".join(chunks)


def create_app(config: ServeConfig, model: SimCSE | None = None,
               on_load_error: Callable[[BaseException], None] | None = None) -> FastAPI:
    """The app. With ``model`` given it serves that model at once; else it loads ``config.model`` (and
    ``config.index``) in a background thread at startup, answering 503 meanwhile, and calls
    ``on_load_error`` if that fails."""
    config.check()
    service = Service(config, None)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        loader = None
        if model is not None:
            service.start(model)
        else:
            def load() -> None:
                try:
                    service.start(load_model(config))
                    logger.info("model %s loaded: serving", service.model_name)
                except BaseException as exc:  # reported to the command, which stops the server
                    service.failed = True
                    logger.error("the model could not be loaded: %s", exc)
                    if on_load_error is not None:
                        on_load_error(exc)

            loader = threading.Thread(target=load, name="simcse-serve-load", daemon=True)
            loader.start()
        try:
            yield
        finally:
            if service.batcher is not None:
                service.batcher.close()

    app = FastAPI(title="simcse serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service

    @app.middleware("http")
    async def auth_and_metrics(request: Request, call_next):
        start = time.perf_counter()
        path = request.url.path
        public = path in PUBLIC or path.startswith(PUBLIC_PREFIX)
        if not public and not service.authorized(request.headers.get("authorization")):
            response = error_response(ApiError(
                401, "missing or incorrect API key: send the header 'Authorization: Bearer YOUR_KEY'",
                code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}))
        else:
            try:
                response = await call_next(request)
            except Exception:  # never a traceback to the client
                logger.exception("error answering %s %s", request.method, path)
                response = error_response(ApiError(500, "internal server error", kind="server_error"))
        route = request.scope.get("route")
        endpoint = getattr(route, "path", None) or "other"
        service.metrics.requests.labels(endpoint, str(response.status_code)).inc()
        service.metrics.latency.labels(endpoint).observe(time.perf_counter() - start)
        return response

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        message = {404: f"no route {request.url.path!r:.200}", 405: f"{request.method} is not allowed on "
                   f"{request.url.path!r:.200}"}.get(exc.status_code, str(exc.detail))
        return error_response(ApiError(exc.status_code, message, headers=dict(exc.headers or {})))

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception):
        logger.exception("error answering %s %s", request.method, request.url.path)
        return error_response(ApiError(500, "internal server error", kind="server_error"))

    async def wait(coro_factory: Callable[[Batcher], Any]) -> Any:
        _, batcher = service.require_model()
        try:
            return await coro_factory(batcher)
        except QueueFull as exc:
            raise ApiError(429, f"the server is busy: {exc}; retry later", kind="rate_limit_error",
                           code="queue_full", headers={"Retry-After": str(batcher.retry_after())}) from None
        except asyncio.TimeoutError:
            raise ApiError(504, f"no answer within {config.request_timeout:g} seconds (the request_timeout)",
                           kind="server_error", code="timeout") from None

    @app.post("/v1/embeddings")
    async def embeddings(request: Request):
        model, _ = service.require_model()
        data = parse_json(await read_body(request, config), config)
        req = embedding_request(data, config, service.model_name, model.encoder.dim)
        result = await wait(lambda b: b.embed(req.texts, req.dimensions, config.request_timeout))
        service.metrics.inputs.inc(len(req.texts))
        service.metrics.tokens.inc(result.tokens)
        if req.encoding_format == "base64":
            items = [base64.b64encode(v.astype("<f4").tobytes()).decode("ascii") for v in result.vectors]
        else:
            items = result.vectors.tolist()
        # a JSONResponse of plain types: FastAPI's encoder would walk every float of every vector first
        return JSONResponse({
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(items)],
            "model": service.model_name,
            "usage": {"prompt_tokens": result.tokens, "total_tokens": result.tokens},
        })

    @app.post("/v1/search")
    async def search(request: Request):
        model, _ = service.require_model()
        data = parse_json(await read_body(request, config), config)
        req = search_request(data, config, service.model_name)
        if model.index is None:
            raise ApiError(404, "no index is loaded: start the server with --corpus FILE (and --index FOLDER to "
                                "save it), or --index FOLDER holding a saved index", param="queries",
                           code="index_not_loaded")
        hits = await wait(lambda b: b.search(req.queries, req.top_k, req.threshold, config.request_timeout))
        service.metrics.inputs.inc(len(req.queries))
        return JSONResponse({
            "object": "list",
            "data": [{"object": "search_result", "index": i, "query": q,
                      "results": [{"id": _plain(h[2]), "text": h[0], "score": float(h[1])} for h in row]}
                     for i, (q, row) in enumerate(zip(req.queries, hits))],
            "model": service.model_name,
            "index_size": int(model.index.ntotal),
        })

    def model_card() -> dict[str, Any]:
        return {"id": service.model_name, "object": "model", "created": service.created, "owned_by": "simcse"}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [model_card()]}

    @app.get("/v1/models/{model_id:path}")
    async def model_info(model_id: str):
        if model_id != service.model_name:
            raise ApiError(404, f"the model {model_id!r:.200} does not exist: this server serves "
                                f"{service.model_name!r}", param="model", code="model_not_found")
        card = model_card() | {"search_defaults": {"top_k": config.page_top_k, "threshold": config.page_threshold}}
        if service.model is not None:
            card |= {"dimensions": service.model.encoder.dim, "max_tokens": service.model.max_length,
                     "index_size": int(service.model.index.ntotal) if service.model.index is not None else 0}
        return card

    @app.get("/health")
    async def health():
        if service.batcher is None:
            return JSONResponse({"status": "failed" if service.failed else "loading"}, status_code=503)
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics():
        return Response(service.metrics.render(), media_type=service.metrics.content_type)

    @app.get("/")
    async def page():
        return FileResponse(PAGE_DIR / "index.html", media_type="text/html")

    @app.get("/static/{name}")
    async def static(name: str):
        files = {p.name: p for p in PAGE_DIR.iterdir() if p.suffix in (".js", ".css")}
        if name not in files:
            raise ApiError(404, f"no file {name!r:.100}")
        return FileResponse(files[name])

    return app


def _plain(value: Any) -> Any:
    """An index id as JSON: numpy integers become int."""
    return value.item() if hasattr(value, "item") else value
