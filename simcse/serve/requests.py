"""Request bodies of ``simcse serve``: bounded JSON parsing and the checks of each endpoint's fields.

Everything a client can send wrong ends as an :class:`ApiError` (an HTTP status and OpenAI's error
object, ``{"error": {"message", "type", "param", "code"}}``), never as a server error: the JSON
nesting is measured before the body is parsed (Python's parser recurses once per level, so a deep
body would otherwise raise ``RecursionError``), and bytes that are not UTF-8 are refused by name.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import ServeConfig

ENCODING_FORMATS = ("float", "base64")
EMBEDDING_FIELDS = ("input", "model", "encoding_format", "dimensions", "user")
SEARCH_FIELDS = ("queries", "top_k", "threshold", "model", "user")

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


class ApiError(Exception):
    """An error answered as HTTP ``status`` with OpenAI's error object."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error", headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.kind = kind
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


def json_depth(body: bytes) -> int:
    """The deepest nesting of ``[``/``{`` in a JSON text (brackets inside strings do not count)."""
    stripped = _STRING.sub(b'""', body)
    codes = np.frombuffer(stripped, dtype=np.uint8)
    steps = np.zeros(len(codes), dtype=np.int32)
    steps[(codes == ord("[")) | (codes == ord("{"))] = 1
    steps[(codes == ord("]")) | (codes == ord("}"))] = -1
    return int(np.cumsum(steps).max()) if len(steps) else 0


def parse_json(body: bytes, config: ServeConfig) -> dict[str, Any]:
    """The JSON object of a request body; :class:`ApiError` 400 for anything else."""
    if not body.strip():
        raise ApiError(400, "the request body is empty: send a JSON object", code="invalid_json")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"the request body is not valid UTF-8 (byte {exc.start}: {body[exc.start:exc.start + 1]!r})",
                       code="invalid_json") from None
    depth = json_depth(body)
    if depth > config.max_json_depth:
        raise ApiError(400, f"the JSON body is nested {depth} levels deep; at most {config.max_json_depth} are accepted",
                       code="invalid_json")
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except RecursionError:  # not reached after the depth check; kept so that no body can give a 500
        raise ApiError(400, "the JSON body is nested too deeply", code="invalid_json") from None
    except ValueError as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"the request body must be a JSON object, got a JSON {_json_type(data)}", code="invalid_json")
    return data


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__)


def check_fields(data: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in data:
        if key not in allowed:
            raise ApiError(400, f"unrecognized request argument supplied: {key!r:.100} (accepted: {', '.join(allowed)})",
                           param=str(key)[:100], code="unknown_parameter")


def check_texts(value: Any, param: str, config: ServeConfig) -> list[str]:
    """``value`` (a string or a non-empty list of strings) as a list, within the limits."""
    if value is None:
        raise ApiError(400, f"'{param}' is required: a string or a list of strings", param=param)
    if isinstance(value, str):
        texts = [value]
    elif isinstance(value, list):
        if not value:
            raise ApiError(400, f"'{param}' is an empty list: send at least one string", param=param)
        if all(_is_int(v) for v in value) or all(isinstance(v, list) and v and all(map(_is_int, v)) for v in value):
            raise ApiError(400, f"'{param}' holds token ids: this server takes text only (a string or a list of "
                                "strings); it tokenizes with the model's own tokenizer", param=param,
                           code="token_ids_not_supported")
        texts = value
    else:
        raise ApiError(400, f"'{param}' must be a string or a list of strings, got a JSON {_json_type(value)}", param=param)
    if len(texts) > config.max_inputs:
        raise ApiError(400, f"'{param}' has {len(texts)} items; at most {config.max_inputs} per request", param=param,
                       code="too_many_inputs")
    for i, t in enumerate(texts):
        where = param if isinstance(value, str) else f"{param}[{i}]"
        if not isinstance(t, str):
            raise ApiError(400, f"'{where}' must be a string, got a JSON {_json_type(t)}", param=param)
        if not t:
            raise ApiError(400, f"'{where}' is an empty string", param=param)
        if len(t) > config.max_input_chars:
            raise ApiError(400, f"'{where}' has {len(t)} characters; at most {config.max_input_chars} per input",
                           param=param, code="input_too_long")
        try:
            t.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ApiError(400, f"'{where}' is not valid Unicode: lone surrogate at character {exc.start}",
                           param=param) from None
    return texts


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_model(data: dict[str, Any], model_name: str) -> None:
    model = data.get("model")
    if model is None:
        return
    if not isinstance(model, str):
        raise ApiError(400, f"'model' must be a string, got a JSON {_json_type(model)}", param="model")
    if model != model_name:
        raise ApiError(404, f"the model {model!r:.200} does not exist: this server serves {model_name!r}", param="model",
                       code="model_not_found")


def _int_param(value: Any, param: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApiError(400, f"'{param}' must be an integer, got a JSON {_json_type(value)}", param=param)
    return value


@dataclass
class EmbeddingRequest:
    texts: list[str]
    encoding_format: str
    dimensions: int | None


def embedding_request(data: dict[str, Any], config: ServeConfig, model_name: str, dim: int) -> EmbeddingRequest:
    """The fields of a ``POST /v1/embeddings`` body, checked."""
    check_fields(data, EMBEDDING_FIELDS)
    texts = check_texts(data.get("input"), "input", config)
    check_model(data, model_name)
    fmt = data.get("encoding_format")
    fmt = "float" if fmt is None else fmt
    if fmt not in ENCODING_FORMATS:
        raise ApiError(400, f"'encoding_format' must be one of {', '.join(ENCODING_FORMATS)}, got {fmt!r:.100}",
                       param="encoding_format")
    dims = data.get("dimensions")
    if dims is not None:
        dims = _int_param(dims, "dimensions")
        if not 1 <= dims <= dim:
            raise ApiError(400, f"'dimensions' must be 1..{dim} (this model's width), got {dims}", param="dimensions")
    user = data.get("user")
    if user is not None and not isinstance(user, str):
        raise ApiError(400, f"'user' must be a string, got a JSON {_json_type(user)}", param="user")
    return EmbeddingRequest(texts, fmt, dims)


@dataclass
class SearchRequest:
    queries: list[str]
    top_k: int
    threshold: float


def search_request(data: dict[str, Any], config: ServeConfig, model_name: str) -> SearchRequest:
    """The fields of a ``POST /v1/search`` body, checked."""
    check_fields(data, SEARCH_FIELDS)
    queries = check_texts(data.get("queries"), "queries", config)
    check_model(data, model_name)
    top_k = data.get("top_k", 5)
    top_k = _int_param(top_k, "top_k")
    if not 1 <= top_k <= config.max_top_k:
        raise ApiError(400, f"'top_k' must be 1..{config.max_top_k}, got {top_k}", param="top_k")
    threshold = data.get("threshold", -1.0)
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not math.isfinite(threshold):
        raise ApiError(400, f"'threshold' must be a number (a cosine similarity, -1..1), got {threshold!r:.100}",
                       param="threshold")
    user = data.get("user")
    if user is not None and not isinstance(user, str):
        raise ApiError(400, f"'user' must be a string, got a JSON {_json_type(user)}", param="user")
    return SearchRequest(queries, top_k, float(threshold))
