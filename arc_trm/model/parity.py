"""Parity with the official implementation: replay a reference fixture and compare (format and tolerances in
../shared/reference/README.md).

A fixture folder holds config.json, checkpoint.pt, batch.npz, expected.npz, grads_step1.npz and spread.json. We
import the checkpoint, run every ACT step in eval mode and the first step in train mode (loss and gradients, halt
exploration off), in float32 on the CPU, and check each output against
  logits and Q logits: max |diff| <= max(1e-4, 10 * spread)
  preds, per step:     fraction of differing positions <= max(0.1%, 10 * that step's spread)
  train losses:        relative diff <= max(1e-5, 10 * spread / |value|)
  gradients:           max |diff| / max |expected| <= max(1e-4, 10 * grads_rel)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from arc_trm.core import devices
from arc_trm.model import TRM
from arc_trm.model.checkpoint import load_official, official_name
from arc_trm.model.losses import act_loss

LOGIT_KEYS = ("q_halt_logits", "q_continue_logits", "logits_step1", "logits_step2", "logits_last")
LOSS_KEYS = ("train_loss_step1", "train_lm_loss_step1", "train_q_halt_loss_step1")
PUZZLE_GRAD_KEY = "puzzle_emb.local_weights"


@dataclass
class Check:
    key: str
    kind: str  # "abs", "mismatch", "rel" or "grad"
    diff: float
    tolerance: float
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.diff <= self.tolerance

    @property
    def ratio(self) -> float:
        """diff / tolerance: above 1 fails."""
        return self.diff / self.tolerance if self.tolerance > 0 else math.inf


@dataclass
class ParityReport:
    fixture: Path
    arch: str
    checks: list[Check]
    outputs: dict[str, np.ndarray] = field(repr=False)  # ours, under the keys of expected.npz and grads_step1.npz

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    def worst(self, count: int | None = None) -> list[Check]:
        """The checks sorted from the closest to (or furthest past) its tolerance."""
        return sorted(self.checks, key=lambda c: -c.ratio)[:count]

    def dump(self, path: str | Path) -> Path:
        """Write our outputs into one .npz file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            np.savez(f, **cast(dict[str, Any], self.outputs))  # numpy's stub: a ** dict might fill allow_pickle
        return path


def load_batch(fixture: Path) -> dict[str, torch.Tensor]:
    data = np.load(fixture / "batch.npz")
    return {
        "inputs": torch.from_numpy(data["inputs"]),
        "labels": torch.from_numpy(data["labels"]),
        "puzzle_ids": torch.from_numpy(data["puzzle_identifiers"]),
    }


