"""Tests for arc_trm.model.losses: stablemax / softmax cross entropy, ignored positions, the Q-halt target,
reduction."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from arc_trm.model.losses import (
    IGNORE_INDEX,
    act_loss,
    log_stablemax,
    softmax_cross_entropy,
    stablemax_cross_entropy,
    supervised,
)


def test_log_stablemax_matches_its_definition():
    x = torch.tensor([[-2.0, 0.0, 3.0]], dtype=torch.float64)
    s = torch.tensor([1 / 3, 1.0, 4.0], dtype=torch.float64)
    assert torch.allclose(log_stablemax(x), torch.log(s / s.sum()))
    probabilities = log_stablemax(torch.randn(4, 7, dtype=torch.float64)).exp()
    assert torch.allclose(probabilities.sum(-1), torch.ones(4, dtype=torch.float64))


def test_stablemax_is_float64_and_has_finite_gradients_at_one():
    logits = torch.tensor([[1.0, -1.0, 0.5]], requires_grad=True)  # 1 - x = 0 in the unused branch at x = 1
    loss = stablemax_cross_entropy(logits, torch.tensor([0]), torch.tensor([True]))
    assert loss.dtype == torch.float64
    loss.sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_softmax_matches_torch_on_supervised_tokens():
    logits, labels = torch.randn(2, 5, 12), torch.randint(2, 12, (2, 5))
    mask = torch.rand(2, 5) > 0.3
    per_token = softmax_cross_entropy(logits, labels, mask)
    reference = F.cross_entropy(logits.transpose(1, 2), labels, reduction="none")
    assert torch.allclose(per_token, torch.where(mask, reference, 0))


def test_pad_and_ignore_positions_are_not_supervised():
    labels = torch.tensor([[0, 1, 5, IGNORE_INDEX]])
    assert supervised(labels).tolist() == [[False, True, True, False]]  # the end-of-grid marker (1) is a target
    logits = torch.randn(1, 4, 12)
    changed = logits.clone()
    changed[0, [0, 3]] = 100.0
    for loss_type in ("stablemax", "softmax"):
        out = {"logits": logits, "q_halt_logits": torch.zeros(1)}
        out2 = {"logits": changed, "q_halt_logits": torch.zeros(1)}
        assert torch.allclose(act_loss(out, labels, loss_type).lm_loss, act_loss(out2, labels, loss_type).lm_loss)


def test_q_halt_target_is_the_whole_answer_exactly_right():
    labels = torch.tensor([[2, 3, 1, 0], [2, 3, 1, 0]])
    logits = F.one_hot(torch.tensor([[2, 3, 1, 7], [2, 4, 1, 0]]), 12).float()  # row 0 wrong only on a pad
    result = act_loss({"logits": logits, "q_halt_logits": torch.zeros(2)}, labels)
    assert result.seq_correct.tolist() == [True, False]
    assert torch.allclose(result.token_accuracy, torch.tensor([1.0, 2 / 3]))
    q = torch.tensor([0.3, -0.2])
    result = act_loss({"logits": logits, "q_halt_logits": q}, labels)
    assert torch.allclose(
        result.q_halt_loss, F.binary_cross_entropy_with_logits(q, torch.tensor([1.0, 0.0]), reduction="sum")
    )


def test_official_reduction_and_weights():
    torch.manual_seed(0)
    logits = torch.randn(3, 6, 12)
    labels = torch.randint(1, 12, (3, 6))
    labels[1, :4] = 0
    labels[2] = 0  # a sample without supervised tokens adds no lm loss (and no NaN)
    q_halt, q_continue, target = torch.randn(3), torch.randn(3), torch.rand(3)
    out = {"logits": logits, "q_halt_logits": q_halt, "q_continue_logits": q_continue, "target_q_continue": target}
    result = act_loss(out, labels)
    mask = labels != 0
    per_token = stablemax_cross_entropy(logits, labels, mask)
    per_sample = [per_token[i][mask[i]].mean() if mask[i].any() else 0.0 for i in range(3)]
    assert torch.allclose(result.lm_loss, sum(per_sample))
    q_cont = F.binary_cross_entropy_with_logits(q_continue, target, reduction="sum")
    assert torch.allclose(result.q_continue_loss, q_cont)
    assert torch.allclose(result.loss, result.lm_loss + 0.5 * (result.q_halt_loss + q_cont).double())
    assert result.num_supervised.tolist() == [6, 2, 0]


def test_unknown_loss_type():
    with pytest.raises(ValueError, match="loss_type"):
        act_loss({"logits": torch.zeros(1, 1, 12), "q_halt_logits": torch.zeros(1)}, torch.ones(1, 1), "hinge")
