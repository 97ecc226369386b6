"""Reproduce: evaluate a pretrained TRM checkpoint on its held-out test pairs exactly as the official code does.

    run = reproduce("arc_v1_public/step_518071", "arc1", "runs/reproduce-arc1")   # ARC Prize verification run
    run.pass_at[2]                                                              # the official ARC/pass@2

The official evaluation (TRM_SPEC 5: `pretrain.evaluate` and `evaluators/arc.py`), step by step:
1. The data build is redone (`read_build`: the paper's arc1 or arc2, or the official builder's settings in a
   YAML file) and checked against the checkpoint: one puzzle-embedding row per version, plus the blank id 0
   (`check_identifiers`). A build with other subsets, seed or augmentation count gives other ids, and the
   official loader would then silently reset every row to their mean; here it is an error.
2. Every held-out test input in every version, at the canvas origin and in the build's order, runs for N_sup
   supervision steps in eval mode, in batches of the run's global batch size with the last one padded by blank
   rows (`predict_rows`). The model computes in the checkpoint's own `forward_dtype` (bfloat16: the official
   casts, on any device).
3. Each prediction is cropped (the official crop; an empty crop stays a candidate: the empty grid), mapped back
   to the task's frame and voted with the official rule (`vote.vote`: most votes, then the highest mean
   sigmoid(q_halt), then first seen) over every row whose test input is that same grid.
4. pass@K for K = 1, 2, 5, 10, 100, 1000: a test output counts when it is among the top K grids; a task scores
   the share of its test outputs; the score is the mean over the tasks evaluated. The submission holds the top
   two (the first twice when there is one).

One known difference: the official evaluator sums the confidences of a grid's votes in row order, `vote` sums
them exactly rounded (`math.fsum`); the two means differ at most in the last bit, which could only reorder two
grids with the same votes and confidences equal to 1e-16.

The run folder: submission.json, scores.json (pass@K under the official names, macro and micro with 95%
intervals, timings), rows.npz (per row: puzzle id, task, test input, prediction, q-halt and q-continue logits),
identifiers.json (the rebuilt official names), tasks.json, the per-task records and report.html, so that
`arc-trm report RUN` rebuilds the page (an empty grid, which a page cannot draw, is left out of the records and
the page; submission.json and scores.json keep it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from arc_trm.core import devices, tasks
from arc_trm.core.config import from_dict
from arc_trm.core.io import write_json, write_text
from arc_trm.core.submission import fallback_grid
from arc_trm.data.dataset import DataConfig, Group, PretrainData, read_build
from arc_trm.data.encoding import decode
from arc_trm.eval import report, scoring
from arc_trm.model import TRM, checkpoint
from arc_trm.solve.records import RecordStore, Status, make_record, records_dir
from arc_trm.ttt.predict import supervise
from arc_trm.ttt.vote import Candidate, Ranked, vote

PASS_KS = (1, 2, 5, 10, 100, 1000)  # the official evaluator's pass_Ks
SUBMISSION_K = 2
SAVED_CANDIDATES = 5  # per test input, in the records and the report
DEFAULT_BATCH = 256  # rows per batch for a checkpoint that does not name its run's global batch size
EMPTY = np.zeros((0, 0), np.uint8)  # the official crop of a prediction with no colour at its top-left


class ReproduceError(ValueError):
    """Bad input to `reproduce`: the message names the file and what is wrong."""


# ---------------------------------------------------------------------------------------------- inputs


@dataclass
class Checkpoint:
    """A model to evaluate and what its file says about the run."""

    model: TRM
    path: Path
    kind: str  # "official" (a step file with its run's all_config.yaml) or "arc-trm"
    batch: int  # the run's global batch size: the official evaluation's rows per batch
    identifiers: Path | None  # an identifiers.json of the run, where there is one
    data: DataConfig | None = None  # ours: the data its run trained on (the run folder's config.yaml)


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Our checkpoint (its JSON beside it) or an official step file with the run's all_config.yaml beside it;
    architecture, n, T, N_sup and forward dtype come from the file. Any problem is one ReproduceError."""
    path = Path(path)
    try:
        if checkpoint.meta_path(path).is_file():
            model, _ = checkpoint.load_checkpoint(path)
            run = path.parent.parent  # a train run folder: checkpoints/step_N.pt
            data = _run_data(run / "config.yaml") if (run / "config.yaml").is_file() else None
            return Checkpoint(model, path, "arc-trm", DEFAULT_BATCH, _existing(run / "identifiers.json"), data)
        if not path.is_file():
            raise ReproduceError(f"{path}: no such checkpoint file")
        config = path.parent / "all_config.yaml"
        if not config.is_file():
            raise ReproduceError(
                f"{path}: no all_config.yaml beside it (an official step file is read with its "
                "run's all_config.yaml, as the official folders hold it)"
            )
        official = checkpoint.load_official(path)
        batch = _yaml_value(config, "global_batch_size") or DEFAULT_BATCH
        return Checkpoint(official.model, path, "official", int(batch), _existing(path.parent / "identifiers.json"))
    except ReproduceError:
        raise
    except Exception as error:  # CheckpointError, or YAML/JSON of a companion file: one line naming the file
        reason = str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"
        raise ReproduceError(reason if str(path) in reason else f"{path}: {reason}") from None


