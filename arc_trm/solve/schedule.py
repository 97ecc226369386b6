"""Every decision about time, in one place: the whole-run plan, each task's live slice, the split of a slice
into training and rollout, and every margin on the way.

    p = schedule.plan_run(taskset, config, devices=4, budget=11.5 * 3600, folder=records, device="cuda:0")
    print(p.summary())                        # also saved as <records>/run/plan.json
    solve(taskset, out, config, budget_seconds=11.5 * 3600, workers=4)   # plans like this itself

How a task's seconds are derived (B: `--time-budget`, counted from the command's start):

step         seconds                                             rule
measuring    at most MEASURE_SHARE x B (10%)                     a train step timed at two canvases on the first
                                                                 device, in a process of its own; past its share it
                                                                 is stopped: no plan, every task an equal share
plan budget  P = what is left of B when the plan is made
plan margin  U = P - `plan_margin(P)`                            5% + 60 s (10% under 2 min): start-up, writing, a
                                                                 slow device
plan         per task: task_overhead + S x train step            `CostModel` (FLOPs of `model.cost` at the device's
             + rollout of k versions                             measured rate); S and k the same for every task,
                                                                 the largest that fit U on every device (`make_plan`)
reserve      R = `end_reserve(W)`, W: what a worker has left     max(5 s, 2% of W): writing the submission
slice        min((left - R) x workers x planned_i / planned      `BudgetPlanner`: time saved early goes to the tasks
             seconds of the tasks pending, left - R)             waiting; no budget: `task_seconds`
start        a slice under `min_task_seconds`: skipped           its fallback kept (`solve.run`)
rollout      v = min(k, min(predict_share x slice,               per version: measured eval step x test rows x N_sup
             slice - SAFETY x step) / per version)               x SAFETY (`rollout_seconds`, `rollout_versions`)
training     steps while now + SAFETY x last step                the first step guessed as TRAIN_STEP_FACTOR x eval
             < slice end - v x per version, at most S            step per row (`step_guess`, `step_fits`)
hard stop    B - STOP_MARGIN                                     the supervisor kills the workers and writes the
                                                                 submission from the saved records

The plan is dealt to the devices in turn over its order (costliest first, as the workers claim them). If even
`min_steps` do not fit, the versions are halved, then the costliest tasks are dropped (0 steps: they keep their
fallback). The live slices and the hard stop still bound the run if the cost model is wrong.
"""

from __future__ import annotations

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

from arc_trm.core.config import to_dict
from arc_trm.core.durations import format_duration
from arc_trm.core.io import write_json
from arc_trm.core.tasks import Task
from arc_trm.data import task_encoding
from arc_trm.model import TRMConfig
from arc_trm.model.cost import step_flops
from arc_trm.solve.config import SolveConfig
from arc_trm.ttt import trainer as ttt

# ---------------------------------------------------------------------------------------------- margins

SAFETY = 1.25  # margin on measured (or modelled) step times: the rollout, the next training step
TRAIN_STEP_FACTOR = 3.0  # a training step per row against an eval step per row (backward, optimiser), roughly
MEASURE_SHARE = 0.1  # the most of a budget that measuring step times may take; past it the run goes unplanned
STOP_MARGIN = 3.0  # seconds before the budget's end at which the supervisor kills the workers and writes the
# submission from the saved records (measured: benchmarks/results/hard_stop.json)


def plan_margin(budget: float) -> float:
    """Seconds of the plan's budget it leaves unused: 5% plus a minute (start-up, writing, a slow device)."""
    return 0.05 * budget + 60.0 if budget > 120 else 0.1 * budget


def end_reserve(budget: float | None) -> float:
    """Seconds the live slices keep back at the end for writing the submission: max(5 s, 2% of the budget);
    0 when unlimited."""
    return 0.0 if budget is None else max(5.0, 0.02 * budget)


# ---------------------------------------------------------------------------------------------- in a task


def rollout_seconds(per_row: float, rows: int, n_sup: int) -> float:
    """Seconds to roll out one version of `rows` test inputs: the measured eval step of one row, N_sup steps."""
    return per_row * rows * n_sup * SAFETY


