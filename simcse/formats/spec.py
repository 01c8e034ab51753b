"""What a model folder says: the embedding settings (:class:`EncoderConfig`, saved as ``simcse_config.json``)
and :class:`FolderSpec`, the typed description of a folder that inference and training both load from."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from torch import nn

from ..defaults import MAX_LENGTH
from ..pooling import SIMCSE_POOLER, MLPHead, check_pooler

SIMCSE_CONFIG = "simcse_config.json"
FORMAT_VERSION = 1


@dataclass
class EncoderConfig:
    """How token states become a sentence embedding.

    Attributes:
        pooler_type: one of :data:`simcse.pooling.POOLERS`.
        mlp_only_train: SimCSE's flag: the MLP head (``cls`` pooler) is used in training only,
            and skipped at inference.
        max_length: default maximum number of tokens per sentence.
        normalize: embeddings are always L2-normalised at inference (sentence-transformers
            folders with a Normalize module).
        prompt: a template with one ``{}`` wrapped around every sentence (decoder backbones,
            e.g. PromptEOL); ``None`` for none.
        lowercase: lowercase every sentence before tokenizing (sentence-transformers'
            ``do_lower_case``), for a cased tokenizer whose model was trained on lowercased text.
            It is applied as sentence-transformers applies it, as a ``Lowercase`` step in the
            tokenizer's normaliser, so the saved tokenizer lowercases under any loader.
    """

    pooler_type: str = SIMCSE_POOLER
    mlp_only_train: bool = False
    max_length: int = MAX_LENGTH
    normalize: bool = False
    prompt: str | None = None
    lowercase: bool = False
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_pooler(self.pooler_type)
        if self.prompt is not None and "{}" not in self.prompt:
            raise ValueError(f"prompt template {self.prompt!r} must contain '{{}}' where the sentence goes")


def embedding_pooler(cfg: EncoderConfig, has_mlp: bool = True) -> str:
    """``cfg``'s pooler at inference: ``cls`` without its MLP head (kept out by ``mlp_only_train``, or
    absent) is ``cls_before_pooler``, so that ``pooler=<this>`` gives the same embeddings."""
    if cfg.pooler_type == "cls" and (cfg.mlp_only_train or not has_mlp):
        return "cls_before_pooler"
    return cfg.pooler_type


def apply_overrides(
    cfg: EncoderConfig, pooler_type: str | None = None, mlp_only_train: bool | None = None, max_length: int | None = None
) -> EncoderConfig:
    """Replace what a folder's config says with the caller's choices (``None`` keeps the folder's).

    An explicit ``pooler_type="cls"`` means CLS + the MLP head at inference, as ``pooler="cls"`` did in
    the original tool, also for a folder saved with ``mlp_only_train`` (its head is saved with it);
    pass ``mlp_only_train=True`` as well to keep the head out."""
    if pooler_type is not None:
        cfg.pooler_type = check_pooler(pooler_type)
        if cfg.pooler_type == "cls" and mlp_only_train is None:
            mlp_only_train = False
    if mlp_only_train is not None:
        cfg.mlp_only_train = mlp_only_train
    if max_length is not None:
        cfg.max_length = max_length
    return cfg


@dataclass(frozen=True)
class FolderSpec:
    """A model folder as read by :func:`simcse.formats.read_folder`, before any weights are loaded.

    Attributes:
        root: the folder.
        name: the model as the caller named it (a hub name or a path), for messages and for the
            pooler of princeton-nlp's unsupervised models.
        format: ``"simcse"`` (``simcse_config.json``), ``"sentence-transformers"`` (``modules.json``)
            or ``"huggingface"`` (a plain Hugging Face folder).
        backbone_dir: the Hugging Face model and tokenizer files.
        config: the embedding settings the folder records; ``None`` for a plain Hugging Face folder,
            which records none (:func:`simcse.pooling.default_pooler` chooses its pooler).
        mlp_dir: a saved MLP head (a sentence-transformers ``Dense`` folder), if any.
        tokenizer_kwargs: arguments the tokenizer must be loaded with to match the folder
            (a sentence-transformers token limit above the tokenizer's own).
        decoder_only: the backbone is a causal LM with no masked-LM head (looked up for a plain
            Hugging Face folder only, whose pooler depends on it; ``False`` for the others).
        has_pretrained_pooler: the weights hold a pre-trained pooler layer (likewise, plain folders only).
    """

    root: Path
    name: str
    format: str
    backbone_dir: Path
    config: EncoderConfig | None
    mlp_dir: Path | None = None
    tokenizer_kwargs: dict[str, Any] = field(default_factory=dict)
    decoder_only: bool = False
    has_pretrained_pooler: bool = False


class EncoderParts(Protocol):
    """What writing a model folder needs of an encoder (:class:`simcse.SentenceEncoder` has it)."""

    backbone: nn.Module
    tokenizer: Any
    config: EncoderConfig
    mlp: MLPHead | None

    def uses_mlp(self, training: bool | None = None) -> bool: ...