def _run_data(path: Path) -> DataConfig:
    """The data a pretraining run of ours trained on: its config.yaml's `data` section (read here, not through
    TrainConfig: evaluation comes before training in the package's order)."""
    return from_dict(DataConfig, _yaml_value(path, "data") or {}, where=f"{path}: data")


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None


def _yaml_value(path: Path, key: str) -> Any:
    import yaml

    return (yaml.safe_load(path.read_text()) or {}).get(key)


def check_identifiers(ckpt: Checkpoint, data: PretrainData) -> None:
    """The checkpoint's puzzle-embedding table must have one row per rebuilt identifier, and the run's
    identifiers.json (where there is one) must name the same puzzles; otherwise the embeddings belong to
    other puzzles and the score would be meaningless."""
    table = ckpt.model.puzzle_emb.weight.shape[0] if ckpt.model.puzzle_emb is not None else None
    if table is not None and table != data.num_puzzle_ids:
        raise ReproduceError(
            f"{ckpt.path}: its puzzle-embedding table has {table:,} rows but the rebuilt data has "
            f"{data.num_puzzle_ids:,} identifiers ({data.num_versions:,} versions + the blank id): the checkpoint "
            "was trained on another build (other subsets, seed or augmentation count)"
        )
    if ckpt.identifiers is not None:
        theirs, ours = json.loads(ckpt.identifiers.read_text()), data.identifiers()
        if theirs != ours:
            first = next((i for i, (a, b) in enumerate(zip(theirs, ours)) if a != b), min(len(theirs), len(ours)))
            raise ReproduceError(
                f"{ckpt.identifiers}: {len(theirs):,} identifiers, the rebuilt data {len(ours):,}; they first differ "
                f"at id {first} ({_at(theirs, first)} against {_at(ours, first)}): another build (other subsets, "
                "seed or augmentation count)"
            )


def _at(names: list[str], index: int) -> str:
    return repr(names[index]) if index < len(names) else "nothing"


# ---------------------------------------------------------------------------------------------- running


@dataclass
class Rows:
    """Every held-out row: a test input of a task in one version, encoded on the official canvas."""

    inputs: np.ndarray  # (R, 900) uint8
    puzzle_ids: np.ndarray  # (R,) int64
    group: np.ndarray  # (R,) the task's group in the build
    test_index: np.ndarray  # (R,) which test input of the task
    augs: list  # (R,) the version's Aug


def held_out_rows(data: PretrainData, groups: list[int]) -> Rows:
    """The rows of `groups`, task after task in the build's order, each task's versions in order (the
    official test split's order)."""
    parts = [(g, data.eval_data(g)) for g in groups]
    return Rows(
        inputs=np.concatenate([d.test_inputs for _, d in parts]).astype(np.uint8),
        puzzle_ids=np.concatenate([d.test_ids for _, d in parts]),
        group=np.concatenate([np.full(len(d.test_ids), g) for g, d in parts]),
        test_index=np.concatenate([d.test_index for _, d in parts]),
        augs=[d.augs[k] for _, d in parts for k in d.test_aug],
    )


@torch.no_grad()
def predict_rows(
    model: TRM, rows: Rows, batch: int, device: torch.device, on_batch: Callable[[int], None] | None = None
) -> dict[str, np.ndarray]:
    """preds (R, 900) uint8, q_halt_logits and q_continue_logits (R,) float32: every row after N_sup steps,
    in batches of `batch` rows, the last padded with blank rows (pad tokens, puzzle id 0) as the official
    test loader pads it."""
    model.eval()
    preds, q_halt, q_continue = [], [], []
    for start in range(0, len(rows.puzzle_ids), batch):
        inputs, ids = rows.inputs[start : start + batch], rows.puzzle_ids[start : start + batch]
        real = len(ids)
        inputs = np.pad(inputs, ((0, batch - real), (0, 0)))
        ids = np.pad(ids, (0, batch - real))
        tensors = {
            "inputs": torch.from_numpy(inputs.astype(np.int64)).to(device),
            "puzzle_ids": torch.from_numpy(ids).to(device),
        }
        tensors["labels"] = torch.zeros_like(tensors["inputs"])
        outputs = supervise(model, tensors)
        preds.append(outputs["logits"][:real].argmax(-1).to(torch.uint8).cpu().numpy())
        q_halt.append(outputs["q_halt_logits"][:real].float().cpu().numpy())
        q_continue.append(outputs["q_continue_logits"][:real].float().cpu().numpy())
        if on_batch:
            on_batch(real)
    return {
        "preds": np.concatenate(preds),
        "q_halt_logits": np.concatenate(q_halt),
        "q_continue_logits": np.concatenate(q_continue),
    }


