"""The device rule, once: "auto" means CUDA when there is a GPU and the CPU otherwise; "cuda" and "cuda:N" ask
for a GPU; anything else ("cpu", "mps", ...) is taken as torch names it. Processes that share GPUs (solve's
workers, pretraining's ranks) each take the GPU of their slot, in turn. The CPU cores are those this process
may run on (its affinity: `taskset`, a container's cpuset), not all the machine has."""

from __future__ import annotations

import os

import torch


def cores() -> int:
    """The CPU cores this process may use: its affinity where the platform has one, else every core."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def gpu_count(name: str) -> int:
    """How many GPUs the setting `name` may spread over: all there are for "auto" and "cuda", else 0."""
    return torch.cuda.device_count() if name in ("auto", "cuda") else 0


def resolve(name: str, slot: int = 0) -> torch.device:
    """The device for the process in `slot` (0, 1, ...): GPU `slot` modulo their number for "auto" and "cuda"
    when there are GPUs; the CPU for "auto" without one; else `name` itself."""
    gpus = gpu_count(name)
    if gpus:
        return torch.device(f"cuda:{slot % gpus}")
    return torch.device("cpu" if name == "auto" else name)
