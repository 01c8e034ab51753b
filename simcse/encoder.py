"""The sentence encoder: any ``transformers`` AutoModel + a pooling head (+ SimCSE's MLP head).

One class serves training, inference and evaluation. Model folders (our checkpoints,
sentence-transformers folders, plain Hugging Face folders or hub names) are read and written by
:mod:`simcse.formats`; :meth:`SentenceEncoder.from_folder` is the one loader that inference
(:meth:`SentenceEncoder.from_pretrained`) and training (:func:`simcse.training.trainer.load_encoder_for_training`)
share.

Why one module: the class and its encode path (tokenization in a background thread, length-sorted
batches, pinned host staging) are one piece; folder parsing already lives in :mod:`simcse.formats`.
"""
from __future__ import annotations

import collections
import copy
import itertools
import json
import logging
import os
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
from tokenizers import normalizers
from torch import nn
from tqdm.auto import tqdm

from .batching import TokenizerProcesses, default_workers
from .cuda_graphs import ShapeGraphs
from .defaults import BATCH_SIZE
from .formats import FolderSpec, read_folder, resolve_config, write_folder
from .formats.huggingface import (
    MLP_DIR,
    default_model_path,
    is_decoder_only,
    is_local_model_name,
    load_backbone,
    load_mlp_head,
    load_tokenizer,
    output_width,
    resolve_model_path,
    token_limit,
    tokenizer_limit,
)
from .formats.sentence_transformers import ST_SETTINGS_KEY, prompt_prefix, remove_stale_model_files
from .formats.spec import SIMCSE_CONFIG, EncoderConfig, apply_overrides, embedding_pooler
from .pooling import NEEDS_HIDDEN_STATES, MLPHead, pool
from .tokenize_worker import chunk_batches, pad_arrays

__all__ = [
    "SentenceEncoder", "EncoderConfig", "embedding_pooler", "make_tokenizer_lowercase", "pad_batch",
    # their import path before simcse.formats
    "MLP_DIR", "SIMCSE_CONFIG", "apply_overrides", "default_model_path", "is_local_model_name", "output_width",
    "remove_stale_model_files", "resolve_model_path", "token_limit", "tokenizer_limit",
]

logger = logging.getLogger(__name__)

