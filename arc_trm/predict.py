"""Batched rollout of a task's test inputs in every augmented version, decoded into vote candidates."""

from __future__ import annotations

import numpy as np
import torch

from arc_trm.encoding import decode
from arc_trm.model import TRM
from arc_trm.ttt import TaskData
from arc_trm.vote import Candidate


@torch.no_grad()
def rollout(model: TRM, data: TaskData, batch_size: int = 256) -> list[list[Candidate]]:
    """Run every (version, test input) for N_sup supervision steps in eval mode; one candidate list per
    test input of the task (empty for an unreadable one), in version order."""
    model.eval()
    device = next(model.buffers()).device
    preds, confidences = [], []
    for start in range(0, len(data.test_inputs), batch_size):
        rows = slice(start, start + batch_size)
        batch = {"inputs": torch.from_numpy(data.test_inputs[rows].astype(np.int64)).to(device),
                 "puzzle_ids": torch.from_numpy(data.test_ids[rows]).to(device)}
        batch["labels"] = torch.zeros_like(batch["inputs"])
        carry = model.initial_carry(batch)
        for _ in range(model.config.N_sup):
            carry, outputs = model(carry, batch)
        preds.append(outputs["logits"].argmax(-1).cpu().numpy())
        confidences.append(torch.sigmoid(outputs["q_halt_logits"].double()).cpu().numpy())
    preds, confidences = np.concatenate(preds), np.concatenate(confidences)

    candidates: list[list[Candidate]] = [[] for _ in range(data.num_tests)]
    for row, (i, k) in enumerate(zip(data.test_index, data.test_aug)):
        grid = decode(preds[row], data.canvas)
        candidates[i].append(Candidate(data.augs[k], grid, float(confidences[row])))
    return candidates
