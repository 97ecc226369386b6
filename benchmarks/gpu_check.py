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

6. the paper ARC model's training step (hidden 512, T=3, n=4, 30 x 30, bf16; batch 768 and 192; eager and
   torch.compile) side by side with the official implementation's on the same batch and weights (its source
   read from ARC_TRM_OFFICIAL, default .carry/official, a checkout of SamsungSAILMontreal/TinyRecursiveModels
   carried to the machine, never committed): step time, tokens/s, MFU (`paper_step`); ours on the per-task
   canvases of real arc1-eval tasks (`canvas_step`); `torchrun --nproc-per-node 1 arc-trm train` over NCCL
   (`torchrun_nccl`); the Kaggle config's training and rollout steps on 20 arc2-eval tasks against what the
   planner predicts from its own measurement (`kaggle_steps`).

`--parts a,b` runs only those parts (names as in gpu_check.json). `--rehearse` runs parts 6 on the CPU at toy
sizes (hidden 64, batch 2), so that the script is known to work before a GPU is lent.
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
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-rA"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return {"returncode": run.returncode, "tail": run.stdout[-2000:]}


def parity() -> dict:
    from arc_trm.model.parity import run_parity

    found = {}
    for fixture in ("official_att", "official_mlp", "official_hrm"):
        for dtype in ("float32", "bfloat16"):
            report = run_parity(REFERENCE / fixture, "cuda", dtype)
            worst = report.worst(3)
            found[f"{fixture}/{dtype}"] = {
                "passed": report.passed,
                "failed_checks": sum(not c.ok for c in report.checks),
                "worst": [{"key": c.key, "diff": c.diff, "tolerance": c.tolerance} for c in worst],
            }
    return found


def throughput(peak_tflops: float) -> dict:
    from arc_trm.model import TRM, TRMConfig
    from arc_trm.model.losses import act_loss

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
            batch = {
                "inputs": torch.randint(2, 12, (batch_size, config.seq_len), device="cuda"),
                "labels": torch.randint(2, 12, (batch_size, config.seq_len), device="cuda"),
                "puzzle_ids": torch.randint(1, 1024, (batch_size,), device="cuda"),
            }
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
        rows.append(
            {
                "batch": batch_size,
                "step_seconds": step,
                "samples_per_s": batch_size / step,
                "tokens_per_s": batch_size * tokens / step,
                "mfu": batch_size * flops_per_sample / step / (peak_tflops * 1e12),
                "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30,
            }
        )
    return {
        "params": params,
        "flops_per_sample": flops_per_sample,
        "rows": rows,
        "device": torch.cuda.get_device_name(),
    }


def solve_arc2(tasks_count: int, seconds: float, out_dir: Path) -> dict:
    from arc_trm.core import submission, tasks
    from arc_trm.eval import scoring
    from arc_trm.solve.run import solve

    taskset = tasks.TaskSet(tasks.load("arc2-eval").tasks[:tasks_count])
    config = _default_on_cuda()
    torch.cuda.reset_peak_memory_stats()
    report = solve(taskset, out_dir / "arc2_submission.json", config, budget_seconds=seconds, fresh=True)
    scores = scoring.score(submission.read(report.out), taskset.solutions())
    return {
        "tasks": len(taskset),
        "budget_seconds": seconds,
        "wall_seconds": report.seconds,
        "macro_pass2": scores.macro,
        "solved": scores.n_tasks_solved,
        "seconds_per_task": {r.task_id: r.record.get("timings", {}).get("total") for r in report.results},
        "steps_per_task": {r.task_id: r.record.get("steps") for r in report.results},
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30,
    }


def _default_on_cuda(*overrides: str):
    """The CPU default config (configs/cpu.yaml) on the GPU, with overrides."""
    from arc_trm.core.config import load_config
    from arc_trm.solve.config import SolveConfig

    return load_config(SolveConfig, ROOT / "configs" / "cpu.yaml", ["device=cuda", *overrides])


def _smallest(split: str, count: int, candidates: int = 60):
    """`count` tasks of a split with the smallest canvases (of its first `candidates`), for quick solves."""
    from arc_trm.core import tasks
    from arc_trm.data import task_encoding

    chosen = sorted(tasks.load(split).tasks[:candidates], key=task_encoding.task_canvas)[:count]
    return tasks.TaskSet(chosen)