CHUNK_SIZE = 16384
"""Sentences tokenized, sorted and batched together by :meth:`SentenceEncoder.encode`."""


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
        self._decoder_only = is_decoder_only(backbone.config)
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
        backbone_mask: torch.Tensor | None = None,
        **backbone_kwargs: Any,
    ) -> torch.Tensor:
        """Sentence vectors [B, dim] for a tokenized batch (``backbone_mask``: see :meth:`pool_batch`)."""
        pooled = self.pool_batch(input_ids, attention_mask, token_type_ids, backbone_mask=backbone_mask,
                                 **backbone_kwargs)
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
        backbone_mask: torch.Tensor | None = None,
        **backbone_kwargs: Any,
    ) -> torch.Tensor:
        """Backbone + pooling head, without the MLP head.

        ``backbone_mask``: the mask the backbone gets instead of ``attention_mask`` (which pooling still
        reads), e.g. the 4-d boolean mask of :meth:`encode_stream`, which spares a host synchronisation."""
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
            attention_mask=attention_mask if backbone_mask is None else backbone_mask,
            output_hidden_states=need_hidden,
            return_dict=True,
            **kwargs,
        )
        last = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        return pool(self.config.pooler_type, last, attention_mask, out.hidden_states if need_hidden else None)

    # ------------------------------------------------------------------ tokenization
    def tokenize_ids(self, sentences: Sequence[str], max_length: int | None = None,
                     prompt: str | None = None) -> list[list[int]]:
        """Token ids (with special tokens, at most ``max_length``) for each sentence, no padding.

        ``prompt``: a text put before every sentence instead of the folder's default prompt, as
        sentence-transformers' ``encode(prompt=...)`` does (``""``: no prompt; None: the folder's own).
        Before a template with text after the sentence (a decoder's), it goes before the template.

        With a prompt template, a sentence too long is cut, never the template: the ids are those of
        the template around the longest start of the sentence (its end, for a tokenizer that truncates
        on the left) that fits, so ``last`` pooling always reads the template's last token. A template
        with nothing after the sentence, cut on the right, is truncated as one text by the tokenizer,
        as sentence-transformers truncates its prompt and sentence (only the sentence's end goes).
        """
        max_length = max_length or self.config.max_length
        template = self.prompt_template(prompt)
        if template:
            _check_template_fits(self.tokenizer, template, max_length)
        to_texts = self._one_text_per_sentence(template)
        if to_texts is None:
            return _templated_token_ids(self.tokenizer, template, list(sentences), max_length)
        return _fast_token_ids(self.tokenizer, to_texts(sentences), max_length)

    def _one_text_per_sentence(self, template: str | None) -> Callable[[Sequence[str]], list[str]] | None:
        """How sentences become the texts the tokenizer truncates as they are (no template, or a prefix
        template cut on the right), or None when ``template`` needs :func:`_templated_token_ids`."""
        if not template:
            return list
        if prompt_prefix(template) and getattr(self.tokenizer, "truncation_side", "right") == "right":
            return lambda sentences: [template.format(s) for s in sentences]
        return None

    def prompt_template(self, prompt: str | None = None) -> str | None:
        """The template (one ``{}``) around every sentence when ``prompt`` is put before it (see
        :meth:`tokenize_ids`); the folder's own template for None."""
        template = self.config.prompt
        if prompt is None:
            return template
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a string, not {type(prompt).__name__}")
        settings = self.config.extra.get(ST_SETTINGS_KEY, {})
        if prompt and settings.get("include_prompt") is False and self.config.pooler_type != "last":
            raise ValueError(
                f"prompt {prompt!r}: this folder's Pooling leaves prompt tokens out of {self.config.pooler_type!r} "
                "pooling (include_prompt: false), which simcse does not support"
            )
        escaped = prompt.replace("{", "{{").replace("}", "}}")
        if template and prompt_prefix(template) is None:  # a template with text after the sentence
            return escaped + template
        return escaped + "{}" if prompt else None

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
        batch_size: int = BATCH_SIZE,
        max_length: int | None = None,
        normalize: bool = False,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        show_progress_bar: bool = False,
        max_tokens_per_batch: int | None = None,
        chunk_size: int = CHUNK_SIZE,
        folder_normalize: bool = True,
        prompt: str | None = None,
        tokenize_workers: int | None = None,
        cuda_graphs: bool | None = None,
    ) -> torch.Tensor:
        """Encode sentences into a float32 CPU tensor [N, dim] in input order.

        The sentences are cut into chunks of ``chunk_size``; each chunk is tokenized once (overlapping
        the previous chunk's model work), sorted by token length and batched, so each batch pads to
        little more than its own length. ``dtype`` (e.g. ``torch.float16``) runs the backbone under
        autocast; the result is always float32. Device memory holds one batch at a time: each batch's
        vectors go back to the host as soon as they are computed.

        ``normalize`` L2-normalises the vectors; a folder whose sentence-transformers pipeline ends in a
        ``Normalize`` module normalises them anyway unless ``folder_normalize=False`` (that module skipped).

        ``prompt`` goes before every sentence instead of the folder's default prompt (:meth:`tokenize_ids`).
        ``tokenize_workers`` / ``cuda_graphs``: see :meth:`encode_stream`.
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
                                           progress=progress, folder_normalize=folder_normalize, prompt=prompt,
                                           tokenize_workers=tokenize_workers, cuda_graphs=cuda_graphs):
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
        batch_size: int = BATCH_SIZE,
        max_length: int | None = None,
        normalize: bool = False,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        max_tokens_per_batch: int | None = None,
        progress: Any = None,
        folder_normalize: bool = True,
        prompt: str | None = None,
        tokenize_workers: int | None = None,
        cuda_graphs: bool | None = None,
    ) -> Iterator[torch.Tensor]:
        """For each chunk of sentences, in order, its vectors: a float32 CPU tensor [len(chunk), dim] in
        the chunk's order (the same values :meth:`encode` gives for a list of exactly that chunk).

        Only a few chunks' token ids and one chunk's vectors are held at a time; ``chunks`` is read lazily,
        so a corpus can be streamed through. ``progress`` (a tqdm bar) is advanced by each batch's sentences.

        The GPU is kept busy by three things, each giving the plain path's vectors:

        - ``tokenize_workers`` processes (:mod:`simcse.batching`) tokenize and pad the chunks after the
          first, so the thread that drives the model never waits on the interpreter lock; ``None``: on CUDA,
          when there are two chunks or more, one per 4 cores beyond 2 (at most 4); ``0``: a background thread.
        - ``cuda_graphs`` replays the forward as one CUDA graph per padded batch shape
          (:mod:`simcse.cuda_graphs`); ``None``: on CUDA when there are two chunks or more. Vectors match the
          eager forward's to float rounding (a batch may run in a larger row bucket).
        - the backbone gets its attention mask already expanded (when it gives the same states that way,
          checked once per encoder), so no forward waits for the device to inspect the mask.
        """
        self.prompt_template(prompt)  # a bad prompt fails here, not in the tokenizing thread
        if tokenize_workers is not None and (isinstance(tokenize_workers, bool) or tokenize_workers < 0):
            raise ValueError(f"tokenize_workers must be a whole number >= 0 or None, not {tokenize_workers!r}")
        device, was_training = self._start_inference(device, cuda_graphs)
        chunks = iter(chunks)
        head = [c for c in (next(chunks, None), next(chunks, None)) if c is not None]
        several = len(head) > 1
        if tokenize_workers is None:
            tokenize_workers = default_workers() if device.type == "cuda" and several else 0
        if cuda_graphs is None:
            cuda_graphs = device.type == "cuda" and several
        staging, forward = self._batch_runner(device, dtype, batch_size, normalize, folder_normalize, cuda_graphs)
        batches = self._chunk_batches(itertools.chain(head, chunks), batch_size, max_length, max_tokens_per_batch,
                                      prompt, tokenize_workers, staging)
        try:
            for n, chunk in batches:
                yield self._run_batches(n, chunk, forward, staging, progress)
        finally:
            batches.close()
            self.train(was_training)

    @torch.inference_mode()
    def encode_token_ids(
        self,
        ids: Sequence[Sequence[int]],
        batch_size: int = BATCH_SIZE,
        normalize: bool = False,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        max_tokens_per_batch: int | None = None,
        folder_normalize: bool = True,
        cuda_graphs: bool = False,
    ) -> torch.Tensor:
        """The vectors of sentences already tokenized by :meth:`tokenize_ids` (for a caller that also needs the
        ids, e.g. to count tokens): a float32 CPU tensor [len(ids), dim] in order, by the batches and forward of
        :meth:`encode_stream`, in the calling thread. ``cuda_graphs`` is off unless asked for: a long-lived caller
        of many small batches (the server) gains from it once the shapes it sees are captured."""
        device, was_training = self._start_inference(device, cuda_graphs)
        try:
            staging, forward = self._batch_runner(device, dtype, batch_size, normalize, folder_normalize, cuda_graphs)
            settings = self._batch_settings(batch_size, max_tokens_per_batch, staging)
            return self._run_batches(len(ids), _batch_tensors(chunk_batches(ids, settings), staging), forward, staging)
        finally:
            self.train(was_training)

    def _start_inference(self, device: str | torch.device | None, cuda_graphs: bool | None) -> tuple[torch.device, bool]:
        """Check the device, move there and switch to eval; the device and whether the encoder was training."""
        device = torch.device(device) if device is not None else self.device
        if cuda_graphs and device.type != "cuda":
            raise ValueError(f"cuda_graphs=True needs a CUDA device, not {device}")
        if self.device != device:
            self.to(device)
        was_training = self.training
        self.eval()
        return device, was_training

    def _batch_runner(self, device: torch.device, dtype: torch.dtype | None, batch_size: int, normalize: bool,
                      folder_normalize: bool, cuda_graphs: bool) -> tuple["_HostStaging", Callable]:
        """The host staging and the forward (CUDA graphs or eager) of an encode call."""
        staging = _HostStaging(batch_size, self.dim, device)
        forward = self._inference_forward(device, dtype, normalize or (self.config.normalize and folder_normalize))
        if cuda_graphs:
            forward = self._shape_graphs(forward, device, dtype, batch_size, normalize, folder_normalize)
        return staging, forward

    def _batch_settings(self, batch_size: int, max_tokens: int | None, staging: "_HostStaging") -> dict[str, Any]:
        """How :func:`simcse.tokenize_worker.chunk_batches` batches and pads token ids for this tokenizer."""
        return {"batch_size": batch_size, "max_tokens": max_tokens, "pad_id": self.tokenizer.pad_token_id,
                "padding_side": getattr(self.tokenizer, "padding_side", "right"), "pad_multiple": staging.pad_multiple}

    def _run_batches(self, n: int, batches: list, forward: Callable, staging: "_HostStaging",
                     progress: Any = None) -> torch.Tensor:
        """The float32 host vectors [n, dim] of one chunk's batches, in the chunk's order."""
        out = torch.empty(n, self.dim, dtype=torch.float32)
        for rows, input_ids, mask in batches:
            staging.put(forward(input_ids, mask), rows, out)
            if progress is not None:
                progress.update(len(rows))
        staging.flush()
        return out

    def _inference_forward(self, device: torch.device, dtype: torch.dtype | None, normalize: bool):
        """(input_ids, attention_mask) (host tensors, pinned on CUDA, or already on ``device``) -> float32 vectors
        on ``device``, with no host synchronisation where the backbone allows it (:meth:`_takes_expanded_mask`)."""
        use_mlp = self.uses_mlp(training=False)
        amp = dtype is not None and dtype != torch.float32
        expand = self._takes_expanded_mask(device)
        token_types = "token_type_ids" in getattr(self.tokenizer, "model_input_names", ())

        def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            input_ids = input_ids.to(device, non_blocking=True)
            attention_mask = attention_mask.to(device, non_blocking=True)
            kwargs = {"token_type_ids": torch.zeros_like(input_ids)} if token_types else {}
            if expand:
                kwargs["backbone_mask"] = attention_mask.bool()[:, None, None, :]
            with torch.autocast(device.type, dtype=dtype, enabled=amp, cache_enabled=False):
                emb = self(input_ids, attention_mask, use_mlp=use_mlp, **kwargs)
            emb = emb.float()
            return torch.nn.functional.normalize(emb, p=2, dim=-1) if normalize else emb

        return forward

    def _takes_expanded_mask(self, device: torch.device) -> bool:
        """Whether the backbone gives the same states for a 4-d boolean attention mask [B, 1, 1, L] as for the
        2-d one (checked once per encoder and device on a padded pair of sentences, in float32). Transformers'
        bidirectional SDPA path asks the device whether a 2-d mask pads anything, a host synchronisation per
        forward; a 4-d mask is used as it is. Decoders (causal masks) keep the 2-d mask."""
        key = (str(device), id(self.backbone))
        cache = _EXPANDED_MASK.setdefault(self, {})
        if key not in cache:
            cache[key] = not self._decoder_only and self._check_expanded_mask(device)
        return cache[key]

    def _check_expanded_mask(self, device: torch.device) -> bool:
        batch = self.collate(self.tokenize_ids(["a b c d e f", "a"], 16, ""))
        batch = {k: v.to(device) for k, v in batch.items()}
        mask = batch["attention_mask"]
        try:
            with torch.autocast(device.type, enabled=False):
                plain = self.backbone(**batch).last_hidden_state
                batch["attention_mask"] = mask.bool()[:, None, None, :]
                expanded = self.backbone(**batch).last_hidden_state
        except Exception as exc:  # a backbone that refuses 4-d masks keeps the 2-d one
            logger.debug("%s refuses a 4-d attention mask (%s); encoding with the 2-d one", type(self.backbone).__name__, exc)
            return False
        real = mask.bool()
        return bool(torch.allclose(plain[real], expanded[real], atol=1e-4, rtol=1e-4))

    def _shape_graphs(self, forward, device: torch.device, dtype: torch.dtype | None, batch_size: int,
                      normalize: bool, folder_normalize: bool) -> ShapeGraphs:
        """The encoder's CUDA graphs for these settings, kept between calls while the weights stay where they are."""
        weights = tuple(p.data_ptr() for p in self.parameters())
        key = (str(device), dtype, batch_size, normalize, folder_normalize, self.uses_mlp(training=False))
        cache = _GRAPHS.setdefault(self, {})
        if cache.get("weights") != weights:
            cache.clear()
            cache["weights"] = weights
        if key not in cache:
            cache[key] = ShapeGraphs(forward, device, batch_size, self.tokenizer.pad_token_id)
        return cache[key]

    def _worker_texts(self, prompt: str | None) -> Callable[[Sequence[str]], list[str]] | None:
        """How a chunk becomes the texts a tokenizer worker process tokenizes as they are (with special tokens,
        truncated on the right), or None when this tokenizer or prompt needs the in-process path."""
        fast = getattr(self.tokenizer, "is_fast", False) and getattr(self.tokenizer, "backend_tokenizer", None) is not None
        if not fast or getattr(self.tokenizer, "truncation_side", "right") != "right":
            return None  # _fast_token_ids would call the Python tokenizer
        return self._one_text_per_sentence(self.prompt_template(prompt))

    def _chunk_batches(self, chunks: Iterator[Sequence[str]], batch_size: int, max_length: int | None,
                       max_tokens: int | None, prompt: str | None, workers: int,
                       staging: "_HostStaging") -> Iterator[tuple[int, list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]]]:
        """For each chunk, in order: its length and its padded batches (rows, input_ids, attention_mask; pinned
        on CUDA), made ahead of the model: the first chunk in a background thread, the others in ``workers``
        tokenizer processes when there are any and the tokenizer allows it."""
        max_length = max_length or self.config.max_length
        settings = self._batch_settings(batch_size, max_tokens, staging)

        def local(chunk: Sequence[str]) -> tuple[int, list]:
            return len(chunk), _batch_tensors(chunk_batches(self.tokenize_ids(chunk, max_length, prompt), settings),
                                              staging)

        to_texts = self._worker_texts(prompt) if workers else None
        procs = None
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simcse-tokenize")
        pending: collections.deque = collections.deque()
        try:
            depth = 1 + (workers if to_texts is not None else 0)
            first = True
            while True:
                while len(pending) <= depth:
                    chunk = next(chunks, None)
                    if chunk is None:
                        break
                    if to_texts is None or first:
                        pending.append(thread.submit(local, chunk))
                    else:
                        if procs is None:  # started at the second chunk: a one-chunk input never waits for them
                            procs = TokenizerProcesses(_truncating_backend(self.tokenizer, max_length).to_str(),
                                                       settings, workers)
                        n = len(chunk)
                        pending.append(procs.submit(to_texts(chunk), then=lambda b, n=n: (n, _batch_tensors(b, staging))))
                    first = False
                if not pending:
                    return
                yield pending.popleft().result()
        finally:
            for fut in pending:
                fut.cancel()
            thread.shutdown(wait=True, cancel_futures=True)
            if procs is not None:
                procs.close()

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
        root = resolve_model_path(name_or_path)
        spec = read_folder(root, str(name_or_path or root))
        return cls.from_folder(spec, pooler_type, mlp_only_train, max_length, **model_kwargs)

    @classmethod
    def from_folder(
        cls,
        spec: FolderSpec,
        pooler_type: str | None = None,
        mlp_only_train: bool | None = None,
        max_length: int | None = None,
        *,
        for_training: bool = False,
        mlp_init: str = "auto",
        backbone: nn.Module | None = None,
        tokenizer: Any = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
        **model_kwargs: Any,
    ) -> "SentenceEncoder":
        """The encoder of a folder read by :func:`simcse.formats.read_folder`. Inference and training both
        load through here, so the same folder and pooler give the same modules, MLP head and config.

        ``pooler_type`` / ``mlp_only_train`` / ``max_length`` override what the folder says
        (:func:`simcse.formats.resolve_config`). ``for_training``: a plain Hugging Face folder gets
        SimCSE's pooler and the MLP head starts as ``mlp_init`` says; at inference the head is always
        the folder's trained one (:func:`simcse.formats.huggingface.load_mlp_head`). ``backbone`` /
        ``tokenizer``: ones already loaded (training's masked-LM backbone, ``--tokenizer_name``);
        otherwise they are loaded from the folder with ``model_kwargs`` / ``tokenizer_kwargs``.
        """
        cfg = resolve_config(spec, pooler_type, mlp_only_train, max_length, for_training=for_training)
        if backbone is None:
            backbone = load_backbone(spec, **model_kwargs)
        if tokenizer is None:
            tokenizer = load_tokenizer(spec, **(tokenizer_kwargs or {}))
        encoder = cls(backbone, tokenizer, cfg, load_mlp_head(spec, cfg, backbone, mlp_init if for_training else None))
        if (encoder._decoder_only and getattr(tokenizer, "padding_side", "right") == "left"
                and isinstance(getattr(backbone, "wpe", None), nn.Embedding) and spec.format == "sentence-transformers"):
            logger.warning(
                "%s: a left-padding tokenizer with absolute position embeddings (%s). sentence-transformers passes "
                "no position ids, so there a padded sentence's embedding shifts with the longest sentence of its "
                "batch; simcse counts positions over the real tokens, so its embeddings differ for padded "
                "sentences (saved by simcse, the folder pads on the right and the two agree)",
                spec.root, type(backbone).__name__,
            )
        return encoder

    # ------------------------------------------------------------------ saving
    def save_pretrained(self, path: str | os.PathLike, safe_serialization: bool = True) -> None:
        """Write a folder that ``SentenceEncoder.from_pretrained``, ``SimCSE`` and
        ``SentenceTransformer`` all load with identical embeddings (:func:`simcse.formats.write_folder`)."""
        write_folder(self, path, safe_serialization=safe_serialization)


