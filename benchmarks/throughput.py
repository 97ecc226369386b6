"""Throughput on this machine: training-step and rollout tokens/s, achieved FLOP/s against the measured matmul
rate, and peak memory, for the per-task canvas against the official 30 x 30 layout, on real ARC-AGI-1
evaluation tasks.

    python -m benchmarks.throughput [--model cpu|paper] [--tasks 8] [--reps 3] [--smoke] [--out DIR]

Models: `cpu` is the model of configs/cpu.yaml (what `solve` trains per task), `paper` the paper's ARC model
(hidden 512, T=3, n=4; slow on a CPU). Tasks: `--tasks` tasks spread evenly over the sorted arc1-eval split.
Per task and layout, the real augmented demonstrations are encoded on the task's canvas (task_encoding.task_canvas)
or on 30 x 30, then one training step (forward, backward, optimiser: ttt.Trainer.step) on a batch of them and
one rollout supervision step (eval, no gradient) on the test inputs of every version are timed (median of
`--reps` after a warm-up). FLOPs are counted from the layer shapes (`arc_trm.model.cost`): per block 2 x weights x
tokens plus 4 x tokens^2 x hidden for attention; backward counts twice the forward of the part with gradients
(TRM's last cycle). Peak memory: CUDA's max_memory_allocated, or on the CPU the peak resident set of a child
process above its resident set before the first step. Prints tables; writes throughput.json (throughput_smoke.json
with --smoke).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import platform
import resource
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from arc_trm.core import devices
from arc_trm.core.config import load_config
from arc_trm.core.tasks import Task, load
from arc_trm.data import augment, task_encoding
from arc_trm.data.encoding import OFFICIAL_CANVAS
from arc_trm.model import TRMConfig
from arc_trm.model.cost import step_flops
from arc_trm.solve.config import SolveConfig
from arc_trm.ttt import predict
from arc_trm.ttt import trainer as ttt

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = 8  # augmented versions per task (the rollout answers every test input in each)


# ------------------------------------------------------------------------------------------------ counting


def matmul_rate(device: torch.device, reps: int = 10) -> float:
    """FLOP/s of a square matmul (float32 on the CPU, bfloat16 on CUDA), the best of `reps`: the machine's
    attainable rate, as little disturbed as can be by other work on a shared machine."""
    n = 4096 if device.type == "cuda" else 2048
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    return 2.0 * n**3 / min(_times(lambda: a @ b, device, reps))


def _median_seconds(fn, device: torch.device, reps: int) -> float:
    return statistics.median(_times(fn, device, reps))


def _times(fn, device: torch.device, reps: int) -> list[float]:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------------------------------------ cases


def model_config(name: str) -> tuple[TRMConfig, int]:
    """A model and its training batch (demonstrations per step)."""
    solve = load_config(SolveConfig, ROOT / "configs" / "cpu.yaml")
    if name == "cpu":
        return solve.model, solve.ttt.batch_size
    if name == "paper":
        return TRMConfig(hidden_size=512, num_heads=8, T=3, n=4, N_sup=16), 8
    raise ValueError(f"unknown model {name!r} (expected cpu or paper)")


def spread(count: int) -> list[Task]:
    """`count` tasks spread evenly over the sorted ARC-AGI-1 evaluation split."""
    tasks = list(load("arc1-eval"))
    return [tasks[i] for i in np.linspace(0, len(tasks) - 1, count).round().astype(int)]


def measure(task: Task, layout: str, config: TRMConfig, batch: int, reps: int, device: torch.device) -> dict:
    """One task on one layout: training-step and rollout-step times, tokens, FLOPs and peak memory."""
    canvas = task_encoding.task_canvas(task) if layout == "task" else OFFICIAL_CANVAS
    data = task_encoding.task_data(task, augment.versions(task, VERSIONS, seed=0), canvas, seed=0)
    model = ttt.new_model(config, VERSIONS, device, seed=0)
    trainer = ttt.Trainer(model, ttt.TTTConfig(batch_size=batch))
    tokens = model.prefix_len + canvas * canvas
    rollout = predict.batch_for(model, data, np.arange(len(data.test_inputs)))

    def train_step():
        trainer.step(data.sample(batch))

    def rollout_step():
        model.eval()
        with torch.no_grad():
            model(model.initial_carry(rollout), rollout)
        model.train()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    before = _rss_bytes()
    train_seconds = _median_seconds(train_step, device, reps)
    rollout_seconds = _median_seconds(rollout_step, device, reps)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else _peak_rss_bytes() - before
    rows = len(data.test_inputs)
    train_flops = step_flops(model.config, batch, tokens)["train"]
    rollout_flops = step_flops(model.config, rows, tokens)["forward"]
    return {
        "task_id": task.id,
        "layout": layout,
        "canvas": canvas,
        "tokens_per_example": tokens,
        "batch": batch,
        "rollout_rows": rows,
        "train_seconds": train_seconds,
        "rollout_step_seconds": rollout_seconds,
        "train_tokens_per_s": batch * tokens / train_seconds,
        "train_examples_per_s": batch / train_seconds,
        "train_flops_per_s": train_flops / train_seconds,
        "rollout_tokens_per_s": rows * tokens / rollout_seconds,
        "rollout_flops_per_s": rollout_flops / rollout_seconds,
        "peak_memory_bytes": int(peak),
    }


def _rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def measure_isolated(*args) -> dict:
    """`measure` in a child process on the CPU, so that its peak resident set is its own; in-process on CUDA.
    The child is spawned, not forked: a fork after torch has started its OpenMP threads can hang."""
    device = args[-1]
    if device.type == "cuda":
        return measure(*args)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(measure, args)


# ------------------------------------------------------------------------------------------------ output


def aggregate(rows: list[dict], peak_rate: float) -> list[dict]:
    """Per layout: medians over tasks, and the per-task canvas's speed-up in examples trained per second."""
    out = []
    for layout in ("task", "official"):
        mine = [r for r in rows if r["layout"] == layout]
        if not mine:
            continue

        def med(key, mine=mine):
            return statistics.median(r[key] for r in mine)

        out.append(
            {
                "layout": layout,
                "tasks": len(mine),
                "median_canvas": med("canvas"),
                "median_tokens_per_example": med("tokens_per_example"),
                **{
                    key: med(key)
                    for key in (
                        "train_seconds",
                        "train_tokens_per_s",
                        "train_examples_per_s",
                        "train_flops_per_s",
                        "rollout_tokens_per_s",
                        "rollout_flops_per_s",
                        "peak_memory_bytes",
                    )
                },
                "train_fraction_of_matmul": med("train_flops_per_s") / peak_rate,
                "rollout_fraction_of_matmul": med("rollout_flops_per_s") / peak_rate,
            }
        )
    if len(out) == 2:
        by_task = {(r["task_id"], r["layout"]): r for r in rows}
        speedups = [
            by_task[t, "task"]["train_examples_per_s"] / by_task[t, "official"]["train_examples_per_s"]
            for t, layout in by_task
            if layout == "task" and (t, "official") in by_task
        ]
        out[0]["median_speedup_examples_per_s"] = statistics.median(speedups)
    return out