def oom_retry(out_dir: Path) -> dict:
    """Force solve's out-of-memory retry: cap the process's CUDA memory at 60% of an uncapped run's peak."""
    from arc_trm.core import tasks
    from arc_trm.core.events import Retry
    from arc_trm.data import task_encoding
    from arc_trm.solve.run import solve

    big = max(tasks.load("arc1-eval").tasks[:60], key=task_encoding.task_canvas)
    taskset = tasks.TaskSet([big])
    # a training batch far above the rollout's, so that halving it halves the peak
    config = _default_on_cuda("ttt.max_steps=5", "ttt.batch_tokens=0", "ttt.batch_size=2048", "ttt.versions=64")
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
        capped = solve(taskset, out_dir / "oom_capped" / "submission.json", config, fresh=True, on_event=events.append)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    record = capped.results[0].record
    return {
        "task": big.id,
        "canvas": task_encoding.task_canvas(big),
        "uncapped_status": free_run.results[0].status,
        "uncapped_peak_gib": peak / 2**30,
        "cap_gib": cap / 2**30,
        "retries": [dataclasses.asdict(e) for e in events if isinstance(e, Retry)],
        "capped_status": capped.results[0].status,
        "capped_versions": record.get("config", {}).get("ttt", {}).get("versions"),
        "capped_reason": record.get("reason"),
    }


def workers(out_dir: Path) -> dict:
    """`solve(..., workers=2)` on the examples, both workers on the one GPU: records merged, submission valid."""
    from arc_trm.core import submission, tasks
    from arc_trm.solve.run import solve

    taskset = tasks.load(ROOT / "examples" / "tasks")
    start = time.monotonic()
    report = solve(
        taskset, out_dir / "workers" / "submission.json", _default_on_cuda("task_seconds=20"), fresh=True, workers=2
    )
    written = submission.read(report.out)
    return {
        "tasks": len(taskset),
        "wall_seconds": time.monotonic() - start,
        "statuses": {r.task_id: r.status for r in report.results},
        "devices": sorted({r.record.get("config", {}).get("device", "?") for r in report.results}),
        "validation_errors": submission.validate(written, taskset),
    }


def groups(out_dir: Path, count: int = 8, steps: int = 300) -> dict:
    """The same `count` small tasks at the same steps, one model per task against one model for all."""
    from arc_trm.core import submission
    from arc_trm.eval import scoring
    from arc_trm.solve.run import solve

    taskset = _smallest("arc1-eval", count)
    rows = {}
    for size in (1, count):
        config = _default_on_cuda("task_seconds=100000", f"ttt.max_steps={steps}", f"group_tasks={size}")
        start = time.monotonic()
        report = solve(taskset, out_dir / f"groups_{size}" / "submission.json", config, fresh=True)
        scores = scoring.score(submission.read(report.out), taskset.solutions())
        rows[f"group_tasks={size}"] = {
            "wall_seconds": time.monotonic() - start,
            "solved": scores.n_tasks_solved,
            "steps": [r.record.get("steps") for r in report.results],
            "statuses": sorted({r.status for r in report.results}),
        }
    return {"tasks": taskset.ids, "steps_per_task": steps, "rows": rows}


def solve_cli(out_dir: Path) -> dict:
    """`arc-trm solve` as a user runs it (the examples, an 80 s budget), in a subprocess."""
    out = out_dir / "cli" / "submission.json"
    command = [
        sys.executable,
        "-c",
        "from arc_trm_cli.app import main; main()",
        "solve",
        "--quiet",
        "--fresh",
        "--time-budget",
        "80s",
        "--out",
        str(out),
    ]
    start = time.monotonic()
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=400)
    return {
        "returncode": run.returncode,
        "wall_seconds": time.monotonic() - start,
        "tail": (run.stdout + run.stderr)[-1500:],
        "written": out.exists(),
    }


# ------------------------------------------------------------------------- the paper model against the official


OFFICIAL = Path(os.environ.get("ARC_TRM_OFFICIAL", ROOT / ".carry" / "official"))  # a checkout, never committed


