"""sentence-transformers modules for the layer-averaging poolers ``avg_top2`` and ``avg_first_last``.

Both poolers are expressed with sentence-transformers' own modules, so
``SentenceTransformer(path)`` loads our folders without ``trust_remote_code`` and gives the same
embeddings as :class:`simcse.SentenceEncoder`:

    Transformer (config_kwargs: output_hidden_states) -> WeightedLayerPooling -> Pooling(mean)

``WeightedLayerPooling`` averages the backbone's hidden states ``hidden_states[layer_start:]``
with fixed weights: ``[1, 1]`` from layer N-1 for ``avg_top2`` (mean of the last two layers),
``[1, 0, ..., 0, 1]`` from layer 1 for ``avg_first_last`` (mean of the first transformer layer
and the last); mean pooling over real tokens follows.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from .encoder import SentenceEncoder

LAYER_POOLERS = ("avg_top2", "avg_first_last")
WEIGHTED_DIR = "1_WeightedLayerPooling"
MEAN_DIR = "2_Pooling"


def _st_modules() -> Any:
    try:
        from sentence_transformers.sentence_transformer import modules
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers import models as modules
    return modules


def layer_weights(pooler_type: str, num_layers: int) -> tuple[int, list[float]]:
    """``(layer_start, weights)`` of the ``WeightedLayerPooling`` that implements ``pooler_type``."""
    if num_layers < 1:
        raise ValueError(f"a backbone with {num_layers} layers cannot use {pooler_type!r}")
    if pooler_type == "avg_top2":
        if num_layers < 2:
            raise ValueError("avg_top2 needs a backbone with at least 2 layers")
        return num_layers - 1, [1.0, 1.0]
    if pooler_type == "avg_first_last":
        weights = [0.0] * num_layers
        weights[0] += 1.0
        weights[-1] += 1.0
        return 1, weights
    raise ValueError(f"{pooler_type!r} is not a layer-averaging pooler ({', '.join(LAYER_POOLERS)})")


def write_layer_average_pooling(encoder: "SentenceEncoder", path: Path, idx: int) -> list[dict[str, Any]]:
    """Write the modules for ``encoder``'s layer-averaging pooler into ``path``; return their
    ``modules.json`` entries (indices ``idx`` and ``idx + 1``).

    Also asks the Transformer module for hidden states (``config_kwargs`` in
    ``sentence_bert_config.json``), leaving the model's own ``config.json`` untouched.
    """
    modules = _st_modules()
    pooler = encoder.config.pooler_type
    cfg = encoder.backbone.config
    num_layers = int(getattr(cfg, "num_hidden_layers"))
    hidden = int(cfg.hidden_size)
    start, weights = layer_weights(pooler, num_layers)
    weighted = modules.WeightedLayerPooling(
        hidden, num_hidden_layers=num_layers, layer_start=start,
        layer_weights=torch.nn.Parameter(torch.tensor(weights, dtype=torch.float32)),
    )
    (path / WEIGHTED_DIR).mkdir(parents=True, exist_ok=True)
    (path / MEAN_DIR).mkdir(parents=True, exist_ok=True)
    weighted.save(str(path / WEIGHTED_DIR))
    modules.Pooling(hidden, pooling_mode="mean").save(str(path / MEAN_DIR))
    sbc_file = path / "sentence_bert_config.json"
    sbc = json.loads(sbc_file.read_text()) if sbc_file.is_file() else {}
    sbc.setdefault("config_kwargs", {})["output_hidden_states"] = True
    sbc_file.write_text(json.dumps(sbc, indent=2) + "\n")
    return [
        {"idx": idx, "name": str(idx), "path": WEIGHTED_DIR, "type": "sentence_transformers.models.WeightedLayerPooling"},
        {"idx": idx + 1, "name": str(idx + 1), "path": MEAN_DIR, "type": "sentence_transformers.models.Pooling"},
    ]


def read_weighted_layer_pooling(folder: Path) -> str:
    """The pooler (``avg_top2`` / ``avg_first_last``) a saved ``WeightedLayerPooling`` implements.

    Raises ``ValueError`` for any other layer weighting (simcse cannot reproduce it).
    """
    cfg_file = folder / "config.json"
    if not cfg_file.is_file():
        raise FileNotFoundError(f"WeightedLayerPooling folder {folder} has no config.json")
    cfg = json.loads(cfg_file.read_text())
    num_layers = int(cfg.get("num_hidden_layers", 12))
    start = int(cfg.get("layer_start", 4))
    weights_file = folder / "model.safetensors"
    if weights_file.is_file():
        from safetensors.torch import load_file

        weights = load_file(str(weights_file))["layer_weights"].tolist()
    elif (folder / "pytorch_model.bin").is_file():
        weights = torch.load(str(folder / "pytorch_model.bin"), map_location="cpu", weights_only=True)["layer_weights"].tolist()
    else:
        weights = [1.0] * (num_layers + 1 - start)
    for pooler in LAYER_POOLERS:
        try:
            s, w = layer_weights(pooler, num_layers)
        except ValueError:
            continue
        if s == start and len(w) == len(weights):
            total = sum(weights)
            if total and all(abs(a / total - b / sum(w)) < 1e-6 for a, b in zip(weights, w)):
                return pooler
    raise ValueError(
        f"{folder}: WeightedLayerPooling(layer_start={start}, weights={weights}) is not avg_top2 or "
        "avg_first_last; simcse cannot load it"
    )
