"""Tests for arc_trm.ttt.optim: AdamATan2, sparse SignSGD (incl. a 2-process gloo run), lr_at and EMA."""

from __future__ import annotations

import io
import math
import os
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from arc_trm.ttt import optim
from arc_trm.ttt.optim import EMA, AdamATan2, PuzzleEmbeddingSignSGD, adam_atan2_update, lr_at, signsgd_step

# ---------------------------------------------------------------------------------------------- AdamATan2


def _reference_adam_atan2(p0, grads, lrs, beta1, beta2, wd):
    """The update rule written out step by step with plain ops (no in-place helpers, no lerp)."""
    p, m, v = p0.clone(), torch.zeros_like(p0), torch.zeros_like(p0)
    for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
        bc1, bc2 = 1 - beta1**t, 1 - beta2**t
        p = p * (1 - lr * wd)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        p = p - (lr / bc1) * torch.atan2(m, torch.sqrt(v) / math.sqrt(bc2))
    return p, m, v


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-6)])
def test_adam_atan2_matches_reference_with_changing_lr(dtype, tol):
    gen = torch.Generator().manual_seed(0)
    p0 = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    grads = [torch.randn(5, 3, generator=gen, dtype=torch.float64) * 10 ** (-k) for k in range(6)]
    lrs = [0.0, 1e-3, 3e-2, 1e-2, 5e-3, 2e-2]  # starts at 0 like a warmup, set per step below
    ref_p, ref_m, ref_v = _reference_adam_atan2(p0, grads, lrs, 0.9, 0.95, 0.1)

    param = nn.Parameter(p0.to(dtype))
    opt = AdamATan2([param], lr=0.0, betas=(0.9, 0.95), weight_decay=0.1)
    for g, lr in zip(grads, lrs):
        for group in opt.param_groups:
            group["lr"] = lr
        param.grad = g.to(dtype)
        opt.step()

    state = opt.state[param]
    assert state["step"].item() == len(grads)
    torch.testing.assert_close(param.detach().double(), ref_p, rtol=0, atol=tol)
    torch.testing.assert_close(state["exp_avg"].double(), ref_m, rtol=tol, atol=tol)
    torch.testing.assert_close(state["exp_avg_sq"].double(), ref_v, rtol=tol, atol=tol * 1e-6)


def test_adam_atan2_over_many_parameters_is_the_per_parameter_rule_bit_for_bit():
    # The optimiser updates all parameters at once (foreach operations); each must move exactly as
    # adam_atan2_update moves it alone, including one that skipped steps (another step count).
    gen = torch.Generator().manual_seed(1)
    shapes = [(4, 3), (7,), (2, 2, 5)]
    params = [nn.Parameter(torch.randn(s, generator=gen)) for s in shapes]
    alone = [(p.detach().clone(), torch.zeros(s), torch.zeros(s)) for p, s in zip(params, shapes)]
    opt = AdamATan2(params, lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1)
    counts = [0, 0, 0]
    for step in range(5):
        for i, p in enumerate(params):
            p.grad = None if (i == 2 and step == 1) else torch.randn(shapes[i], generator=gen)
        opt.step()
        for i, p in enumerate(params):
            if p.grad is not None:
                counts[i] += 1
                adam_atan2_update(
                    *alone[i][:1], p.grad, *alone[i][1:], counts[i], lr=1e-2, beta1=0.9, beta2=0.95, weight_decay=0.1
                )
    for p, (q, m, _v) in zip(params, alone):
        assert torch.equal(p.detach(), q) and torch.equal(opt.state[p]["exp_avg"], m)
    assert [int(opt.state[p]["step"]) for p in params] == counts == [5, 5, 4]


@pytest.mark.parametrize("g", [2.0, -2.0, 1e-3, -1e-3])
def test_adam_atan2_first_step_on_a_scalar(g):
    # At t=1: m = (1-b1) g and sqrt(v)/sqrt(bc2) = |g|, so the atan2 term is atan2((1-b1) g, |g|)
    # = sign(g) * atan(1 - b1), then scaled by lr / bc1 = lr / (1 - b1). The step does not depend on |g|.
    # (It is not lr * pi/4: the first moment's bias correction sits outside the atan2.)
    lr, wd, b1 = 0.01, 0.1, 0.9
    param = nn.Parameter(torch.tensor(0.5, dtype=torch.float64))
    opt = AdamATan2([param], lr=lr, betas=(b1, 0.95), weight_decay=wd)
    param.grad = torch.tensor(g, dtype=torch.float64)
    opt.step()
    expected = 0.5 * (1 - lr * wd) - math.copysign(1.0, g) * (lr / (1 - b1)) * math.atan(1 - b1)
    assert param.item() == pytest.approx(expected, abs=1e-15)
    assert abs(0.5 * (1 - lr * wd) - param.item()) == pytest.approx(lr * 0.9966865, rel=1e-6)


