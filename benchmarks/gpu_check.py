"""The GPU check: does everything CUDA-specific work, and how fast is it? Writes OUT_DIR/gpu_check.json.

    python -m benchmarks.gpu_check OUT_DIR [--solve-tasks 20] [--solve-seconds 240] [--peak-tflops 790]

Parts (each guarded, so one failure does not hide the others; total well inside 8 minutes on an H200):
1. the test suite's CUDA-marked tests (`pytest -m cuda`);
2. parity of the official fixtures on the GPU in float32 (tolerances as on the CPU) and the largest
   differences under bfloat16 autocast;
3. training-step throughput of the paper's configuration (hidden 512, 30x30 canvas, T=3, n=4) under bf16
   autocast at growing batch sizes until memory runs out or the step time stops scaling: samples/s,
   tokens/s and model FLOP utilisation against the GPU's peak (790 TFLOP/s bf16 dense for an H200);
4. `solve` on the first N ARC-AGI-2 evaluation tasks with a fixed budget: time per task, peak memory, score;
5. solve's GPU-only paths (issue 4): the out-of-memory retry, forced by capping the process's CUDA memory
   below what the first attempt was measured to need (`oom_retry`); two worker processes sharing the GPU
   (`workers`); several tasks per model against one model per task at equal steps (`groups`); the CLI's
   `arc-trm solve` on the examples under bf16 autocast (`solve_cli`).

`--parts a,b` runs only those parts (names as in gpu_check.json).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = Path(os.environ.get("ARC_TRM_SHARED", ROOT.parent / "shared")) / "reference"  # as tests/conftest.py


def guarded(name: str, results: dict, function, *args) -> None:
    start = time.monotonic()
    try:
        results[name] = function(*args)
    except Exception:  # record and go on: the other parts still answer
        results[name] = {"error": traceback.format_exc(limit=4)}
    results[name + "_seconds"] = round(time.monotonic() - start, 1)
    print(f"[gpu_check] {name}: {json.dumps(results[name], default=str)[:600]}", flush=True)


def cuda_tests() -> dict:
    run = subprocess.run([sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-rA"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    return {"returncode": run.returncode, "tail": run.stdout[-2000:]}


def parity() -> dict:
    from arc_trm.parity import run_parity

    found = {}
    for fixture in ("official_att", "official_mlp", "official_hrm"):
        for dtype in ("float32", "bfloat16"):
            report = run_parity(REFERENCE / fixture, "cuda", dtype)
            worst = report.worst(3)
            found[f"{fixture}/{dtype}"] = {
                "passed": report.passed, "failed_checks": sum(not c.ok for c in report.checks),
                "worst": [{"key": c.key, "diff": c.diff, "tolerance": c.tolerance} for c in worst]}
    return found


def throughput(peak_tflops: float) -> dict:
    from arc_trm.losses import act_loss
    from arc_trm.model import TRM, TRMConfig

    config = TRMConfig(hidden_size=512, num_heads=8, T=3, n=4, num_puzzle_ids=1024, halt_exploration_prob=0.0)
    model = TRM(config).cuda().train()
    params = sum(p.numel() for p in model.parameters())
    net_params = sum(p.numel() for p in model.net.parameters())
    tokens = config.seq_len + model.prefix_len
    # network calls per step: T(n+1) forward, plus the last cycle's n+1 backward at twice the forward's cost
    calls = config.T * (config.n + 1) + 2 * (config.n + 1)
    per_token_per_call = 2 * net_params + 4 * tokens * config.hidden_size * config.num_layers  # + QK^T and AV
    flops_per_sample = per_token_per_call * tokens * calls
    rows = []
    for batch_size in (64, 128, 256, 512, 768):
        try:
            batch = {"inputs": torch.randint(2, 12, (batch_size, config.seq_len), device="cuda"),
                     "labels": torch.randint(2, 12, (batch_size, config.seq_len), device="cuda"),
                     "puzzle_ids": torch.randint(1, 1024, (batch_size,), device="cuda")}
            carry = model.initial_carry(batch)
            for i in range(6):  # 2 warm-up steps, 4 timed
                if i == 2:
                    torch.cuda.synchronize()
                    start = time.perf_counter()
                carry, outputs = model(carry, batch)
                act_loss(outputs, carry.data["labels"]).loss.backward()
                model.zero_grad(set_to_none=True)
            torch.cuda.synchronize()
            step = (time.perf_counter() - start) / 4
        except torch.OutOfMemoryError:
            torch.cuda.empty_cache()
            rows.append({"batch": batch_size, "error": "out of memory"})
            break
        rows.append({"batch": batch_size, "step_seconds": step, "samples_per_s": batch_size / step,
                     "tokens_per_s": batch_size * tokens / step,
                     "mfu": batch_size * flops_per_sample / step / (peak_tflops * 1e12),
                     "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30})
    return {"params": params, "flops_per_sample": flops_per_sample, "rows": rows,
            "device": torch.cuda.get_device_name()}


def solve_arc2(tasks_count: int, seconds: float, out_dir: Path) -> dict:
    from arc_trm import scoring, submission, tasks
    from arc_trm.solve import solve

    taskset = tasks.TaskSet(tasks.load("arc2-eval").tasks[:tasks_count])
    config = _default_on_cuda()
    torch.cuda.reset_peak_memory_stats()
    report = solve(taskset, out_dir / "arc2_submission.json", config, budget_seconds=seconds, fresh=True)
    scores = scoring.score(submission.read(report.out), taskset.solutions())
    return {"tasks": len(taskset), "budget_seconds": seconds, "wall_seconds": report.seconds,
            "macro_pass2": scores.macro, "solved": scores.n_tasks_solved,
            "seconds_per_task": {r.task_id: r.record.get("timings", {}).get("total") for r in report.results},
            "steps_per_task": {r.task_id: r.record.get("steps") for r in report.results},
            "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30}


def _default_on_cuda(*overrides: str):
    """The CPU default config (configs/cpu.yaml) on the GPU, with overrides."""
    from arc_trm.config import load_config
    from arc_trm.solve import SolveConfig

    return load_config(SolveConfig, ROOT / "configs" / "cpu.yaml", ["device=cuda", *overrides])


def _smallest(split: str, count: int, candidates: int = 60):
    """`count` tasks of a split with the smallest canvases (of its first `candidates`), for quick solves."""
    from arc_trm import tasks, task_encoding

    chosen = sorted(tasks.load(split).tasks[:candidates], key=task_encoding.task_canvas)[:count]
    return tasks.TaskSet(chosen)


def oom_retry(out_dir: Path) -> dict:
    """Force solve's out-of-memory retry: cap the process's CUDA memory at 60% of an uncapped run's peak."""
    from arc_trm import tasks, task_encoding
    from arc_trm.events import Retry
    from arc_trm.solve import solve

    big = max(tasks.load("arc1-eval").tasks[:60], key=task_encoding.task_canvas)
    taskset = tasks.TaskSet([big])
    # a training batch far above the rollout's, so that halving it halves the peak
    config = _default_on_cuda("ttt.max_steps=5", "ttt.batch_tokens=0", "ttt.batch_size=2048", "ttt.augmentations=64")
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    free_run = solve(taskset, out_dir / "oom_free" / "submission.json", config, fresh=True)
    peak = torch.cuda.max_memory_allocated() - base
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(0).total_memory
    cap = base + 0.6 * peak
    torch.cuda.set_per_process_memory_fraction(cap / total)
    events: list = []
    try:
        capped = solve(taskset, out_dir / "oom_capped" / "submission.json", config, fresh=True,
                       on_event=events.append)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    record = capped.results[0].record
    return {"task": big.id, "canvas": task_encoding.task_canvas(big), "uncapped_status": free_run.results[0].status,
            "uncapped_peak_gib": peak / 2**30, "cap_gib": cap / 2**30,
            "retries": [dataclasses.asdict(e) for e in events if isinstance(e, Retry)],
            "capped_status": capped.results[0].status,
            "capped_augmentations": record.get("config", {}).get("ttt", {}).get("augmentations"),
            "capped_reason": record.get("reason")}


