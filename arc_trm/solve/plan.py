"""The whole-run planner: per-task work (augmented versions, training steps) that fits the devices and budget.

    cost = plan.measure(config, torch.device("cuda:0"))      # or plan.L4, plan.from_benchmark(...)
    p = plan.make_plan(taskset, config, devices=4, budget=11.5 * 3600, cost=cost)
    print(p.summary()); p.save("submission.plan.json")
    solve(taskset_in(p.order), out, config, budget_seconds=..., workers=4, plan=p.work)

Cost model: a training step's FLOPs are those of the net's passes over a batch of examples on the task's
canvas (T(n+1) forward passes per supervision step, the last n+1 also backward); a device does them at a
sustained FLOP/s plus a fixed overhead per step. A rollout is N_sup eval steps over every version of every test
input. Every task gets the same number of steps S (at most `ttt.max_steps`); the tasks go to the devices in
turn over `order` (costliest first, as `solve --workers` shards them), and S is the largest number for which
every device's predicted load, each task's overhead and rollout included, fits in the budget less the safety
margin. If even `min_steps` does not fit, the versions are halved, then the costliest tasks are dropped
(steps 0: they keep their fallback). `solve`'s own deadline still bounds the run if the model is wrong.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import math
import multiprocessing
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arc_trm.data import task_encoding
from arc_trm.ttt import trainer as ttt
from arc_trm.solve.budget import format_duration
from arc_trm.model.cost import step_flops
from arc_trm.core.io import write_json
from arc_trm.model import TRMConfig
from arc_trm.solve.config import SolveConfig
from arc_trm.solve.task import SAFETY  # the margin solve puts on a measured rollout
from arc_trm.core.tasks import Task

L4_BF16_DENSE = 121e12  # NVIDIA L4 datasheet: 242 TFLOP/s bf16 tensor with sparsity, half of it dense


@dataclass(frozen=True)
class CostModel:
    """Seconds of the work on one device: `flops` sustained FLOP/s, `step_overhead` seconds per step (kernel
    launches, optimiser, Python), `task_overhead` seconds per task (model build, encoding, measuring)."""

    name: str
    flops: float
    step_overhead: float
    task_overhead: float
    source: str = ""

    def train_step(self, model: TRMConfig, canvas: int, rows: int) -> float:
        return self.step_overhead + rows * train_flops(model, canvas) / self.flops

    def rollout(self, model: TRMConfig, canvas: int, rows: int, batch: int = 256) -> float:
        calls = math.ceil(rows / batch) * model.N_sup
        work = rows * model.N_sup * eval_flops(model, canvas) / self.flops
        return SAFETY * (calls * self.step_overhead + work)


# Assumptions until measured on the card (`measure` at the start of a run replaces them): a quarter of the
# dense bf16 peak on these small matrices, 30 ms of fixed cost per step (T(n+1) passes of eager kernels).
L4 = CostModel("NVIDIA L4 (assumed)", flops=0.25 * L4_BF16_DENSE, step_overhead=0.03, task_overhead=5.0,
               source="datasheet peak 121 TFLOP/s bf16 dense x 0.25 assumed efficiency, 30 ms/step assumed")


def eval_flops(model: TRMConfig, canvas: int) -> float:
    """One example's supervision step forward (a rollout step) on a canvas x canvas grid (arc_trm.model.cost)."""
    return step_flops(model, 1, model.prefix_len + canvas * canvas)["forward"]


def train_flops(model: TRMConfig, canvas: int) -> float:
    """One example's training supervision step on a canvas x canvas grid (arc_trm.model.cost)."""
    return step_flops(model, 1, model.prefix_len + canvas * canvas)["train"]


