"""Pretraining the solve model (a prior): one TRM trained jointly on many tasks, each on its own canvas.

    config = load_config(PriorConfig, "configs/prior.yaml")
    summary = train_prior(config, "runs/prior")          # resumable: the same call goes on where it stopped
    ship("runs/prior", "arc_trm/assets/prior/prior.pt")   # best.pt, small, with its provenance JSON beside it

The official recipe (`arc_trm.train.pretrain`) pads every example to 30 x 30; a CPU then spends most of its time on pad
cells. Here the tasks are encoded exactly as `solve` encodes them (`task_encoding.task_data`: the canvas rule,
the versions of `augment.versions`, grid_coords and output_coords with the demonstrations' size rule), grouped by
canvas side, and each step trains on one canvas's batch: a canvas is drawn in proportion to its cells, so every
example is seen equally often. Each canvas keeps its own persistent ACT batch (`Trainer.carry`), as the official
loop keeps one.

Never trained on: any task whose id or demonstrations are in `data.exclude` (the scoreboard's splits). The test
pairs of `data.eval_tasks` tasks (drawn once from the pretraining tasks) are held out and scored by pass@2 at each
evaluation (their demonstrations are trained on, as in the official evaluation); `checkpoints/best.pt` is the EMA
weights of the best evaluation so far (by pass@2, then by the share of right cells of attempt 1; the later one on
a tie), not the last step's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from arc_trm.core import tasks
from arc_trm.core.config import load_config, to_dict
from arc_trm.core.events import Evaluated, Listener, Logged, Resumed, TrainDone, TrainStarted, ignore
from arc_trm.data import augment, generate, task_encoding
from arc_trm.data.task_encoding import TaskData
from arc_trm.model import TRM, Carry, TRMConfig, checkpoint
from arc_trm.train.run import Metrics, Ranks, answer, load_resume, read_metrics, save_resume, score, start
from arc_trm.ttt.trainer import Trainer, TTTConfig, batch_size, from_pretrained, new_model

MEASURED_SPLITS = ("arc1-eval", "arc2-eval", "concept")  # what the scoreboard measures on: never trained on


@dataclass
class PriorData:
    """Which tasks a prior learns from and which test pairs it is judged on."""

    subsets: list[str] = field(default_factory=lambda: ["arc1-train", "arc2-train"])
    exclude: list[str] = field(default_factory=lambda: list(MEASURED_SPLITS))  # never trained on (id or content)
    max_canvas: int = 30  # tasks on bigger canvases are left out (0 or 30: none)
    max_tasks: int = 0  # > 0: the first N tasks only (quick runs, tests)
    generated: int = 0  # tasks of each family of arc_trm.data.generate added (never held out)
    eval_tasks: int = 48  # tasks whose test pairs are held out and scored at each evaluation
    eval_versions: int = 8  # versions voted over at each evaluation


@dataclass
class PriorConfig:
    """A prior's pretraining run (YAML: configs/prior.yaml). `ttt` holds the versions, batches and optimisers
    exactly as test-time training reads them; the model is the solve model."""

    recipe: str = "task-canvas"  # a label (`arc-trm train --recipe prior` picks this program)
    model: TRMConfig = field(default_factory=TRMConfig)
    data: PriorData = field(default_factory=PriorData)
    ttt: TTTConfig = field(default_factory=TTTConfig)
    init: str | None = None  # start from this checkpoint's network (`checkpoint.locate`: "prior", the shipped one)
    steps: int = 1000
    eval_every: int = 1000
    save_every: int = 500
    log_every: int = 100
    seed: int = 0


FREE_ON_RESUME = ("steps", "eval_every", "save_every", "log_every")  # what a resumed run may change


# ------------------------------------------------------------------------------------------------- data


def _digest(task: tasks.Task) -> str:
    h = hashlib.sha256()
    for a, b in task.train:
        h.update(a.tobytes() + bytes(a.shape) + b.tobytes() + bytes(b.shape))
    return h.hexdigest()


def pretraining_tasks(config: PriorData) -> list[tasks.Task]:
    """The subsets' tasks in order, each once, without any task of `exclude` (by id or by demonstrations) or
    above `max_canvas`; ValueError when an excluded split cannot be read (the guarantee would be unchecked)."""
    excluded_ids, excluded_content = set(), set()
    for name in config.exclude:
        for task in tasks.load(name):
            excluded_ids.add(task.id)
            excluded_content.add(_digest(task))
    kept, seen = [], set()
    for name in config.subsets:
        for task in tasks.load(name):
            if task.id in seen or task.id in excluded_ids or not task.solvable or _digest(task) in excluded_content:
                continue
            if config.max_canvas and task_encoding.task_canvas(task) > config.max_canvas:
                continue
            seen.add(task.id)
            kept.append(task)
    kept = kept[: config.max_tasks] if config.max_tasks > 0 else kept
    return kept + [t for t in generate.generate(config.generated) if _digest(t) not in excluded_content]


def _trained_on(task: tasks.Task) -> tasks.Task:
    """The task with its known test pairs added to the demonstrations (a pretraining task not held out)."""
    outputs = task.test_outputs or []
    extra = [(a, b) for a, b in zip(task.test_inputs, outputs) if a is not None and b is not None]
    return dataclasses.replace(task, train=list(task.train) + extra)


@dataclass
class Canvas:
    """The examples of every task on one canvas side, side by side (puzzle ids global)."""

    side: int
    inputs: np.ndarray
    labels: np.ndarray
    puzzle_ids: np.ndarray
    out_shapes: np.ndarray

    def sample(self, rng: np.random.Generator, rows: int) -> dict[str, torch.Tensor]:
        picked = rng.choice(len(self.inputs), size=rows, replace=len(self.inputs) < rows)
        return {
            "inputs": torch.from_numpy(self.inputs[picked].astype(np.int64)),
            "labels": torch.from_numpy(self.labels[picked].astype(np.int64)),
            "puzzle_ids": torch.from_numpy(self.puzzle_ids[picked]),
            "out_shape": torch.from_numpy(self.out_shapes[picked]),
        }


def encode_all(all_tasks: list[tasks.Task], config: PriorConfig) -> tuple[dict[int, Canvas], list[TaskData], int]:
    """(canvases by side, the held-out tasks' data, puzzle rows used). The first `eval_tasks` of a seeded
    shuffle of the real tasks keep their test pairs out; every other task also trains on its test pairs."""
    c = config.ttt
    real = [t for t in all_tasks if not t.id.startswith(generate.PREFIX)]
    order = np.random.default_rng(config.seed).permutation(len(real))
    held = {real[i].id for i in order[: config.data.eval_tasks] if real[i].test_outputs}
    parts: dict[int, list[TaskData]] = {}  # canvas side -> the data of the tasks on it
    held_out, first_id = [], 1
    for task in all_tasks:
        augs = augment.versions(task, c.versions, config.seed, c.permute_background, c.translate, c.dihedral)
        trained = task if task.id in held else _trained_on(task)
        canvas = task_encoding.task_canvas(trained, c.translate)
        part = task_encoding.task_data(trained, augs, canvas, config.seed, first_id)
        parts.setdefault(canvas, []).append(part)
        if task.id in held:
            held_out.append(part)
        first_id += len(augs)
    canvases = {
        side: Canvas(
            side,
            *(
                np.concatenate([getattr(p, key) for p in ps])
                for key in ("inputs", "labels", "puzzle_ids", "out_shapes")
            ),
        )
        for side, ps in sorted(parts.items())
    }
    return canvases, held_out, first_id


# ------------------------------------------------------------------------------------------ evaluation


def _right_cells(answer: np.ndarray, truth: np.ndarray) -> float:
    """The share of `truth`'s cells that `answer` has right; 0 for a wrong shape."""
    return float((answer == truth).mean()) if answer.shape == truth.shape else 0.0


def copy_cell_accuracy(held: list[tasks.Task]) -> float:
    """The share of right cells when every held-out answer is its test input (0 for a wrong shape): the floor
    that the evaluations' `cell_accuracy` must rise above to show anything learnt."""
    cells = [
        _right_cells(a, b)
        for task in held
        for a, b in zip(task.test_inputs, task.test_outputs or [])
        if a is not None and b is not None
    ]
    return float(np.mean(cells)) if cells else 0.0


def score_held_out(model: TRM, held_out: list[TaskData], truths: dict[str, list], versions: int) -> dict[str, float]:
    """pass@1 and pass@2 (macro over tasks) of the model as it is on the held-out test pairs, and the share of
    right cells of attempt 1 (0 for a wrong shape), which still ranks checkpoints that solve nothing."""
    answers, cells = {}, []
    for part in held_out:
        answers[part.task_id] = answer(model, part, [np.zeros((1, 1), np.uint8)] * part.num_tests, versions=versions)
        cells += [
            _right_cells(a["attempt_1"], t)
            for a, t in zip(answers[part.task_id], truths[part.task_id])
            if t is not None
        ]
    scores = score(answers, {k: truths[k] for k in answers})
    return {**scores, "cell_accuracy": float(np.mean(cells)) if cells else 0.0}


# ------------------------------------------------------------------------------------------------ the run


def initial_model(config: PriorConfig, versions: int) -> TRM:
    """Random weights, or with `init` that checkpoint's network, every version's puzzle row at the mean of its
    trained rows (as `solve` starts a task; a continued run's optimisers start afresh). A checkpoint whose model
    is not the config's is a CheckpointError naming it."""
    if not config.init:
        return new_model(config.model, versions, torch.device("cpu"), config.seed)
    base = checkpoint.load_for_solve(config.init)
    differ = [
        f.name
        for f in dataclasses.fields(TRMConfig)
        if f.name != "num_puzzle_ids" and getattr(base.config, f.name) != getattr(config.model, f.name)
    ]
    if differ:
        raise checkpoint.CheckpointError(
            f"{checkpoint.locate(config.init)}: its model differs from the config's in {', '.join(differ)}"
        )
    torch.manual_seed(config.seed)  # as new_model: the run's draws (ACT's exploration) start from the seed
    return from_pretrained(base, versions, torch.device("cpu"))


def train_prior(
    config: PriorConfig, out: str | Path, emit: Listener | None = None, stop_at: int | None = None, fresh: bool = False
) -> dict[str, Any]:
    """Run (or resume) the prior's pretraining in `out` (one process, on the CPU; the folder as
    `arc_trm.train.run` keeps it); returns the last train and eval records. `stop_at` ends it after that step
    (state saved); `fresh` discards the saved state and metrics (checkpoints stay, overwritten as the new run
    writes its own)."""
    out, emit, ranks = Path(out), emit or ignore, Ranks(0, 1, torch.device("cpu"), False)
    start(out, ranks, config, FREE_ON_RESUME, fresh)
    all_tasks = pretraining_tasks(config.data)
    canvases, held_out, rows = encode_all(all_tasks, config)
    truths = {t.id: list(t.test_outputs) for t in all_tasks if t.test_outputs}
    model = initial_model(config, rows - 1)
    trainer = Trainer(model, config.ttt, config.steps)
    sides = np.array(sorted(canvases))
    weights = np.array([len(canvases[s].inputs) * s * s for s in sides], float)
    rng, carries, best = np.random.default_rng(config.seed), {}, {}
    if resumed := load_resume(out, ranks, trainer):
        shared, own = resumed
        rng.bit_generator.state = shared["rng"]
        carries, best = {side: Carry(**state) for side, state in own["carries"].items()}, shared["best"]
    log = Metrics(out)
    held_ids = {part.task_id for part in held_out}
    copy = copy_cell_accuracy([t for t in all_tasks if t.id in held_ids])
    emit(
        TrainStarted(
            "task-canvas",
            "cpu",
            {
                "tasks": len(all_tasks),
                "versions": rows - 1,
                "held_out": len(held_out),
                "copy_cell_accuracy": copy,
                "examples": {int(s): len(canvases[s].inputs) for s in sides},
            },
        )
    )
    if resumed:
        emit(Resumed(trainer.steps))
    end = config.steps if stop_at is None else min(config.steps, stop_at)
    sums, count, began, record = np.zeros(3), 0, time.perf_counter(), {}
    scores: dict[str, float] = {}
    while trainer.steps < end:
        side = int(rng.choice(sides, p=weights / weights.sum()))
        trainer.carry = carries.get(side)
        metrics = trainer.step(canvases[side].sample(rng, batch_size(config.ttt, side)))
        assert trainer.carry is not None  # the step has set it
        carries[side] = trainer.carry
        sums, count, step = sums + [metrics["loss"], metrics["accuracy"], metrics["exact"]], count + 1, trainer.steps
        if step % config.log_every == 0 or step == config.steps:  # the mean of the steps since the last line
            record = {
                "kind": "train",
                "step": step,
                "loss": sums[0] / count,
                "accuracy": sums[1] / count,
                "exact": sums[2] / count,
                "step_seconds": (time.perf_counter() - began) / count,
                "time": time.time(),
            }
            log.write(record)
            emit(Logged(record))
            sums, count, began = np.zeros(3), 0, time.perf_counter()
        if step % config.eval_every == 0 or step == config.steps:
            scores, best = _evaluate_and_keep(config, out, trainer, held_out, truths, best, log, emit)
        if step % config.save_every == 0 or step % config.eval_every == 0 or step == end:
            trainer.carry = None  # each canvas's persistent batch is in `carries`
            save_resume(
                out,
                ranks,
                trainer,
                {"rng": rng.bit_generator.state, "best": best},  # plain dicts
                {"carries": {side: dataclasses.asdict(carry) for side, carry in carries.items()}},
            )
    emit(TrainDone(trainer.steps, trainer.steps >= config.steps))
    return {"steps": trainer.steps, "train": record, "eval": scores, "best": best}


def _evaluate_and_keep(
    config: PriorConfig,
    out: Path,
    trainer: Trainer,
    held_out: list[TaskData],
    truths: dict,
    best: dict,
    log: Metrics,
    emit: Listener,
) -> tuple[dict, dict]:
    """Score the EMA weights, save their checkpoint, and make it best.pt when it scores at least as well."""
    model, step, began = trainer.model, trainer.steps, time.perf_counter()
    with trainer.ema.swapped_in(model) if trainer.ema else nullcontext():
        scores = score_held_out(model, held_out, truths, config.data.eval_versions)
        provenance = {"run": str(out), "step": step, "held_out": scores}
        path = checkpoint.save_checkpoint(out / "checkpoints" / f"step_{step}.pt", model, provenance)
    record = {"kind": "eval", "step": step, **scores, "eval_seconds": time.perf_counter() - began, "time": time.time()}
    if not best or _rank(scores) >= _rank(best):
        best = {"step": step, "pass@2": scores["pass@2"], "cell_accuracy": scores["cell_accuracy"], "path": str(path)}
        for suffix in (".pt", ".json"):
            (out / "checkpoints" / f"best{suffix}").write_bytes(path.with_suffix(suffix).read_bytes())
    record["best_step"] = best["step"]
    log.write(record)
    emit(Evaluated(record, str(path)))
    return scores, best


def _rank(scores: dict) -> tuple[float, float]:
    """How evaluations compare: pass@2, then the share of right cells (a best saved before it counts 0)."""
    return scores["pass@2"], scores.get("cell_accuracy", 0.0)


# ----------------------------------------------------------------------------------------------- export


def export_prior(source: str | Path, dest: str | Path, provenance: dict[str, Any] | None = None) -> Path:
    """The shippable prior of a pretraining checkpoint: its network weights and the mean of its trained puzzle
    rows only (a two-row table: the blank row and the mean; `ttt.from_pretrained` starts every version there)."""
    base = checkpoint.load_any(source)
    small = from_pretrained(base, 1, torch.device("cpu"))
    return checkpoint.save_checkpoint(dest, small, provenance)


PAUSED = 5.0  # a log window whose steps took this many times the median step: the process was paused (SIGSTOP)


def training_seconds(train: list[dict]) -> tuple[float, int]:
    """The machine time of a run's train records (each: the mean step time since the line before), and how many
    windows were paused: those count at the median step time, as the wall clock also ran while stopped."""
    median = float(np.median([r["step_seconds"] for r in train])) if train else 0.0
    previous, seconds, paused = 0, 0.0, 0
    for record in train:
        step_seconds = record["step_seconds"]
        if step_seconds > PAUSED * median:
            step_seconds, paused = median, paused + 1
        seconds += step_seconds * (record["step"] - previous)
        previous = record["step"]
    return seconds, paused


def init_provenance(init: str | None) -> dict[str, Any] | None:
    """What a continued run started from: the checkpoint's name and, for a prior, its steps and machine time (an
    official checkpoint has no metadata file beside it: its name only)."""
    if not init:
        return None
    path = checkpoint.meta_path(checkpoint.locate(init))
    meta = (json.loads(path.read_text()).get("provenance") or {}) if path.is_file() else {}
    return {"checkpoint": init, **{k: meta[k] for k in ("best_step", "steps_run", "training_seconds") if k in meta}}


def ship(run: str | Path, dest: str | Path) -> Path:
    """`export_prior` of a run's best.pt, with its provenance: the data (splits, exclusions, tasks), the steps
    and the machine time, the held-out scores of every evaluation and the config."""
    run = Path(run)
    config = load_config(PriorConfig, run / "config.yaml")
    records = read_metrics(run)
    train, evals = [r for r in records if r["kind"] == "train"], [r for r in records if r["kind"] == "eval"]
    best = json.loads(checkpoint.meta_path(run / "checkpoints" / "best.pt").read_text())["provenance"]
    seconds, paused = training_seconds(train)
    provenance = {
        "data": {
            "subsets": config.data.subsets,
            "excluded": config.data.exclude,
            "generated_per_family": config.data.generated,
            "tasks": len(pretraining_tasks(config.data)),
            "versions_per_task": config.ttt.versions,
            "held_out_tasks": config.data.eval_tasks,
        },
        "init": init_provenance(config.init),
        "best_step": best["step"],
        "held_out_at_best": best["held_out"],
        "steps_run": train[-1]["step"],
        "training_seconds": round(seconds),
        "paused_log_windows": paused,
        "machine": "one CPU thread (this project's 2-core AMD EPYC)",
        "evaluations": [{k: r[k] for k in ("step", "pass@2", "cell_accuracy") if k in r} for r in evals],
        "config": to_dict(config),
    }
    return export_prior(run / "checkpoints" / "best.pt", dest, provenance)