def workers(out_dir: Path) -> dict:
    """`solve(..., workers=2)` on the examples, both workers on the one GPU: records merged, submission valid."""
    from arc_trm import submission, tasks
    from arc_trm.solve import solve

    taskset = tasks.load(ROOT / "examples" / "tasks")
    start = time.monotonic()
    report = solve(taskset, out_dir / "workers" / "submission.json", _default_on_cuda("task_seconds=20"), fresh=True,
                   workers=2)
    written = submission.read(report.out)
    return {"tasks": len(taskset), "wall_seconds": time.monotonic() - start,
            "statuses": {r.task_id: r.status for r in report.results},
            "devices": sorted({r.record.get("config", {}).get("device", "?") for r in report.results}),
            "validation_errors": submission.validate(written, taskset)}


def groups(out_dir: Path, count: int = 8, steps: int = 300) -> dict:
    """The same `count` small tasks at the same steps, one model per task against one model for all."""
    from arc_trm import scoring, submission
    from arc_trm.solve import solve

    taskset = _smallest("arc1-eval", count)
    rows = {}
    for size in (1, count):
        config = _default_on_cuda("task_seconds=100000", f"ttt.max_steps={steps}", f"group_tasks={size}")
        start = time.monotonic()
        report = solve(taskset, out_dir / f"groups_{size}" / "submission.json", config, fresh=True)
        scores = scoring.score(submission.read(report.out), taskset.solutions())
        rows[f"group_tasks={size}"] = {
            "wall_seconds": time.monotonic() - start, "solved": scores.n_tasks_solved,
            "steps": [r.record.get("steps") for r in report.results],
            "statuses": sorted({r.status for r in report.results})}
    return {"tasks": taskset.ids, "steps_per_task": steps, "rows": rows}