def table(summary: list[dict]) -> str:
    lines = [
        "| layout | tasks | median canvas | tokens/example | train step (s) | train tokens/s | train examples/s "
        "| train GFLOP/s (% of matmul) | rollout tokens/s | rollout GFLOP/s (% of matmul) | peak memory (MiB) |",
        "|---" * 11 + "|",
    ]
    for s in summary:
        lines.append(
            f"| {'per-task canvas' if s['layout'] == 'task' else 'official 30x30'} | {s['tasks']} "
            f"| {s['median_canvas']:.0f} | {s['median_tokens_per_example']:.0f} | {s['train_seconds']:.3f} "
            f"| {s['train_tokens_per_s']:,.0f} | {s['train_examples_per_s']:.1f} "
            f"| {s['train_flops_per_s'] / 1e9:.2f} ({100 * s['train_fraction_of_matmul']:.0f}%) "
            f"| {s['rollout_tokens_per_s']:,.0f} "
            f"| {s['rollout_flops_per_s'] / 1e9:.2f} ({100 * s['rollout_fraction_of_matmul']:.0f}%) "
            f"| {s['peak_memory_bytes'] / 2**20:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cpu", help="cpu (configs/cpu.yaml's model) or paper")
    parser.add_argument("--tasks", type=int, default=8, help="tasks spread over arc1-eval")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--smoke", action="store_true", help="one task, one repetition, a tiny model")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()
    device = devices.resolve(args.device)
    config, batch = model_config(args.model)
    count, reps = (1, 1) if args.smoke else (args.tasks, args.reps)
    if args.smoke:
        config, batch = dataclasses.replace(config, hidden_size=32), 4
    peak_rate = matmul_rate(device, reps=2 if args.smoke else 10)
    print(
        f"{device}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"matmul {peak_rate / 1e9:.1f} GFLOP/s; model {args.model}\n",
        flush=True,
    )
    rows = []
    for task in spread(count):
        for layout in ("task", "official"):
            rows.append(measure_isolated(task, layout, config, batch, reps, device))
            r = rows[-1]
            print(
                f"{task.id} {layout:>8} canvas {r['canvas']:>2}: train {r['train_seconds']:.3f} s/step, "
                f"{r['train_tokens_per_s']:,.0f} tokens/s; rollout {r['rollout_tokens_per_s']:,.0f} tokens/s; "
                f"peak {r['peak_memory_bytes'] / 2**20:.0f} MiB",
                flush=True,
            )
    summary = aggregate(rows, peak_rate)
    print("\n" + table(summary))
    if "median_speedup_examples_per_s" in summary[0]:
        print(
            f"\nper-task canvas trains {summary[0]['median_speedup_examples_per_s']:.1f}x more examples per "
            "second than 30x30 (median over tasks)"
        )
    result = {
        "benchmark": "throughput",
        "model": args.model,
        "config": dataclasses.asdict(config),
        "machine": {
            "device": str(device),
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        },
        "matmul_flops_per_s": peak_rate,
        "reps": reps,
        "summary": summary,
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = "throughput_smoke.json" if args.smoke else f"throughput_{args.model}.json"
    (args.out / name).write_text(json.dumps(result, indent=1))
    print(f"written: {args.out / name}")


if __name__ == "__main__":
    main()
