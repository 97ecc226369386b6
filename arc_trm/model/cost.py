"""FLOPs of TRM's work, counted from the layer shapes: one rule for the run planner, the pretraining cost
model and the benchmarks.

    step_flops(config, rows=32, tokens=config.prefix_len + 15 * 15)   # {"forward": ..., "train": ...}

A supervision step makes T(n+1) passes of the `num_layers` blocks (n latent updates and one answer update per
cycle); only the last cycle's n+1 passes are differentiated (the first T-1 cycles run without gradients), and
a backward costs twice its forward. Without recursion (`config.recursion` False) one pass, differentiated.
The output head counts once per step; embedding lookups count nothing.
"""

from __future__ import annotations

from arc_trm.model import TRMConfig


def swiglu_inner(width: int, expansion: float) -> int:
    """SwiGLU's inner width: 2/3 x expansion x width, rounded up to a multiple of 256 (as layers.SwiGLU)."""
    return -(-round(expansion * width * 2 / 3) // 256) * 256


def block_flops(config: TRMConfig, tokens: int) -> float:
    """Forward FLOPs of one block on one sequence of `tokens` positions (puzzle prefix included)."""
    D = config.hidden_size
    channel_mlp = 2.0 * tokens * 3 * D * swiglu_inner(D, config.expansion)  # gate, up, down
    if config.mixer == "mlp":  # TRM-MLP: a SwiGLU across the sequence, for every channel
        return channel_mlp + 2.0 * D * 3 * tokens * swiglu_inner(tokens, config.expansion)
    projections = 2.0 * tokens * 4 * D * D  # q, k, v, o
    scores = 4.0 * tokens * tokens * D  # q k^T and attention x v
    return channel_mlp + projections + scores


def step_flops(config: TRMConfig, rows: int, tokens: int) -> dict[str, float]:
    """FLOPs of one supervision step on `rows` sequences: "forward" (a rollout step) and "train" (forward and
    the backward of what is differentiated)."""
    net = config.num_layers * block_flops(config, tokens) * rows
    head = 2.0 * config.hidden_size * config.vocab_size * tokens * rows
    passes, graded = (config.T * (config.n + 1), config.n + 1) if config.recursion else (1, 1)
    forward = passes * net + head
    return {"forward": forward, "train": forward + 2 * (graded * net + head)}