def test_adam_atan2_skips_params_without_grad_and_zero_grad_only_decays():
    a, b = nn.Parameter(torch.ones(3)), nn.Parameter(torch.ones(3))
    opt = AdamATan2([a, b], lr=0.5, weight_decay=0.5)
    a.grad = torch.zeros(3)  # atan2(0, 0) = 0: only the decay applies
    opt.step()
    torch.testing.assert_close(a.detach(), torch.full((3,), 0.75))
    torch.testing.assert_close(b.detach(), torch.ones(3))
    assert b not in opt.state


def test_adam_atan2_minimises_a_quadratic():
    torch.manual_seed(0)
    target = torch.randn(20)
    x = nn.Parameter(torch.zeros(20))
    opt = AdamATan2([x], lr=0.05, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_at(s + 1, 1.0, 10, 400, min_ratio=0.0))
    for _ in range(400):
        opt.zero_grad()
        loss = ((x - target) ** 2).sum()
        loss.backward()
        opt.step()
        sched.step()
    assert ((x - target) ** 2).sum().item() < 1e-4


def test_adam_atan2_state_dict_round_trip():
    torch.manual_seed(1)
    model_a = nn.Linear(4, 3)
    model_b = nn.Linear(4, 3)
    model_b.load_state_dict(model_a.state_dict())
    opt_a = AdamATan2(model_a.parameters(), lr=1e-2, weight_decay=0.1)
    grads = [[torch.randn_like(p) for p in model_a.parameters()] for _ in range(5)]

    def apply(model, opt, gs):
        for p, g in zip(model.parameters(), gs):
            p.grad = g.clone()
        opt.step()

    for gs in grads[:3]:
        apply(model_a, opt_a, gs)
    model_b.load_state_dict(model_a.state_dict())
    buffer = io.BytesIO()  # through serialisation, as a resume does (in memory, torch shares the tensors)
    torch.save(opt_a.state_dict(), buffer)
    buffer.seek(0)
    opt_b = AdamATan2(model_b.parameters(), lr=0.0, weight_decay=0.0)
    opt_b.load_state_dict(torch.load(buffer))
    assert opt_b.param_groups[0]["lr"] == 1e-2 and opt_b.param_groups[0]["weight_decay"] == 0.1
    for gs in grads[3:]:
        apply(model_a, opt_a, gs)
        apply(model_b, opt_b, gs)
    for pa, pb in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(pa, pb)
    assert all(opt_b.state[p]["step"].item() == 5 for p in model_b.parameters())


# ---------------------------------------------------------------------------------------------- SignSGD


def test_signsgd_sums_duplicate_ids_before_the_sign():
    table = torch.arange(8, dtype=torch.float32).reshape(4, 2)
    twice = table.clone()
    signsgd_step(twice, torch.tensor([1, 1]), torch.tensor([[1.0, 2.0], [-3.0, -1.0]]), lr=0.5, weight_decay=0.0)
    once = table.clone()
    signsgd_step(once, torch.tensor([1]), torch.tensor([[-2.0, 1.0]]), lr=0.5, weight_decay=0.0)
    assert torch.equal(twice, once)
    assert torch.equal(twice[1], torch.tensor([2.5, 2.5]))  # [2, 3] - 0.5 * sign([-2, 1])


def test_signsgd_decoupled_decay_and_untouched_rows():
    table = torch.tensor([[2.0, -4.0], [1.0, 1.0], [8.0, 8.0], [3.0, 3.0]])
    before = table.clone()
    ids = torch.tensor([0, 2], dtype=torch.int32)
    grads = torch.tensor([[5.0, -0.1], [0.0, 0.0]])
    signsgd_step(table, ids, grads, lr=0.25, weight_decay=0.5)  # decay factor 1 - 0.125 = 0.875
    assert torch.equal(table[0], torch.tensor([2.0 * 0.875 - 0.25, -4.0 * 0.875 + 0.25]))
    assert torch.equal(table[2], torch.tensor([7.0, 7.0]))  # seen with zero grad: decayed, not moved
    assert torch.equal(table[[1, 3]], before[[1, 3]])  # unseen: not even decayed


