"""The web demo: semantic search over a sentence file in the browser, and a small JSON API.

    simcse demo                               # the bundled example corpus, the default model
    simcse demo my_sentences.txt --index idx  # your corpus; the index is saved to / loaded from idx

Routes: ``/`` (the page), ``/api/search?q=...&top_k=...&threshold=...``,
``/api/similarity?a=...&b=...`` (also ``POST`` with a JSON body of the same fields), ``/api/info``.
Bad input gets an HTTP 400 with ``{"error": ..., "field": ...}``; no request answers with a traceback.
"""
from __future__ import annotations

import json
import logging
import math
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

try:
    from flask import Flask, jsonify, render_template, request
    from werkzeug.exceptions import HTTPException
    from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
except ImportError as _exc:  # flask (and its werkzeug) is the [demo] extra
    raise ImportError(f"the web demo needs Flask ({_exc}): pip install 'simcse[demo]'") from _exc

from ..defaults import BATCH_SIZE, bundled_corpus
from ..encoder import default_model_path
from ..serve.corpus import load_or_build_index  # noqa: F401  (the demo's index, shared with simcse serve)
from ..tool import SimCSE, read_sentence_file

logger = logging.getLogger("simcse.demo")

MAX_QUERY_CHARS = 1000
MAX_TOP_K = 100
MAX_BODY_BYTES = 64 * 1024


class ApiError(Exception):
    """Bad input to the API: answered as HTTP ``status`` with a JSON error naming ``field``."""

    def __init__(self, message: str, field: str | None = None, status: int = 400):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


@dataclass
class SearchService:
    """A model with an index, shared by all request threads (model calls are serialised by a lock)."""

    model: SimCSE
    corpus_name: str
    default_top_k: int = 5
    default_threshold: float = 0.0
    index_source: str = "built"
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def size(self) -> int:
        """How many sentences the index holds."""
        return len(self.model.index) if self.model.index is not None else 0

    def info(self) -> dict[str, Any]:
        """What the demo serves: model, corpus, index backend, limits and defaults."""
        index = self.model.index.index if self.model.index is not None else None
        return {
            "model": self.model.model_name_or_path,
            "model_name": model_label(self.model.model_name_or_path),
            "pooler": self.model.pooler,
            "corpus": self.corpus_name,
            "sentences": self.size,
            "index": type(index).__name__ if index is not None else None,
            "index_source": self.index_source,
            "device": str(self.model.device),
            "defaults": {"top_k": self.default_top_k, "threshold": self.default_threshold},
            "limits": {"max_top_k": MAX_TOP_K, "max_query_chars": MAX_QUERY_CHARS},
        }

    def search(self, query: str, top_k: int, threshold: float) -> dict[str, Any]:
        """The ``top_k`` nearest indexed sentences with cosine >= ``threshold``, and the time taken."""
        start = time.perf_counter()
        with self.lock:
            hits = self.model.search(query, top_k=top_k, threshold=threshold)
        ms = (time.perf_counter() - start) * 1000
        return {
            "query": query,
            "top_k": top_k,
            "threshold": threshold,
            "results": [{"rank": i, "sentence": s, "score": round(sc, 6)} for i, (s, sc) in enumerate(hits, 1)],
            "latency_ms": round(ms, 2),
        }

    def similarity(self, a: str, b: str) -> dict[str, Any]:
        """Cosine similarity of two sentences, and the time taken."""
        start = time.perf_counter()
        with self.lock:
            score = float(self.model.similarity(a, b))
        ms = (time.perf_counter() - start) * 1000
        return {"a": a, "b": b, "similarity": round(score, 6), "latency_ms": round(ms, 2)}


def model_label(name_or_path: str) -> str:
    """A short name for a model: "all-MiniLM-L6-v2" for the default one, else the folder name
    (with its parent for ``checkpoint-*`` folders)."""
    path = Path(name_or_path)
    try:
        if path.resolve() == default_model_path().resolve():
            return "all-MiniLM-L6-v2"
    except (ModuleNotFoundError, FileNotFoundError):
        pass
    if path.name.startswith("checkpoint-") and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return path.name or str(name_or_path)