# ---------------------------------------------------------------------- helpers
def pad_batch(
    ids: Sequence[Sequence[int]],
    pad_id: int,
    padding_side: str = "right",
    with_token_type_ids: bool = False,
    pad_to_multiple_of: int | None = None,
    pad_to: int | None = None,
) -> dict[str, torch.Tensor]:
    """Pad lists of token ids to one length; returns input_ids, attention_mask (and token_type_ids)."""
    input_ids, mask = pad_arrays(ids, pad_id, padding_side, pad_to_multiple_of, pad_to)
    batch = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}
    if with_token_type_ids:
        batch["token_type_ids"] = torch.zeros_like(batch["input_ids"])
    return batch


def _batch_tensors(batches: list, staging: "_HostStaging") -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """:func:`simcse.tokenize_worker.chunk_batches`' arrays as tensors, pinned for asynchronous copies on CUDA."""
    out = []
    for rows, input_ids, mask in batches:
        input_ids, mask = torch.from_numpy(input_ids), torch.from_numpy(mask)
        if staging.pinned:
            input_ids, mask = input_ids.pin_memory(), mask.pin_memory()
        out.append((torch.from_numpy(rows), input_ids, mask))
    return out


_EXPANDED_MASK: "weakref.WeakKeyDictionary[SentenceEncoder, dict]" = weakref.WeakKeyDictionary()
_GRAPHS: "weakref.WeakKeyDictionary[SentenceEncoder, dict]" = weakref.WeakKeyDictionary()


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


