"""The Tiny Recursive Model (TRM, arXiv 2510.04871) with its ACT wrapper, computing the official model's function.

Names follow the paper. Where the official code differs: y (answer) is `z_H`, z (latent) is `z_L`, T is
`H_cycles`, n is `L_cycles`, N_sup is `halt_max_steps`, and the single network `net` is `L_level`.

One supervision step (`step`) embeds the input x, runs T recursion cycles (the first T-1 without gradient), each
made of n latent updates z = net(z, y + x) and one answer update y = net(y, z), then reads logits from y and the
halting Q-values from y's first position. The ACT wrapper (`forward`) runs one supervision step for every slot of
a persistent batch, resetting and refilling halted slots first.

Sequence layout: puzzle_emb_len prefix positions (the puzzle embedding, zero-padded), then the canvas cells. The
model runs on the full canvas (seq_len cells, 30 x 30 for ARC) or on a smaller C x C canvas, where cell (r, c)
keeps the position it has on the full canvas (prefix + r * 30 + c) for RoPE and learned positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from arc_trm.data.encoding import COLOUR_OFFSET
from arc_trm.model.layers import Block, Embedding, Linear, Reasoner, Rotary, SparseEmbedding, autocast, trunc_normal_


@dataclass
class TRMConfig:
    """TRM hyper-parameters (defaults: the paper's ARC model). Official names in comments where they differ."""

    vocab_size: int = 12  # ARC: 0 pad, 1 end-of-grid marker, colour c -> c + 2
    seq_len: int = 900  # cells of the full canvas (30 x 30); a smaller square canvas can be fed at run time
    num_puzzle_ids: int = 1  # rows of the puzzle-embedding table (num_puzzle_identifiers)
    puzzle_emb_dim: int = 512  # puzzle_emb_ndim; 0: no puzzle embedding (the prefix then holds zeros)
    puzzle_emb_len: int = 16  # prefix positions; 0 means ceil(puzzle_emb_dim / hidden_size)
    hidden_size: int = 512
    num_heads: int = 8
    expansion: float = 4.0
    num_layers: int = 2  # L_layers: blocks in net
    T: int = 3  # H_cycles
    n: int = 4  # L_cycles (4 in the official ARC recipes, 6 in the paper's Sudoku runs)
    N_sup: int = 16  # halt_max_steps
    halt_exploration_prob: float = 0.1
    pos_encodings: str = "rope"  # "rope", "learned" or "none"
    grid_coords: bool = False  # (ours, not official) add fixed features of each cell's place in the input grid
    output_coords: bool = False  # (ours) with grid_coords, also its place in the expected output grid (`out_shape`)
    mixer: str = "attention"  # "attention", or "mlp" for TRM-MLP (mlp_t=True)
    act_continue: bool = False  # (not no_ACT_continue): learn Q-continue from a bootstrapped target, HRM style
    recursion: bool = True  # False (ablation only): each supervision step is one pass y = net(y, x), no z, no cycles
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    # Two precisions. forward_dtype (official name) is the official numerics on every device: each weight cast
    # to it at its use, y and z carried in it (the published runs: bfloat16); cuda_dtype is ours, an autocast
    # on CUDA over float32 weights and carries, used only when forward_dtype is float32.
    forward_dtype: str = "float32"
    cuda_dtype: str = "bfloat16"

    @property
    def prefix_len(self) -> int:
        return self.puzzle_emb_len or -(-self.puzzle_emb_dim // self.hidden_size)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the model computes in and carries y and z in (`forward_dtype`)."""
        return getattr(torch, self.forward_dtype)


@dataclass
class Carry:
    """State of the persistent ACT batch: per slot, the answer y, latent z, steps taken, halted flag and data."""

    y: torch.Tensor  # (B, prefix + S, D)
    z: torch.Tensor  # (B, prefix + S, D)
    steps: torch.Tensor  # (B,) int32
    halted: torch.Tensor  # (B,) bool
    data: dict[str, torch.Tensor]  # the example each slot works on: inputs (B, S), labels (B, S), puzzle_ids (B,)


class TRM(nn.Module):
    """TRM: embeddings, the recursion, output and Q heads, and the ACT wrapper.

    Batches are dicts with `inputs` (B, S) tokens, `puzzle_ids` (B,) and, for the loss, `labels` (B, S); with
    output_coords also `out_shape` (B, 2), the expected output grid's rows and columns.
    """

    arch = "trm"
    y_init: torch.Tensor  # buffers (register_buffer): the fixed initial states, (hidden_size,)
    z_init: torch.Tensor

    def __init__(self, config: TRMConfig):
        super().__init__()
        c = self.config = config
        if c.hidden_size % c.num_heads:
            raise ValueError(f"hidden_size {c.hidden_size} is not a multiple of num_heads {c.num_heads}")
        if c.output_coords and not c.grid_coords:
            raise ValueError("output_coords needs grid_coords")
        if c.forward_dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"unknown forward_dtype {c.forward_dtype!r} (expected float32, bfloat16 or float16)")
        if c.puzzle_emb_dim > c.prefix_len * c.hidden_size:
            raise ValueError(f"puzzle_emb_dim {c.puzzle_emb_dim} does not fit {c.prefix_len} prefix positions")
        self.prefix_len = c.prefix_len
        self.embed_scale = math.sqrt(c.hidden_size)
        total = self.prefix_len + c.seq_len

        self.embed_tokens = Embedding(c.vocab_size, c.hidden_size, std=1 / self.embed_scale)
        self.puzzle_emb = SparseEmbedding(c.num_puzzle_ids, c.puzzle_emb_dim) if c.puzzle_emb_dim > 0 else None
        if c.pos_encodings == "rope":
            self.rotary = Rotary(c.hidden_size // c.num_heads, total, c.rope_theta)
        elif c.pos_encodings == "learned":
            self.embed_pos = Embedding(total, c.hidden_size, std=1 / self.embed_scale)
        elif c.pos_encodings != "none":
            raise ValueError(f"unknown pos_encodings {c.pos_encodings!r} (expected 'rope', 'learned' or 'none')")
        self.build_networks()
        self.lm_head = Linear(c.hidden_size, c.vocab_size)
        self.q_head = Linear(c.hidden_size, 2, bias=True)  # [q_halt, q_continue], read at position 0
        assert self.q_head.bias is not None  # built with bias=True
        with torch.no_grad():  # start with a tiny halting probability, sigmoid(-5)
            self.q_head.weight.zero_()
            self.q_head.bias.fill_(-5.0)
        # Fixed random initial states, broadcast to every position of a reset slot (H_init = y, L_init = z), in the
        # forward dtype. An official checkpoint brings them in the dtype it stored (`checkpoint`), and they decide
        # the carries' dtype as in the official code: bf16 init states give bf16 carries; float32 ones (a run
        # trained in float32, evaluated in bf16) give float32 carries, with only the embeddings rounded to bf16.
        self.register_buffer("y_init", trunc_normal_(torch.empty(c.hidden_size, dtype=c.dtype), std=1.0))
        self.register_buffer("z_init", trunc_normal_(torch.empty(c.hidden_size, dtype=c.dtype), std=1.0))

    @property
    def puzzle_table(self) -> SparseEmbedding:
        """`puzzle_emb`, for the code that trains or resizes it; an error on a model built without one."""
        if self.puzzle_emb is None:
            raise ValueError("this model has no puzzle embedding (puzzle_emb_dim 0)")
        return self.puzzle_emb

    def blocks(self, count: int) -> Reasoner:
        c = self.config
        return Reasoner(
            [
                Block(
                    c.hidden_size,
                    c.num_heads,
                    c.expansion,
                    c.rms_norm_eps,
                    c.mixer,
                    seq_len=self.prefix_len + c.seq_len,
                )
                for _ in range(count)
            ]
        )

    def build_networks(self) -> None:
        self.net = self.blocks(self.config.num_layers)  # the single network, used for both z and y updates

    # ----------------------------------------------------------------------------------------------- inputs

    def positions(self, num_cells: int, device: torch.device) -> torch.Tensor:
        """Position ids (prefix + num_cells,): the prefix, then each cell at its place on the full canvas."""
        c, P = self.config, self.prefix_len
        if num_cells == c.seq_len:
            return torch.arange(P + num_cells, device=device)
        side, full = math.isqrt(num_cells), math.isqrt(c.seq_len)
        if side * side != num_cells or full * full != c.seq_len or side > full:
            raise ValueError(f"{num_cells} cells is not a square canvas within the model's {c.seq_len}-cell canvas")
        if c.mixer == "mlp":
            raise ValueError(f"the token-MLP mixer is tied to seq_len {c.seq_len}; got {num_cells} cells")
        rows, cols = torch.meshgrid(torch.arange(side, device=device), torch.arange(side, device=device), indexing="ij")
        return torch.cat([torch.arange(P, device=device), P + (rows * full + cols).flatten()])

    def embed(
        self,
        inputs: torch.Tensor,
        puzzle_ids: torch.Tensor | None,
        positions: torch.Tensor,
        out_shape: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x: (B, prefix + S, D), the scaled token embeddings behind the puzzle-embedding prefix, in the forward
        dtype (the lookups are exact, so casting after them equals the official cast of the tables)."""
        B, D, P, dtype = inputs.shape[0], self.config.hidden_size, self.prefix_len, self.config.dtype
        x = self.embed_tokens(inputs.long()).to(dtype)  # (B, S, D)
        if self.puzzle_emb is not None:
            if puzzle_ids is None:
                raise ValueError("this model has puzzle embeddings: the batch needs 'puzzle_ids'")
            prefix = self.puzzle_emb(puzzle_ids.long()).to(dtype)  # (B, puzzle_emb_dim)
            prefix = F.pad(prefix, (0, P * D - prefix.shape[-1])).view(B, P, D)
        else:
            prefix = x.new_zeros(B, P, D)
        x = torch.cat([prefix, x], dim=1)
        if hasattr(self, "embed_pos"):
            x = 0.707106781 * (x + self.embed_pos(positions).to(dtype))  # keep unit variance (official constant)
        x = self.embed_scale * x
        if self.config.grid_coords:
            if self.config.output_coords and out_shape is None:
                raise ValueError("this model has output_coords: the batch needs 'out_shape'")
            features = grid_coordinates(inputs, D, out_shape if self.config.output_coords else None)
            x = torch.cat([x[:, :P], x[:, P:] + features.to(x.dtype)], dim=1)
        return x

    # ------------------------------------------------------------------------------------------- recursion

    def latent_recursion(self, x, y, z, cos_sin):
        """n updates of the latent z from (x, y, z), then one update of the answer y from (y, z); no x in it."""
        for _ in range(self.config.n):
            z = self.net(z, y + x, cos_sin)
        y = self.net(y, z, cos_sin)
        return y, z

    def deep_recursion(self, x, y, z, cos_sin):
        """T cycles of latent_recursion; only the last one is differentiated (without recursion: one pass)."""
        if not self.config.recursion:
            return self.net(y, x, cos_sin), z
        with torch.no_grad():
            for _ in range(self.config.T - 1):
                y, z = self.latent_recursion(x, y, z, cos_sin)
        return self.latent_recursion(x, y, z, cos_sin)

    def step(
        self,
        y: torch.Tensor,
        z: torch.Tensor,
        inputs: torch.Tensor,
        puzzle_ids: torch.Tensor | None,
        out_shape: torch.Tensor | None = None,
    ):
        """One supervision step: (y, z) detached (in the carries' dtype), logits (B, S, V) and q_halt, q_continue
        (B,) in float32."""
        device, c = inputs.device, self.config
        with autocast(device, getattr(torch, c.cuda_dtype) if c.forward_dtype == "float32" else torch.float32):
            positions = self.positions(inputs.shape[1], device)
            cos_sin = self.rotary(positions) if hasattr(self, "rotary") else None
            x = self.embed(inputs, puzzle_ids, positions, out_shape)  # once per step, with gradient
            y, z = self.deep_recursion(x, y, z, cos_sin)
            logits = self.lm_head(y[:, self.prefix_len :])
            q = self.q_head(y[:, 0])
        return y.detach(), z.detach(), logits.float(), q[:, 0].float(), q[:, 1].float()

    # ------------------------------------------------------------------------------------------------- ACT

    def initial_carry(self, batch: dict[str, torch.Tensor]) -> Carry:
        """A carry with every slot halted, so that the first call loads the batch and resets the states."""
        B, S = batch["inputs"].shape
        device = batch["inputs"].device
        state = torch.zeros(B, self.prefix_len + S, self.config.hidden_size, device=device, dtype=self.config.dtype)
        return Carry(
            y=state,
            z=state.clone(),
            steps=torch.zeros(B, dtype=torch.int32, device=device),
            halted=torch.ones(B, dtype=torch.bool, device=device),
            data={k: torch.zeros_like(v) for k, v in batch.items()},
        )

    def forward(self, carry: Carry, batch: dict[str, torch.Tensor]) -> tuple[Carry, dict[str, torch.Tensor]]:
        """One supervision step for every slot. Halted slots restart from (y_init, z_init) on their row of
        `batch`; the other slots go on with their own example and ignore their row of `batch`.

        Returns the new carry and `logits`, `q_halt_logits`, `q_continue_logits` (+ `target_q_continue` when
        training with act_continue). A slot halts after N_sup steps; in training also when its Q head says so
        (q_halt > 0, or q_halt > q_continue with act_continue), except that with probability
        halt_exploration_prob it must first reach a random step count in 2..N_sup.
        """
        c, reset = self.config, carry.halted
        y = torch.where(reset[:, None, None], self.y_init, carry.y)  # dtypes promote as in the official code
        z = torch.where(reset[:, None, None], self.z_init, carry.z)
        steps = torch.where(reset, 0, carry.steps)
        data = {k: torch.where(reset.view(-1, *[1] * (v.ndim - 1)), batch[k], v) for k, v in carry.data.items()}

        example = data["inputs"], data.get("puzzle_ids"), data.get("out_shape")
        y, z, logits, q_halt, q_continue = self.step(y, z, *example)
        outputs = {"logits": logits, "q_halt_logits": q_halt, "q_continue_logits": q_continue}

        with torch.no_grad():
            steps = steps + 1
            last = steps >= c.N_sup
            halted = last
            if self.training and c.N_sup > 1:
                halted = halted | ((q_halt > q_continue) if c.act_continue else (q_halt > 0))
                explore = torch.rand_like(q_halt) < c.halt_exploration_prob
                min_steps = explore * torch.randint_like(steps, low=2, high=c.N_sup + 1)
                halted = halted & (steps >= min_steps)
                if c.act_continue:  # bootstrapped target from one more step on the new state (no replay buffer)
                    *_, next_halt, next_continue = self.step(y, z, *example)
                    best = torch.where(last, next_halt, torch.maximum(next_halt, next_continue))
                    outputs["target_q_continue"] = torch.sigmoid(best)
        return Carry(y, z, steps, halted, data), outputs


def grid_coordinates(inputs: torch.Tensor, dim: int, out_shape: torch.Tensor | None = None) -> torch.Tensor:
    """(B, S, dim) fixed features of where each cell lies relative to the input grid (ours, not official).

    RoPE sees only offsets between cells, so a flip or a rotation (the cell at column c reads column w-1-c) is
    no fixed offset. Here each cell gets its signed distances to the grid's four edges (top, left, bottom,
    right; the grid is the box of colour tokens, found per example), each as cos/sin of a few frequencies in
    its own share of the features. A flip or rotation then pairs one share of a query with another share of a
    key, and a reflection about any line is a fixed linear map of these features: one map for every grid size
    and place.

    With `out_shape` (B, 2), the rows and columns of the expected output grid (which shares the input's top-left
    corner), each cell also gets its distances to that grid's bottom and right edges. A mirror or a tiling of
    the input (output twice its size) then also pairs shares: the cell at row r of the lower half reads row
    2h-1-r, whose distance to the input's top is r's distance to the output's bottom.
    """
    B, S = inputs.shape
    side = math.isqrt(S)
    colour = (inputs >= COLOUR_OFFSET).view(B, side, side)  # the grid's cells (not pad, not end-of-grid)
    rows, cols = colour.any(2).float(), colour.any(1).float()  # (B, side) which rows/columns the grid covers
    top, left = rows.argmax(1), cols.argmax(1)
    bottom, right = side - 1 - rows.flip(1).argmax(1), side - 1 - cols.flip(1).argmax(1)
    if out_shape is not None:
        bottom = torch.stack([bottom, top + out_shape[:, 0] - 1])  # (2, B): the input's, the output's
        right = torch.stack([right, left + out_shape[:, 1] - 1])
    r = torch.arange(side, device=inputs.device).view(1, side, 1)
    c = torch.arange(side, device=inputs.device).view(1, 1, side)
    edges = [r - top.view(B, 1, 1), c - left.view(B, 1, 1)]
    for b, e in zip(bottom.view(-1, B), right.view(-1, B)):
        edges += [b.view(B, 1, 1) - r, e.view(B, 1, 1) - c]
    frequencies = dim // (2 * len(edges))
    if frequencies < 2:
        raise ValueError(f"grid coordinates need hidden_size >= {4 * len(edges)}, got {dim}")
    coords = torch.stack([e.expand(B, side, side) for e in edges], dim=-1).float()  # (B, side, side, edges)
    periods = 2.0 * 32.0 ** torch.linspace(0, 1, frequencies, device=inputs.device)  # 2 to 64 cells
    angles = coords[..., None] * (2 * math.pi / periods)  # (B, side, side, edges, frequencies)
    features = torch.cat([angles.cos(), angles.sin()], dim=-1).view(B, S, -1)
    return F.pad(features, (0, dim - features.shape[-1]))