def step_guess(per_row: float, batch: int, tasks: int) -> float:
    """A training step's seconds before the first one is measured: from the eval step of one row."""
    return per_row * batch * tasks * TRAIN_STEP_FACTOR


def rollout_versions(left: float, per_version: float, step_time: float, predict_share: float, available: int) -> int:
    """How many versions to roll out with `left` seconds: those that fit in `predict_share` of them and leave
    room for one training step, at most `available` (below 1: not even one fits)."""
    return min(available, int(min(predict_share * left, left - step_time * SAFETY) / per_version))


def step_fits(now: float, step_time: float, train_until: float) -> bool:
    """Whether another training step (as long as the longest so far) ends before the rollout must start."""
    return now + step_time * SAFETY < train_until


# ---------------------------------------------------------------------------------------------- cost model

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
L4 = CostModel(
    "NVIDIA L4 (assumed)",
    flops=0.25 * L4_BF16_DENSE,
    step_overhead=0.03,
    task_overhead=5.0,
    source="datasheet peak 121 TFLOP/s bf16 dense x 0.25 assumed efficiency, 30 ms/step assumed",
)


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
    return CostModel(
        name,
        flops=rates[len(rates) // 2],
        step_overhead=0.0,
        task_overhead=1.0,
        source=f"median of {len(rows)} measured steps in {Path(path).name}",
    )


def _bench_model(row: dict) -> TRMConfig:
    prefix = 16 if row["hidden"] == 512 else 4
    return TRMConfig(
        hidden_size=row["hidden"],
        num_heads=max(1, row["hidden"] // 64),
        puzzle_emb_len=prefix,
        T=row["T"],
        n=row["n"],
        mixer="mlp" if "mlp" in row["config"] else "attention",
    )


def measure(config: SolveConfig, device: Any, canvases: tuple[int, int] = (10, 30), steps: int = 3) -> CostModel:
    """Time real training steps of `config.model` on `device` at two canvases; fit overhead and FLOP/s."""
    import torch

    points = []
    for canvas in canvases:
        model = ttt.new_model(config.model, 8, device, seed=config.seed)
        trainer = ttt.Trainer(model, config.ttt, config.ttt.max_steps)
        rows = ttt.batch_size(config.ttt, canvas)
        batch = {
            "inputs": torch.randint(2, 12, (rows, canvas * canvas)),
            "labels": torch.randint(2, 12, (rows, canvas * canvas)),
            "puzzle_ids": torch.randint(1, 9, (rows,)),
            "out_shape": torch.full((rows, 2), canvas - 1),
        }
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
    return CostModel(
        f"measured on {device}",
        flops=rate,
        step_overhead=overhead,
        task_overhead=2.0 + 10 * t2,
        source=f"{steps} steps each at canvases {canvases[0]} and {canvases[1]}",
    )


def measure_apart(config: SolveConfig, device: str, timeout: float | None = None) -> CostModel | None:
    """`measure` in a process of its own (spawned), so that the caller never holds the device: no CUDA context
    or cached memory stays behind beside the workers that will use it. The source names that process. None
    when it takes longer than `timeout` seconds (the process is stopped)."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:  # leaving the block terminates the process, finished or not
        job = pool.apply_async(_measure_here, (config, device))
        try:
            return job.get(timeout)
        except multiprocessing.TimeoutError:
            return None


def _measure_here(config: SolveConfig, device: str) -> CostModel:
    import torch

    cost = measure(config, torch.device(device))
    return dataclasses.replace(cost, source=f"{cost.source}; in process {os.getpid()}")


def _sync(device: Any) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class TaskWork:
    """What one task gets: augmented versions, training steps (0: not worked on), predicted seconds, device."""

    versions: int
    steps: int
    seconds: float
    device: int


@dataclass
class Plan:
    """Per-task work, the order to run the tasks in (device = position mod devices) and the loads it predicts;
    `config` is the planned config (`to_dict`), which a resumed run must match to keep the plan."""

    order: list[str]
    work: dict[str, TaskWork]
    devices: int
    budget: float
    usable: float
    steps: int
    versions: int
    cost: CostModel
    canvases: dict[str, int] = field(default_factory=dict)
    tests: dict[str, int] = field(default_factory=dict)  # readable test inputs per task
    config: dict[str, Any] = field(default_factory=dict)

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
        lines = [
            (
                f"plan: {len(self.order)} tasks on {self.devices} device(s) [{self.cost.name}], budget "
                f"{format_duration(self.budget)}, usable {format_duration(self.usable)}"
            ),
            (
                f"  every task: {self.steps} training steps, up to {self.versions} versions; "
                f"{len(self.dropped)} dropped (fallback)"
            ),
            "  device loads: " + ", ".join(format_duration(x) for x in loads),
            f"  {'canvas':>8} {'tasks':>6} {'tests':>6} {'seconds per task (mean, max)':>29}",
        ]
        for row in self.by_canvas():
            lines.append(
                f"  {row['canvas']:>8} {row['tasks']:>6} {row['test_inputs']:>6} "
                f"{row['mean_seconds']:>21.1f} {row['max_seconds']:>7.1f}"
            )
        return "\n".join(lines)

    def by_canvas(self) -> list[dict]:
        """The planned work by canvas range: tasks, test inputs, mean and max seconds per task."""
        rows = []
        for lo, hi in ((1, 10), (11, 15), (16, 20), (21, 25), (26, 30)):
            ids = [t for t in self.order if lo <= self.canvases.get(t, 0) <= hi]
            if ids:
                seconds = [self.work[t].seconds for t in ids]
                rows.append(
                    {
                        "canvas": f"{lo}-{hi}",
                        "tasks": len(ids),
                        "test_inputs": sum(self.tests[t] for t in ids),
                        "mean_seconds": sum(seconds) / len(ids),
                        "max_seconds": max(seconds),
                    }
                )
        return rows

    def to_dict(self) -> dict:
        return {
            "devices": self.devices,
            "budget": self.budget,
            "usable": self.usable,
            "steps": self.steps,
            "versions": self.versions,
            "cost": dataclasses.asdict(self.cost),
            "order": self.order,
            "loads": self.loads(),
            "config": self.config,
            "work": {
                t: dataclasses.asdict(w) | {"canvas": self.canvases.get(t), "tests": self.tests.get(t)}
                for t, w in self.work.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict) -> Plan:
        work = {t: TaskWork(w["versions"], w["steps"], w["seconds"], w["device"]) for t, w in data["work"].items()}
        named = {t: w for t, w in data["work"].items() if w.get("canvas") is not None}
        return cls(
            data["order"],
            work,
            data["devices"],
            data["budget"],
            data["usable"],
            data["steps"],
            data["versions"],
            CostModel(**data["cost"]),
            {t: w["canvas"] for t, w in named.items()},
            {t: w["tests"] for t, w in named.items()},
            data.get("config", {}),
        )

    def save(self, path: str | Path) -> Path:
        return write_json(self.to_dict(), path, indent=1)


def make_plan(
    tasks: Iterable[Task],
    config: SolveConfig,
    devices: int,
    budget: float,
    cost: CostModel,
    margin: float | None = None,
    min_steps: int = 50,
) -> Plan:
    """The per-task work for `tasks` under `config` on `devices` devices within `budget` seconds less `margin`
    (default `plan_margin(budget)`); see the module doc."""
    if devices < 1:
        raise ValueError(f"devices must be >= 1, got {devices}")
    tasks = list(tasks)
    usable = max(0.0, budget - (plan_margin(budget) if margin is None else margin))
    items = sorted((_Item.of(t, config, cost) for t in tasks if t.solvable), key=lambda i: (-i.step, i.task_id))
    k = config.ttt.versions
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
    for n, task_id in enumerate(order[len(items) :], start=len(items)):
        work[task_id] = TaskWork(0, 0, 0.0, n % devices)
    return Plan(
        order,
        work,
        devices,
        budget,
        usable,
        steps,
        k,
        cost,
        {i.task_id: i.canvas for i in items},
        {i.task_id: i.tests for i in items},
        to_dict(config),
    )


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
        return cls(
            task.id,
            canvas,
            cost.train_step(config.model, canvas, rows),
            tests,
            cost.task_overhead,
            config.model,
            cost,
            config.rollout_batch,
        )

    def seconds(self, k: int, steps: int) -> float:
        return (
            self.overhead + steps * self.step + self.cost.rollout(self.model, self.canvas, k * self.tests, self.batch)
        )


PLAN_FILE = Path("run") / "plan.json"  # inside the run's records folder


def plan_run(
    tasks: Iterable[Task],
    config: SolveConfig,
    devices: int,
    budget: float,
    folder: str | Path,
    device: str,
    cost: CostModel | None = None,
    reuse: bool = True,
) -> tuple[Plan | None, bool]:
    """The run's plan, saved as `folder`/run/plan.json, and whether it was kept from there: with `reuse`, the
    plan saved for the same tasks, config and devices (a resumed run keeps its plan, so that its records,
    asked for the planned config, stay done); else `make_plan` within `budget` with `cost` (default: measured
    on `device` in a process of its own, so that this one never holds a GPU the workers need). None when the
    measuring takes more than MEASURE_SHARE of `budget` (a budget too short to plan: equal shares)."""
    tasks, path = list(tasks), Path(folder) / PLAN_FILE
    if reuse and path.is_file():
        try:
            saved = Plan.from_dict(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError):  # unreadable: planned afresh and overwritten
            saved = None
        if (
            saved is not None
            and saved.config == to_dict(config)
            and saved.devices == devices
            and sorted(saved.order) == sorted(t.id for t in tasks)
        ):
            return saved, True
    cost = cost or measure_apart(config, device, timeout=MEASURE_SHARE * budget)
    if cost is None:
        return None, False
    plan = make_plan(tasks, config, devices, budget, cost)
    plan.save(path)
    return plan, False


def config_for(config: SolveConfig, plan: Mapping[str, TaskWork] | None, task_ids: Iterable[str]) -> SolveConfig:
    """`config` with the planned versions and steps of these tasks (a group trained together: the most steps,
    the fewest versions); unchanged without a plan or for tasks it does not name."""
    works = [plan[t] for t in task_ids if t in plan] if plan is not None else []
    if not works:
        return config
    return dataclasses.replace(
        config,
        ttt=dataclasses.replace(
            config.ttt, versions=max(1, min(w.versions for w in works)), max_steps=max(w.steps for w in works)
        ),
    )


# ---------------------------------------------------------------------------------------------- live slices


def task_costs(tasks: Iterable[Task], plan: Mapping[str, TaskWork] | None) -> dict[str, float]:
    """Each task's weight in dividing the time: its planned seconds; without a plan (no budget: each task gets
    `task_seconds`) 1 for a task with work to do, 0 for one without. ValueError for a task the plan lacks."""
    tasks = list(tasks)
    if plan is None:
        return {task.id: float(task.solvable) for task in tasks}
    missing = [task.id for task in tasks if task.id not in plan]
    if missing:
        raise ValueError(f"the plan names no work for task(s) {', '.join(missing[:5])}")
    return {task.id: plan[task.id].seconds for task in tasks}


class BudgetPlanner:
    """Divides the remaining time over the tasks not yet done, in proportion to their cost (`task_costs`).

    `budget` is the run's seconds (None: unlimited), `reserve` the seconds kept back at the end (default
    `end_reserve(budget)`), `per_task_cap` the most seconds any one task may use (None: no cap). `workers`
    processes share the tasks (a shared queue), so the time left is theirs together. Task ids must be unique.

    If every task uses at most the slice it was given when it started, the run ends before budget - reserve:
    each slice is that task's share of what remains, so what remains always covers the other tasks' shares.
    """

    def __init__(
        self,
        costs: Mapping[str, float],
        budget: float | None,
        reserve: float | None = None,
        per_task_cap: float | None = None,
        workers: int = 1,
    ) -> None:
        self.costs = dict(costs)
        self.budget = budget
        self.reserve = end_reserve(budget) if reserve is None else reserve
        self.per_task_cap = per_task_cap
        self.finished: set[str] = set()
        self.workers = workers

    @property
    def pending(self) -> list[str]:
        """Ids of the tasks not yet done, in plan order."""
        return [task_id for task_id in self.costs if task_id not in self.finished]

    def done(self, task_id: str) -> None:
        """Mark a task finished (solved, skipped or failed): its share goes to the others."""
        self._cost(task_id)
        self.finished.add(task_id)

    def slice_for(self, task_id: str, remaining_seconds: float) -> float:
        """Seconds this task may use now: its cost share among the tasks not yet done (itself included) of
        `remaining_seconds` minus the reserve, at most the per-task cap. Unlimited budget: the cap, or inf.
        A task with nothing to work on (cost 0) gets 0."""
        cost = self._cost(task_id)
        cap = math.inf if self.per_task_cap is None else self.per_task_cap
        if cost <= 0:
            return 0.0
        if self.budget is None or math.isinf(remaining_seconds):
            return cap
        waiting = math.fsum(self.costs[t] for t in self.pending if t != task_id) + cost
        usable = max(0.0, remaining_seconds - self.reserve)
        return min(usable * self.workers * cost / waiting, usable, cap)

    def can_start(self, task_id: str, remaining_seconds: float, min_seconds: float) -> bool:
        """Whether the task's slice now covers `min_seconds`, the least work worth starting on it."""
        return self.slice_for(task_id, remaining_seconds) >= min_seconds

    def _cost(self, task_id: str) -> float:
        try:
            return self.costs[task_id]
        except KeyError:
            raise KeyError(f"task {task_id!r} is not in this plan") from None

    def __repr__(self) -> str:
        budget = "unlimited" if self.budget is None else format_duration(self.budget)
        return f"<BudgetPlanner {len(self.pending)}/{len(self.costs)} pending | {budget} budget>"