@torch.no_grad()
def replay_eval(model: TRM, batch: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Eval mode, all N_sup ACT steps from the initial carry: preds, Q logits per step, logits of steps 1, 2, last."""
    model.eval()
    carry = model.initial_carry(batch)
    preds, q_halt, q_continue, logits = [], [], [], []
    for _ in range(model.config.N_sup):
        carry, out = model(carry, batch)
        preds.append(out["logits"].argmax(-1))
        q_halt.append(out["q_halt_logits"])
        q_continue.append(out["q_continue_logits"])
        logits.append(out["logits"])
    result = {
        "preds": torch.stack(preds),
        "q_halt_logits": torch.stack(q_halt),
        "q_continue_logits": torch.stack(q_continue),
        "logits_step1": logits[0],
        "logits_step2": logits[min(1, len(logits) - 1)],
        "logits_last": logits[-1],
    }
    return {k: v.cpu().numpy() for k, v in result.items()}


def replay_train(model: TRM, batch: dict[str, torch.Tensor], loss_type: str) -> dict[str, np.ndarray]:
    """Train mode, first ACT step without halt exploration: the three losses and every gradient (official names)."""
    model.train()
    model.zero_grad(set_to_none=True)
    explore, model.config.halt_exploration_prob = model.config.halt_exploration_prob, 0.0
    try:
        carry, out = model(model.initial_carry(batch), batch)
    finally:
        model.config.halt_exploration_prob = explore
    loss = act_loss(out, carry.data["labels"], loss_type)
    loss.loss.backward()
    losses = {
        "train_loss_step1": loss.loss,
        "train_lm_loss_step1": loss.lm_loss,
        "train_q_halt_loss_step1": loss.q_halt_loss,
    }
    result: dict[str, np.ndarray] = {k: np.asarray(v.item(), dtype=np.float64) for k, v in losses.items()}
    for name, param in model.named_parameters():
        grad = param.grad if param.grad is not None else torch.zeros_like(param)
        result["model.inner." + official_name(name)] = grad.cpu().numpy()
    if model.puzzle_emb is not None:
        result[PUZZLE_GRAD_KEY] = model.puzzle_emb.lookup_grads()[1].cpu().numpy()
    model.zero_grad(set_to_none=True)
    return result


def compare(
    ours: dict[str, np.ndarray], expected: dict[str, np.ndarray], grads: dict[str, np.ndarray], spread: dict
) -> list[Check]:
    """One Check per expected key (preds: the worst step), against the README's tolerances."""
    checks = []

    def missing(key: str, kind: str, exp: np.ndarray) -> Check | None:
        if key not in ours:
            return Check(key, kind, math.inf, 0.0, "missing from our outputs")
        if ours[key].shape != exp.shape:
            return Check(key, kind, math.inf, 0.0, f"shape {ours[key].shape} vs {exp.shape}")
        return None

    for key in LOGIT_KEYS:
        if key in expected:
            exp = expected[key]
            checks.append(
                missing(key, "abs", exp)
                or Check(
                    key,
                    "abs",
                    float(np.abs(ours[key].astype(np.float64) - exp).max()),
                    max(1e-4, 10 * spread.get(key, 0.0)),
                )
            )
    if "preds" in expected:
        exp = expected["preds"]
        check = missing("preds", "mismatch", exp)
        if check is None:
            step_spread = spread.get("preds_mismatch_per_step", [0.0] * len(exp))
            steps = [
                Check(
                    "preds",
                    "mismatch",
                    float((ours["preds"][s] != exp[s]).mean()),
                    max(1e-3, 10 * step_spread[s]),
                    f"step {s + 1} of {len(exp)}",
                )
                for s in range(len(exp))
            ]
            check = max(steps, key=lambda c: c.ratio)
        checks.append(check)
    for key in LOSS_KEYS:
        if key in expected:
            exp = expected[key]
            value = abs(float(exp))
            tolerance = max(1e-5, 10 * spread.get(key, 0.0) / value) if value > 0 else 1e-5
            checks.append(
                missing(key, "rel", exp)
                or Check(key, "rel", abs(float(ours[key]) - float(exp)) / max(value, 1e-30), tolerance)
            )
    for key, exp in grads.items():
        scale = float(np.abs(exp).max()) or 1.0
        checks.append(
            missing(key, "grad", exp)
            or Check(
                key,
                "grad",
                float(np.abs(ours[key].astype(np.float64) - exp).max()) / scale,
                max(1e-4, 10 * spread.get("grads_rel", 0.0)),
            )
        )
    return checks


def run_parity(
    fixture_dir: str | Path, device: str | torch.device = "cpu", cuda_dtype: str = "float32"
) -> ParityReport:
    """Import the fixture's official checkpoint, replay its batch and compare with its expected outputs.

    `device` as core/devices.py reads it ("auto": a GPU when there is one). On a CUDA `device`, `cuda_dtype`
    "float32" checks parity as on the CPU; "bfloat16" runs under autocast (the speed setting), whose differences
    are expected to exceed the float32 tolerances and are reported as such.
    """
    fixture = Path(fixture_dir)
    for name in ("config.json", "checkpoint.pt", "batch.npz", "expected.npz", "grads_step1.npz"):
        if not (fixture / name).is_file():
            raise FileNotFoundError(f"{fixture}: not a parity fixture (no {name})")
    spread = json.loads((fixture / "spread.json").read_text()) if (fixture / "spread.json").is_file() else {}
    official = load_official(fixture / "checkpoint.pt")  # with the config.json beside it
    device = devices.resolve(str(device))
    model = official.model.float().to(device)
    model.config.cuda_dtype = cuda_dtype
    batch = {k: v.to(device) for k, v in load_batch(fixture).items()}
    ours = replay_eval(model, batch)
    ours.update(replay_train(model, batch, official.loss_type))
    expected, grads = dict(np.load(fixture / "expected.npz")), dict(np.load(fixture / "grads_step1.npz"))
    return ParityReport(fixture, official.arch, compare(ours, expected, grads, spread), ours)
