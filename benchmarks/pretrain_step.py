"""Pretraining step time on this machine, measured by the training loop itself (`arc_trm.train.pretrain`).

    OMP_NUM_THREADS=1 python -m benchmarks.pretrain_step [--steps 4] [--smoke] [--out benchmarks/results]
    python -m benchmarks.pretrain_step --device cuda --batch 192 768 [--compile]      # on a GPU

Runs `train` for a few steps per case in a temporary folder and records the loop's own measurement (median of
the steps after the first: data encoding, forward, backward, both optimisers, EMA; no evaluation). Cases: the
debug config, and the paper's ARC model (configs/arc1.yaml) with small global batches on the official 30x30
canvas (its data cut to a few tasks and versions, which does not change the cost of a step). Prints a table and
writes pretrain_step.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from arc_trm.core.config import load_config
from arc_trm.train.pretrain import TrainConfig, train

ROOT = Path(__file__).resolve().parent.parent
SMALL_DATA = ["data.max_tasks=2", "data.augmentations=3", "data.eval_tasks=1", "data.eval_versions=1"]


def cases(smoke: bool, device: str, batches: list[int], compile: bool) -> list[tuple[str, str, list[str]]]:
    """(name, config file, overrides)."""
    common = [f"device={device}", f"compile={str(compile).lower()}"]
    found = [("debug (hidden 32, T=2, n=1), batch 8", "debug.yaml", common)]
    if not smoke:
        found += [
            (
                f"paper ARC model (hidden 512, T=3, n=4), batch {b}",
                "arc1.yaml",
                SMALL_DATA + common + [f"global_batch_size={b}", "optim.warmup_steps=1"],
            )
            for b in batches
        ]
    return found


def measure(config_file: str, overrides: list[str], steps: int) -> dict:
    """The loop's measured seconds per step and its cost model for one case."""
    config = load_config(
        TrainConfig,
        ROOT / "configs" / config_file,
        overrides + [f"steps={steps}", f"eval_every={10 * steps}", f"measure_steps={steps - 1}"],
    )
    seen: dict = {}
    with tempfile.TemporaryDirectory() as out:
        train(config, out, on_event=lambda event: seen.update({type(event).__name__: event}), stop_at=steps)
    size = seen["TrainStarted"].size
    return {
        "seconds_per_step": seen["Measured"].seconds_per_step,
        "params": size["params"],
        "tokens_per_step": size["tokens_per_step"],
        "flops_per_step": size["flops_per_step"],
        "batch": config.global_batch_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="steps per case (the first is not timed)")
    parser.add_argument("--smoke", action="store_true", help="the debug config only, 3 steps")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, ...")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 4], help="global batches of the paper model")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()
    steps = 3 if args.smoke else max(3, args.steps)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), device {args.device}\n")
    print("| case | params | tokens per step | GFLOP per step | seconds per step |\n|---|---|---|---|---|")
    rows = []
    for name, config_file, overrides in cases(args.smoke, args.device, args.batch, args.compile):
        row = {"case": name, **measure(config_file, overrides, steps)}
        rows.append(row)
        print(
            f"| {name} | {row['params']:,} | {row['tokens_per_step']:,} | {row['flops_per_step'] / 1e9:,.0f} "
            f"| {row['seconds_per_step']:.2f} |",
            flush=True,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pretrain_step.json").write_text(
        json.dumps(
            {
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "device": args.device,
                "compile": args.compile,
                "rows": rows,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
