"""A pretraining run's folder and processes, shared by both recipes (`pretrain`: the paper's, `prior`: the
solve model's prior): the same-run check, metrics.jsonl, the resume state, and the held-out scoring.

    ranks = setup_ranks("cpu")
    start(out, ranks, config, FREE_ON_RESUME, fresh)     # refuses a folder that holds another config's state
    saved = load_resume(out, ranks, trainer)               # (shared, own) when the folder holds a state, else None
    save_resume(out, ranks, trainer, {"sampler": ...}, {})

RUN_DIR/config.yaml is the resolved config; metrics.jsonl one JSON object per logging step and per evaluation;
resume/state.pt the state every rank shares (step, model, optimisers, EMA, and what the recipe adds: its data
position), written by rank 0 after each rank wrote its own resume/rank<r>_step_N.pt (its persistent batch, its
random states, and what the recipe adds). Resume files hold only tensors, numbers, strings, lists and dicts,
so they load with `weights_only=True`.
"""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from arc_trm.core import devices
from arc_trm.core.config import ConfigError, changed_keys, save_config
from arc_trm.core.io import atomic_open
from arc_trm.data.task_encoding import TaskData
from arc_trm.eval import scoring
from arc_trm.model import TRM
from arc_trm.ttt import predict, vote
from arc_trm.ttt.trainer import Trainer

# ---------------------------------------------------------------------------------------------- processes


@dataclass
class Ranks:
    """This process's place in the run."""

    rank: int
    world: int
    device: torch.device
    owns_group: bool  # we initialised the process group (and tear it down)

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_ranks(device: str = "auto") -> Ranks:
    """Join the torchrun process group (NCCL on GPUs, gloo on CPUs) when started by torchrun (with one process
    too, so that `--nproc-per-node 1` checks the backend); else one rank.

    A group initialised by the caller (tests spawning processes) is used as it is.
    """
    local = int(os.environ.get("LOCAL_RANK", "0"))
    target = devices.resolve(device, local)
    if target.type == "cuda":
        torch.cuda.set_device(target)
    owns = False
    if not dist.is_initialized() and "RANK" in os.environ and "WORLD_SIZE" in os.environ:  # torchrun, even 1 rank
        dist.init_process_group("nccl" if target.type == "cuda" else "gloo")
        owns = True
    if dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size(), target, owns)
    return Ranks(0, 1, target, False)


def barrier(ranks: Ranks) -> None:
    if ranks.world > 1:
        dist.barrier()


def gather(ranks: Ranks, value: Any) -> list[Any]:
    """Every rank's `value`, in rank order (on every rank)."""
    if ranks.world == 1:
        return [value]
    gathered = [None] * ranks.world
    dist.all_gather_object(gathered, value)
    return gathered


# ------------------------------------------------------------------------------------------- the folder


def _resume_dir(out: Path) -> Path:
    return out / "resume"


OLD_PRIOR_RESUME = "resume.pt"  # the prior's resume file before the shared format: pickled, not weights_only


def start(out: Path, ranks: Ranks, config: Any, free: tuple[str, ...], fresh: bool) -> None:
    """Prepare `out` for `config`: `fresh` discards a saved state and the metrics; a folder holding the state of
    another config (other than in the keys of `free`: where it runs, how long, how often it logs) is refused, not
    silently mixed with this one; then rank 0 writes config.yaml."""
    if fresh and ranks.main:
        for path in [*_resume_dir(out).glob("*.pt"), out / "metrics.jsonl", out / OLD_PRIOR_RESUME]:
            path.unlink(missing_ok=True)
    barrier(ranks)
    if (out / OLD_PRIOR_RESUME).is_file():
        raise ConfigError(
            f"{out / OLD_PRIOR_RESUME}: a resume file of the earlier prior code, which does not load "
            "with weights_only=True; start over with --fresh or another --out"
        )
    saved = (_resume_dir(out) / "state.pt").is_file()
    if changed := changed_keys(out / "config.yaml", config, free) if saved else []:
        raise ConfigError(
            f"{out} holds a run with another config (differs in: {', '.join(changed)}); use another --out or --fresh"
        )
    barrier(ranks)  # every rank has compared before rank 0 writes
    if ranks.main:
        save_config(config, out / "config.yaml")


# ------------------------------------------------------------------------------------------------ resume