# ---------------------------------------------------------------------------------------------- preview


def preview(
    tasks: Iterable[Task], config: SolveConfig, cost: CostModel, budget: float | None = None, workers: int = 1
) -> list[dict]:
    """What `solve` would give each task, without training it (`solve --dry-run`), in the order it would run
    them: canvas, augmented versions, seconds, steps, and the predicted seconds from the start at which it
    ends. With a budget: the whole-run plan (`make_plan`, as `solve` makes it). Without: `task_seconds` per
    task and the steps those buy by the cost model (at most `max_steps`), the tasks going to the first free
    worker."""
    from arc_trm.data import augment

    tasks, c = list(tasks), config.ttt
    plan = make_plan(tasks, config, workers, budget, cost) if budget is not None else None
    if plan is not None:
        tasks = sorted(tasks, key=lambda t: plan.order.index(t.id))
    rows, ends = [], [0.0] * workers
    for task in tasks:
        worker = plan.work[task.id].device if plan is not None else ends.index(min(ends))
        seconds = (plan.work[task.id].seconds if plan is not None else config.task_seconds) if task.solvable else 0.0
        row = {"task_id": task.id, "canvas": None, "versions": 0, "seconds": seconds, "steps": 0}
        if task.solvable and seconds > 0:
            item = _Item.of(task, config, cost)
            k = plan.work[task.id].versions if plan is not None else c.versions
            versions = len(augment.versions(task, k, config.seed, c.permute_background, c.translate, c.dihedral))
            steps = (
                plan.work[task.id].steps
                if plan is not None
                else math.floor((seconds - item.seconds(versions, 0)) / item.step)
                if item.step > 0
                else 0
            )
            row.update(canvas=item.canvas, versions=versions, steps=max(0, min(c.max_steps, steps)))
        ends[worker] += seconds
        rows.append({**row, "ends_at": ends[worker]})
    return rows