def _truncating_backend(tokenizer: Any, max_length: int | None) -> Any:
    """A private copy of the tokenizer's Rust backend that truncates to ``max_length`` (``None``: never) and
    never pads (one per tokenizer and length, so the shared tokenizer's settings are never touched)."""
    per_tok = _BACKEND_CACHE.setdefault(tokenizer, {})
    backend = per_tok.get(max_length)
    if backend is None:
        backend = copy.copy(tokenizer.backend_tokenizer)
        backend.no_padding()
        if max_length is None:
            backend.no_truncation()
        else:
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


def _untruncated_encodings(tokenizer: Any, texts: list[str]) -> list[tuple[list[int], list[tuple[int, int]] | None]]:
    """Each text's token ids with special tokens, untruncated, and each token's character span in the text
    (``None`` for a tokenizer without a Rust backend, which gives no spans)."""
    if getattr(tokenizer, "is_fast", False) and getattr(tokenizer, "backend_tokenizer", None) is not None:
        backend = _truncating_backend(tokenizer, None)
        return [(e.ids, e.offsets) for e in backend.encode_batch(texts, add_special_tokens=True)]
    enc = tokenizer(texts, add_special_tokens=True, truncation=False, padding=False,
                    return_attention_mask=False, return_token_type_ids=False)
    return [(ids, None) for ids in enc["input_ids"]]


