"""Tests for arc_trm.model: shapes, canvas positions, recursion and gradient scope, ACT halting, HRM, training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from arc_trm.model import HRM, TRM, HRMConfig, TRMConfig
from arc_trm.model.layers import Block, SwiGLU, rms_norm, trunc_normal_
from arc_trm.model.losses import act_loss
from arc_trm.ttt.optim import PuzzleEmbeddingSignSGD

TINY = dict(
    hidden_size=32,
    num_heads=4,
    expansion=2.0,
    num_layers=1,
    T=2,
    n=2,
    N_sup=3,
    puzzle_emb_dim=32,
    num_puzzle_ids=5,
    halt_exploration_prob=0.0,
)


def tiny(**overrides) -> TRM:
    torch.manual_seed(0)
    return TRM(TRMConfig(**{**TINY, **overrides}))


def batch(B: int = 3, side: int = 5, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, 12, (B, side * side), generator=g)
    return {
        "inputs": inputs,
        "labels": torch.randint(0, 12, (B, side * side), generator=g),
        "puzzle_ids": torch.randint(0, 5, (B,), generator=g),
    }


# ------------------------------------------------------------------------------------------------ layers


def test_trunc_normal_has_the_asked_std_and_cut():
    t = trunc_normal_(torch.empty(200_000), std=0.5)
    assert abs(t.std().item() - 0.5) < 0.01
    assert t.abs().max().item() <= 2 * 0.5 / 0.8796 + 1e-6


def test_rms_norm_and_swiglu_width():
    x = torch.randn(2, 3, 8) * 7
    assert torch.allclose(rms_norm(x, 1e-5).square().mean(-1), torch.ones(2, 3), atol=1e-4)
    assert SwiGLU(512, 4).down_proj.weight.shape == (512, 1536)  # the paper's 1536 for hidden 512
    assert SwiGLU(97, 4).down_proj.weight.shape == (97, 512)  # Sudoku TRM-MLP token mixer


def test_token_mlp_block_normalises_over_positions():
    torch.manual_seed(0)
    block = Block(8, 2, 4, 1e-5, mixer="mlp", seq_len=6)
    block.token_mlp.down_proj.weight.data.zero_()  # both MLPs add nothing: only the two norms remain
    block.mlp.down_proj.weight.data.zero_()
    x = torch.randn(2, 6, 8)
    over_positions = rms_norm(x.transpose(1, 2), 1e-5).transpose(1, 2)
    assert torch.allclose(block(x), rms_norm(over_positions, 1e-5), atol=1e-6)
    with pytest.raises(ValueError, match="mixer"):
        Block(8, 2, 4, 1e-5, mixer="conv")


def test_paper_parameter_count():
    model = TRM(TRMConfig(num_puzzle_ids=1))
    assert sum(p.numel() for p in model.parameters()) == 6_829_058  # ARC TRM-Att, table excluded (TRM_SPEC 1.4)
    assert not any(name.startswith("puzzle_emb") for name, _ in model.named_parameters())


# ------------------------------------------------------------------------------------------ shapes, canvas


@pytest.mark.parametrize("pos", ["rope", "learned", "none"])
def test_shapes_on_a_small_canvas(pos):
    model = tiny(pos_encodings=pos)
    b = batch(side=5)
    carry, out = model(model.initial_carry(b), b)
    assert out["logits"].shape == (3, 25, 12) and out["logits"].dtype == torch.float32
    assert out["q_halt_logits"].shape == out["q_continue_logits"].shape == (3,)
    assert carry.y.shape == carry.z.shape == (3, 16 + 25, 32)
    assert not carry.y.requires_grad and not carry.z.requires_grad
    assert torch.equal(out["q_halt_logits"], torch.full((3,), -5.0))  # Q head starts at w=0, b=-5


def test_canvas_positions_follow_the_official_30x30_layout():
    model = tiny()
    assert torch.equal(model.positions(900, torch.device("cpu")), torch.arange(916))
    pos = model.positions(4 * 4, torch.device("cpu"))
    assert pos[:16].tolist() == list(range(16))
    assert pos[16 + 2 * 4 + 3].item() == 16 + 2 * 30 + 3  # cell (2, 3)
    cos, _ = model.rotary(pos)
    assert torch.equal(cos[16 + 1 * 4 + 1], model.rotary.cos[16 + 31])
    with pytest.raises(ValueError, match="square"):
        model.positions(24, torch.device("cpu"))
    with pytest.raises(ValueError, match="token-MLP"):
        tiny(mixer="mlp", seq_len=100, pos_encodings="none").positions(49, torch.device("cpu"))


def test_learned_positions_on_a_small_canvas_use_the_full_canvas_rows():
    model = tiny(pos_encodings="learned").eval()
    b = batch(B=1, side=2)
    pos = model.positions(4, torch.device("cpu"))
    x = model.embed(b["inputs"], b["puzzle_ids"], pos)
    token, cell_11 = model.embed_tokens(b["inputs"][0, 3]), model.embed_pos.weight[16 + 31]  # cell (1, 1)
    expected = model.embed_scale * 0.707106781 * (token + cell_11)
    assert torch.allclose(x[0, 16 + 3], expected)


# --------------------------------------------------------------------------------------- recursion, grads


def test_grid_coordinates_turn_a_reflection_into_swapped_quarters():
    from arc_trm.data.encoding import encode
    from arc_trm.model.trm import grid_coordinates

    grid = np.arange(15).reshape(3, 5) % 10
    tokens = torch.from_numpy(encode(grid, canvas=9, offset=(2, 1)).astype(np.int64))[None]
    feats = grid_coordinates(tokens, 64).view(9, 9, 4, 16)  # quarters: top, left, bottom, right
    inside = feats[2:5, 1:6]
    flipped_lr, flipped_ud = inside.flip(1), inside.flip(0)
    assert torch.allclose(inside[..., 1, :], flipped_lr[..., 3, :], atol=1e-5)  # left of c == right of w-1-c
    assert torch.allclose(inside[..., 0, :], flipped_ud[..., 2, :], atol=1e-5)  # top of r == bottom of h-1-r
    assert torch.allclose(inside[..., 0, :], inside[:, :1, 0, :].expand(3, 5, 16))  # top depends on the row only
    assert not torch.allclose(inside[0, :, 1], inside[0, :1, 1].expand(5, 16))  # left varies along a row
    assert torch.allclose(
        feats[2, 1, 0],
        grid_coordinates(
            torch.from_numpy(  # the grid's own corner, anywhere
                encode(grid, canvas=9).astype(np.int64)
            )[None],
            64,
        ).view(9, 9, 4, 16)[0, 0, 0],
    )
    with pytest.raises(ValueError, match="hidden_size >= 16"):
        grid_coordinates(tokens, 12)


def test_output_coordinates_turn_a_four_way_mirror_into_paired_shares():
    from arc_trm.data.encoding import encode
    from arc_trm.model.trm import grid_coordinates

    grid = np.arange(12).reshape(3, 4) % 10  # a 3 x 4 input whose output (3af2c5a8) is 6 x 8, four mirrored copies
    tokens = torch.from_numpy(encode(grid, canvas=9, offset=(1, 0)).astype(np.int64))[None]
    feats = grid_coordinates(tokens, 120, torch.tensor([[6, 8]])).view(9, 9, 6, 20)[1:7, :8]  # the output's box
    top, left, out_bottom, out_right = 0, 1, 4, 5  # shares: top, left, input bottom/right, output bottom/right
    for r in range(3, 6):  # the lower half reads row 5 - r of the input
        assert torch.allclose(feats[r, :4, out_bottom], feats[5 - r, :4, top], atol=1e-5)
    for c in range(4, 8):  # the right half reads column 7 - c
        assert torch.allclose(feats[:3, c, out_right], feats[:3, 7 - c, left], atol=1e-5)
    assert not torch.allclose(feats[3, 0, out_bottom], feats[3, 0, 2])  # the input's bottom is another edge
    assert torch.allclose(feats[..., :4, :], grid_coordinates(tokens, 80).view(9, 9, 4, 20)[1:7, :8], atol=1e-6)


def test_output_coords_need_the_expected_output_shape():
    with pytest.raises(ValueError, match="needs grid_coords"):
        tiny(output_coords=True)
    model, b = tiny(grid_coords=True, output_coords=True), batch(side=5)
    with pytest.raises(ValueError, match="out_shape"):
        model(model.initial_carry(b), b)
    b["out_shape"] = torch.tensor([[2, 3], [4, 4], [1, 1]])
    _, outputs = model(model.initial_carry(b), b)
    assert outputs["logits"].shape == (3, 25, 12)


def test_grid_coords_change_the_embedding_of_cells_only():
    plain, with_grid = tiny(), tiny(grid_coords=True)
    b = batch(side=5)
    positions = plain.positions(25, torch.device("cpu"))
    x0 = plain.embed(b["inputs"], b["puzzle_ids"], positions)
    x1 = with_grid.embed(b["inputs"], b["puzzle_ids"], positions)
    P = plain.prefix_len
    assert torch.equal(x0[:, :P], x1[:, :P]) and not torch.allclose(x0[:, P:], x1[:, P:])
    carry = with_grid.initial_carry(b)
    _, out = with_grid(carry, b)
    assert out["logits"].shape == (3, 25, 12) and torch.isfinite(out["logits"]).all()


def test_recursion_counts_and_gradient_scope():
    model = tiny(T=3, n=4)
    calls = []
    model.net.register_forward_hook(lambda m, i, o: calls.append(torch.is_grad_enabled()))
    model.train()
    b = batch()
    carry, out = model(model.initial_carry(b), b)
    assert len(calls) == 3 * (4 + 1)  # T (n + 1) network calls per supervision step
    assert calls == [False] * 10 + [True] * 5  # only the last cycle is differentiated
    (out["logits"].sum() + out["q_halt_logits"].sum()).backward()
    assert all(p.grad is not None for p in model.parameters())
    rows = model.puzzle_emb.rows
    assert rows.is_leaf and rows.grad is not None and rows.grad.shape == (3, 32)
    assert torch.equal(model.puzzle_emb.ids, b["puzzle_ids"])


def test_eval_lookup_keeps_no_rows():
    model = tiny().eval()
    b = batch()
    model(model.initial_carry(b), b)
    assert model.puzzle_emb.rows is None


def test_z_update_sees_x_and_y_update_does_not():
    model = tiny(T=1, n=1)
    seen = []
    model.net.register_forward_hook(lambda m, args, out: seen.append((args[0], args[1], out)))
    x, y, z = (torch.randn(1, 41, 32) for _ in range(3))
    new_y, new_z = model.latent_recursion(x, y, z, None)
    (state1, inject1, out1), (state2, inject2, out2) = seen
    assert torch.equal(state1, z) and torch.equal(inject1, y + x)  # z = net(z, y + x)
    assert torch.equal(state2, y) and torch.equal(inject2, out1)  # y = net(y, z): no x
    assert torch.equal(new_z, out1) and torch.equal(new_y, out2)


# -------------------------------------------------------------------------------------------------- ACT


def test_eval_runs_exactly_n_sup_steps_then_refills():
    model = tiny().eval()
    a, b = batch(seed=1), batch(seed=2)
    carry = model.initial_carry(a)
    with torch.no_grad():
        carry, _ = model(carry, a)
        assert carry.steps.tolist() == [1, 1, 1] and not carry.halted.any()
        carry, _ = model(carry, b)  # not halted: the slots keep working on a
        assert torch.equal(carry.data["inputs"], a["inputs"])
        carry, _ = model(carry, b)
        assert carry.halted.all() and carry.steps.tolist() == [3, 3, 3]
        carry, _ = model(carry, b)  # halted slots reset and take their row of b
        assert torch.equal(carry.data["inputs"], b["inputs"]) and carry.steps.tolist() == [1, 1, 1]


def test_reset_restores_initial_states():
    model = tiny().eval()
    b = batch()
    carry = model.initial_carry(b)
    carry.y.fill_(float("nan"))
    carry.halted = torch.tensor([True, False, True])
    carry.steps = torch.tensor([0, 1, 0], dtype=torch.int32)
    carry.data = {k: v.clone() for k, v in b.items()}
    calls = []
    model.net.register_forward_pre_hook(lambda m, args: calls.append(args[0]) if len(calls) == 0 else None)
    with torch.no_grad():
        new, out = model(carry, b)
    z_in = calls[0]
    assert torch.equal(z_in[0], model.z_init.expand(41, 32))
    assert torch.isnan(out["logits"][1]).all() and not torch.isnan(out["logits"][[0, 2]]).any()


def test_training_halts_on_q_halt_and_exploration_delays():
    model = tiny(N_sup=16).train()
    with torch.no_grad():
        model.q_head.bias.copy_(torch.tensor([5.0, 0.0]))  # q_halt > 0 everywhere
    b = batch(B=64)
    carry, _ = model(model.initial_carry(b), b)
    assert carry.halted.all()
    model.config.halt_exploration_prob = 1.0  # every slot must first reach 2..16 steps
    carry, _ = model(model.initial_carry(b), b)
    assert not carry.halted.any()
    model.eval()  # eval ignores the Q head
    carry, _ = model(model.initial_carry(b), b)
    assert not carry.halted.any()


def test_act_continue_halts_on_q_comparison_and_gives_a_target():
    model = tiny(act_continue=True).train()
    with torch.no_grad():
        model.q_head.bias.copy_(torch.tensor([1.0, 2.0]))  # q_halt > 0 but below q_continue: keep going
    b = batch()
    carry, out = model(model.initial_carry(b), b)
    assert not carry.halted.any()
    assert out["target_q_continue"].shape == (3,) and not out["target_q_continue"].requires_grad


# ------------------------------------------------------------------------------------------------- HRM


def test_hrm_one_step_gradient_and_shapes():
    torch.manual_seed(0)
    model = HRM(HRMConfig(**{**TINY, "num_layers": 1, "H_layers": 1, "T": 2, "n": 3})).train()
    assert model.prefix_len == 1  # ceil(puzzle_emb_dim / hidden_size)
    calls = []

    def record(name):
        return lambda module, args, out: calls.append((name, torch.is_grad_enabled()))

    for name in ("H_net", "L_net"):
        getattr(model, name).register_forward_hook(record(name))
    b = batch()
    carry, out = model(model.initial_carry(b), b)
    first = calls[:8]  # the step itself; then the no-grad forward for the Q-continue target
    assert [c[0] for c in first] == ["L_net"] * 3 + ["H_net"] + ["L_net"] * 2 + ["L_net", "H_net"]
    assert [c[1] for c in first] == [False] * 6 + [True, True]
    assert carry.y.shape == (3, 1 + 25, 32) and "target_q_continue" in out


# ------------------------------------------------------------------------------------------- training


def test_a_small_canvas_trains_on_a_real_task():
    from arc_trm.core import tasks
    from arc_trm.data import encoding, task_encoding

    task = next(t for t in tasks.load_split("arc1-eval") if t.id == "34b99a2b")
    side = task_encoding.task_canvas(task)
    assert side < 30
    inputs = torch.tensor(np.stack([encoding.encode(i, side) for i, _ in task.train]), dtype=torch.long)
    labels = torch.tensor(np.stack([encoding.encode(o, side) for _, o in task.train]), dtype=torch.long)
    b = {"inputs": inputs, "labels": labels, "puzzle_ids": torch.ones(len(inputs), dtype=torch.long)}
    model = tiny(N_sup=2, T=2, n=2).train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    puzzle_opt = PuzzleEmbeddingSignSGD(model.puzzle_emb.weight, lr=1e-2)  # reads ids and row grads

    losses = []
    for _ in range(8):
        carry, out = model(model.initial_carry(b), b)
        loss = act_loss(out, carry.data["labels"]).loss / len(inputs)
        opt.zero_grad()
        loss.backward()
        opt.step()
        puzzle_opt.step(model.puzzle_emb.ids, model.puzzle_emb.rows.grad)
        losses.append(loss.item())
    assert model.puzzle_emb.weight[1].abs().sum() > 0 and model.puzzle_emb.weight[0].abs().sum() == 0
    assert all(math.isfinite(x) for x in losses)
    assert losses[-1] < 0.7 * losses[0]
    with torch.no_grad():  # the same weights still run on the full 30x30 canvas
        full = {"inputs": torch.zeros(1, 900, dtype=torch.long), "puzzle_ids": torch.zeros(1, dtype=torch.long)}
        _, out = model.eval()(model.initial_carry(full), full)
    assert out["logits"].shape == (1, 900, 12)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bfloat16_autocast():
    model = tiny().cuda().train()
    b = {k: v.cuda() for k, v in batch().items()}
    carry, out = model(model.initial_carry(b), b)
    assert out["logits"].dtype == torch.float32 and torch.isfinite(out["logits"]).all()
    out["logits"].sum().backward()
    assert model.lm_head.weight.grad.dtype == torch.float32
