"""Building blocks shared by TRM and HRM: init, post-norm blocks, attention with RoPE, SwiGLU, token-MLP mixer.

Weights are float32 masters, cast to the input's dtype at their use (the official `CastedLinear`): a no-op in
float32; with the official bfloat16 numerics (`TRMConfig.forward_dtype`) each product runs in bf16.
Parameter names inside a block (qkv_proj, o_proj, gate_up_proj, down_proj) are those of the official checkpoints.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

CosSin = tuple[torch.Tensor, torch.Tensor]  # RoPE cos and sin, each (L, head_dim)

# Standard deviation of a unit normal truncated to [-2, 2]; dividing by it makes a truncated draw have the asked std.
_TRUNC_STD = math.sqrt(1 - 4 * math.exp(-2) / math.sqrt(2 * math.pi) / math.erf(2 / math.sqrt(2)))


def trunc_normal_(tensor: torch.Tensor, std: float) -> torch.Tensor:
    """Fill with a normal truncated at +-2 sigma whose *resulting* std is `std` (JAX/flax style); 0 zeroes it."""
    if std == 0:
        return nn.init.zeros_(tensor)
    sigma = std / _TRUNC_STD
    return nn.init.trunc_normal_(tensor, mean=0.0, std=sigma, a=-2 * sigma, b=2 * sigma)


def autocast(device: torch.device, dtype: torch.dtype):
    """Mixed precision on CUDA (bfloat16 by default); a no-op elsewhere, so the CPU computes in float32."""
    return torch.autocast(device.type, dtype=dtype, enabled=device.type == "cuda" and dtype != torch.float32)


def rms_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm without a learnable scale, computed in float32 and returned in x's dtype."""
    h = x.float()
    return (h * torch.rsqrt(h.square().mean(-1, keepdim=True) + eps)).to(x.dtype)


class Linear(nn.Module):
    """Linear layer with truncated LeCun-normal init (std 1/sqrt(fan_in)); bias, if any, starts at zero."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False):
        super().__init__()
        self.weight = nn.Parameter(trunc_normal_(torch.empty(out_features, in_features), std=in_features**-0.5))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias.to(x.dtype) if self.bias is not None else None
        return F.linear(x, self.weight.to(x.dtype), bias)


class Embedding(nn.Module):
    """Embedding table with truncated-normal init of the given std."""

    def __init__(self, num: int, dim: int, std: float):
        super().__init__()
        self.weight = nn.Parameter(trunc_normal_(torch.empty(num, dim), std=std))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.weight)


class SparseEmbedding(nn.Module):
    """The per-puzzle embedding table, a buffer updated outside autograd by the sparse SignSGD optimiser.

    In training mode with grad enabled, the looked-up rows become a fresh leaf tensor `rows` (requires_grad) and
    their ids are kept in `ids`, so after backward the optimiser reads `ids` and `rows.grad`. Otherwise this is a
    plain lookup without gradient.
    """

    weight: torch.Tensor  # a buffer (register_buffer)

    def __init__(self, num: int, dim: int):
        super().__init__()
        self.register_buffer("weight", torch.zeros(num, dim))  # zero init, as the official model
        self.ids: torch.Tensor | None = None
        self.rows: torch.Tensor | None = None

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        rows = self.weight[ids]
        if self.training and torch.is_grad_enabled():
            self.ids, self.rows = ids, rows.detach().requires_grad_(True)
            return self.rows
        return rows

    def lookup_grads(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The last training lookup's `ids` and the gradients of their `rows` (after backward)."""
        if self.ids is None or self.rows is None or self.rows.grad is None:
            raise RuntimeError("no puzzle-embedding gradients: backward after a training-mode lookup comes first")
        return self.ids, self.rows.grad