def _paper(hidden: int, heads: int, batch: int, device: str) -> dict:
    """The paper's ARC model (or a small one for a CPU rehearsal) as an official config dict."""
    return {
        "batch_size": batch,
        "seq_len": 900,
        "puzzle_emb_ndim": hidden,
        "num_puzzle_identifiers": 1024,
        "vocab_size": 12,
        "H_cycles": 3,
        "L_cycles": 4,
        "H_layers": 0,
        "L_layers": 2,
        "hidden_size": hidden,
        "expansion": 4,
        "num_heads": heads,
        "pos_encodings": "rope",
        "halt_max_steps": 16,
        "halt_exploration_prob": 0.0,
        "forward_dtype": "bfloat16" if device == "cuda" else "float32",
        "mlp_t": False,
        "puzzle_emb_len": 16,
        "no_ACT_continue": True,
    }


def _batch(batch: int, side: int, device: str, official: bool = False) -> dict:
    generator = torch.Generator().manual_seed(0)
    cells = side * side
    batch_ = {
        "inputs": torch.randint(2, 12, (batch, cells), generator=generator),
        "labels": torch.randint(2, 12, (batch, cells), generator=generator),
    }
    batch_["puzzle_identifiers" if official else "puzzle_ids"] = torch.randint(1, 1024, (batch,), generator=generator)
    return {k: v.to(device) for k, v in batch_.items()}


