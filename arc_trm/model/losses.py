"""Losses of the official ACT training: stablemax / softmax cross entropy and the Q-halt (and Q-continue) BCE.

Reduction as the official loss head: the cross entropy is averaged over each sample's supervised tokens and
summed over the batch; the BCE terms are summed over the batch; total = lm + 0.5 * (q_halt + q_continue).
The trainer divides by the (global) batch size before backward. Label 0 (pad) and -100 are not supervised;
ARC's end-of-grid marker (1) is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
PAD = 0


def supervised(labels: torch.Tensor, pad_id: int = PAD) -> torch.Tensor:
    """Mask of the positions the loss sees: neither pad nor IGNORE_INDEX."""
    return (labels != IGNORE_INDEX) & (labels != pad_id)


def log_stablemax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log of s(x) / sum s(x), with s(x) = x + 1 for x >= 0 and 1 / (1 - x) for x < 0 (Prieto et al. 2025)."""
    s = torch.where(x < 0, 1 / (1 - x.clamp(max=0) + 1e-30), x + 1)  # clamp: no inf in the unused branch
    return torch.log(s / s.sum(dim=dim, keepdim=True))


def stablemax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-token stablemax cross entropy in float64, 0 where mask is False. logits (..., V), labels (...)."""
    logp = log_stablemax(logits.double())
    picked = logp.gather(-1, torch.where(mask, labels, 0).long().unsqueeze(-1)).squeeze(-1)
    return -torch.where(mask, picked, 0)


def softmax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-token softmax cross entropy in float32, 0 where mask is False."""
    targets = torch.where(mask, labels, IGNORE_INDEX).long()
    return F.cross_entropy(
        logits.float().flatten(0, -2), targets.flatten(), ignore_index=IGNORE_INDEX, reduction="none"
    ).view(labels.shape)


LOSS_FUNCTIONS = {
    "stablemax": stablemax_cross_entropy,
    "softmax": softmax_cross_entropy,
    "stablemax_cross_entropy": stablemax_cross_entropy,  # the official names
    "softmax_cross_entropy": softmax_cross_entropy,
}


@dataclass
class ACTLoss:
    loss: torch.Tensor  # lm_loss + 0.5 * (q_halt_loss + q_continue_loss), summed over the batch
    lm_loss: torch.Tensor
    q_halt_loss: torch.Tensor
    q_continue_loss: torch.Tensor
    preds: torch.Tensor  # (B, S) argmax tokens
    seq_correct: torch.Tensor  # (B,) bool: every supervised token right (the Q-halt target)
    token_accuracy: torch.Tensor  # (B,) fraction of supervised tokens right (0 without any)
    num_supervised: torch.Tensor  # (B,) supervised tokens per sample


def act_loss(
    outputs: dict[str, torch.Tensor], labels: torch.Tensor, loss_type: str = "stablemax", pad_id: int = PAD
) -> ACTLoss:
    """The official ACT loss of one supervision step, from the model's outputs and the carry's labels."""
    if loss_type not in LOSS_FUNCTIONS:
        raise ValueError(f"unknown loss_type {loss_type!r}; known: {', '.join(LOSS_FUNCTIONS)}")
    logits, q_halt = outputs["logits"], outputs["q_halt_logits"]
    mask = supervised(labels, pad_id)
    with torch.no_grad():
        preds = logits.argmax(-1)
        counts = mask.sum(-1)
        n_correct = (mask & (preds == labels)).sum(-1)
        seq_correct = n_correct == counts
        token_accuracy = n_correct / counts.clamp_min(1)

    per_token = LOSS_FUNCTIONS[loss_type](logits, labels, mask)
    lm_loss = (per_token / counts.clamp_min(1).unsqueeze(-1)).sum()
    q_halt_loss = F.binary_cross_entropy_with_logits(q_halt, seq_correct.to(q_halt.dtype), reduction="sum")
    q_continue_loss = torch.zeros((), device=logits.device)
    if "target_q_continue" in outputs:
        q_continue_loss = F.binary_cross_entropy_with_logits(
            outputs["q_continue_logits"], outputs["target_q_continue"], reduction="sum"
        )
    loss = lm_loss + 0.5 * (q_halt_loss + q_continue_loss)
    return ACTLoss(loss, lm_loss, q_halt_loss, q_continue_loss, preds, seq_correct, token_accuracy, counts)