def test_signsgd_small_and_large_table_paths_agree_bit_for_bit(monkeypatch):
    gen = torch.Generator().manual_seed(2)
    table = torch.randn(40, 6, generator=gen)
    ids, grads = torch.randint(0, 40, (25,), generator=gen), torch.randn(25, 6, generator=gen)
    dense, sparse = table.clone(), table.clone()
    signsgd_step(dense, ids, grads, lr=0.1, weight_decay=0.3)
    monkeypatch.setattr(optim, "SMALL_TABLE", 0)  # the same table through the path of pretraining's big tables
    signsgd_step(sparse, ids, grads, lr=0.1, weight_decay=0.3)
    assert torch.equal(dense, sparse) and not torch.equal(dense, table)


def test_puzzle_embedding_signsgd_lr_plumbing():
    table = torch.zeros(3, 2)
    opt = PuzzleEmbeddingSignSGD(table, lr=0.0, weight_decay=0.1)
    assert opt.table is table
    assert opt.lr == 0.0
    opt.lr = 1.0
    torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5)  # base lr 1.0, multiplier 0.5
    assert opt.lr == 0.5
    opt.step(torch.tensor([2]), torch.tensor([[1.0, -1.0]]))
    assert torch.equal(table, torch.tensor([[0.0, 0.0], [0.0, 0.0], [-0.5, 0.5]]))
    state = opt.state_dict()
    other = PuzzleEmbeddingSignSGD(torch.zeros(3, 2), lr=0.0, weight_decay=0.0)
    other.load_state_dict(state)
    assert other.lr == 0.5 and other.param_groups[0]["weight_decay"] == 0.1


def _dist_batches():
    gen = torch.Generator().manual_seed(3)
    ids = [torch.tensor([3, 0, 5, 3]), torch.tensor([3, 7, 0, 1])]  # 3 and 0 repeat within and across ranks
    grads = [torch.randn(4, 6, generator=gen), torch.randn(4, 6, generator=gen)]
    table = torch.randn(10, 6, generator=gen)
    return table, ids, grads


def _gloo_worker(rank: int, world_size: int, store_file: str, out_dir: str) -> None:
    if sys.platform.startswith("linux"):  # containers whose hostname does not resolve to a usable address
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group("gloo", init_method=f"file://{store_file}", rank=rank, world_size=world_size)
    try:
        table, ids, grads = _dist_batches()
        opt = PuzzleEmbeddingSignSGD(table, lr=0.1, weight_decay=0.5)
        opt.step(ids[rank], grads[rank])
        signsgd_step(table, ids[rank], -grads[rank], lr=0.05, weight_decay=0.0, group=dist.group.WORLD)
        torch.save(table, Path(out_dir) / f"rank{rank}.pt")
        dist.barrier()
    except BaseException:
        dist.destroy_process_group()
        raise
    # gloo's teardown races between processes (about 1 run in 8 aborted with "terminate called without an active
    # exception" in destroy_process_group): once both ranks are past the barrier, each leaves without tearing down.
    (Path(out_dir) / f"done{rank}").touch()
    deadline = time.monotonic() + 60
    while not all((Path(out_dir) / f"done{r}").exists() for r in range(world_size)) and time.monotonic() < deadline:
        time.sleep(0.01)
    os._exit(0)