# ---------------------------------------------------------------------- input checking
def parse_text(params: Mapping[str, Any], name: str) -> str:
    """The non-empty text parameter ``name`` (at most MAX_QUERY_CHARS characters), or ApiError."""
    value = params.get(name)
    if value is None:
        raise ApiError(f"missing parameter {name!r}", name)
    if not isinstance(value, str):
        raise ApiError(f"{name} must be a string, got {type(value).__name__}", name)
    value = value.strip()
    if not value:
        raise ApiError(f"{name} is empty: type a sentence", name)
    if len(value) > MAX_QUERY_CHARS:
        raise ApiError(f"{name} is {len(value)} characters long; the limit is {MAX_QUERY_CHARS}", name)
    try:
        value.encode("utf-8")  # a JSON body may hold half of a surrogate pair ("\ud83d"): not text
    except UnicodeEncodeError as exc:
        raise ApiError(f"{name} is not valid Unicode text: a lone surrogate at character {exc.start + 1}",
                       name) from None
    return value


def parse_top_k(params: Mapping[str, Any], default: int) -> int:
    """``top_k`` as an int in [1, MAX_TOP_K] (``default`` when absent or blank), or ApiError."""
    raw = params.get("top_k")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return default
    if isinstance(raw, bool):
        raise ApiError(f"top_k must be an integer from 1 to {MAX_TOP_K}, got {raw!r}", "top_k")
    try:
        value = int(raw.strip()) if isinstance(raw, str) else int(raw)
        if isinstance(raw, float) and raw != value:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise ApiError(f"top_k must be an integer from 1 to {MAX_TOP_K}, got {str(raw)[:40]!r}", "top_k") from None
    if not 1 <= value <= MAX_TOP_K:
        raise ApiError(f"top_k must be from 1 to {MAX_TOP_K}, got {value}", "top_k")
    return value


def parse_threshold(params: Mapping[str, Any], default: float) -> float:
    """``threshold`` as a number in [-1, 1] (``default`` when absent or blank), or ApiError."""
    raw = params.get("threshold")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return default
    if isinstance(raw, bool):
        raise ApiError(f"threshold must be a number from -1 to 1, got {raw!r}", "threshold")
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        raise ApiError(f"threshold must be a number from -1 to 1, got {str(raw)[:40]!r}", "threshold") from None
    if not math.isfinite(value) or not -1.0 <= value <= 1.0:
        raise ApiError(f"threshold must be from -1 to 1, got {str(raw)[:40]!r}", "threshold")
    return value


def _params() -> Mapping[str, Any]:
    """Query-string parameters, or the JSON object of a POST body."""
    if request.method == "POST":
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ApiError("the request body must be a JSON object, e.g. {\"q\": \"a sentence\"}", "body")
        return body
    return request.args


# ---------------------------------------------------------------------- the app
def create_app(service: SearchService) -> Flask:
    """The Flask app serving ``service`` (the page, the JSON API and JSON errors)."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # keep "query, results, latency" in reading order
    app.json.ensure_ascii = False

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        logger.info("%s %s -> %d: %s", request.method, request.path, exc.status, exc.message)
        return jsonify({"error": exc.message, "field": exc.field}), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        return jsonify({"error": f"{exc.code} {exc.name}: {exc.description}", "field": None}), exc.code

    @app.errorhandler(Exception)
    def _internal_error(exc: Exception):
        logger.exception("unexpected error on %s %s", request.method, request.full_path)
        return jsonify({"error": f"internal error ({type(exc).__name__}); see the server log", "field": None}), 500

    @app.get("/")
    def page():
        info = service.info()
        q = request.args.get("q", "")
        result, error = None, None
        if q.strip():
            try:
                result = service.search(
                    parse_text(request.args, "q"),
                    parse_top_k(request.args, service.default_top_k),
                    parse_threshold(request.args, service.default_threshold),
                )
            except ApiError as exc:
                error = exc.message
        top_k = request.args.get("top_k") or service.default_top_k
        threshold = request.args.get("threshold") or service.default_threshold
        return render_template("index.html", info=info, q=q, top_k=top_k, threshold=threshold,
                               result=result, error=error)

    @app.route("/api/search", methods=["GET", "POST"])
    def api_search():
        params = _params()
        q = parse_text(params, "q")
        top_k = parse_top_k(params, service.default_top_k)
        threshold = parse_threshold(params, service.default_threshold)
        out = service.search(q, top_k, threshold)
        logger.info("search %r top_k=%d threshold=%g -> %d results in %.1f ms",
                    q[:60], top_k, threshold, len(out["results"]), out["latency_ms"])
        return jsonify(out)

    @app.route("/api/similarity", methods=["GET", "POST"])
    def api_similarity():
        params = _params()
        out = service.similarity(parse_text(params, "a"), parse_text(params, "b"))
        logger.info("similarity %r / %r -> %.4f in %.1f ms", out["a"][:40], out["b"][:40], out["similarity"],
                    out["latency_ms"])
        return jsonify(out)

    @app.get("/api/info")
    def api_info():
        return jsonify(service.info())

    return app


# ---------------------------------------------------------------------- start-up
def _json_error_handler():
    """Werkzeug's request handler, answering the errors raised before the app runs (a request line
    over 64 KiB: 414, a malformed request: 400) with a JSON body like the app's own errors."""
    class JSONErrorRequestHandler(WSGIRequestHandler):
        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            # http.server fills a text template with the message (for a bad request line, the line's
            # repr), so a '"' or a control byte there made the body invalid JSON: build it with json.
            reason = self.responses.get(code, ("Error",))[0]
            message = message or reason
            self.log_error("code %d, message %s", code, message)
            self.send_response(code, reason)  # the status line carries the standard reason only
            self.send_header("Connection", "close")
            body = b""
            if code >= 200 and code not in (204, 304):
                body = (json.dumps({"error": f"{code} {message}", "field": None}) + "\n").encode("utf-8")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)

    return JSONErrorRequestHandler