def _time(step, device: str, warmup: int = 2, timed: int = 4) -> tuple[float, float]:
    """(first call's seconds, the median of `timed` calls after `warmup`)."""

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    sync()
    start = time.perf_counter()
    step()
    sync()
    first = time.perf_counter() - start
    times = []
    for i in range(warmup - 1 + timed):
        start = time.perf_counter()
        step()
        sync()
        if i >= warmup - 1:
            times.append(time.perf_counter() - start)
    return first, sorted(times)[len(times) // 2]


def _ours(official_config: dict, device: str, compile_: bool):
    from arc_trm.model import TRM
    from arc_trm.model.checkpoint import config_from_official
    from arc_trm.model.losses import act_loss

    torch.manual_seed(0)
    model = TRM(config_from_official(official_config, "trm")).to(device).train()
    if compile_:
        model.net.compile()
    state = {"carry": None}

    def step(batch):
        if state["carry"] is None:
            state["carry"] = model.initial_carry(batch)
        state["carry"], outputs = model(state["carry"], batch)
        act_loss(outputs, state["carry"].data["labels"]).loss.backward()
        model.zero_grad(set_to_none=True)

    return model, step


def _official(official_config: dict, device: str, compile_: bool, ours_model):
    """The official model and loss head (from OFFICIAL), with our model's weights, and its training step."""
    if str(OFFICIAL) not in sys.path:
        sys.path.insert(0, str(OFFICIAL))
    from models.losses import ACTLossHead
    from models.recursive_reasoning.trm import TinyRecursiveReasoningModel_ACTV1

    from arc_trm.model.checkpoint import copy_to_official

    with torch.device(device):
        head = ACTLossHead(
            TinyRecursiveReasoningModel_ACTV1(dict(official_config)), loss_type="stablemax_cross_entropy"
        )
    copy_to_official(ours_model, head.model.inner)
    if compile_:
        head.model.compile()
    head.train()
    state = {"carry": None}

    def step(batch):
        if state["carry"] is None:
            with torch.device(device):
                state["carry"] = head.initial_carry(batch)
        state["carry"], loss, *_ = head(carry=state["carry"], batch=batch, return_keys=[])
        loss.backward()
        head.zero_grad(set_to_none=True)

    return step


def paper_step(device: str, peak_tflops: float, batches: tuple[int, ...], hidden: int, heads: int) -> dict:
    """The paper model's training step (forward, loss, backward) at 30 x 30: ours and the official code's on the
    same batch and weights, eager and compiled; tokens/s and model FLOP utilisation against `peak_tflops`."""
    from arc_trm.model.checkpoint import config_from_official
    from arc_trm.model.cost import step_flops

    rows = []
    for batch_size in batches:
        config = _paper(hidden, heads, batch_size, device)
        flops = step_flops(config_from_official(config, "trm"), batch_size, 916)["train"]
        for compile_ in (False, True):
            row = {"batch": batch_size, "compile": compile_, "gflop_per_step": flops / 1e9}
            for who in ("ours", "official"):
                try:
                    model, ours_step = _ours(config, device, compile_)
                    step = ours_step if who == "ours" else _official(config, device, compile_, model)
                    del model
                    batch = _batch(batch_size, 30, device, official=who == "official")
                    first, seconds = _time(lambda s=step, b=batch: s(b), device)
                    row[who] = {
                        "first_step_s": first,
                        "step_s": seconds,
                        "tokens_per_s": batch_size * 916 / seconds,
                        "mfu": flops / seconds / (peak_tflops * 1e12),
                    }
                except Exception as error:  # the official import, out of memory: recorded, the rest goes on
                    row[who] = {"error": f"{type(error).__name__}: {str(error)[:300]}"}
                if device == "cuda":
                    torch.cuda.empty_cache()
            if "step_s" in row["ours"] and "step_s" in row["official"]:
                row["official_over_ours"] = row["official"]["step_s"] / row["ours"]["step_s"]
            rows.append(row)
    return {"official_source": str(OFFICIAL), "peak_tflops": peak_tflops, "rows": rows}


def canvas_step(device: str, peak_tflops: float, batch_size: int, hidden: int, heads: int, count: int = 12) -> dict:
    """Ours on the per-task canvases of real arc1-eval tasks (the official code pads every one to 30 x 30):
    seconds per example against the 30 x 30 step of the same batch."""
    from arc_trm.core import tasks
    from arc_trm.data import task_encoding
    from arc_trm.model.checkpoint import config_from_official

    chosen = tasks.load("arc1-eval").tasks[:: 400 // count][:count]
    sides = sorted({task_encoding.task_canvas(t) for t in chosen} | {30})
    config = _paper(hidden, heads, batch_size, device)
    rows = {}
    for side in sides:
        _, step = _ours(config, device, False)  # a persistent batch per canvas
        batch = _batch(batch_size, side, device)
        _, seconds = _time(lambda s=step, b=batch: s(b), device, warmup=1, timed=3)
        rows[side] = {"step_s": seconds, "tokens_per_s": batch_size * (side * side + 16) / seconds}
    per_task = [rows[task_encoding.task_canvas(t)]["step_s"] for t in chosen]
    return {
        "tasks": [t.id for t in chosen],
        "batch": batch_size,
        "by_side": rows,
        "speedup_over_30x30": rows[30]["step_s"] / (sum(per_task) / len(per_task)),
        "hidden": config_from_official(config, "trm").hidden_size,
    }


def torchrun_nccl(device: str, out_dir: Path) -> dict:
    """`torchrun --nproc-per-node 1 arc-trm train` for a few steps: the process group (NCCL on a GPU)."""
    run_dir = out_dir / "torchrun"
    command = [
        "torchrun",
        "--standalone",
        "--nproc-per-node",
        "1",
        "--no-python",
        sys.executable,
        "-c",
        "from arc_trm_cli.app import main; main()",
        "train",
        "--recipe",
        "official",
        "--config",
        str(ROOT / "configs" / "debug.yaml"),
        "--out",
        str(run_dir),
        "--fresh",
        "--set",
        "steps=4",
        "--set",
        "eval_every=4",
        "--set",
        f"device={device}",
    ]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    return {
        "returncode": run.returncode,
        "tail": (run.stdout + run.stderr)[-1500:],
        "finished": "finished at step 4" in run.stdout,
    }


def kaggle_steps(device: str, peak_tflops: float, count: int, overrides: tuple[str, ...] = ()) -> dict:
    """The Kaggle config's training and rollout steps on `count` arc2-eval tasks, measured, against what the
    planner predicts from `schedule.measure` (its FLOP rate and overhead fitted on this device)."""
    from arc_trm.core import tasks
    from arc_trm.core.config import load_config
    from arc_trm.data import task_encoding
    from arc_trm.solve import schedule
    from arc_trm.solve.config import SolveConfig
    from arc_trm.solve.task import encode_group
    from arc_trm.ttt import predict
    from arc_trm.ttt import trainer as ttt

    config = load_config(SolveConfig, ROOT / "configs" / "kaggle-4xl4.yaml", [f"device={device}", *overrides])
    cost = schedule.measure(config, torch.device(device))
    rows = []
    for task in tasks.load("arc2-eval").tasks[:count]:
        canvas = task_encoding.task_canvas(task, config.ttt.translate)
        parts = encode_group([task], config, canvas)
        model = ttt.new_model(config.model, len(parts[0].augs), torch.device(device), seed=0)
        trainer = ttt.Trainer(model, config.ttt, config.ttt.max_steps)
        rows_per_step = ttt.batch_size(config.ttt, canvas)
        _, train = _time(lambda t=trainer, p=parts, r=rows_per_step: t.step(task_encoding.sample_joint(p, r)), device)
        versions = len(parts[0].augs)
        start = time.perf_counter()
        predict.rollout(model, parts[0], config.rollout_batch, versions)
        if device == "cuda":
            torch.cuda.synchronize()
        rollout = time.perf_counter() - start
        rows.append(
            {
                "task": task.id,
                "canvas": canvas,
                "batch": rows_per_step,
                "train_step_s": train,
                "predicted_train_step_s": cost.train_step(config.model, canvas, rows_per_step),
                "rollout_s": rollout,
                "predicted_rollout_s": cost.rollout(
                    config.model, canvas, len(parts[0].test_inputs), config.rollout_batch
                ),
            }
        )
    share = cost.flops / (peak_tflops * 1e12)
    return {
        "cost_model": dataclasses.asdict(cost),
        "rows": rows,
        "share_of_peak": share,
        "l4_flops_at_the_same_share": share * schedule.L4_BF16_DENSE,
        "l4_assumed_share": schedule.L4.flops / schedule.L4_BF16_DENSE,
        "l4_assumed_step_overhead": schedule.L4.step_overhead,
        "note": "an L4 at the same share of its dense bf16 peak as this device is an assumption (small kernels "
        "need not scale with the peak); the per-step overhead (launches, Python) is not scaled",
    }


REHEARSAL = (
    "model.hidden_size=64",
    "model.num_heads=2",
    "model.puzzle_emb_dim=64",
    "ttt.versions=8",
    "ttt.batch_size=4",
)  # kaggle_steps' config shrunk to CPU size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--solve-tasks", type=int, default=20)
    parser.add_argument("--solve-seconds", type=float, default=240)
    parser.add_argument("--peak-tflops", type=float, default=790.0, help="the GPU's dense bf16 peak")
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated parts to run")
    parser.add_argument(
        "--rehearse",
        action="store_true",
        help="run the device-independent parts on the CPU at toy sizes (a dress rehearsal)",
    )
    args = parser.parse_args()
    chosen = args.parts.split(",")
    if unknown := set(chosen) - set(PARTS):
        parser.error(f"unknown parts {sorted(unknown)}; known: {', '.join(PARTS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "rehearsal": args.rehearse,
    }
    if args.rehearse:
        chosen = [name for name in chosen if name in REHEARSED]
        sizes = {"hidden": 64, "heads": 2, "batches": (2,), "canvas_batch": 2, "kaggle": (1, REHEARSAL)}
        device = "cpu"
    else:
        sizes = {"hidden": 512, "heads": 8, "batches": (768, 192), "canvas_batch": 768, "kaggle": (20, ())}
        device = "cuda"
    if not torch.cuda.is_available() and not args.rehearse:
        results["error"] = "no CUDA device"
    else:
        results["device"] = torch.cuda.get_device_name() if device == "cuda" else "cpu (rehearsal)"
        arguments = {
            "cuda_tests": (),
            "parity": (),
            "throughput": (args.peak_tflops,),
            "solve_arc2": (args.solve_tasks, args.solve_seconds, args.out),
            "oom_retry": (args.out,),
            "workers": (args.out,),
            "groups": (args.out,),
            "solve_cli": (args.out,),
            "paper_step": (device, args.peak_tflops, sizes["batches"], sizes["hidden"], sizes["heads"]),
            "canvas_step": (device, args.peak_tflops, sizes["canvas_batch"], sizes["hidden"], sizes["heads"]),
            "torchrun_nccl": (device, args.out),
            "kaggle_steps": (device, args.peak_tflops, *sizes["kaggle"]),
        }
        for name in chosen:  # the file is rewritten after each part, so a run cut short keeps what it found
            guarded(name, results, globals()[name], *arguments[name])
            (args.out / "gpu_check.json").write_text(json.dumps(results, indent=1, default=str))
    (args.out / "gpu_check.json").write_text(json.dumps(results, indent=1, default=str))
    print(f"[gpu_check] results in {args.out / 'gpu_check.json'}")


PARTS = (
    "cuda_tests",
    "parity",
    "throughput",
    "solve_arc2",
    "oom_retry",
    "workers",
    "groups",
    "solve_cli",
    "paper_step",
    "canvas_step",
    "torchrun_nccl",
    "kaggle_steps",
)
REHEARSED = ("paper_step", "canvas_step", "torchrun_nccl", "kaggle_steps")  # the parts that also run on a CPU

if __name__ == "__main__":
    main()