class Rotary(nn.Module):
    """Rotary position embedding (rotate-half convention): cos/sin tables for positions 0..max_positions-1."""

    cos: torch.Tensor  # buffers (register_buffer), (max_positions, head_dim)
    sin: torch.Tensor

    def __init__(self, head_dim: int, max_positions: int, base: float):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        angles = torch.outer(torch.arange(max_positions, dtype=torch.float32), inv_freq)  # (P, head_dim/2)
        angles = torch.cat((angles, angles), dim=-1)  # (P, head_dim)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin, each (L, head_dim), for the sequence's positions (L,)."""
        return self.cos[positions], self.sin[positions]


def apply_rotary(x: torch.Tensor, cos_sin: CosSin) -> torch.Tensor:
    """Rotate x of shape (B, L, heads, head_dim) by its positions' angles, in float32."""
    cos, sin = cos_sin
    h = x.float()
    x1, x2 = h.chunk(2, dim=-1)
    rotated = torch.cat((-x2, x1), dim=-1)
    return (h * cos[:, None] + rotated * sin[:, None]).to(x.dtype)


class Attention(nn.Module):
    """Non-causal multi-head self-attention without mask or biases; RoPE on q and k when given."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.qkv_proj = Linear(dim, 3 * dim)
        self.o_proj = Linear(dim, dim)

    def forward(self, x: torch.Tensor, cos_sin: CosSin | None) -> torch.Tensor:
        B, L, D = x.shape
        qkv = self.qkv_proj(x).view(B, L, 3 * self.num_heads, self.head_dim)
        qk, v = qkv.split(2 * self.num_heads, dim=2)
        if cos_sin is not None:
            qk = apply_rotary(qk, cos_sin)  # q and k in one pass
        q, k = qk.split(self.num_heads, dim=2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, heads, L, head_dim)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.o_proj(out.transpose(1, 2).reshape(B, L, D))


class SwiGLU(nn.Module):
    """down(silu(gate) * up); the inner width is 2/3 * expansion * dim rounded up to a multiple of 256."""

    def __init__(self, dim: int, expansion: float):
        super().__init__()
        inner = -(-round(expansion * dim * 2 / 3) // 256) * 256
        self.gate_up_proj = Linear(dim, 2 * inner)
        self.down_proj = Linear(inner, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class Block(nn.Module):
    """Post-norm block: x = norm(x + mix(x)); x = norm(x + mlp(x)).

    The token mixer is attention, or (mixer="mlp", TRM-MLP) a SwiGLU across the sequence axis; that one adds its
    residual and normalises while transposed, so its norm runs over positions, per channel.
    """

    def __init__(
        self, dim: int, num_heads: int, expansion: float, eps: float, mixer: str = "attention", seq_len: int = 0
    ):
        super().__init__()
        self.eps = eps
        if mixer == "attention":
            self.attn = Attention(dim, num_heads)
        elif mixer == "mlp":
            self.token_mlp = SwiGLU(seq_len, expansion)
        else:
            raise ValueError(f"unknown token mixer {mixer!r} (expected 'attention' or 'mlp')")
        self.mlp = SwiGLU(dim, expansion)

    def forward(self, x: torch.Tensor, cos_sin: CosSin | None = None) -> torch.Tensor:
        if hasattr(self, "attn"):
            x = rms_norm(x + self.attn(x, cos_sin), self.eps)
        else:
            xt = x.transpose(1, 2)  # (B, D, L)
            x = rms_norm(xt + self.token_mlp(xt), self.eps).transpose(1, 2)
        return rms_norm(x + self.mlp(x), self.eps)


class Reasoner(nn.Module):
    """A stack of blocks applied to state + injection: the network `net` of the paper (official `L_level`)."""

    def __init__(self, blocks: list[Block]):
        super().__init__()
        self.layers = nn.ModuleList(blocks)

    def forward(self, state: torch.Tensor, injection: torch.Tensor, cos_sin: CosSin | None) -> torch.Tensor:
        h = state + injection
        for block in self.layers:
            h = block(h, cos_sin)
        return h
