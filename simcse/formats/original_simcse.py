"""Checkpoints of the original SimCSE training code, read into the parts of our model folder
(``simcse convert``, :func:`simcse.cli.convert.convert_checkpoint`).

SimCSE's train.py saves ``BertForCL`` / ``RobertaForCL`` folders: ``config.json`` (architectures
``BertForCL``), weights in ``pytorch_model.bin`` or ``model.safetensors`` with keys
``bert.*`` / ``roberta.*`` (the backbone, without its pooler), ``mlp.dense.*`` (the MLP head) and,
with ``--do_mlm``, ``lm_head.*`` (dropped here), plus the tokenizer files. The converted backbone
also holds the MLP as its pooler, as SimCSE's own Hugging Face export does.

The original code does not record the pooler; the caller passes the one the model was trained with
(default ``cls``) and ``mlp_only_train`` for unsupervised models (the paper evaluates those without
the MLP). Already-converted Hugging Face exports (``princeton-nlp/*-simcse-*``, MLP stored as the BERT
pooler) need no conversion: they load directly.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer

from ..defaults import MAX_LENGTH
from ..pooling import SIMCSE_POOLER, MLPHead, check_pooler
from .huggingface import first_line, token_limit
from .spec import EncoderConfig

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model")


@dataclass
class OriginalCheckpoint:
    """An original SimCSE checkpoint, converted: the backbone (its pooler holding the MLP weights when it
    has one), the tokenizer, the embedding settings and the MLP head (``cls`` pooler only)."""

    backbone: nn.Module
    tokenizer: Any
    config: EncoderConfig
    mlp: MLPHead | None


def read_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    """The weights of ``folder`` (``model.safetensors``, ``pytorch_model.bin`` or their sharded indexes)."""
    for name in WEIGHT_FILES:
        f = folder / name
        if f.is_file():
            return _load_weight_file(f)
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = folder / index_name
        if index.is_file():
            try:
                shards = sorted(set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values()))
            except (ValueError, AttributeError) as exc:  # not JSON, or JSON without a weight_map object
                raise ValueError(f"could not read the shard index {str(index)!r}: {first_line(exc)}") from exc
            state: dict[str, torch.Tensor] = {}
            for shard in shards:
                state.update(_load_weight_file(folder / shard))
            return state
    raise FileNotFoundError(
        f"{folder} has no model.safetensors or pytorch_model.bin (nor a sharded index); "
        "is it a SimCSE training output folder?"
    )


def _load_weight_file(f: Path) -> dict[str, torch.Tensor]:
    if not f.is_file():
        raise FileNotFoundError(f"weight file {f} is missing")
    try:
        if f.suffix == ".safetensors":
            return load_file(str(f))
        return torch.load(str(f), map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or corrupt file: safetensors, pickle and zip errors alike
        raise OSError(f"could not read the weights in {str(f)!r}: {first_line(exc)}") from exc


def checkpoint_folder(src: str | Path) -> Path:
    """The checkpoint folder ``src`` names (a file in it names the folder); ``FileNotFoundError`` when
    it has no ``config.json``."""
    src = Path(src)
    if src.is_file():
        src = src.parent
    if not (src / "config.json").is_file():
        raise FileNotFoundError(f"{src} has no config.json; expected a SimCSE training output folder")
    return src


def check_destination(src: Path, dst: Path, overwrite: bool = False) -> None:
    """``ValueError`` unless ``dst`` may receive the converted model: a new or empty folder (``overwrite``:
    a non-empty one), never the checkpoint ``src`` itself, whose weights and config would be replaced."""
    if dst.exists() and dst.resolve() == src.resolve():
        raise ValueError(f"the output folder {str(dst)!r} is the checkpoint itself; write the converted model to another folder")
    if dst.exists() and not dst.is_dir():
        raise ValueError(f"the output {str(dst)!r} exists and is not a folder")
    if dst.is_dir() and any(dst.iterdir()) and not overwrite:
        raise ValueError(f"the output folder {str(dst)!r} exists and is not empty; choose a new folder or pass --overwrite")


def read_checkpoint(
    src: Path,
    pooler_type: str = SIMCSE_POOLER,
    mlp_only_train: bool = False,
    tokenizer: str | Path | None = None,
    max_length: int | None = None,
) -> OriginalCheckpoint:
    """Read the original SimCSE checkpoint folder ``src`` (see :func:`checkpoint_folder`).

    ``tokenizer``: a folder with the tokenizer files when ``src`` has none. ``max_length``: the default
    tokens per sentence at inference (default :data:`simcse.defaults.MAX_LENGTH`, or the model's limit
    when lower); it must be at least 2 and at most the model's limit.

    Raises ``FileNotFoundError`` / ``ValueError`` naming what is missing or unexpected (no weights, no
    MLP for the ``cls`` pooler, backbone keys that do not fit the config).
    """
    check_pooler(pooler_type, "--pooler_type")
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2):
        raise ValueError(f"--max_length must be an integer of at least 2, got {max_length!r}")
    try:
        config = AutoConfig.from_pretrained(str(src))
    except (OSError, ValueError) as exc:  # not JSON, or no model_type transformers knows
        raise ValueError(f"could not read {str(src / 'config.json')!r}: {first_line(exc)}") from exc
    config.architectures = None
    # With the architecture's pooler (BERT, RoBERTa), which receives the MLP weights below.
    backbone = AutoModel.from_config(config)
    prefix = backbone.base_model_prefix + "."
    state = read_state_dict(src)

    base: dict[str, torch.Tensor] = {}
    mlp_state: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, tensor in state.items():
        if key.startswith(prefix):
            base[key[len(prefix):]] = tensor
        elif key.startswith("mlp.dense."):
            mlp_state[key[len("mlp.dense."):]] = tensor
        elif key.startswith(("lm_head.", "cls.predictions.")):
            continue  # the auxiliary MLM head is not part of the sentence encoder
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(
            f"{src}: unexpected weights {unknown[:5]}{' ...' if len(unknown) > 5 else ''}; expected "
            f"'{prefix}*' (backbone), 'mlp.dense.*' and optionally 'lm_head.*' (a SimCSE *ForCL checkpoint)"
        )
    if not base:
        raise ValueError(f"{src}: no backbone weights with prefix {prefix!r} (model_type {config.model_type!r})")
    try:
        missing, unexpected = backbone.load_state_dict(base, strict=False)
    except RuntimeError as exc:  # shapes that differ from the config's sizes
        mismatch = [line.strip() for line in str(exc).splitlines() if "size mismatch" in line]
        detail = mismatch[0] if mismatch else first_line(exc)
        more = f" (and {len(mismatch) - 1} more)" if len(mismatch) > 1 else ""
        raise ValueError(f"{src}: backbone weights do not fit its config.json: {detail}{more}") from exc
    missing = [k for k in missing if not k.startswith("pooler.")]
    # Buffers the checkpoint's transformers version saved (SimCSE pins 4.2.1, which stores
    # embeddings.position_ids) but current versions keep out of the state dict: constants, not weights.
    buffers = {name for name, _ in backbone.named_buffers()}
    unexpected = [k for k in unexpected if k not in buffers]
    if missing or unexpected:
        raise ValueError(f"{src}: backbone weights do not fit its config: missing {missing[:5]}, unexpected {unexpected[:5]}")

    pooler_dense = getattr(getattr(backbone, "pooler", None), "dense", None)
    if (
        isinstance(pooler_dense, torch.nn.Linear)
        and set(mlp_state) == {"weight", "bias"}
        and mlp_state["weight"].shape == pooler_dense.weight.shape
    ):
        # SimCSE's own Hugging Face export stores the MLP as the backbone's pooler: the saved backbone is
        # then complete (transformers reports no newly initialised pooler at every load) and a plain
        # Hugging Face load finds the MLP where princeton-nlp's released models have it.
        with torch.no_grad():
            pooler_dense.weight.copy_(mlp_state["weight"])
            pooler_dense.bias.copy_(mlp_state["bias"])

    mlp = None
    if pooler_type == "cls":
        if set(mlp_state) != {"weight", "bias"}:
            raise ValueError(f"{src}: pooler 'cls' needs the MLP weights mlp.dense.weight and mlp.dense.bias")
        out_features, in_features = mlp_state["weight"].shape
        mlp = MLPHead(in_features, out_features, "tanh")
        mlp.dense.load_state_dict(mlp_state)

    tok_src = Path(tokenizer) if tokenizer is not None else src
    if tok_src.is_dir() and not any((tok_src / n).is_file() for n in TOKENIZER_FILES):
        # transformers would build an empty tokenizer here instead of failing.
        raise FileNotFoundError(f"no tokenizer files in {tok_src}; pass --tokenizer with the base model's folder")
    try:
        tok = AutoTokenizer.from_pretrained(str(tok_src))
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(
            f"could not load a tokenizer from {tok_src} ({exc}); pass --tokenizer with the base model's folder"
        ) from exc
    converted = OriginalCheckpoint(backbone, tok, EncoderConfig(pooler_type=pooler_type, mlp_only_train=mlp_only_train), mlp)
    limit = token_limit(converted)
    if max_length is None:
        converted.config.max_length = min(MAX_LENGTH, limit) if limit is not None else MAX_LENGTH
    elif limit is not None and max_length > limit:
        raise ValueError(
            f"--max_length {max_length} is more than this model takes ({limit} tokens: its position embeddings "
            "or its tokenizer's limit)"
        )
    else:
        converted.config.max_length = max_length
    return converted
