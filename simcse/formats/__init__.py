"""Model folders: reading and writing the formats simcse loads, one module per format.

- :mod:`.huggingface`: our own checkpoint (a Hugging Face folder plus ``simcse_config.json`` and the
  MLP head in ``2_Dense``), plain Hugging Face folders and hub names;
- :mod:`.sentence_transformers`: sentence-transformers folders (``modules.json``), and the manifest
  written beside our checkpoints so that ``SentenceTransformer(path)`` loads them too;
- :mod:`.original_simcse`: checkpoints of the original SimCSE training code (``simcse convert``).

:func:`read_folder` is the one entry that tells what a folder holds (:class:`FolderSpec`); inference
(:meth:`simcse.SentenceEncoder.from_pretrained`) and training
(:func:`simcse.training.trainer.load_encoder_for_training`) both load through it and
:meth:`simcse.SentenceEncoder.from_folder`. Nothing here imports :mod:`simcse.encoder`: an encoder is
passed in (:class:`EncoderParts`) where one is written.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from ..atomic import fsync_path, fsync_tree, temp_sibling
from ..pooling import default_pooler
from .huggingface import (
    MLP_DIR,
    is_decoder_only,
    read_huggingface_folder,
    read_simcse_folder,
    save_mlp,
)
from .sentence_transformers import (
    apply_st_model_settings,
    read_sentence_transformers_folder,
    remove_stale_model_files,
    write_sentence_transformers_files,
)
from .spec import SIMCSE_CONFIG, EncoderConfig, EncoderParts, FolderSpec, apply_overrides

logger = logging.getLogger(__name__)

__all__ = ["EncoderConfig", "EncoderParts", "FolderSpec", "read_folder", "resolve_config", "save_model_atomically",
           "write_folder"]


def read_folder(path: str | os.PathLike, name: str | None = None) -> FolderSpec:
    """What the model folder ``path`` holds and how it embeds, read from its files without loading weights:
    ``simcse_config.json`` (ours), else ``modules.json`` (sentence-transformers), else a plain Hugging Face
    folder. ``name``: the model as the caller named it (default: ``path``), for messages and for the
    pooler of princeton-nlp's unsupervised models; a hub name is resolved to a folder first
    (:func:`simcse.formats.huggingface.resolve_model_path`)."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"model folder {str(root)!r} does not exist")
    name = str(path) if name is None else name
    if (root / SIMCSE_CONFIG).is_file():
        spec = read_simcse_folder(root, name)
        if spec.config is not None:  # the prompts sentence-transformers reads from the same folder
            spec = dataclasses.replace(spec, config=apply_st_model_settings(spec.config, root))
        return spec
    if (root / "modules.json").is_file():
        return read_sentence_transformers_folder(root, name)
    return read_huggingface_folder(root, name)


def resolve_config(
    spec: FolderSpec,
    pooler_type: str | None = None,
    mlp_only_train: bool | None = None,
    max_length: int | None = None,
    for_training: bool = False,
) -> EncoderConfig:
    """The embedding settings to load ``spec`` with: what the folder records, or for a plain Hugging Face
    folder the pooler :func:`simcse.pooling.default_pooler` chooses (for training or for inference),
    with the caller's choices applied (:func:`~simcse.formats.spec.apply_overrides`). ``spec`` is not changed."""
    if spec.config is not None:
        cfg = copy.deepcopy(spec.config)
    elif pooler_type is not None:
        cfg = EncoderConfig()  # the pooler is the caller's, set below
    else:
        cfg = EncoderConfig(pooler_type=default_pooler(
            spec.name, decoder_only=spec.decoder_only, has_pretrained_pooler=spec.has_pretrained_pooler,
            for_training=for_training,
        ))
    return apply_overrides(cfg, pooler_type, mlp_only_train, max_length)


def write_folder(encoder: EncoderParts, path: str | os.PathLike, safe_serialization: bool = True) -> None:
    """Write ``encoder`` as our model folder: the Hugging Face backbone and tokenizer, ``simcse_config.json``,
    the MLP head (``2_Dense``) and the sentence-transformers manifest, so that
    ``SentenceEncoder.from_pretrained``, ``SimCSE`` and ``SentenceTransformer`` all load it with identical
    embeddings. What an earlier model saved there and this one does not (its manifest and modules) is removed."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    encoder.backbone.save_pretrained(str(path), safe_serialization=safe_serialization)
    tokenizer = encoder.tokenizer
    side = getattr(tokenizer, "padding_side", "right")
    if is_decoder_only(encoder.backbone.config) and side == "left":
        # sentence-transformers gives the backbone no position ids, so under left padding a model
        # with absolute position embeddings (GPT-2) would see each sentence at shifted positions.
        # Ours counts positions over real tokens, so either side gives us the same embeddings:
        # the folder is written right-padded, and the tokenizer in memory keeps its side.
        logger.info("%s: tokenizer saved with padding_side='right' (was 'left') so that "
                    "sentence-transformers embeds as simcse does", path)
        tokenizer.padding_side = "right"
        try:
            tokenizer.save_pretrained(str(path))
        finally:
            tokenizer.padding_side = side
    else:
        tokenizer.save_pretrained(str(path))
    (path / SIMCSE_CONFIG).write_text(json.dumps(asdict(encoder.config), indent=2) + "\n")
    written = {SIMCSE_CONFIG}
    if encoder.mlp is not None:
        save_mlp(encoder.mlp, path / MLP_DIR)
        written.add(MLP_DIR)
    written |= write_sentence_transformers_files(encoder, path)
    remove_stale_model_files(path, written)


def save_model_atomically(
    encoder: EncoderParts, target: str | os.PathLike, extra: Callable[[Path], Any] | None = None
) -> None:
    """:func:`write_folder` into a temporary sibling folder (then ``extra(tmp)`` for more files), then
    move it into ``target``.

    A new ``target`` appears in one rename; into an existing folder (e.g. the output directory
    that also holds ``checkpoint-*``) each file is moved with ``os.replace``, so a crash leaves
    either the old or the new version of every file, never a truncated one.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(target)
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        write_folder(encoder, tmp)
        if extra is not None:
            extra(tmp)
        fsync_tree(tmp)  # on disk before any rename makes it the model
        if not target.exists():
            os.rename(tmp, target)
            fsync_path(target.parent)
            return
        entries = sorted(tmp.iterdir())
        written = {entry.name for entry in entries}
        for entry in entries:
            dest = target / entry.name
            if entry.is_dir():
                if dest.exists():
                    old = target / f".old-{entry.name}-{os.getpid()}"
                    os.rename(dest, old)
                    os.rename(entry, dest)
                    shutil.rmtree(old)
                else:
                    os.rename(entry, dest)
            else:
                os.replace(entry, dest)
        fsync_path(target)
        remove_stale_model_files(target, written)  # a previous model's manifest and modules, not the checkpoints
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
