"""Training-step time on this machine: forward + backward of one ACT supervision step, per model config.

    python -m benchmarks.train_step [--reps 3] [--smoke] [--out benchmarks/results]

Configs: the three parity fixtures (official_att, official_mlp, official_hrm, read from ../shared/reference or
$ARC_TRM_SHARED/reference), the paper's ARC model (hidden 512, T=3, n=4) on the official 30x30 canvas with
batch 8 and on per-task canvases of 15x15 and 10x10, and the CPU default of `solve`. Prints a table and writes
train_step.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from arc_trm.core.config import load_config
from arc_trm.model import TRMConfig, build_model
from arc_trm.model.checkpoint import config_from_official
from arc_trm.model.losses import act_loss
from arc_trm.solve.config import SolveConfig

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = Path(os.environ.get("ARC_TRM_SHARED", ROOT.parent / "shared")) / "reference"


def cases(smoke: bool) -> list[tuple[str, str, TRMConfig, int, int]]:
    """(name, arch, config, batch, canvas side)."""
    found = []
    for name in ("official_att", "official_mlp", "official_hrm"):
        path = REFERENCE / name / "config.json"
        if path.is_file():
            meta = json.loads(path.read_text())
            arch = "hrm" if meta["arch"] == "hrm" else "trm"
            config = config_from_official(meta["official_config"], arch)
            found.append((name, arch, config, meta["official_config"]["batch_size"], int(config.seq_len**0.5)))
    cpu = load_config(SolveConfig, ROOT / "configs" / "cpu.yaml").model
    found.append(
        ("solve cpu default", "trm", cpu, load_config(SolveConfig, ROOT / "configs" / "cpu.yaml").ttt.batch_size, 10)
    )
    paper = TRMConfig(hidden_size=512, num_heads=8, T=3, n=4, num_puzzle_ids=16)
    sides = (10,) if smoke else (30, 15, 10)
    found += [(f"paper ARC model {side}x{side}", "trm", paper, 8, side) for side in sides]
    return found[:2] if smoke else found


def time_step(arch: str, config: TRMConfig, batch_size: int, side: int, reps: int) -> float:
    """Median seconds of one train-mode supervision step with backward (after one warm-up step)."""
    torch.manual_seed(0)
    config.halt_exploration_prob = 0.0
    model = build_model(arch, config).train()
    cells = side * side
    batch = {
        "inputs": torch.randint(2, 12, (batch_size, cells)),
        "labels": torch.randint(2, 12, (batch_size, cells)),
        "puzzle_ids": torch.randint(0, config.num_puzzle_ids, (batch_size,)),
        "out_shape": torch.full((batch_size, 2), side - 1),
    }  # read by models with output_coords only
    times = []
    for _ in range(reps + 1):
        start = time.perf_counter()
        carry, outputs = model(model.initial_carry(batch), batch)
        act_loss(outputs, carry.data["labels"]).loss.backward()
        model.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="two small configs, one repetition")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()
    reps = 1 if args.smoke else args.reps
    rows = []
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print(
        "| config | arch | hidden | T | n | batch | canvas | params | seconds per step |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    for name, arch, config, batch, side in cases(args.smoke):
        seconds = time_step(arch, config, batch, side, reps)
        params = sum(p.numel() for p in build_model(arch, config).parameters())
        rows.append(
            {
                "config": name,
                "arch": arch,
                "hidden": config.hidden_size,
                "T": config.T,
                "n": config.n,
                "batch": batch,
                "canvas": side,
                "params": params,
                "seconds": seconds,
            }
        )
        print(
            f"| {name} | {arch} | {config.hidden_size} | {config.T} | {config.n} | {batch} | {side}x{side} "
            f"| {params / 1e6:.2f}M | {seconds:.3f} |",
            flush=True,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train_step.json").write_text(json.dumps({"threads": torch.get_num_threads(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
