"""Gradient caching (Gao et al., 2021, "Scaling Deep Contrastive Learning Batch Size under Memory
Limited Setup"): the InfoNCE loss over a batch far larger than fits in memory.

The contrastive loss couples every example of the batch, so it cannot be split into independent
micro-batches the way gradient accumulation splits a cross-entropy loss. Gradient caching splits
the *encoder* instead:

1. encode every view in chunks of ``chunk_size`` sequences without a graph (``torch.no_grad``),
   saving the random-number state (CPU and CUDA) before each chunk;
2. compute the loss on the concatenated, detached embeddings and its gradient ``g = dL/dz``
   (cheap: only the ``[N, N]`` similarity matrix has a graph);
3. encode each chunk again *with* a graph under its saved random state (so dropout draws the same
   masks as in step 1) and back-propagate the surrogate ``sum(z_chunk * g_chunk)``, whose gradient
   with respect to the parameters is the chunk's share of ``dL/dθ``.

The parameter gradients equal those of one backward through the whole batch under the same dropout
masks (to float rounding); peak memory is that of one chunk plus the embeddings. The cost is a second
forward pass. The masks are drawn chunk by chunk, not over the whole batch at once, so an uncached step
with the same seed draws other masks: its gradients differ from the cached step's as another seed's do.

Under DDP the loss gathers the embeddings of all ranks (:mod:`simcse.training.distributed`), so ``g`` is
this rank's share of the global loss's gradient (times the world size, as in the uncached path,
which DDP's averaging undoes); chunks other than the last back-propagate inside ``no_sync`` so
gradients are all-reduced once per step. Each chunk goes through the (possibly DDP- and
autocast-wrapped) model's forward, so mixed precision and DDP behave as in the uncached path.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable

import torch
from torch import nn

EMBED_ONLY = "embed_only"
"""Keyword of :meth:`simcse.training.trainer.ContrastiveModel.forward` that returns the embeddings without a loss."""

_VIEW_KEYS = ("input_ids", "attention_mask", "token_type_ids")


def _rng_state(device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


def _set_rng_state(state: tuple[torch.Tensor, torch.Tensor | None], device: torch.device) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def _chunks(inputs: dict[str, torch.Tensor], chunk_size: int) -> tuple[int, int, list[dict[str, torch.Tensor]]]:
    """Flatten ``[B, V, L]`` inputs to ``B*V`` rows (the order the model encodes them in) and cut them
    into chunks shaped ``[n, 1, L]`` (one view each, so the model's forward accepts them as is)."""
    extra = sorted(k for k, t in inputs.items() if k not in _VIEW_KEYS and t is not None)
    if extra:
        raise ValueError(f"gradient caching does not support the inputs {extra} (e.g. --do_mlm's masked tokens)")
    ids = inputs["input_ids"]
    if ids.dim() != 3:
        raise ValueError(f"expected input_ids of shape [batch, views, length], got {tuple(ids.shape)}")
    b, v, length = ids.shape
    flat = {k: inputs[k].reshape(b * v, length) for k in _VIEW_KEYS if inputs.get(k) is not None}
    chunks = [
        {k: t[start : start + chunk_size].unsqueeze(1) for k, t in flat.items()}
        for start in range(0, b * v, chunk_size)
    ]
    return b, v, chunks


def _unwrap(model: nn.Module) -> nn.Module:
    while hasattr(model, "module") and isinstance(model.module, nn.Module):
        model = model.module
    return model


def grad_cache_step(
    model: nn.Module,
    inputs: dict[str, torch.Tensor],
    chunk_size: int,
    backward: Callable[[torch.Tensor], Any] | None = None,
    loss_scale: float = 1.0,
    forward_context: Callable[[], contextlib.AbstractContextManager] | None = None,
) -> torch.Tensor:
    """One forward-backward pass of a :class:`~simcse.training.trainer.ContrastiveModel` with cached gradients.

    Args:
        model: the ContrastiveModel, possibly wrapped (DDP, accelerate's autocast); its forward must
            accept ``embed_only=True`` and its ``loss`` maps ``[B, V, dim]`` views to the loss.
        inputs: the collator's ``[B, V, L]`` tensors (``input_ids``, ``attention_mask``, optional
            ``token_type_ids``).
        chunk_size: sequences (rows of ``B*V``) encoded at once.
        backward: called with each chunk's surrogate loss (default ``Tensor.backward``; the
            Trainer passes ``accelerator.backward``).
        loss_scale: factor on the loss (e.g. ``1 / gradient_accumulation_steps``).
        forward_context: a factory of the context each forward runs in (the Trainer's
            ``compute_loss_context_manager``).

    Returns:
        The detached loss times ``loss_scale``; parameter ``.grad`` hold ``loss_scale * dL/dθ``
        added to what they held.
    """
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"grad cache chunk_size must be a positive integer, got {chunk_size!r}")
    backward = backward or (lambda t: t.backward())
    forward_context = forward_context or contextlib.nullcontext
    inner = _unwrap(model)
    if getattr(inner, "mlm_model", None) is not None:
        raise ValueError("gradient caching does not support --do_mlm (the MLM loss is not a function of the embeddings)")
    b, v, chunks = _chunks(inputs, chunk_size)
    device = inputs["input_ids"].device

    # Pass 1: embeddings of every chunk without a graph, remembering each chunk's random state.
    states = []
    embeddings = []
    with torch.no_grad():
        for chunk in chunks:
            states.append(_rng_state(device))
            with forward_context():
                embeddings.append(model(**chunk, **{EMBED_ONLY: True})["embeddings"])
    end_state = _rng_state(device)

    # The loss on the detached embeddings, and its gradient with respect to them.
    z = torch.cat(embeddings).detach().requires_grad_(True)
    with torch.enable_grad(), forward_context():
        loss = inner.loss(z.view(b, v, -1))
    (grad,) = torch.autograd.grad(loss, z)
    grad = grad * loss_scale

    # Pass 2: each chunk again with a graph, same dropout, back-propagating its share of the gradient.
    no_sync = getattr(model, "no_sync", None)
    start = 0
    for i, chunk in enumerate(chunks):
        n = chunk["input_ids"].shape[0]
        g = grad[start : start + n]
        start += n
        _set_rng_state(states[i], device)
        sync = contextlib.nullcontext() if (no_sync is None or i == len(chunks) - 1) else no_sync()
        with sync:
            with forward_context():
                zc = model(**chunk, **{EMBED_ONLY: True})["embeddings"]
                surrogate = (zc.float() * g.float()).sum()
            backward(surrogate)
    _set_rng_state(end_state, device)
    return loss.detach() * loss_scale


def grad_cache_training_step(
    trainer: Any, model: nn.Module, inputs: dict[str, torch.Tensor], chunk_size: int
) -> torch.Tensor:
    """``Trainer.training_step`` with gradient caching: same loss scaling, autocast and backward
    (``accelerator.backward``) as the Trainer's own step. fp16 (loss scaling) is not supported."""
    if trainer.args.fp16:
        raise ValueError("--grad_cache_chunk_size does not support --fp16; use --bf16 (or float32)")
    model.train()
    if hasattr(trainer.optimizer, "train") and callable(trainer.optimizer.train):
        trainer.optimizer.train()
    inputs = trainer._prepare_inputs(inputs)
    steps = getattr(trainer, "current_gradient_accumulation_steps", None) or trainer.args.gradient_accumulation_steps
    return grad_cache_step(
        model,
        inputs,
        chunk_size,
        backward=trainer.accelerator.backward,
        loss_scale=1.0 / steps,
        forward_context=trainer.compute_loss_context_manager,
    )

