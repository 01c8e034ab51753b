"""sentence-transformers folders: reading one (``modules.json``: Transformer -> [WeightedLayerPooling] ->
Pooling -> [Dense] -> [Normalize]) and writing the manifest beside our checkpoints.

Reading follows sentence-transformers 6 (module order, legacy config names and Pooling flags, the
token limit from ``max_seq_length`` or the tokenizer arguments, hidden states for
WeightedLayerPooling); every module or setting whose embeddings simcse would not reproduce is
refused by name rather than ignored.

Writing: a folder saved by :meth:`SentenceEncoder.save_pretrained` holds the Hugging Face backbone at
its root, so sentence-transformers reads it as ``Transformer`` (path "") -> ``Pooling`` ->
[``Dense``, SimCSE's MLP head when it is used at inference] -> [``Normalize``]. A prompt that goes
before every sentence is written to ``config_sentence_transformers.json`` as the default prompt, as
sentence-transformers applies it; the prompts and similarity function of the folder the model was
loaded from are kept there. The layer-averaging poolers use sentence-transformers' own modules, so
``SentenceTransformer(path)`` loads them without ``trust_remote_code``:

    Transformer (config_kwargs: output_hidden_states) -> WeightedLayerPooling -> Pooling(mean)

``WeightedLayerPooling`` averages the backbone's hidden states ``hidden_states[layer_start:]``
with fixed weights: ``[1, 1]`` from layer N-1 for ``avg_top2`` (mean of the last two layers),
``[1, 0, ..., 0, 1]`` from layer 1 for ``avg_first_last`` (mean of the first transformer layer
and the last); mean pooling over real tokens follows. The module configs are written in the legacy
key names, which sentence-transformers 5 and 6 both read.

Why one module: reading and writing a folder are one format's two directions (module order, pooling
flags, prompts in ``config_sentence_transformers.json``); a change to one must be mirrored in the other.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ..defaults import MAX_LENGTH
from .huggingface import MLP_DIR, output_width
from .spec import EncoderConfig, EncoderParts, FolderSpec

logger = logging.getLogger(__name__)

ST_MODEL_CONFIG = "config_sentence_transformers.json"
ST_SETTINGS_KEY = "sentence_transformers"
"""Key of :attr:`EncoderConfig.extra` keeping a sentence-transformers folder's prompts, default prompt
name and similarity function, written back to ``config_sentence_transformers.json`` on save."""
LAYER_POOLERS = ("avg_top2", "avg_first_last")
WEIGHTED_DIR = "1_WeightedLayerPooling"
MEAN_DIR = "2_Pooling"


# ---------------------------------------------------------------------- reading
# sentence-transformers' old Pooling flags, in the order it reads them, and the mode each one sets
_LEGACY_POOLING_FLAGS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
_POOLING_MODES = {"cls": "cls_before_pooler", "mean": "avg", "max": "max", "lasttoken": "last"}
# sentence-transformers' module order that simcse reproduces (Normalize may repeat: it is idempotent)
_MODULE_RANK = {"Transformer": 0, "WeightedLayerPooling": 1, "Pooling": 2, "Dense": 3, "Normalize": 4}
# file names sentence-transformers reads the Transformer module's settings from, in its order
_TRANSFORMER_CONFIGS = (
    "sentence_bert_config.json", "sentence_roberta_config.json", "sentence_distilbert_config.json",
    "sentence_camembert_config.json", "sentence_albert_config.json", "sentence_xlm-roberta_config.json",
    "sentence_xlnet_config.json",
)
# Transformer settings that change nothing in the embeddings (precision, kernels, loading)
_NEUTRAL_MODEL_KWARGS = {"torch_dtype", "dtype", "attn_implementation", "trust_remote_code", "low_cpu_mem_usage",
                         "device_map", "add_pooling_layer"}


def read_sentence_transformers_folder(root: Path, name: str) -> FolderSpec:
    """A sentence-transformers folder (``modules.json``), read as sentence-transformers 6 reads it;
    a module or setting whose embeddings simcse would not reproduce is refused, naming the file."""
    modules_file = root / "modules.json"
    try:
        modules = json.loads(modules_file.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{modules_file} is not valid JSON: {exc}") from exc
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        raise ValueError(f"{modules_file} must be a JSON list of modules")
    backbone_dir: Path | None = None
    pooler: str | None = None
    dense_dir: Path | None = None
    normalize = False
    transformer: dict[str, Any] = {}
    transformer_file: Path | None = None
    weighted_dir: Path | None = None
    include_prompt = True
    kinds = []
    for mod in modules:
        type_name = str(mod.get("type", ""))
        kind = type_name.rsplit(".", 1)[-1]
        if not type_name.startswith("sentence_transformers.") or kind not in _MODULE_RANK:
            raise ValueError(f"{modules_file}: module type {mod.get('type')!r} is not supported by simcse")
        kinds.append(kind)
        mdir = root / mod.get("path", "")
        if kind == "Transformer":
            backbone_dir = mdir
            transformer_file = next((mdir / n for n in _TRANSFORMER_CONFIGS if (mdir / n).is_file()), None)
            if transformer_file is not None:
                try:
                    transformer = json.loads(transformer_file.read_text())
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{transformer_file} is not valid JSON: {exc}") from exc
                if not isinstance(transformer, dict):
                    raise ValueError(f"{transformer_file} must hold a JSON object, not {type(transformer).__name__}")
        elif kind == "Pooling":
            pooler, include_prompt = _pooling_mode(mdir / "config.json")
        elif kind == "Dense":
            dense_dir = mdir
        elif kind == "Normalize":
            normalize = True
        elif kind == "WeightedLayerPooling":
            weighted_dir = mdir
    ranks = [_MODULE_RANK[k] for k in kinds]
    ordered = all(a < b or a == b == _MODULE_RANK["Normalize"] for a, b in zip(ranks, ranks[1:]))
    if not kinds or kinds[0] != "Transformer" or not ordered or backbone_dir is None or pooler is None:
        raise ValueError(
            f"{modules_file}: modules {' -> '.join(kinds) or '(none)'} are not supported; simcse reads "
            "Transformer -> [WeightedLayerPooling] -> Pooling -> [Dense] -> [Normalize]"
        )
    max_length, tokenizer_kwargs, hidden_states = _transformer_settings(transformer, transformer_file, backbone_dir)
    if weighted_dir is not None:
        if pooler != "avg":
            raise ValueError(f"{modules_file}: WeightedLayerPooling must be followed by mean pooling, not {pooler!r}")
        if hidden_states:
            pooler = read_weighted_layer_pooling(weighted_dir)
        else:
            # sentence-transformers hands the module no hidden states, so it leaves the tokens as they are
            logger.warning("%s: the Transformer returns no hidden states (output_hidden_states), so its "
                           "WeightedLayerPooling has no effect; embedding with plain mean pooling, as "
                           "sentence-transformers does", modules_file)
    if dense_dir is not None:
        if pooler != "cls_before_pooler":
            raise ValueError(
                f"{modules_file}: a Dense head after {pooler!r} pooling is not supported (only after CLS)"
            )
        pooler = "cls"
    settings = read_st_model_settings(root)
    prompt = None
    default_name = settings.get("default_prompt_name")
    prefix = settings["prompts"][default_name] if default_name else ""
    if prefix:
        if not include_prompt and pooler != "last":
            raise ValueError(
                f"{root}: the default prompt {default_name!r} is left out of {pooler!r} pooling there "
                "(include_prompt: false in the Pooling config), which simcse does not support"
            )
        prompt = prefix.replace("{", "{{").replace("}", "}}") + "{}"
    if not include_prompt:
        settings["include_prompt"] = False
    extra = {ST_SETTINGS_KEY: settings} if settings else {}
    cfg = EncoderConfig(pooler_type=pooler, normalize=normalize, max_length=max_length,
                        lowercase=bool(transformer.get("do_lower_case", False)), prompt=prompt, extra=extra)
    return FolderSpec(root, name, "sentence-transformers", backbone_dir, cfg, dense_dir, tokenizer_kwargs)



def _transformer_settings(
    settings: dict[str, Any], file: Path | None, backbone_dir: Path
) -> tuple[int, dict[str, Any], bool]:
    """From a Transformer module's ``sentence_bert_config.json``: the token limit sentence-transformers
    uses, the tokenizer arguments that give it, and whether the backbone returns all hidden states.
    A setting that would change the embeddings in a way simcse does not reproduce is refused."""
    def section(*names: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in names:  # sentence-transformers lets the old name (the last here) win
            value = settings.get(name)
            if value is None:
                continue
            if not isinstance(value, dict):
                raise ValueError(f"{file}: {name!r} must be a JSON object, not {value!r}")
            found = value
        return found

    def refuse(name: str, key: str) -> ValueError:
        return ValueError(f"{file}: {name} {key!r} is not supported by simcse (it would change the embeddings)")

    tokenizer = section("processor_kwargs", "tokenizer_args")
    for key in tokenizer:
        if key not in ("model_max_length", "trust_remote_code", "use_fast"):
            raise refuse("tokenizer setting", key)
    model_config = section("config_kwargs", "config_args")
    for key in model_config:
        if key not in ("output_hidden_states", "trust_remote_code"):
            raise refuse("model config setting", key)
    for key in section("model_kwargs", "model_args"):
        if key not in _NEUTRAL_MODEL_KWARGS:
            raise refuse("model setting", key)
    if settings.get("processing_kwargs"):
        raise refuse("setting", "processing_kwargs")
    positions = _json_int(backbone_dir / "config.json", "max_position_embeddings")
    explicit = tokenizer.get("model_max_length") or settings.get("max_seq_length")
    if explicit is None:
        return _default_max_length(backbone_dir), {}, _hidden_states(model_config, backbone_dir)
    if isinstance(explicit, bool) or not isinstance(explicit, int) or explicit < 1:
        raise ValueError(f"{file}: the token limit must be a positive integer, not {explicit!r}")
    # sentence-transformers makes it the tokenizer's model_max_length, capped at the model's positions;
    # the tokenizer's own limit is raised to it (never lowered: a longer max_length may still be asked for)
    length = min(explicit, positions) if positions else explicit
    own = _json_int(backbone_dir / "tokenizer_config.json", "model_max_length")
    tokenizer_kwargs = {"model_max_length": length} if own is not None and own < length else {}
    return length, tokenizer_kwargs, _hidden_states(model_config, backbone_dir)


def _hidden_states(model_config: dict[str, Any], backbone_dir: Path) -> bool:
    if "output_hidden_states" in model_config:
        return bool(model_config["output_hidden_states"])
    return bool(_json_key(backbone_dir / "config.json", "output_hidden_states"))


def _json_key(path: Path, key: str) -> Any:
    """``key`` of the JSON object in ``path``; None when the file, the object or the key is missing."""
    try:
        return json.loads(path.read_text()).get(key) if path.is_file() else None
    except (json.JSONDecodeError, AttributeError):
        return None


def _json_int(path: Path, key: str) -> int | None:
    """``key`` of the JSON object in ``path`` when it is a plausible positive integer, else None."""
    value = _json_key(path, key)
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 100_000 else None


def read_st_model_settings(root: Path) -> dict[str, Any]:
    """The prompts, default prompt name and similarity function of a sentence-transformers folder
    (``config_sentence_transformers.json``), checked; only those it sets."""
    path = root / ST_MODEL_CONFIG
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"{path} must hold a JSON object, not {type(raw).__name__}")
    prompts = raw.get("prompts") or {}
    if not isinstance(prompts, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in prompts.items()
    ):
        raise ValueError(f"{path}: 'prompts' must map prompt names to texts, not {prompts!r}")
    prompts = {k: v or "" for k, v in prompts.items()}
    default_name = raw.get("default_prompt_name")
    if default_name is not None and default_name not in prompts:
        raise ValueError(
            f"{path}: default_prompt_name {default_name!r} is not one of its prompts {sorted(prompts)}"
        )
    found = {"prompts": prompts, "default_prompt_name": default_name, "similarity_fn_name": raw.get("similarity_fn_name")}
    return {k: v for k, v in found.items() if v}


def apply_st_model_settings(cfg: EncoderConfig, root: Path) -> EncoderConfig:
    """``cfg`` of our own folder with the prompts, default prompt and similarity function of its
    ``config_sentence_transformers.json``, the file sentence-transformers reads (edited by hand or by
    :func:`write_prompts`), so that simcse and ``SentenceTransformer(path)`` embed alike. A template
    with text after the sentence (no sentence-transformers equivalent) is kept as it is."""
    settings = read_st_model_settings(root)
    if not (root / ST_MODEL_CONFIG).is_file() or prompt_prefix(cfg.prompt) is None:
        return cfg
    merged = {k: v for k, v in cfg.extra.get(ST_SETTINGS_KEY, {}).items() if k == "include_prompt"}
    merged.update(settings)
    extra = {k: v for k, v in cfg.extra.items() if k != ST_SETTINGS_KEY}
    if merged:
        extra[ST_SETTINGS_KEY] = merged
    default = settings.get("default_prompt_name")
    prefix = settings["prompts"][default] if default else ""
    prompt = prefix.replace("{", "{{").replace("}", "}}") + "{}" if prefix else None
    return dataclasses.replace(cfg, extra=extra, prompt=prompt)


def write_prompts(folder: str | Path, prompts: dict[str, str], default_prompt_name: str | None = None) -> Path:
    """Store named prompts (and which one goes before every sentence by default) in a model folder's
    ``config_sentence_transformers.json``, where sentence-transformers, mteb's sentence-transformers
    wrapper and simcse all read them; other settings in that file are kept. Returns the file."""
    path = Path(folder) / ST_MODEL_CONFIG
    if not (Path(folder) / "modules.json").is_file():
        raise ValueError(f"{folder}: not a sentence-transformers folder (no modules.json), so no prompts can be "
                         "stored there; save it with simcse (SentenceEncoder.save_pretrained) first")
    if not isinstance(prompts, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in prompts.items()):
        raise ValueError(f"prompts must map prompt names to texts, not {prompts!r}")
    if default_prompt_name is not None and default_prompt_name not in prompts:
        raise ValueError(f"default_prompt_name {default_prompt_name!r} is not one of the prompts {sorted(prompts)}")
    raw: dict[str, Any] = {"model_type": "SentenceTransformer", "similarity_fn_name": "cosine"}
    if path.is_file():
        read_st_model_settings(Path(folder))  # a broken file is named, not overwritten
        raw = json.loads(path.read_text(encoding="utf-8"))
    raw["prompts"] = dict(prompts)
    raw["default_prompt_name"] = default_prompt_name
    path.write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def prompt_prefix(template: str | None) -> str | None:
    """The text a prompt template puts before the sentence when it puts nothing after it
    (sentence-transformers' prompts are such prefixes); ``""`` for no template, ``None`` for a
    template with text after the sentence."""
    if not template:
        return ""
    marker = "\x00"
    filled = template.format(marker)
    if filled.count(marker) != 1 or not filled.endswith(marker):
        return None
    return filled[:-1]


def _default_max_length(backbone_dir: Path) -> int:
    """sentence-transformers' length when ``sentence_bert_config.json`` sets no ``max_seq_length``
    (sentence-transformers >= 6 saves it as the tokenizer's ``model_max_length``): the tokenizer's
    limit capped at the model's position embeddings; :data:`simcse.defaults.MAX_LENGTH` when neither is known."""
    limits = [n for n in (_json_int(backbone_dir / "tokenizer_config.json", "model_max_length"),
                          _json_int(backbone_dir / "config.json", "max_position_embeddings")) if n is not None]
    return min(limits) if limits else MAX_LENGTH


def _pooling_mode(config_file: Path) -> tuple[str, bool]:
    """Our pooler for a Pooling module's config, and whether it pools prompt tokens (``include_prompt``).

    Read as sentence-transformers reads it: ``pooling_mode`` (default mean), else the old
    ``pooling_mode_*`` flags (none set: mean)."""
    try:
        cfg = json.loads(config_file.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{config_file} is not valid JSON: {exc}") from exc
    if "pooling_mode" in cfg:
        pm = cfg["pooling_mode"]
        modes = [pm] if isinstance(pm, str) else list(pm)
    else:
        modes = [mode for key, mode in _LEGACY_POOLING_FLAGS.items() if cfg.get(key)] or ["mean"]
    if len(modes) != 1 or modes[0] not in _POOLING_MODES:
        raise ValueError(f"{config_file}: pooling {modes} is not supported (one of cls, mean, max, lasttoken)")
    return _POOLING_MODES[modes[0]], cfg.get("include_prompt", True) is not False



# ---------------------------------------------------------------------- writing
# our pooler -> sentence-transformers' pooling mode, and the legacy flag of each mode (in the order written)
_WRITE_MODE = {"cls": "cls", "cls_before_pooler": "cls", "avg": "mean", "max": "max", "last": "lasttoken"}
_MODE_FLAG = {
    "cls": "pooling_mode_cls_token",
    "mean": "pooling_mode_mean_tokens",
    "max": "pooling_mode_max_tokens",
    "lasttoken": "pooling_mode_lasttoken",
}
_MANIFEST_FILES = {"modules.json", "sentence_bert_config.json", ST_MODEL_CONFIG}
_MODULE_DIR = re.compile(r"\d+_(Pooling|WeightedLayerPooling|Dense|Normalize)")


def _write_pooling(folder: Path, hidden: int, mode: str, include_prompt: bool = True) -> None:
    """A ``Pooling`` module config for ``mode`` (cls, mean, max, lasttoken), in the legacy flags."""
    pooling: dict[str, Any] = {"word_embedding_dimension": hidden}
    for m, flag in _MODE_FLAG.items():
        pooling[flag] = m == mode
    pooling["pooling_mode_mean_sqrt_len_tokens"] = False
    pooling["pooling_mode_weightedmean_tokens"] = False
    if not include_prompt:
        pooling["include_prompt"] = False
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(pooling, indent=2) + "\n")


UNLOADABLE_MODULE = (
    "sentence_transformers.SimCSE prompt template with text after the sentence, which sentence-transformers "
    "cannot express: load this folder with SimCSE(path) from the simcse package"
)
"""The one module of ``modules.json`` for a folder sentence-transformers cannot load with our embeddings:
``SentenceTransformer(path)`` then fails with an ImportError quoting it (no ``.`` in the part after the
first, so that the whole reason is the class name sentence-transformers reports missing)."""


def write_sentence_transformers_files(encoder: EncoderParts, path: Path) -> set[str]:
    """Write modules.json, sentence_bert_config.json and the pooling (and MLP) module configs; return
    the names written in ``path``. A prompt template with text after the sentence, which sentence-transformers
    cannot express, gets a ``modules.json`` that sentence-transformers refuses to load, with the reason
    (:data:`UNLOADABLE_MODULE`), rather than none, under which it would load the folder as mean pooling."""
    cfg = encoder.config
    prefix = prompt_prefix(cfg.prompt)
    if prefix is None:
        logger.warning(
            "%s: prompt template %r is not expressible in a sentence-transformers folder; SentenceTransformer(path) "
            "refuses the folder (load it with simcse.SimCSE)", path, cfg.prompt,
        )
        modules = [{"idx": 0, "name": "0", "path": "", "type": UNLOADABLE_MODULE}]
        (path / "modules.json").write_text(json.dumps(modules, indent=2) + "\n")
        return {"modules.json"}
    hidden = output_width(encoder.backbone.config)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}]
    (path / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": cfg.max_length, "do_lower_case": cfg.lowercase}, indent=2) + "\n"
    )
    if cfg.pooler_type in _WRITE_MODE:
        include_prompt = cfg.extra.get(ST_SETTINGS_KEY, {}).get("include_prompt") is not False
        _write_pooling(path / "1_Pooling", hidden, _WRITE_MODE[cfg.pooler_type], include_prompt)
        modules.append({"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"})
    else:
        modules.extend(write_layer_average_pooling(encoder, path, idx=1))
    if encoder.mlp is not None and encoder.uses_mlp(training=False):
        modules.append(
            {"idx": len(modules), "name": str(len(modules)), "path": MLP_DIR, "type": "sentence_transformers.models.Dense"}
        )
    if cfg.normalize:
        modules.append(
            {"idx": len(modules), "name": str(len(modules)), "path": f"{len(modules)}_Normalize", "type": "sentence_transformers.models.Normalize"}
        )
    (path / "modules.json").write_text(json.dumps(modules, indent=2) + "\n")
    (path / ST_MODEL_CONFIG).write_text(
        json.dumps(st_model_settings(cfg.extra.get(ST_SETTINGS_KEY, {}), prefix), indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return {"modules.json", "sentence_bert_config.json", ST_MODEL_CONFIG} | {m["path"] for m in modules if m["path"]}


def st_model_settings(loaded: dict, prefix: str) -> dict:
    """``config_sentence_transformers.json`` for a model whose sentences get ``prefix`` before them:
    the prompts and similarity function it was loaded with are kept, and its default prompt is the
    one named prompt equal to ``prefix`` (a prompt named ``default`` when none is)."""
    prompts = dict(loaded.get("prompts", {}))
    name = None
    if prefix:
        name = loaded.get("default_prompt_name")
        if name is None or prompts.get(name) != prefix:
            name = "default"
            prompts[name] = prefix
    return {
        "model_type": "SentenceTransformer",
        "prompts": prompts,
        "default_prompt_name": name,
        "similarity_fn_name": loaded.get("similarity_fn_name") or "cosine",
    }


def remove_stale_model_files(path: Path, written: set[str]) -> None:
    """Delete what an earlier model saved in ``path`` and this save did not write: its
    sentence-transformers manifest and module folders (``modules.json``, ``1_Pooling``, ``2_Dense``,
    ...), which loaders would otherwise combine with the new weights. Weights, tokenizer files and
    anything else in the folder (checkpoints, the user's files) stay."""
    for entry in list(path.iterdir()):
        if entry.name in written:
            continue
        if entry.name in _MANIFEST_FILES and entry.is_file():
            entry.unlink()
        elif _MODULE_DIR.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)


# ---------------------------------------------------------------------- layer-averaging poolers
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


def write_layer_average_pooling(encoder: EncoderParts, path: Path, idx: int) -> list[dict[str, Any]]:
    """Write the modules for ``encoder``'s layer-averaging pooler into ``path``; return their
    ``modules.json`` entries (indices ``idx`` and ``idx + 1``).

    Also asks the Transformer module for hidden states (``config_kwargs`` in
    ``sentence_bert_config.json``), leaving the model's own ``config.json`` untouched.
    """
    cfg = encoder.backbone.config
    num_layers = int(getattr(cfg, "num_hidden_layers"))
    hidden = int(cfg.hidden_size)
    start, weights = layer_weights(encoder.config.pooler_type, num_layers)
    weighted = path / WEIGHTED_DIR
    weighted.mkdir(parents=True, exist_ok=True)
    (weighted / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": hidden, "layer_start": start, "num_hidden_layers": num_layers}, indent=2) + "\n")
    save_file({"layer_weights": torch.tensor(weights, dtype=torch.float32)}, str(weighted / "model.safetensors"))
    _write_pooling(path / MEAN_DIR, hidden, "mean")
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
