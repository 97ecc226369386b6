"""The Hierarchical Reasoning Model (HRM, sapientinc/HRM), the baseline TRM is compared with (TRM_SPEC section 8).

HRM is TRM with two networks and a one-step gradient: a low-level network L_net updates z_L = L_net(z_L, z_H + x)
n times per cycle and a high-level network H_net updates z_H = H_net(z_H, z_L) once per cycle, for T cycles;
only the very last L and H updates are differentiated. Embeddings, heads, carry and ACT wrapper are TRM's, with
z_H in the answer slot y and z_L in the latent slot z. By default Q-continue is learned from a bootstrapped target
(one extra forward per training step) and a slot halts when q_halt > q_continue.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from arc_trm.model.trm import TRM, TRMConfig


@dataclass
class HRMConfig(TRMConfig):
    """HRM hyper-parameters (defaults: sapientinc/HRM's hrm_v1). num_layers is L_layers."""

    H_layers: int = 4
    num_layers: int = 4
    T: int = 2  # H_cycles
    n: int = 2  # L_cycles
    puzzle_emb_len: int = 0  # HRM always uses ceil(puzzle_emb_dim / hidden_size) prefix positions
    act_continue: bool = True


class HRM(TRM):
    arch = "hrm"
    config: HRMConfig

    def build_networks(self) -> None:
        self.H_net = self.blocks(self.config.H_layers)
        self.L_net = self.blocks(self.config.num_layers)

    def deep_recursion(self, x, z_H, z_L, cos_sin):
        T, n = self.config.T, self.config.n
        with torch.no_grad():  # T*n - 1 low-level updates, with a high-level update after every n-th
            for i in range(1, T * n):
                z_L = self.L_net(z_L, z_H + x, cos_sin)
                if i % n == 0:
                    z_H = self.H_net(z_H, z_L, cos_sin)
        z_L = self.L_net(z_L, z_H + x, cos_sin)  # one-step gradient: only the last L and H updates
        z_H = self.H_net(z_H, z_L, cos_sin)
        return z_H, z_L