def from_benchmark(path: str | Path, name: str = "CPU (benchmarks/results/train_step.json)") -> CostModel:
    """A CPU cost model fitted on `benchmarks/train_step.py`'s measured TRM steps (FLOP/s: the median)."""
    rows = [r for r in json.loads(Path(path).read_text())["rows"] if r["arch"] == "trm"]
    rates = sorted(r["batch"] * train_flops(_bench_model(r), r["canvas"]) / r["seconds"] for r in rows)
    return CostModel(name, flops=rates[len(rates) // 2], step_overhead=0.0, task_overhead=1.0,
                     source=f"median of {len(rows)} measured steps in {Path(path).name}")


def _bench_model(row: dict) -> TRMConfig:
    prefix = 16 if row["hidden"] == 512 else 4
    return TRMConfig(hidden_size=row["hidden"], num_heads=max(1, row["hidden"] // 64), puzzle_emb_len=prefix,
                     T=row["T"], n=row["n"], mixer="mlp" if "mlp" in row["config"] else "attention")


def measure(config: SolveConfig, device: Any, canvases: tuple[int, int] = (10, 30), steps: int = 3) -> CostModel:
    """Time real training steps of `config.model` on `device` at two canvases; fit overhead and FLOP/s."""
    import torch

    points = []
    for canvas in canvases:
        model = ttt.new_model(config.model, 8, device, seed=config.seed)
        trainer = ttt.Trainer(model, config.ttt, config.ttt.max_steps)
        rows = ttt.batch_size(config.ttt, canvas)
        batch = {"inputs": torch.randint(2, 12, (rows, canvas * canvas)),
                 "labels": torch.randint(2, 12, (rows, canvas * canvas)),
                 "puzzle_ids": torch.randint(1, 9, (rows,)), "out_shape": torch.full((rows, 2), canvas - 1)}
        for _ in range(3):  # untimed warm-up: allocations, optimiser state
            trainer.step(batch)
        _sync(device)
        start = time.monotonic()
        for _ in range(steps):
            trainer.step(batch)
        _sync(device)
        points.append((rows * train_flops(config.model, canvas), (time.monotonic() - start) / steps))
    (f1, t1), (f2, t2) = points
    rate = (f2 - f1) / (t2 - t1) if t2 > t1 and f2 > f1 else f2 / t2
    overhead = max(0.0, t1 - f1 / rate)
    return CostModel(f"measured on {device}", flops=rate, step_overhead=overhead, task_overhead=2.0 + 10 * t2,
                     source=f"{steps} steps each at canvases {canvases[0]} and {canvases[1]}")


def measure_apart(config: SolveConfig, device: str) -> CostModel:
    """`measure` in a process of its own (spawned), so that the caller never holds the device: no CUDA context
    or cached memory stays behind beside the workers that will use it. The source names that process."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(_measure_here, config, device).result()


def _measure_here(config: SolveConfig, device: str) -> CostModel:
    import torch

    cost = measure(config, torch.device(device))
    return dataclasses.replace(cost, source=f"{cost.source}; in process {os.getpid()}")


def _sync(device: Any) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize(device)


@dataclass(frozen=True)
class TaskWork:
    """What one task gets: augmented versions, training steps (0: not worked on), predicted seconds, device."""

    augmentations: int
    steps: int
    seconds: float
    device: int


@dataclass
class Plan:
    """Per-task work, the order to run the tasks in (device = position mod devices) and the loads it predicts."""

    order: list[str]
    work: dict[str, TaskWork]
    devices: int
    budget: float
    usable: float
    steps: int
    augmentations: int
    cost: CostModel
    canvases: dict[str, int] = field(default_factory=dict)
    tests: dict[str, int] = field(default_factory=dict)  # readable test inputs per task

    def loads(self) -> list[float]:
        """Predicted seconds of work on each device."""
        loads = [0.0] * self.devices
        for w in self.work.values():
            loads[w.device] += w.seconds
        return loads

    @property
    def dropped(self) -> list[str]:
        return [tid for tid in self.order if self.work[tid].steps == 0]

    def summary(self) -> str:
        """A short table: the plan's choice, per-device loads, and the work by canvas size."""
        loads = self.loads()
        lines = [f"plan: {len(self.order)} tasks on {self.devices} device(s) [{self.cost.name}], budget "
                 f"{format_duration(self.budget)}, usable {format_duration(self.usable)}",
                 f"  every task: {self.steps} training steps, up to {self.augmentations} versions; "
                 f"{len(self.dropped)} dropped (fallback)",
                 "  device loads: " + ", ".join(format_duration(x) for x in loads),
                 f"  {'canvas':>8} {'tasks':>6} {'tests':>6} {'seconds per task (mean, max)':>29}"]
        for row in self.by_canvas():
            lines.append(f"  {row['canvas']:>8} {row['tasks']:>6} {row['test_inputs']:>6} "
                         f"{row['mean_seconds']:>21.1f} {row['max_seconds']:>7.1f}")
        return "\n".join(lines)

    def by_canvas(self) -> list[dict]:
        """The planned work by canvas range: tasks, test inputs, mean and max seconds per task."""
        rows = []
        for lo, hi in ((1, 10), (11, 15), (16, 20), (21, 25), (26, 30)):
            ids = [t for t in self.order if lo <= self.canvases.get(t, 0) <= hi]
            if ids:
                seconds = [self.work[t].seconds for t in ids]
                rows.append({"canvas": f"{lo}-{hi}", "tasks": len(ids), "test_inputs": sum(self.tests[t] for t in ids),
                             "mean_seconds": sum(seconds) / len(ids), "max_seconds": max(seconds)})
        return rows

    def to_dict(self) -> dict:
        return {"devices": self.devices, "budget": self.budget, "usable": self.usable, "steps": self.steps,
                "augmentations": self.augmentations, "cost": dataclasses.asdict(self.cost), "order": self.order,
                "loads": self.loads(), "work": {t: dataclasses.asdict(w) | {"canvas": self.canvases.get(t)}
                                                for t, w in self.work.items()}}

    def save(self, path: str | Path) -> Path:
        return write_json(self.to_dict(), path, indent=1)


def default_margin(budget: float) -> float:
    """Seconds of the budget the plan leaves unused: 5% plus a minute (start-up, writing, a slow device)."""
    return 0.05 * budget + 60.0 if budget > 120 else 0.1 * budget


def make_plan(tasks: Iterable[Task], config: SolveConfig, devices: int, budget: float, cost: CostModel,
              margin: float | None = None, min_steps: int = 50) -> Plan:
    """The per-task work for `tasks` under `config` (a SolveConfig) on `devices` devices; see the module doc."""
    if devices < 1:
        raise ValueError(f"devices must be >= 1, got {devices}")
    tasks = list(tasks)
    usable = max(0.0, budget - (default_margin(budget) if margin is None else margin))
    items = sorted((_Item.of(t, config, cost) for t in tasks if t.solvable), key=lambda i: (-i.step, i.task_id))
    k = config.ttt.augmentations
    while True:
        steps = _steps_that_fit(items, k, devices, usable, config.ttt.max_steps)
        if steps >= min(min_steps, config.ttt.max_steps) or not items:
            break
        if k > 1:
            k = max(1, k // 2)
        else:
            items = items[1:]  # drop the costliest task (its fallback stays), then try again
    steps = max(steps, 0)
    order = [i.task_id for i in items] + [t.id for t in tasks if t.id not in {i.task_id for i in items}]
    work = {i.task_id: TaskWork(k, steps, i.seconds(k, steps), n % devices) for n, i in enumerate(items)}
    for n, task_id in enumerate(order[len(items):], start=len(items)):
        work[task_id] = TaskWork(0, 0, 0.0, n % devices)
    return Plan(order, work, devices, budget, usable, steps, k, cost, {i.task_id: i.canvas for i in items},
                {i.task_id: i.tests for i in items})


def _steps_that_fit(items: list[_Item], k: int, devices: int, usable: float, max_steps: int) -> int:
    """The largest S <= max_steps for which every device's load (tasks dealt in turn) is within `usable`."""
    best = max_steps
    for d in range(devices):
        mine = items[d::devices]
        fixed = sum(i.seconds(k, 0) for i in mine)
        per_step = sum(i.step for i in mine)
        if per_step > 0:
            best = min(best, math.floor((usable - fixed) / per_step * (1 - 1e-9)))
        elif fixed > usable:
            best = -1
    return best


@dataclass
class _Item:
    task_id: str
    canvas: int
    step: float  # seconds per training step
    tests: int
    overhead: float
    model: TRMConfig
    cost: CostModel
    batch: int

    @classmethod
    def of(cls, task: Task, config: SolveConfig, cost: CostModel) -> _Item:
        canvas = task_encoding.task_canvas(task, config.ttt.translate)
        rows = ttt.batch_size(config.ttt, canvas)
        tests = sum(g is not None for g in task.test_inputs)
        return cls(task.id, canvas, cost.train_step(config.model, canvas, rows), tests, cost.task_overhead,
                   config.model, cost, config.rollout_batch)

    def seconds(self, k: int, steps: int) -> float:
        return self.overhead + steps * self.step + self.cost.rollout(self.model, self.canvas, k * self.tests,
                                                                    self.batch)


def config_for(config: SolveConfig, plan: Mapping[str, TaskWork] | None, task_ids: Iterable[str]) -> SolveConfig:
    """`config` with the planned versions and steps of these tasks (a group trained together: the most steps,
    the fewest versions); unchanged without a plan or for tasks it does not name."""
    works = [plan[t] for t in task_ids if t in plan] if plan is not None else []
    if not works:
        return config
    return dataclasses.replace(config, ttt=dataclasses.replace(
        config.ttt, augmentations=max(1, min(w.augmentations for w in works)), max_steps=max(w.steps for w in works)))


def seconds_of(plan: Mapping[str, TaskWork] | None) -> dict[str, float] | None:
    """The planned seconds per task (for `BudgetPlanner(costs=...)`), or None without a plan."""
    return None if plan is None else {t: w.seconds for t, w in plan.items()}


def preview(tasks: Iterable[Task], config: SolveConfig, cost: CostModel, budget: float | None = None,
            workers: int = 1) -> list[dict]:
    """What `solve` would give each task, without training it (`solve --dry-run`): canvas, augmented versions,
    seconds (`task_seconds`, or its share of the budget among `workers`), the steps those seconds buy by the
    cost model (at most `max_steps`), and the predicted seconds from the start at which it ends."""
    from arc_trm.data import augment
    from arc_trm.solve.budget import BudgetPlanner

    tasks, c = list(tasks), config.ttt
    planner = BudgetPlanner(tasks, budget, per_task_cap=None if budget is not None else config.task_seconds,
                            translate=c.translate, workers=workers)
    rows, ends = [], [0.0] * workers
    for task in tasks:  # as the run goes: the next task to the first free worker, its share of the time left then
        worker = ends.index(min(ends))
        left = budget - ends[worker] if budget is not None else math.inf
        seconds = planner.slice_for(task.id, left) if task.solvable else 0.0
        planner.done(task.id)
        row = {"task_id": task.id, "canvas": None, "versions": 0, "seconds": seconds, "steps": 0}
        if task.solvable and seconds > 0:
            item = _Item.of(task, config, cost)
            versions = len(augment.plan(task, c.augmentations, config.seed, c.permute_background, c.translate,
                                        c.dihedral))
            steps = math.floor((seconds - item.seconds(versions, 0)) / item.step) if item.step > 0 else 0
            row.update(canvas=item.canvas, versions=versions, steps=max(0, min(c.max_steps, steps)))
        ends[worker] += seconds
        rows.append({**row, "ends_at": ends[worker]})
    return rows
