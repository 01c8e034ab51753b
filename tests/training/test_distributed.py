"""Negatives gathered across processes: 2 processes x b examples == 1 process x 2b (loss and gradients).

Runs DDP with the gloo backend on CPU through torch.multiprocessing.
"""
from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from simcse.training.distributed import all_gather_with_grad, dist_info
from spawn_helpers import exit_after
from simcse.training.loss import InfoNCELoss

B, VIEWS_IN, DIM = 4, 16, 8


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(VIEWS_IN, 32), nn.Tanh(), nn.Linear(32, DIM))


def _data(views: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randn(2 * B, views, VIEWS_IN, generator=g)


def _loss_and_grads(model: nn.Module, x: torch.Tensor, loss_fn: InfoNCELoss):
    b, v, _ = x.shape
    z = model(x.reshape(b * v, -1)).view(b, v, -1)
    loss = loss_fn(z)
    loss.backward()
    return loss.detach(), [p.grad.detach().clone() for p in model.parameters()]


CASES = [(2, 0.0), (3, 0.0), (3, 0.5)]


def _work(rank: int, world: int, rendezvous: str, out_dir: str) -> None:
    # A file rendezvous: no TCP port to pick in advance (and lose to another process in between).
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world)
    try:
        assert dist_info() == (rank, world)
        for views, weight in CASES:
            model = nn.parallel.DistributedDataParallel(_model())
            x = _data(views)[rank * B : (rank + 1) * B]
            loss, grads = _loss_and_grads(model, x, InfoNCELoss(temp=0.05, hard_negative_weight=weight))
            # The gathered tensor holds every rank's rows in rank order.
            gathered = all_gather_with_grad(torch.full((2, 3), float(rank)))
            torch.save({"loss": loss, "grads": grads, "gathered": gathered},
                       os.path.join(out_dir, f"v{views}-w{weight}-rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _worker(*args) -> None:
    exit_after(_work, *args)


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(2, str(out / "rendezvous"), str(out)), nprocs=2, join=True)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("views,weight", CASES)
def test_two_processes_equal_one_process_with_double_batch(ddp_results, views, weight):
    ref_loss, ref_grads = _loss_and_grads(_model(), _data(views), InfoNCELoss(temp=0.05, hard_negative_weight=weight))
    for rank in range(2):
        res = torch.load(ddp_results / f"v{views}-w{weight}-rank{rank}.pt", weights_only=True)
        torch.testing.assert_close(res["loss"], ref_loss, rtol=1e-5, atol=1e-6)
        for g, ref in zip(res["grads"], ref_grads):
            torch.testing.assert_close(g, ref, rtol=1e-4, atol=1e-6)
        expected = torch.cat([torch.zeros(2, 3), torch.ones(2, 3)])
        torch.testing.assert_close(res["gathered"], expected)


def test_without_process_group_gather_is_identity():
    x = torch.randn(3, 4, requires_grad=True)
    assert dist_info() == (0, 1)
    assert all_gather_with_grad(x) is x


def test_ddp_benchmark_report(tmp_path):
    """bench/ddp.py's report: per-step loss parity and throughput (first window left out) from trainer states."""
    import json

    from bench import ddp

    def state(name, losses, speeds, step=None):
        hist = [{"step": i + 1, "loss": v} for i, v in enumerate(losses)]
        hist += [{"step": 50 * (i + 1), "sentences_per_second": v} for i, v in enumerate(speeds)]
        (tmp_path / name).mkdir()
        (tmp_path / name / "trainer_state.json").write_text(
            json.dumps({"log_history": hist, "global_step": step or len(losses)}))

    state("parity_1gpu", [4.0, 2.0], [])
    state("parity_2gpu", [4.0, 2.002], [])
    state("speed_1gpu", [1.0], [10.0, 1000.0, 1200.0])
    state("speed_2gpu", [1.0], [20.0, 1700.0, 1900.0])
    state("sup_2gpu", [3.0, 2.5], [], step=30)
    state("mlm_2gpu", [3.0], [], step=30)
    ddp.report(tmp_path, tmp_path / "out")
    res = json.loads((tmp_path / "out" / "ddp_cuda.json").read_text())
    assert res["max_rel_diff"] == pytest.approx(0.001)
    assert res["throughput"]["speedup"] == pytest.approx(1800 / 1100)
    assert res["throughput"]["scaling_efficiency"] == pytest.approx(1800 / 2200)
    assert res["throughput_per_gpu_batch_256"] == {}
    assert res["variants"] == {"sup_2gpu": {"steps": 30, "last_loss": 2.5}, "mlm_2gpu": {"steps": 30, "last_loss": 3.0}}