def solve_cli(out_dir: Path) -> dict:
    """`arc-trm solve` as a user runs it (the examples, an 80 s budget), in a subprocess."""
    out = out_dir / "cli" / "submission.json"
    command = [sys.executable, "-c", "from arc_trm_cli.app import main; main()", "solve", "--quiet", "--fresh",
               "--time-budget", "80s", "--out", str(out)]
    start = time.monotonic()
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=400)
    return {"returncode": run.returncode, "wall_seconds": time.monotonic() - start,
            "tail": (run.stdout + run.stderr)[-1500:], "written": out.exists()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--solve-tasks", type=int, default=20)
    parser.add_argument("--solve-seconds", type=float, default=240)
    parser.add_argument("--peak-tflops", type=float, default=790.0, help="the GPU's dense bf16 peak")
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated parts to run")
    args = parser.parse_args()
    chosen = args.parts.split(",")
    if unknown := set(chosen) - set(PARTS):
        parser.error(f"unknown parts {sorted(unknown)}; known: {', '.join(PARTS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {"torch": torch.__version__, "cuda_available": torch.cuda.is_available(),
                     "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if not torch.cuda.is_available():
        results["error"] = "no CUDA device"
    else:
        results["device"] = torch.cuda.get_device_name()
        arguments = {"cuda_tests": (), "parity": (), "throughput": (args.peak_tflops,),
                     "solve_arc2": (args.solve_tasks, args.solve_seconds, args.out), "oom_retry": (args.out,),
                     "workers": (args.out,), "groups": (args.out,), "solve_cli": (args.out,)}
        for name in chosen:  # the file is rewritten after each part, so a run cut short keeps what it found
            guarded(name, results, globals()[name], *arguments[name])
            (args.out / "gpu_check.json").write_text(json.dumps(results, indent=1, default=str))
    (args.out / "gpu_check.json").write_text(json.dumps(results, indent=1, default=str))
    print(f"[gpu_check] results in {args.out / 'gpu_check.json'}")


PARTS = ("cuda_tests", "parity", "throughput", "solve_arc2", "oom_retry", "workers", "groups", "solve_cli")

if __name__ == "__main__":
    main()
