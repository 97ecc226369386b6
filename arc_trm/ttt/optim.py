"""Optimisers, learning-rate schedule and weight averaging for TRM training.

What the official TRM recipe uses, and what this module provides in its place:

* ``AdamATan2`` for every trainable parameter. The official run imports it from the ``adam-atan2``
  package (imoneoi), which is a compiled CUDA extension: it builds only for a few GPU architectures
  (sm 80/86/89/90), has no CPU path, and fails to install where no CUDA toolkit is present. The
  similarly named ``adam-atan2-pytorch`` (lucidrains) is pure PyTorch but scales its update as
  ``a * atan2(m_hat, b * sqrt(v_hat))`` with a = 1.27 and bias-corrects both moments inside the
  atan2, so its steps are not the official ones (its first step is 1.27 * pi/4 * lr; the official
  first step is atan(1 - beta1) / (1 - beta1) * lr, about 0.997 * lr).
  The class below is a short pure-PyTorch version of the official rule (a = b = 1, no epsilon, bias
  correction of the first moment outside the atan2 and of the second moment inside it, decoupled
  weight decay), usable on any device PyTorch supports.
* ``signsgd_step`` / ``PuzzleEmbeddingSignSGD`` for the per-puzzle embedding table, which is a
  buffer (not a Parameter) and is updated sparsely: only the rows looked up in the batch move, by
  the sign of their summed gradient, after the batch has been gathered from every rank.
* ``lr_at``: the official warmup-then-cosine schedule (constant after warmup in every README recipe).
* ``EMA``: an exponential moving average of the trainable parameters, used for evaluation and for
  the saved checkpoints.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "AdamATan2",
    "EMA",
    "OptimConfig",
    "PuzzleEmbeddingSignSGD",
    "adam_atan2_update",
    "lr_at",
    "signsgd_step",
    "sum_over_ranks",
    "world_size",
]


@dataclass
class OptimConfig:
    """The optimisers and their schedule, as `ttt.Trainer` runs them, for pretraining (`TrainConfig.optim`) and
    test-time training (`TTTConfig`, which adds its own defaults); the defaults here: the official ARC recipe."""

    lr: float = 1e-4
    puzzle_emb_lr: float = 1e-2
    weight_decay: float = 0.1
    puzzle_emb_weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 2000
    lr_min_ratio: float = 1.0  # cosine decay to lr * lr_min_ratio; 1.0 (every official recipe): constant
    ema: float = 0.999  # EMA rate of the weights used for prediction, evaluated and saved; 0: none
    loss: str = "stablemax"
    train: str = "all"  # "all" weights, or "embeddings" only (fine-tuning a pretrained checkpoint)


# ----------------------------------------------------------------------------------------------------------
# AdamATan2
# ----------------------------------------------------------------------------------------------------------


def adam_atan2_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    step: int,
    *,
    lr: float,
    beta1: float,
    beta2: float,
    weight_decay: float,
) -> None:
    """Apply one AdamATan2 update in place to ``param`` and its two moment buffers.

    ``step`` is the 1-based index of this update (it sets the bias corrections). The rule, per
    element, with bc1 = 1 - beta1**step and bc2 = 1 - beta2**step:
    decay ``param`` by (1 - lr * weight_decay), move ``exp_avg`` towards ``grad`` by (1 - beta1),
    set ``exp_avg_sq`` to beta2 * exp_avg_sq + (1 - beta2) * grad**2, then subtract
    (lr / bc1) * atan2(exp_avg, sqrt(exp_avg_sq) / sqrt(bc2)) from ``param``.
    """
    bias_correction1 = 1.0 - beta1**step
    bias_correction2_sqrt = math.sqrt(1.0 - beta2**step)
    if weight_decay != 0.0:
        param.mul_(1.0 - lr * weight_decay)
    exp_avg.lerp_(grad, 1.0 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
    denom = exp_avg_sq.sqrt().div_(bias_correction2_sqrt)
    param.add_(torch.atan2(exp_avg, denom), alpha=-lr / bias_correction1)


class AdamATan2(torch.optim.Optimizer):
    """Adam with ``atan2`` in place of the division by sqrt(v) + eps (imoneoi's rule, a = b = 1).

    Same per-element arithmetic as the official ``adam_atan2.AdamATan2``; see ``adam_atan2_update``.
    Parameters without a gradient are skipped entirely (no decay, no step count). The learning rate
    is read from ``param_groups`` at every step, so schedulers (or a manual
    ``group["lr"] = ...`` loop, as in the official training loop) can change it. The math runs in
    each parameter's own dtype; TRM keeps fp32 master weights.

    The defaults are the TRM ARC recipe (lr 1e-4, betas (0.9, 0.95), weight decay 0.1).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.95),
        weight_decay: float = 0.1,
    ) -> None:
        if not float(lr) >= 0.0:
            raise ValueError(f"invalid learning rate: {lr}")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"invalid betas: {betas}")
        if not weight_decay >= 0.0:
            raise ValueError(f"invalid weight_decay: {weight_decay}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "weight_decay": weight_decay})

    def _state_for(self, param: torch.Tensor) -> dict[str, Any]:
        """The state of ``param``, created (step 0, zero moments) on first use."""
        state = self.state[param]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32)
            state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        return state

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Update every parameter that has a gradient; returns the closure's loss if one is given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if any(p.grad.is_sparse for p in params):
                raise RuntimeError("AdamATan2 does not support sparse gradients")
            states = [self._state_for(p) for p in params]
            for steps in _same_step_groups(states):
                self._update([params[i] for i in steps], [states[i] for i in steps], group)
        return loss

    @staticmethod
    def _update(params: list[torch.Tensor], states: list[dict[str, Any]], group: dict[str, Any]) -> None:
        """`adam_atan2_update` on parameters at the same step count, each operation over all of them at once."""
        beta1, beta2 = group["betas"]
        lr, weight_decay = float(group["lr"]), group["weight_decay"]
        for state in states:
            state["step"] += 1
        step = int(states[0]["step"].item())
        grads = [cast(torch.Tensor, p.grad) for p in params]  # step passes only parameters with a gradient
        exp_avg, exp_avg_sq = [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states]
        if weight_decay != 0.0:
            torch._foreach_mul_(params, 1.0 - lr * weight_decay)
        torch._foreach_lerp_(exp_avg, grads, 1.0 - beta1)
        torch._foreach_mul_(exp_avg_sq, beta2)
        torch._foreach_addcmul_(exp_avg_sq, grads, grads, value=1.0 - beta2)
        denom = torch._foreach_sqrt(exp_avg_sq)
        torch._foreach_div_(denom, math.sqrt(1.0 - beta2**step))
        torch._foreach_add_(
            params, [torch.atan2(m, d) for m, d in zip(exp_avg, denom)], alpha=-lr / (1.0 - beta1**step)
        )


