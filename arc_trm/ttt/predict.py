"""Batched rollout of a task's test inputs in every augmented version, decoded into vote candidates."""

from __future__ import annotations

import time

import numpy as np
import torch

from arc_trm.data.encoding import decode
from arc_trm.data.task_encoding import TaskData
from arc_trm.model import TRM
from arc_trm.ttt.vote import Candidate


def batch_for(model: TRM, data: TaskData, rows: np.ndarray) -> dict[str, torch.Tensor]:
    """The model's batch for these rows of the test inputs (one test input in one version each)."""
    device = next(model.buffers()).device
    inputs = torch.from_numpy(data.test_inputs[rows].astype(np.int64)).to(device)
    batch = {
        "inputs": inputs,
        "labels": torch.zeros_like(inputs),
        "puzzle_ids": torch.from_numpy(data.test_ids[rows]).to(device),
    }
    if data.test_out_shapes is not None:
        batch["out_shape"] = torch.from_numpy(data.test_out_shapes[rows]).to(device)
    return batch


@torch.no_grad()
def supervise(model: TRM, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The outputs of a fresh batch after all N_sup supervision steps (in eval mode every row halts at N_sup,
    as the official evaluation's carry loop ends)."""
    carry = model.initial_carry(batch)
    for _ in range(model.config.N_sup):
        carry, outputs = model(carry, batch)
    return outputs


@torch.no_grad()
def rollout(model: TRM, data: TaskData, batch_size: int = 256, versions: int | None = None) -> list[list[Candidate]]:
    """Run each test input in the first `versions` augmented versions (all by default) for N_sup supervision
    steps in eval mode; one candidate list per test input of the task (empty for an unreadable one)."""
    model.eval()
    rows = np.flatnonzero(data.test_aug < (versions or len(data.augs)))
    preds, confidences = [], []
    for start in range(0, len(rows), batch_size):
        outputs = supervise(model, batch_for(model, data, rows[start : start + batch_size]))
        preds.append(outputs["logits"].argmax(-1).cpu().numpy())
        confidences.append(torch.sigmoid(outputs["q_halt_logits"].double()).cpu().numpy())

    candidates: list[list[Candidate]] = [[] for _ in range(data.num_tests)]
    for row, pred, confidence in zip(rows, np.concatenate(preds), np.concatenate(confidences)):
        candidates[data.test_index[row]].append(
            Candidate(data.augs[data.test_aug[row]], decode(pred, data.canvas), float(confidence))
        )
    return candidates


@torch.no_grad()
def time_step(model: TRM, data: TaskData, rows: int = 4) -> float:
    """Measured seconds of one eval supervision step, per row (one test input in one version)."""
    model.eval()
    batch = batch_for(model, data, np.arange(min(rows, len(data.test_inputs))))
    model(model.initial_carry(batch), batch)  # warm-up
    start = time.monotonic()
    model(model.initial_carry(batch), batch)
    return (time.monotonic() - start) / len(batch["inputs"])
