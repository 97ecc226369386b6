"""Steps per second of the CPU default: its training step and its rollout step on the canvases of real tasks.

    python -m benchmarks.step_rate                       # this checkout, 1 and 2 threads
    python -m benchmarks.step_rate --base 9cb329a        # that revision and this checkout, side by side

For each canvas side (the arc1-eval distribution's 5, 8, 12, 16, 20, 25, 30) one arc1-train task of that canvas
is encoded as solve encodes it (configs/cpu.yaml: versions, batch from batch_tokens). Timed: the training step
as solve runs it (`Trainer.step` on `task_encoding.sample_joint`: batch drawn, forward, loss, backward, both
optimisers, EMA) and a rollout supervision step (eval forward) on 64 test rows, after warm-up steps. The FLOPs
of each (`arc_trm.model.cost.step_flops`) against a float32 matmul's rate measured in the same process give the share
of the machine's arithmetic rate that a step achieves. Each canvas's first step is reported apart (`first_step_s`:
where code compiles, its compilation; no default compiles today, docs/lab/2026-11-30-cpu-step.md says why).
Writes benchmarks/results/step_rate.json.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = "benchmarks/step_rate.py"
SIDES = (5, 8, 12, 16, 20, 25, 30)
ROLLOUT_ROWS = 64


def _task_at(side: int):
    """The first arc1-train task (by id) whose canvas is `side`, or the nearest side above it."""
    from arc_trm.core import tasks
    from arc_trm.data.task_encoding import task_canvas

    found = sorted(tasks.load("arc1-train"), key=lambda t: (task_canvas(t) < side, task_canvas(t), t.id))
    return found[0]


def _matmul_rate(seconds: float = 1.0) -> float:
    """FLOP/s of a 512 x 512 float32 matmul on this process's threads."""
    import torch

    a, b = torch.randn(512, 512), torch.randn(512, 512)
    a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return count * 2 * 512**3 / (time.perf_counter() - start)


def measure(steps: int, sides: tuple[int, ...]) -> dict:
    """Per side: the training and rollout step times (median of `steps`), FLOPs and achieved FLOP/s."""
    import torch

    from arc_trm.core.config import load_config
    from arc_trm.data import task_encoding
    from arc_trm.model.cost import step_flops
    from arc_trm.solve.config import SolveConfig
    from arc_trm.solve.task import encode_group
    from arc_trm.ttt import predict
    from arc_trm.ttt import trainer as ttt

    config = load_config(SolveConfig, ROOT / "configs" / "cpu.yaml", ["device=cpu"])
    rate = _matmul_rate()
    rows = []
    for side in sides:
        task = _task_at(side)
        canvas = task_encoding.task_canvas(task)
        parts = encode_group([task], config, canvas)
        model = ttt.new_model(config.model, len(parts[0].augs), torch.device("cpu"), seed=0)
        trainer = ttt.Trainer(model, config.ttt, config.ttt.max_steps)
        batch = ttt.batch_size(config.ttt, canvas)
        first = time.perf_counter()
        trainer.step(task_encoding.sample_joint(parts, batch))
        first = time.perf_counter() - first
        times = []
        for i in range(steps + 3):
            began = time.perf_counter()
            trainer.step(task_encoding.sample_joint(parts, batch))
            if i >= 3:
                times.append(time.perf_counter() - began)
        train = statistics.median(times)
        model.eval()
        test_rows = predict.batch_for(model, parts[0], torch.arange(ROLLOUT_ROWS) % len(parts[0].test_inputs))
        with torch.no_grad():
            model(model.initial_carry(test_rows), test_rows)
            rollout = []
            for _ in range(max(3, steps // 4)):
                began = time.perf_counter()
                model(model.initial_carry(test_rows), test_rows)
                rollout.append(time.perf_counter() - began)
        tokens = model.prefix_len + canvas * canvas
        flops_train = step_flops(model.config, batch, tokens)["train"]
        flops_rollout = step_flops(model.config, ROLLOUT_ROWS, tokens)["forward"]
        rollout_step = statistics.median(rollout)
        rows.append(
            {
                "side": side,
                "task": task.id,
                "canvas": canvas,
                "batch": batch,
                "first_step_s": first,
                "train_step_ms": 1e3 * train,
                "train_steps_per_s": 1 / train,
                "train_gflop": flops_train / 1e9,
                "train_share_of_matmul_rate": flops_train / train / rate,
                "rollout_step_ms": 1e3 * rollout_step,
                "rollout_rows": ROLLOUT_ROWS,
                "rollout_share_of_matmul_rate": flops_rollout / rollout_step / rate,
            }
        )
    return {"threads": torch.get_num_threads(), "torch": torch.__version__, "matmul_gflops": rate / 1e9, "rows": rows}


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="also measure this revision (a git worktree), side by side")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=40, help="timed training steps per canvas")
    parser.add_argument("--sides", type=int, nargs="+", default=list(SIDES))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "step_rate.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.steps, tuple(args.sides))))
        return
    from benchmarks.revisions import describe, run_worker, worktree  # not in the worker: its arc_trm is another

    worker = ["--steps", str(args.steps), "--sides", *map(str, args.sides)]
    result = {"machine": f"this machine, {len(args.threads)} thread setting(s)", "after": describe(), "runs": []}
    for threads in args.threads:
        run = {"threads": threads, "after": run_worker(ROOT, SCRIPT, worker, threads)}
        if args.base:
            with worktree(args.base) as tree:
                run["before"] = run_worker(tree, SCRIPT, worker, threads)
            pairs = zip(run["before"]["rows"], run["after"]["rows"])
            run["speedup_train"] = _geomean([b["train_step_ms"] / a["train_step_ms"] for b, a in pairs])
            pairs = zip(run["before"]["rows"], run["after"]["rows"])
            run["speedup_rollout"] = _geomean([b["rollout_step_ms"] / a["rollout_step_ms"] for b, a in pairs])
        result["runs"].append(run)
        _print(run)
        if args.base:
            result["before"] = describe(args.base)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")  # after each setting: a cut run keeps it
    print(f"wrote {args.out}")


def _print(run: dict) -> None:
    after = run["after"]
    print(f"\n{run['threads']} thread(s), matmul {after['matmul_gflops']:.0f} GFLOP/s")
    print(
        "| side | batch | train ms | steps/s | share of matmul rate | rollout ms (64 rows) | before: train ms, "
        "rollout ms |\n|---|---|---|---|---|---|---|"
    )
    before = {r["side"]: r for r in run.get("before", {}).get("rows", [])}
    for r in after["rows"]:
        b = before.get(r["side"])
        old = f"{b['train_step_ms']:.1f}, {b['rollout_step_ms']:.1f}" if b else "-"
        print(
            f"| {r['canvas']} | {r['batch']} | {r['train_step_ms']:.1f} | {r['train_steps_per_s']:.1f} | "
            f"{100 * r['train_share_of_matmul_rate']:.0f}% | {r['rollout_step_ms']:.1f} | {old} |"
        )
    if "speedup_train" in run:
        print(
            f"speed-up (geometric mean): training step {run['speedup_train']:.2f}x, "
            f"rollout step {run['speedup_rollout']:.2f}x"
        )


if __name__ == "__main__":
    main()