def crop(pred: np.ndarray) -> np.ndarray:
    """The official crop of a prediction: `decode`'s grid, or the empty grid where it finds none."""
    grid = decode(pred)
    return EMPTY if grid is None else grid


def rank_task(
    rows: Rows, outputs: dict[str, np.ndarray], where: np.ndarray, test_inputs: list[np.ndarray]
) -> list[list[Ranked]]:
    """Per test input of one task, its distinct de-augmented grids ranked by the official rule, over every row
    (`where`: the task's rows) whose test input is the same grid."""
    confidence = torch.from_numpy(outputs["q_halt_logits"][where]).double().sigmoid().numpy()  # as the official
    candidates = [Candidate(rows.augs[r], crop(outputs["preds"][r]), float(q)) for r, q in zip(where, confidence)]
    same = [[j for j, other in enumerate(test_inputs) if _same(grid, other)] for grid in test_inputs]
    index = rows.test_index[where]
    return [vote([c for c, i in zip(candidates, index) if i in same[t]]) for t in range(len(test_inputs))]


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a, b)


def pass_at(ranked: dict[str, list[list[Ranked]]], truths: dict[str, list[np.ndarray]]) -> dict[int, float]:
    """The official pass@K: per task the share of its test outputs among the top K grids, averaged over tasks
    (summed in task order, then divided, as the official evaluator does, so that the floats are the same)."""
    result = {}
    for k in PASS_KS:
        total = 0.0
        for task_id, per_tests in ranked.items():
            right = sum(
                any(_same(r.grid, truth) for r in per_test[:k]) for per_test, truth in zip(per_tests, truths[task_id])
            )
            total += right / len(per_tests)
        result[k] = total / len(ranked) if ranked else 0.0
    return result


def attempts(per_test: list[Ranked]) -> list[np.ndarray]:
    """The official submission's grids: the top SUBMISSION_K, padded with the first."""
    grids = [r.grid for r in per_test[:SUBMISSION_K]]
    return grids + [grids[0]] * (SUBMISSION_K - len(grids))


# ---------------------------------------------------------------------------------------------- the command


@dataclass
class ReproduceResult:
    run_dir: Path
    pass_at: dict[int, float]
    scores: scoring.Scores
    rows: int
    tasks: int
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        ks = ", ".join(f"pass@{k} {100 * v:.2f}%" for k, v in self.pass_at.items())
        return f"{self.tasks} tasks, {self.rows:,} rows: {ks}"


def reproduce(
    ckpt_path: str | Path,
    data_source: str | Path | None,
    run_dir: str | Path,
    ids: list[str] | None = None,
    limit: int | None = None,
    device: str = "auto",
    batch: int | None = None,
    on_event: Callable[[str, Any], None] | None = None,
) -> ReproduceResult:
    """Evaluate the checkpoint on the held-out test pairs of the build (all, or `ids`/the first `limit` of
    them in the build's order) as the official code does, and write the run folder. Without `data_source`, a
    checkpoint of ours is evaluated on its own run's data (its config.yaml). `on_event(name, value)`
    hears ("rows", total) once and ("batch", rows done in it) per batch."""
    emit = on_event or (lambda name, value: None)
    run_dir, timings, start = Path(run_dir), {}, time.monotonic()
    ckpt = read_checkpoint(ckpt_path)
    config = build_of(ckpt, data_source)
    run_dir.mkdir(parents=True, exist_ok=True)
    data = PretrainData.build(config, cache=run_dir / "versions.npz")
    check_identifiers(ckpt, data)
    groups = select(data, ids, limit)
    timings["build"] = time.monotonic() - start

    target = devices.resolve(device)
    model = ckpt.model.to(target)
    rows = held_out_rows(data, groups)
    emit("rows", len(rows.puzzle_ids))
    start = time.monotonic()
    outputs = predict_rows(model, rows, batch or ckpt.batch, target, lambda n: emit("batch", n))
    timings["predict"] = time.monotonic() - start
    timings["rows_per_second"] = len(rows.puzzle_ids) / max(timings["predict"], 1e-9)

    held = {data.groups[g].task_id: data.groups[g] for g in groups}
    ranked = {
        data.groups[g].task_id: rank_task(
            rows, outputs, np.flatnonzero(rows.group == g), [a for a, _ in data.groups[g].held_out]
        )
        for g in groups
    }
    truths = {task_id: [b for _, b in group.held_out] for task_id, group in held.items()}
    submission = {
        task_id: [
            dict(zip(("attempt_1", "attempt_2"), (g.tolist() for g in attempts(per_test)))) for per_test in per_tests
        ]
        for task_id, per_tests in ranked.items()
    }
    passes = pass_at(ranked, truths)
    scores = scoring.score(submission, truths, k=2)
    write_run(run_dir, ckpt, config, data, rows, outputs, ranked, submission, passes, scores, timings, held)
    return ReproduceResult(run_dir, passes, scores, len(rows.puzzle_ids), len(groups), timings)