def save_resume(out: Path, ranks: Ranks, trainer: Trainer, shared: dict[str, Any], own: dict[str, Any]) -> None:
    """Each rank writes its persistent batch, random states and `own`, then rank 0 commits the shared state
    (the model, the trainer and `shared`; state.pt last, so that it names a step every rank has written)."""
    folder, step = _resume_dir(out), trainer.steps
    state = trainer.state_dict()
    mine = {
        "step": step,
        "world": ranks.world,
        "carry": state.pop("carry"),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(ranks.device) if ranks.device.type == "cuda" else None,
        **own,
    }
    with atomic_open(folder / f"rank{ranks.rank}_step_{step}.pt", "wb") as f:
        torch.save(mine, f)
    barrier(ranks)
    if ranks.main:
        everyone = {
            "step": step,
            "world": ranks.world,
            "trainer": state,
            "model": {k: v.detach().cpu() for k, v in trainer.model.state_dict().items()},
            **shared,
        }
        with atomic_open(folder / "state.pt", "wb") as f:
            torch.save(everyone, f)
    barrier(ranks)
    for old in folder.glob(f"rank{ranks.rank}_step_*.pt"):
        if old.name != f"rank{ranks.rank}_step_{step}.pt":
            old.unlink(missing_ok=True)


def load_resume(out: Path, ranks: Ranks, trainer: Trainer) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Restore the last committed state of a run in `out` into `trainer` (model, optimisers, EMA, persistent
    batch) and the random states of torch; returns (shared, own) for the recipe's part, or None when there is
    none. Then rank 0 drops the metrics.jsonl records of later steps (written before an interruption, redone)."""
    folder = _resume_dir(out)
    if not (folder / "state.pt").is_file():
        if ranks.main:
            keep_metrics_until(out, 0)
        return None
    shared = _load(folder / "state.pt")
    if shared["world"] != ranks.world:
        raise ValueError(
            f"{folder}: saved by {shared['world']} processes, resumed by {ranks.world}: the persistent "
            f"batch is split per process, so resume with --nproc-per-node x nodes = {shared['world']}"
        )
    path = folder / f"rank{ranks.rank}_step_{shared['step']}.pt"
    if not path.is_file():
        raise ValueError(f"{path}: missing (rank {ranks.rank}'s part of the step {shared['step']} state)")
    own = _load(path)
    trainer.model.load_state_dict(shared["model"])
    trainer.load_state_dict({**shared["trainer"], "carry": own["carry"]})
    torch.set_rng_state(own["torch_rng"])
    if own["cuda_rng"] is not None and ranks.device.type == "cuda":
        torch.cuda.set_rng_state(own["cuda_rng"], ranks.device)
    if ranks.main:
        keep_metrics_until(out, trainer.steps)
    return shared, own


def _load(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(
            f"{path}: not a resume file that loads with weights_only=True ({reason}); "
            "start over with --fresh or another --out"
        ) from None


# -------------------------------------------------------------------------------------------------- metrics


class Metrics:
    """metrics.jsonl (appended, one JSON object per line) and optionally TensorBoard; written by rank 0."""

    def __init__(self, out: Path, tensorboard: bool = False):
        self.path = out / "metrics.jsonl"
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(out / "tensorboard"))
            except ImportError:
                pass

    def write(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            prefix = "eval/" if record.get("kind") == "eval" else "train/"
            for key, value in record.items():
                if isinstance(value, (int, float)) and key != "step":
                    self.writer.add_scalar(prefix + key, value, record["step"])
            self.writer.flush()


def keep_metrics_until(out: Path, step: int) -> None:
    """Drop the metrics.jsonl records of steps after `step` (written before an interruption, to be redone)."""
    records = read_metrics(out)
    if any(r["step"] > step for r in records):
        kept = "".join(json.dumps(r) + "\n" for r in records if r["step"] <= step)
        with atomic_open(out / "metrics.jsonl") as f:
            f.write(kept)


def read_metrics(out: str | Path) -> list[dict[str, Any]]:
    """The records of RUN_DIR/metrics.jsonl, in order."""
    path = Path(out) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


# ----------------------------------------------------------------------------------------------- scoring


def answer(
    model: TRM,
    data: TaskData,
    fallbacks: list[np.ndarray],
    batch: int = 256,
    versions: int | None = None,
    policy: str = "count_then_confidence",
) -> list[dict[str, np.ndarray]]:
    """The two attempts at each held-out test input of `data`: rolled out in its versions (the first `versions`),
    voted over, the top two (the test's fallback grid when fewer candidates)."""
    candidates = predict.rollout(model, data, batch, versions)
    attempts = [vote.top2(vote.vote(cs, policy), fallback) for cs, fallback in zip(candidates, fallbacks)]
    return [{"attempt_1": a, "attempt_2": b} for a, b in attempts]


def score(answers: dict[str, list], solutions: dict[str, list]) -> dict[str, float]:
    """pass@1 and pass@2 (macro over tasks), the test outputs solved at 2 and their count."""
    one, two = scoring.score(answers, solutions, k=1), scoring.score(answers, solutions, k=2)
    return {"pass@1": one.macro, "pass@2": two.macro, "solved@2": two.n_correct, "test_outputs": two.n_test}