def serve(app: Flask, host: str = "127.0.0.1", port: int = 0) -> BaseWSGIServer:
    """A threaded WSGI server for ``app`` (not started: call ``serve_forever()``); port 0 takes a free
    port, found in ``server.server_port``."""
    return make_server(host, port, app, threaded=True, request_handler=_json_error_handler())


def run_demo(
    corpus: str | Path | None = None,
    model: str | None = None,
    *,
    pooler: str | None = None,
    device: str | None = None,
    index_dir: str | Path | None = None,
    use_faiss: bool | None = None,
    batch_size: int = BATCH_SIZE,
    host: str = "127.0.0.1",
    port: int = 5000,
    top_k: int = 5,
    threshold: float = 0.0,
) -> None:
    """Serve the demo until Ctrl+C: ``model`` (default: all-MiniLM-L6-v2) searching ``corpus`` (default:
    the bundled example corpus), its index loaded from or saved to ``index_dir`` (see
    :func:`load_or_build_index`); ``top_k`` and ``threshold`` are the page's defaults. Bad arguments
    raise ``ValueError`` / ``OSError`` naming them, before the model loads or the corpus is encoded
    where they can be; a port that cannot be listened on is found before the corpus is encoded."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be from 1 to {MAX_TOP_K}, got {top_k}")
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be from -1 to 1, got {threshold}")
    if not 0 <= port <= 65535:  # the socket layer would take 70000 as 4464, 65536 as "any free port"
        raise ValueError(f"port must be from 0 to 65535 (0: any free port), got {port}")
    corpus = Path(corpus) if corpus else bundled_corpus()
    read_sentence_file(corpus)  # a bad corpus path fails before the model loads
    loaded = SimCSE(model, device=device, pooler=pooler)
    service = SearchService(loaded, corpus.name, top_k, threshold)
    try:  # listen before indexing: a busy port fails now, not after the corpus is encoded
        server = serve(create_app(service), host, port)
    except (OSError, SystemExit) as exc:  # on a port in use, werkzeug prints why and exits
        why = f": {exc}" if isinstance(exc, OSError) else ""
        raise OSError(f"cannot listen on {host}:{port}{why}") from None
    try:
        start = time.perf_counter()
        service.index_source = load_or_build_index(loaded, corpus, index_dir, batch_size=batch_size,
                                                    use_faiss=use_faiss)
        print(f"simcse demo: {service.index_source} index of {service.size} sentences from {corpus} in "
              f"{time.perf_counter() - start:.1f}s" + (f" ({index_dir})" if index_dir else ""), file=sys.stderr)
        shown = host if host not in ("0.0.0.0", "::") else "127.0.0.1"
        print(f"simcse demo: serving at http://{shown}:{server.server_port}/ (Ctrl+C to stop)", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