def build_of(ckpt: Checkpoint, data_source: str | Path | None) -> DataConfig:
    """The data build to redo: `data_source` (`dataset.read_build`), or else our checkpoint's own run's."""
    if data_source is None:
        if ckpt.data is None:
            raise ReproduceError(
                f"{ckpt.path}: give --data (arc1, arc2 or the official build's settings); only a "
                "checkpoint of ours inside its run folder knows its data"
            )
        return ckpt.data
    try:
        return read_build(data_source)
    except ValueError as error:
        raise ReproduceError(str(error)) from None


def select(data: PretrainData, ids: list[str] | None, limit: int | None) -> list[int]:
    """The held-out groups to evaluate: those of `ids` (every id must be held out), then the first `limit`."""
    groups = data.eval_groups()
    if ids:
        by_id = {data.groups[g].task_id: g for g in groups}
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            raise ReproduceError(
                f"--ids: {', '.join(unknown[:5])} not among the {len(groups)} held-out tasks of {data.config.test}"
            )
        groups = [by_id[i] for i in ids]
    return groups[:limit] if limit else groups


def write_run(
    run_dir: Path,
    ckpt: Checkpoint,
    config: DataConfig,
    data: PretrainData,
    rows: Rows,
    outputs: dict[str, np.ndarray],
    ranked: dict[str, list[list[Ranked]]],
    submission: dict,
    passes: dict[int, float],
    scores: scoring.Scores,
    timings: dict[str, float],
    held: dict[str, Group],
) -> None:
    """The run folder's files (module docstring)."""
    write_json(submission, run_dir / "submission.json")
    write_json(
        {
            **{f"ARC/pass@{k}": v for k, v in passes.items()},
            **scores.to_json(),
            "checkpoint": str(ckpt.path),
            "checkpoint_kind": ckpt.kind,
            "forward_dtype": ckpt.model.config.forward_dtype,
            "rows": len(rows.puzzle_ids),
            "data": {
                "subsets": config.subsets,
                "test": config.test,
                "seed": config.seed,
                "augmentations": config.augmentations,
                "identifiers": data.num_puzzle_ids,
            },
            "timings": timings,
        },
        run_dir / "scores.json",
        indent=1,
    )
    np.savez_compressed(
        run_dir / "rows.npz",
        puzzle_ids=rows.puzzle_ids,
        group=rows.group,
        test_index=rows.test_index,
        **cast(dict[str, Any], outputs),  # numpy's stub: a ** dict might fill allow_pickle
    )
    write_json(data.identifiers(), run_dir / "identifiers.json")
    taskset = tasks.TaskSet([_task(group) for group in held.values()], [])
    write_json({t.id: t.to_json() for t in taskset}, run_dir / "tasks.json")
    write_json({"title": f"reproduce {ckpt.path.name}"}, run_dir / "run.json")
    store = RecordStore(records_dir(run_dir / "submission.json"))
    records = {}
    for task_id, per_tests in ranked.items():  # for the page: the empty grid cannot be drawn, so it is left out
        drawable = [[r for r in per_test if r.grid.size] for per_test in per_tests]
        candidates = [
            [
                {"grid": r.grid, "votes": r.votes, "mean_confidence": r.mean_confidence}
                for r in per_test[:SAVED_CANDIDATES]
            ]
            for per_test in drawable
        ]
        shown = [
            attempts(d) if d else [fallback_grid(a)] * SUBMISSION_K
            for d, (a, _) in zip(drawable, held[task_id].held_out)
        ]
        records[task_id] = make_record(task_id, shown, candidates, {}, {}, Status.PREDICTED)
        store.save(records[task_id])
    page = report.render(taskset, records, scores, f"reproduce {ckpt.path}", [f"{len(taskset)} tasks", str(run_dir)])
    write_text(page, run_dir / "report.html")


def _task(group: Group) -> tasks.Task:
    """A held-out group as a task: its training pairs, its held-out test inputs and their answers."""
    pairs = group.held_out
    return tasks.Task(group.task_id, list(group.pairs), [a for a, _ in pairs], [b for _, b in pairs])
