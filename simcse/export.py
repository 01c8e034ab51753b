"""Writing the sentence-transformers manifest beside our checkpoints.

A folder saved by :meth:`SentenceEncoder.save_pretrained` holds the Hugging Face backbone at its
root, so sentence-transformers reads it as ``Transformer`` (path "") -> ``Pooling`` ->
[``Dense``, SimCSE's MLP head when it is used at inference] -> [``Normalize``]. A prompt that goes
before every sentence is written to ``config_sentence_transformers.json`` as the default prompt, as
sentence-transformers applies it; the prompts and similarity function of the folder the model was
loaded from are kept there.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .encoder import SentenceEncoder

_ST_MODE = {"cls": "cls", "cls_before_pooler": "cls", "avg": "mean", "max": "max", "last": "lasttoken"}
_ST_FLAG = {
    "cls": "pooling_mode_cls_token",
    "mean": "pooling_mode_mean_tokens",
    "max": "pooling_mode_max_tokens",
    "lasttoken": "pooling_mode_lasttoken",
}


def write_sentence_transformers_files(encoder: "SentenceEncoder", path: Path) -> set[str]:
    """Write modules.json, sentence_bert_config.json and the pooling (and MLP) module configs; return
    the names written in ``path`` (none for a prompt template with text after the sentence, which
    sentence-transformers cannot express)."""
    from .encoder import MLP_DIR, ST_MODEL_CONFIG, ST_SETTINGS_KEY, output_width, prompt_prefix

    cfg = encoder.config
    prefix = prompt_prefix(cfg.prompt)
    if prefix is None:
        # A template with text after the sentence (e.g. PromptEOL) has no sentence-transformers
        # equivalent (its prompts are prefixes): the folder is written for SimCSE / SentenceEncoder only.
        import logging

        logging.getLogger(__name__).warning(
            "%s: prompt template %r is not expressible in a sentence-transformers folder; no sentence-transformers "
            "manifest written (load the folder with simcse.SimCSE)", path, cfg.prompt,
        )
        return set()
    hidden = output_width(encoder.backbone.config)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}]
    (path / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": cfg.max_length, "do_lower_case": cfg.lowercase}, indent=2) + "\n"
    )
    if cfg.pooler_type in _ST_MODE:
        mode = _ST_MODE[cfg.pooler_type]
        pooling = {"word_embedding_dimension": hidden}
        for m, flag in _ST_FLAG.items():
            pooling[flag] = m == mode
        pooling["pooling_mode_mean_sqrt_len_tokens"] = False
        pooling["pooling_mode_weightedmean_tokens"] = False
        if cfg.extra.get(ST_SETTINGS_KEY, {}).get("include_prompt") is False:
            pooling["include_prompt"] = False
        pool_dir = path / "1_Pooling"
        pool_dir.mkdir(exist_ok=True)
        (pool_dir / "config.json").write_text(json.dumps(pooling, indent=2) + "\n")
        modules.append({"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"})
    else:
        from .st_modules import write_layer_average_pooling

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