def _same_step_groups(states: list[dict[str, Any]]) -> list[list[int]]:
    """Indices of the states grouped by step count (one group, unless some parameters skipped steps)."""
    groups: dict[float, list[int]] = {}
    for i, state in enumerate(states):
        groups.setdefault(float(state["step"]), []).append(i)
    return list(groups.values())


# ----------------------------------------------------------------------------------------------------------
# Sparse SignSGD for the puzzle-embedding table
# ----------------------------------------------------------------------------------------------------------


def _all_gather_rows(
    ids: torch.Tensor, grads: torch.Tensor, group: dist.ProcessGroup | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate every rank's ``ids`` and ``grads`` (rank order); unchanged when not distributed.

    Gathering happens when a process group is given or the default one is initialised, and the
    group has more than one rank. Every rank must pass the same batch size.
    """
    if group is None and not (dist.is_available() and dist.is_initialized()):
        return ids, grads
    world_size = dist.get_world_size(group)
    if world_size == 1:
        return ids, grads
    id_parts = [torch.empty_like(ids) for _ in range(world_size)]
    grad_parts = [torch.empty_like(grads) for _ in range(world_size)]
    dist.all_gather(id_parts, ids.contiguous(), group=group)
    dist.all_gather(grad_parts, grads.contiguous(), group=group)
    return torch.cat(id_parts), torch.cat(grad_parts)


SMALL_TABLE = 1024  # rows up to which signsgd_step updates the table densely (same result, fewer operations)


@torch.no_grad()
def signsgd_step(
    table: torch.Tensor,
    ids: torch.Tensor,
    grads: torch.Tensor,
    lr: float,
    weight_decay: float,
    group: dist.ProcessGroup | None = None,
) -> None:
    """One sparse SignSGD step with decoupled weight decay on the rows of ``table`` named by ``ids``.

    ``table`` is the [N, D] embedding table (updated in place), ``ids`` the [B] row index of each
    sample and ``grads`` the [B, D] gradient that reached each sample's looked-up row. Under
    ``torch.distributed`` (or with an explicit process ``group``) the ids and gradients of all ranks
    are gathered first, so every rank applies the same update. Gradients of repeated ids are summed;
    then each row that occurs gets ``row * (1 - lr * weight_decay) - lr * sign(summed_grad)``. Rows
    that do not occur are left exactly as they were (no decay either).
    """
    if table.ndim != 2:
        raise ValueError(f"table must be [N, D], got shape {tuple(table.shape)}")
    ids = ids.reshape(-1).to(device=table.device, dtype=torch.long)
    if grads.shape != (ids.numel(), table.shape[1]):
        raise ValueError(f"grads must be [{ids.numel()}, {table.shape[1]}], got {tuple(grads.shape)}")
    ids, grads = _all_gather_rows(ids, grads.to(device=table.device, dtype=table.dtype), group)
    decay = 1.0 - lr * weight_decay
    if len(table) <= SMALL_TABLE:  # a test-time table: sum over the whole table (cheaper than finding the rows)
        summed = torch.zeros_like(table).index_add_(0, ids, grads)
        seen = torch.zeros(len(table), 1, dtype=torch.bool, device=table.device).index_fill_(0, ids, True)
        table.copy_(torch.where(seen, (table * decay).add_(summed.sign_(), alpha=-lr), table))
        return
    rows, inverse = torch.unique(ids, return_inverse=True)
    summed = torch.zeros((rows.numel(), table.shape[1]), dtype=table.dtype, device=table.device)
    summed.index_add_(0, inverse, grads)
    updated = table.index_select(0, rows).mul_(decay).add_(summed.sign_(), alpha=-lr)
    table.index_copy_(0, rows, updated)


class PuzzleEmbeddingSignSGD(torch.optim.Optimizer):
    """Optimiser wrapper around ``signsgd_step`` for one puzzle-embedding table.

    It is a ``torch.optim.Optimizer`` only so that the usual learning-rate plumbing works: the lr and
    weight decay live in ``param_groups[0]`` (set them there, through ``lr``, or with a torch LR
    scheduler), and ``state_dict()`` carries them. The table itself is saved with the model. Unlike a
    regular optimiser, ``step`` takes the batch's ids and the gradients of their looked-up rows.
    The defaults are the TRM ARC recipe (lr 1e-2, weight decay 0.1).
    """

    def __init__(
        self,
        table: torch.Tensor,
        lr: float = 1e-2,
        weight_decay: float = 0.1,
        group: dist.ProcessGroup | None = None,
    ) -> None:
        if table.ndim != 2:
            raise ValueError(f"table must be [N, D], got shape {tuple(table.shape)}")
        if not float(lr) >= 0.0:
            raise ValueError(f"invalid learning rate: {lr}")
        if not weight_decay >= 0.0:
            raise ValueError(f"invalid weight_decay: {weight_decay}")
        super().__init__([table], {"lr": lr, "weight_decay": weight_decay})
        self.process_group = group

    @property
    def table(self) -> torch.Tensor:
        """The embedding table this optimiser updates."""
        return self.param_groups[0]["params"][0]

    @property
    def lr(self) -> float:
        """The current learning rate."""
        return float(self.param_groups[0]["lr"])

    @lr.setter
    def lr(self, value: float) -> None:
        self.param_groups[0]["lr"] = value

    def step(self, ids: torch.Tensor, grads: torch.Tensor) -> None:  # type: ignore[override]
        """Apply ``signsgd_step`` to the table with this batch's ``ids`` [B] and row ``grads`` [B, D]."""
        group = self.param_groups[0]
        signsgd_step(
            self.table,
            ids,
            grads,
            lr=float(group["lr"]),
            weight_decay=group["weight_decay"],
            group=self.process_group,
        )


# ----------------------------------------------------------------------------------------------------------
# Learning-rate schedule
# ----------------------------------------------------------------------------------------------------------


def lr_at(step: int, base_lr: float, warmup_steps: int, total_steps: int, min_ratio: float = 1.0) -> float:
    """The learning rate at optimiser step ``step`` (pass ``base_lr=1.0`` for the bare multiplier).

    Linear warmup ``base_lr * step / warmup_steps`` for ``step < warmup_steps``; afterwards a half
    cosine from ``base_lr`` down to ``base_lr * min_ratio`` at ``total_steps``. With the recipes'
    ``min_ratio=1.0`` it is constant ``base_lr`` after warmup. The official loop increments its step
    counter before computing the lr, so its first update uses ``step=1``. Past ``total_steps`` this
    stays at the floor (the official loop stops stepping there, so it never asks).
    """
    if step < warmup_steps:
        return base_lr * step / max(1, warmup_steps)
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return base_lr * (min_ratio + max(0.0, (1.0 - min_ratio) * cosine))


# ----------------------------------------------------------------------------------------------------------
# EMA of the trainable parameters
# ----------------------------------------------------------------------------------------------------------


def _unwrap(model: nn.Module) -> nn.Module:
    """The module inside (Distributed)DataParallel and torch.compile wrappers, so names carry no prefix."""
    while True:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod  # type: ignore[assignment]
        else:
            return model


def _trainable(model: nn.Module) -> Iterator[tuple[str, nn.Parameter]]:
    """(name, parameter) for the parameters of ``model`` that require grad; buffers never appear."""
    for name, param in _unwrap(model).named_parameters():
        if param.requires_grad:
            yield name, param


class EMA:
    """Exponential moving average of a model's trainable parameters (``requires_grad`` only).

    Buffers (the puzzle-embedding table, the fixed H/L init vectors) and frozen parameters are not
    averaged: they are whatever the model holds. Create it once the model is on its device (and any
    checkpoint is loaded), call ``update(model)`` after every optimiser step, and evaluate or save
    through ``ema_copy(model)`` or ``with ema.swapped_in(model): ...``.

    Why not ``torch.optim.swa_utils.AveragedModel`` with ``get_ema_multi_avg_fn``: it computes the same average
    but holds a deep copy of the whole module, the puzzle-embedding table included (1.8 GB for the paper's
    ARC-AGI-1 build), where this holds the trainable parameters only and swaps them in for evaluation.
    """

    def __init__(self, model: nn.Module, mu: float = 0.999) -> None:
        if not 0.0 <= mu <= 1.0:
            raise ValueError(f"invalid EMA decay mu: {mu}")
        self.mu = mu
        self.shadow: dict[str, torch.Tensor] = {name: p.detach().clone() for name, p in _trainable(model)}

    def _pairs(self, model: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Matching (shadow, parameter) lists; raises if the model's trainable names differ."""
        named = dict(_trainable(model))
        if named.keys() != self.shadow.keys():
            missing, extra = self.shadow.keys() - named.keys(), named.keys() - self.shadow.keys()
            raise KeyError(f"model does not match the EMA: missing {sorted(missing)}, unexpected {sorted(extra)}")
        return [self.shadow[n] for n in named], [p.detach() for p in named.values()]

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """shadow <- (1 - mu) * param + mu * shadow, for every trainable parameter."""
        shadows, params = self._pairs(model)
        if shadows:
            torch._foreach_mul_(shadows, self.mu)
            torch._foreach_add_(shadows, params, alpha=1.0 - self.mu)

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Overwrite the model's trainable parameters with the averages (in place)."""
        shadows, params = self._pairs(model)
        for shadow, param in zip(shadows, params):
            param.copy_(shadow)

    def ema_copy(self, model: nn.Module) -> nn.Module:
        """A deep copy of ``model`` holding the averaged parameters; ``model`` itself is unchanged."""
        model_copy = copy.deepcopy(model)
        self.copy_to(model_copy)
        return model_copy

    @contextlib.contextmanager
    def swapped_in(self, model: nn.Module) -> Iterator[nn.Module]:
        """Hold the averages in ``model`` inside the ``with`` block, then restore its own weights.

        Cheaper than ``ema_copy`` when the model carries a large buffer (the puzzle table).
        """
        _, params = self._pairs(model)
        backup = [p.clone() for p in params]
        self.copy_to(model)
        try:
            yield model
        finally:
            with torch.no_grad():
                for param, saved in zip(params, backup):
                    param.copy_(saved)

    def state_dict(self) -> dict[str, Any]:
        """``{"mu": float, "shadow": {name: tensor}}`` (copies), enough for an exact resume."""
        return {"mu": self.mu, "shadow": {n: t.clone() for n, t in self.shadow.items()}}

    @torch.no_grad()
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from ``state_dict()`` output (or a plain name -> tensor mapping, as the official saves).

        Values are copied into the existing shadow tensors, keeping their device and dtype; the names
        must match exactly.
        """
        if isinstance(state.get("shadow"), Mapping):
            self.mu = float(state.get("mu", self.mu))
            state = state["shadow"]
        if state.keys() != self.shadow.keys():
            missing, extra = self.shadow.keys() - state.keys(), state.keys() - self.shadow.keys()
            raise KeyError(f"EMA state does not match: missing {sorted(missing)}, unexpected {sorted(extra)}")
        for name, value in state.items():
            self.shadow[name].copy_(value)


# ----------------------------------------------------------------------------------------------------------
# Data parallelism
# ----------------------------------------------------------------------------------------------------------


def world_size() -> int:
    """Processes in the default torch.distributed group (1 when it is not initialised)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


@torch.no_grad()
def sum_over_ranks(tensors: list[torch.Tensor]) -> None:
    """Sum each tensor over every rank in place (one all-reduce of them flattened); nothing on one process.

    The official loop's gradient sync: each rank back-propagates loss / global batch, then the gradients are
    summed, so every rank holds the gradient of the global batch's mean loss.
    """
    if world_size() == 1 or not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    for t, part in zip(tensors, flat.split([t.numel() for t in tensors])):
        t.copy_(part.view_as(t))