@pytest.mark.slow
def test_signsgd_two_process_gloo_matches_single_process(tmp_path):
    mp.spawn(_gloo_worker, args=(2, str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    table, ids, grads = _dist_batches()
    signsgd_step(table, torch.cat(ids), torch.cat(grads), lr=0.1, weight_decay=0.5)
    signsgd_step(table, torch.cat(ids), -torch.cat(grads), lr=0.05, weight_decay=0.0)
    results = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    assert torch.equal(results[0], results[1])
    assert torch.equal(results[0], table)
    # Sanity: the cross-rank sum matters (rank 0 alone would give a different row 3 or 0).
    alone = _dist_batches()[0]
    signsgd_step(alone, ids[0], grads[0], lr=0.1, weight_decay=0.5)
    signsgd_step(alone, ids[0], -grads[0], lr=0.05, weight_decay=0.0)
    assert not torch.equal(alone, table)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    gen = torch.Generator().manual_seed(5)
    p0, grads = torch.randn(64, 8, generator=gen), [torch.randn(64, 8, generator=gen) for _ in range(4)]
    results = []
    for device in ("cpu", "cuda"):
        param = nn.Parameter(p0.clone().to(device))  # a copy: .to("cpu") would alias p0, moving the CUDA start
        opt = AdamATan2([param], lr=1e-2, weight_decay=0.1)
        for g in grads:
            param.grad = g.to(device)
            opt.step()
        results.append(param.detach().cpu())
    torch.testing.assert_close(results[1], results[0], rtol=1e-5, atol=1e-6)

    table, ids, row_grads = _dist_batches()
    on_gpu = table.cuda()
    signsgd_step(on_gpu, torch.cat(ids).cuda(), torch.cat(row_grads).cuda(), lr=0.1, weight_decay=0.5)
    signsgd_step(table, torch.cat(ids), torch.cat(row_grads), lr=0.1, weight_decay=0.5)
    assert torch.equal(on_gpu.cpu(), table)


# ---------------------------------------------------------------------------------------------- lr_at


def test_lr_at_warmup_then_constant():
    assert lr_at(0, 1e-4, 2000, 100_000) == 0.0
    assert lr_at(1, 1e-4, 2000, 100_000) == pytest.approx(1e-4 / 2000)
    assert lr_at(1000, 1e-4, 2000, 100_000) == pytest.approx(5e-5)
    for step in (2000, 2001, 50_000, 100_000, 200_000):
        assert lr_at(step, 1e-4, 2000, 100_000) == pytest.approx(1e-4, rel=1e-12)


def test_lr_at_cosine_when_min_ratio_below_one():
    assert lr_at(100, 2.0, 100, 300, min_ratio=0.0) == pytest.approx(2.0)
    assert lr_at(200, 2.0, 100, 300, min_ratio=0.0) == pytest.approx(1.0)
    assert lr_at(300, 2.0, 100, 300, min_ratio=0.1) == pytest.approx(0.2)
    assert lr_at(10**6, 2.0, 100, 300, min_ratio=0.1) == pytest.approx(0.2)


# ---------------------------------------------------------------------------------------------- EMA


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.frozen = nn.Parameter(torch.ones(2), requires_grad=False)
        self.register_buffer("table", torch.zeros(4, 3))
        self.register_buffer("h_init", torch.randn(3))


def test_ema_tracks_formula_and_excludes_buffers():
    torch.manual_seed(0)
    net = _Net()
    ema = EMA(net, mu=0.9)
    assert set(ema.shadow) == {"lin.weight", "lin.bias"}
    expected = {n: p.detach().clone() for n, p in net.lin.named_parameters(prefix="lin")}
    for _ in range(3):
        with torch.no_grad():
            for p in net.lin.parameters():
                p.add_(torch.randn_like(p))
        ema.update(net)
        for n, p in net.lin.named_parameters(prefix="lin"):
            expected[n] = 0.1 * p.detach() + 0.9 * expected[n]
    for n in expected:
        torch.testing.assert_close(ema.shadow[n], expected[n], rtol=1e-6, atol=1e-7)

    current = {n: p.detach().clone() for n, p in net.lin.named_parameters(prefix="lin")}
    averaged = ema.ema_copy(net)
    assert torch.equal(averaged.lin.weight, ema.shadow["lin.weight"])
    assert torch.equal(net.lin.weight, current["lin.weight"])  # original untouched
    with ema.swapped_in(net):
        assert torch.equal(net.lin.bias, ema.shadow["lin.bias"])
    assert torch.equal(net.lin.bias, current["lin.bias"])
    ema.copy_to(net)
    assert torch.equal(net.lin.weight, ema.shadow["lin.weight"])


def test_ema_state_round_trip_and_wrappers():
    torch.manual_seed(0)
    net = _Net()
    ema = EMA(net, mu=0.99)
    with torch.no_grad():
        net.lin.weight.mul_(3)
    ema.update(net)
    other = EMA(_Net(), mu=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.mu == 0.99
    for name in ema.shadow:
        assert torch.equal(other.shadow[name], ema.shadow[name])
    ema.update(net)
    other.update(net)
    assert all(torch.equal(other.shadow[n], ema.shadow[n]) for n in ema.shadow)

    flat = EMA(_Net())
    flat.load_state_dict({n: t.clone() for n, t in ema.shadow.items()})  # the official flat format
    assert all(torch.equal(flat.shadow[n], ema.shadow[n]) for n in ema.shadow)

    class Wrapper(nn.Module):  # stands in for torch.compile's OptimizedModule (`_orig_mod`)
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self._orig_mod = inner

    wrapped = EMA(Wrapper(net))
    assert set(wrapped.shadow) == {"lin.weight", "lin.bias"}
    wrapped.update(net)
    with pytest.raises(KeyError):
        wrapped.update(nn.Linear(3, 2))
