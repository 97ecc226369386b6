"""The GPU check: does everything CUDA-specific work, and how fast is it? Writes OUT_DIR/gpu_check.json.

    python -m benchmarks.gpu_check OUT_DIR [--solve-tasks 20] [--solve-seconds 240] [--peak-tflops 790]

Parts (each guarded, so one failure does not hide the others; total well inside 8 minutes on an H200):
1. the test suite's CUDA-marked tests (`pytest -m cuda`);
2. parity of the official fixtures on the GPU in float32 (tolerances as on the CPU) and the largest
   differences under bfloat16 autocast;
3. training-step throughput of the paper's configuration (hidden 512, 30x30 canvas, T=3, n=4) under bf16
   autocast at growing batch sizes until memory runs out or the step time stops scaling: samples/s,
   tokens/s and model FLOP utilisation against the GPU's peak (790 TFLOP/s bf16 dense for an H200);
4. `solve` on the first N ARC-AGI-2 evaluation tasks with a fixed budget: time per task, peak memory, score.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT.parent / "shared" / "reference"


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
    from arc_trm.config import load_config
    from arc_trm.solve import SolveConfig, solve

    taskset = tasks.TaskSet(tasks.load("arc2-eval").tasks[:tasks_count])
    config = load_config(SolveConfig, ROOT / "configs" / "cpu.yaml", ["device=cuda"])
    torch.cuda.reset_peak_memory_stats()
    report = solve(taskset, out_dir / "arc2_submission.json", config, budget_seconds=seconds, fresh=True)
    scores = scoring.score(submission.read(report.out), taskset.solutions())
    return {"tasks": len(taskset), "budget_seconds": seconds, "wall_seconds": report.seconds,
            "macro_pass2": scores.macro, "solved": scores.n_tasks_solved,
            "seconds_per_task": {r.task_id: r.record.get("timings", {}).get("total") for r in report.results},
            "steps_per_task": {r.task_id: r.record.get("steps") for r in report.results},
            "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--solve-tasks", type=int, default=20)
    parser.add_argument("--solve-seconds", type=float, default=240)
    parser.add_argument("--peak-tflops", type=float, default=790.0, help="the GPU's dense bf16 peak")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {"torch": torch.__version__, "cuda_available": torch.cuda.is_available(),
                     "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if not torch.cuda.is_available():
        results["error"] = "no CUDA device"
    else:
        results["device"] = torch.cuda.get_device_name()
        guarded("cuda_tests", results, cuda_tests)
        guarded("parity", results, parity)
        guarded("throughput", results, throughput, args.peak_tflops)
        guarded("solve_arc2", results, solve_arc2, args.solve_tasks, args.solve_seconds, args.out)
    (args.out / "gpu_check.json").write_text(json.dumps(results, indent=1, default=str))
    print(f"[gpu_check] results in {args.out / 'gpu_check.json'}")


if __name__ == "__main__":
    main()
