"""Gathering embeddings across processes so every rank sees the global batch as negatives.

Under DDP each process encodes its own ``b`` examples. :func:`all_gather_with_grad` returns the
``[world * b, ...]`` tensor of all ranks, where this rank's slice is the local tensor itself (so
gradients flow into it) and the other slices are constants.

Every rank then computes the *same* global loss. Its gradient reaches the parameters only
through the local slice, i.e. rank ``r`` holds ``dL/dz_r``. DDP averages parameter gradients over
ranks, which would give ``(1/W) * dL/dθ``; the backward of the gather therefore multiplies the
local gradient by the world size ``W``, so that after DDP's averaging the update equals the
single-process update on the full ``W * b`` batch (and the logged loss equals its loss). This is
what an all-reduce of the gathered gradient followed by slicing would give, without the
communication in backward.
"""
from __future__ import annotations

import torch
import torch.distributed as dist


def dist_info() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group, ``(0, 1)`` when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _AllGatherWithGrad(torch.autograd.Function):
    """Forward: concatenate ``x`` of every rank along dim 0. Backward: this rank's slice x world size."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        rank, world = dist_info()
        ctx.rank, ctx.world, ctx.n = rank, world, x.shape[0]
        parts = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(parts, x.contiguous())
        parts[rank] = x
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        start = ctx.rank * ctx.n
        return grad[start : start + ctx.n] * ctx.world


def all_gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """All ranks' ``x`` concatenated along dim 0 (rank order), differentiable through the local part.

    Every rank must pass the same shape (the Trainer's distributed sampler pads the data so each
    rank gets the same number of examples). Without an initialised process group, or with a
    single process, ``x`` is returned unchanged.
    """
    _, world = dist_info()
    if world == 1:
        return x
    return _AllGatherWithGrad.apply(x)