def _check_template_fits(tokenizer: Any, template: str, max_length: int) -> None:
    """Refuse a ``max_length`` that cannot hold ``template``, the special tokens and one token of the sentence."""
    fixed = len(_untruncated_encodings(tokenizer, [template.format("")])[0][0])
    if max_length < fixed + 1:
        raise ValueError(
            f"max_length={max_length} cannot hold the prompt template {template!r}: the template and the special "
            f"tokens take {fixed} tokens, so max_length must be at least {fixed + 1} (one token of the sentence)"
        )


def _templated_token_ids(tokenizer: Any, template: str, sentences: list[str], max_length: int) -> list[list[int]]:
    """The ids of ``template`` around each sentence, the sentence cut (never the template) to fit ``max_length``.

    A sentence that fits is tokenized inside the template as one text, exactly as without a limit. One
    that does not is cut at a token boundary, by as many of its tokens as the whole is over, and the
    template around the cut text is tokenized again, until it fits (tokens that merge across the
    template's edges can need a second round).
    """
    head, tail = template.format("\x00").split("\x00", 1)
    keep_end = getattr(tokenizer, "truncation_side", "right") == "left"
    texts = list(sentences)
    out: list[list[int]] = [[] for _ in texts]
    todo = list(range(len(texts)))
    while todo:
        over = []
        for i, (ids, spans) in zip(todo, _untruncated_encodings(tokenizer, [head + texts[i] + tail for i in todo])):
            excess = len(ids) - max_length
            if excess <= 0:
                out[i] = list(ids)
            else:
                texts[i] = _cut_sentence(texts[i], len(head), len(ids), spans, excess, keep_end)
                over.append(i)
        todo = over
    return out


def _cut_sentence(text: str, start: int, n_ids: int, spans: list[tuple[int, int]] | None, excess: int,
                  keep_end: bool) -> str:
    """``text`` (at character ``start`` of the templated text) less about ``excess`` tokens: its last ones, or its
    first ones when ``keep_end``; always shorter than ``text``. ``spans``: the templated text's token spans; without
    them the share of characters to drop is that of the tokens over."""
    if spans is None:
        drop = max(1, -(-len(text) * excess // n_ids))
    else:
        inside = [(s - start, e - start) for s, e in spans if e > s and s >= start and e <= start + len(text)]
        if excess >= len(inside):
            return ""
        if keep_end:
            drop = inside[excess][0]
        else:
            drop = len(text) - inside[len(inside) - excess - 1][1]
        drop = max(1, drop)
    return text[drop:] if keep_end else text[: len(text) - drop]


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
