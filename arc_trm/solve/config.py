"""`SolveConfig`: everything `solve` does per task, as typed YAML (configs/cpu.yaml); the defaults are the CPU
default. Its own module so that the run (`solve`), one task (`solve_task`) and the planner (`plan`) all name it
without importing each other."""

from __future__ import annotations

from dataclasses import dataclass, field

from arc_trm.model import TRMConfig
from arc_trm.ttt import trainer as ttt


def _cpu_model() -> TRMConfig:
    return TRMConfig(
        hidden_size=64,
        num_heads=2,
        puzzle_emb_dim=64,
        puzzle_emb_len=4,
        T=1,
        n=1,
        N_sup=2,
        grid_coords=True,
        output_coords=True,
    )


@dataclass
class SolveConfig:
    """Everything `solve` does per task (YAML: configs/cpu.yaml); the defaults are the CPU default."""

    model: TRMConfig = field(default_factory=_cpu_model)
    ttt: ttt.TTTConfig = field(default_factory=ttt.TTTConfig)
    vote: str = "count_then_confidence"  # or "count"
    seed: int = 0
    device: str = "auto"  # "auto" (CUDA when there is one), "cpu", "cuda", "cuda:1", ...
    task_seconds: float = 45.0  # time per task when no --time-budget is given
    min_task_seconds: float = 3.0  # a task that cannot get this much time gets its fallback instead
    checkpoint: str | None = "prior"  # start from this pretrained model ("prior": the shipped one; ours or
    # official; None: from random weights)
    rollout_batch: int = 256
    group_tasks: int = 1  # tasks trained together in one model, similar canvases side by side in each batch
    # (pays on a GPU, which one small task's batch leaves mostly idle; on a CPU, 1)
    predict_share: float = 0.3  # at most this share of a task's time goes to the rollout (fewer versions if needed)
