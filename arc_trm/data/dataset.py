"""Pretraining data: every task of the named splits in all its augmented versions, encoded on the fly.

    data = PretrainData.build(DataConfig(subsets=["arc1-train", "arc1-eval", "concept"], test="arc1-eval"))
    sampler = Sampler(data, global_batch=768, seed=0)
    batch = data.encode(sampler.next_batch()[rank * local : (rank + 1) * local])   # this rank's share
    held_out = [data.eval_data(g) for g in data.test_groups]                     # for predict.rollout

As the official build (TRM_SPEC 4): each task is a group of up to 1 + `augmentations` distinct versions (a
dihedral symmetry and a colour permutation with 0 fixed), drawn and de-duplicated in the official random order
(seed 42), so that with the official subsets the puzzle ids are the official ones and official checkpoints line
up. The test subset's demonstrations are trained on and its test pairs held out; every other subset trains on
all its pairs. Instead of ~900k encoded puzzles, only (group, dihedral, colour map) per version is kept (12
bytes) and examples are augmented, translated and encoded when a batch is drawn. Translation is drawn afresh
each time (the official build bakes one offset per example); one example per version stays at the origin.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import cast

import numpy as np
import torch

from arc_trm.core import tasks
from arc_trm.core.io import atomic_open
from arc_trm.data.augment import Aug, dihedral, format_name, swaps_sides
from arc_trm.data.encoding import OFFICIAL_CANVAS, encode
from arc_trm.data.task_encoding import TaskData

RETRIES = 5  # draws per wanted version before a task's plan gives up (the official factor)


@dataclass
class DataConfig:
    """Which tasks to pretrain on, how they are augmented, which test pairs are held out for evaluation."""

    subsets: list[str] = field(default_factory=lambda: ["arc1-train", "arc1-eval", "concept"])  # official order
    test: str = "arc1-eval"  # the subset whose test pairs are held out (its demonstrations are trained on)
    augmentations: int = 1000  # versions per task besides the original (fewer when they run out)
    translate: bool = True  # random offsets of training grids on the 30x30 canvas
    seed: int = 42  # the official build's seed: with the official subsets, puzzle ids are the official ones
    max_tasks: int = 0  # > 0: only the first N tasks (by id) of each subset, for quick runs
    eval_tasks: int = 0  # > 0: evaluate on the first N held-out tasks only
    eval_versions: int = 0  # > 0: vote over the first N versions of each held-out task only (0: all)


# The paper's two builds (`arc-trm reproduce --data arc1|arc2`; the data sections of configs/arc1.yaml and
# configs/arc2.yaml, which a test holds equal): subsets, test set, seed 42 and 1000 augmentations.
PAPER_BUILDS = {
    "arc1": DataConfig(),
    "arc2": DataConfig(subsets=["arc2-train", "arc2-eval", "concept"], test="arc2-eval"),
}


# The official builder's settings (dataset/build_arc_dataset.py DataProcessConfig), with its defaults.
BUILD_DEFAULTS = {
    "subsets": ["training", "evaluation", "concept"],
    "test_set_name": "evaluation",
    "seed": 42,
    "num_aug": 1000,
    "puzzle_identifiers_start": 1,
}
BUILD_IGNORED = {"output_dir", "test_set_name2"}  # where the official build wrote, and a name it never reads


def read_build(source: str | Path) -> DataConfig:
    """The data build to redo: "arc1" or "arc2" (the paper's), or a YAML file of the official builder's
    settings under their official names, `input_file_prefix` relative to the file's folder (the builder reads
    `<prefix>_<subset>_challenges.json` and the `_solutions.json` beside it for each subset)."""
    if str(source) in PAPER_BUILDS:
        return replace(PAPER_BUILDS[str(source)])
    path = Path(source)
    if not path.is_file():
        raise ValueError(
            f"{source}: no such file; --data is {' or '.join(PAPER_BUILDS)} or a YAML file of the "
            "official build's settings"
        )
    import yaml

    try:
        settings = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(settings, dict) or "input_file_prefix" not in settings:
        raise ValueError(f"{path}: expected the official build's settings, with input_file_prefix")
    unknown = sorted(set(settings) - set(BUILD_DEFAULTS) - BUILD_IGNORED - {"input_file_prefix"})
    if unknown:
        raise ValueError(
            f"{path}: unknown build settings {', '.join(unknown)} "
            f"(known: input_file_prefix, {', '.join(BUILD_DEFAULTS)})"
        )
    build = {**BUILD_DEFAULTS, **settings}
    if build["puzzle_identifiers_start"] != 1:
        raise ValueError(
            f"{path}: puzzle_identifiers_start {build['puzzle_identifiers_start']} (only 1, the "
            "official default, is supported)"
        )
    if build["test_set_name"] not in build["subsets"]:
        raise ValueError(f"{path}: test_set_name {build['test_set_name']!r} is not one of subsets {build['subsets']}")
    prefix = path.parent / str(settings["input_file_prefix"])
    files = {name: Path(f"{prefix}_{name}_challenges.json") for name in build["subsets"]}
    for name, file in files.items():
        if not file.is_file():
            raise ValueError(f"{path}: subset {name!r}: no file {file}")
        if tasks.solutions_beside(file) is None:
            raise ValueError(
                f"{path}: subset {name!r}: no solutions file beside {file} (the official builder "
                "reads <prefix>_<subset>_solutions.json too)"
            )
    return DataConfig(
        subsets=[str(f) for f in files.values()],
        test=str(files[build["test_set_name"]]),
        augmentations=int(build["num_aug"]),
        seed=int(build["seed"]),
    )


@dataclass
class Group:
    """One task: the pairs trained on and the test pairs held out (the test subset only). The official builder's
    word: a group is one task with all its augmented versions (not `solve`'s group of tasks trained together)."""

    task_id: str
    pairs: list[tuple[np.ndarray, np.ndarray]]
    held_out: list[tuple[np.ndarray, np.ndarray]]
    subset: str = ""


class PretrainData:
    """Groups (tasks) and their versions; version v has puzzle id v + 1 (0 is the official blank id)."""

    def __init__(self, groups: list[Group], versions: list[np.ndarray], config: DataConfig):
        self.groups, self.config = groups, config
        counts = np.array([len(v) for v in versions])
        self.version_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)  # (G + 1,)
        table = np.concatenate(versions) if versions else np.zeros((0, 11), np.uint8)
        self.dihedral = table[:, 0].copy()  # (V,) uint8
        self.colours = table[:, 1:].copy()  # (V, 10) uint8
        self.group_of = np.repeat(np.arange(len(groups)), counts)  # (V,)
        self.examples = np.array([len(g.pairs) for g in groups])  # (G,) examples per version of each group
        self.test_groups = [i for i, g in enumerate(groups) if g.held_out]

    @classmethod
    def build(cls, config: DataConfig, cache: str | Path | None = None) -> PretrainData:
        """Load the subsets and draw every task's versions in the official build's random order.

        With `cache`, the task order and versions are read from that file when it was written for the same
        data, and written there otherwise (drawing them takes a minute or two for the full sets).
        """
        if config.test and config.test not in config.subsets:
            raise ValueError(f"data.test {config.test!r} is not one of data.subsets {config.subsets}")
        loaded = {name: _load(name, config.max_tasks) for name in config.subsets}
        check_overlap(loaded, config.test)
        stored = _read_cache(Path(cache), config, loaded) if cache and Path(cache).is_file() else None
        rng = np.random.RandomState(config.seed)  # the official build's global numpy RNG
        groups: list[Group] = []
        versions: list[np.ndarray] = []
        for name in config.subsets:
            subset = {t.id: t for t in loaded[name]}
            if stored is not None:
                order = stored["order"][name]
            else:
                order = list(subset)
                rng.shuffle(order)
            for task_id in order:
                task = subset[task_id]
                # every test input and output is there (_load)
                inputs, outputs = cast(list[np.ndarray], task.test_inputs), cast(list[np.ndarray], task.test_outputs)
                tests = list(zip(inputs, outputs))
                pairs = list(task.train) if name == config.test else list(task.train) + tests
                held = tests if name == config.test else []
                versions.append(
                    stored["versions"][len(groups)]
                    if stored is not None
                    else _versions(task.train + tests, config.augmentations, rng)
                )
                groups.append(Group(task.id, pairs, held, name))
        data = cls(groups, versions, config)
        if cache and stored is None:
            data._write_cache(Path(cache))
        return data

    def _write_cache(self, path: Path) -> None:
        order = {name: [g.task_id for g in self.groups if g.subset == name] for name in self.config.subsets}
        table = np.column_stack([self.dihedral, self.colours]).astype(np.uint8)
        with atomic_open(path, "wb") as f:
            np.savez(
                f,
                key=np.array(json.dumps(_cache_key(self.config))),
                order=np.array(json.dumps(order)),
                table=table,
                counts=np.diff(self.version_start),
            )

    # ------------------------------------------------------------------------------------------- sizes

    @property
    def num_versions(self) -> int:
        return len(self.dihedral)

    @property
    def num_puzzle_ids(self) -> int:
        """Rows of the puzzle-embedding table: every version and the blank id 0."""
        return self.num_versions + 1

    @property
    def mean_examples(self) -> float:
        """Training examples per version (the official `mean_puzzle_examples`)."""
        return float(self.examples[self.group_of].mean()) if self.num_versions else 0.0

    def steps_per_epoch(self, global_batch: int) -> float:
        """Optimiser steps per epoch as the official loop counts them: groups x mean examples / batch."""
        return len(self.groups) * self.mean_examples / global_batch

    def aug(self, version: int) -> Aug:
        return Aug(int(self.dihedral[version]), tuple(int(c) for c in self.colours[version]))

    def identifiers(self) -> list[str]:
        """Puzzle id -> official name (`<blank>` for 0), as the official identifiers.json."""
        return ["<blank>"] + [
            format_name(self.groups[self.group_of[v]].task_id, self.aug(v)) for v in range(self.num_versions)
        ]

    # ------------------------------------------------------------------------------------------ encoding

    def encode(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        """Tensors for rows of (version, example, row offset, column offset): inputs, labels, puzzle_ids."""
        inputs, labels = [], []
        for version, example, r, c in rows:
            grid_in, grid_out = self.groups[self.group_of[version]].pairs[example]
            inputs.append(encode(self._apply(version, grid_in), OFFICIAL_CANVAS, (r, c)))
            labels.append(encode(self._apply(version, grid_out), OFFICIAL_CANVAS, (r, c)))
        return {
            "inputs": torch.from_numpy(np.stack(inputs).astype(np.int64)),
            "labels": torch.from_numpy(np.stack(labels).astype(np.int64)),
            "puzzle_ids": torch.from_numpy(rows[:, 0].astype(np.int64) + 1),
        }

    def _apply(self, version: int, grid: np.ndarray) -> np.ndarray:
        return dihedral(self.colours[version][grid], int(self.dihedral[version]))

    def room(self, version: int, examples: np.ndarray) -> np.ndarray:
        """(len(examples), 2): the largest (row, column) offsets at which each of the version's examples (input
        and output) still fits the canvas."""
        pairs = self.groups[self.group_of[version]].pairs
        sides = np.array([np.maximum(pairs[j][0].shape, pairs[j][1].shape) for j in examples]).reshape(-1, 2)
        if swaps_sides(int(self.dihedral[version])):
            sides = sides[:, ::-1]
        return OFFICIAL_CANVAS - sides

    # ---------------------------------------------------------------------------------------- evaluation

    def eval_groups(self) -> list[int]:
        """The held-out groups evaluated (the first `eval_tasks`, or all)."""
        n = self.config.eval_tasks
        return self.test_groups[:n] if n > 0 else list(self.test_groups)

    def eval_data(self, group: int) -> TaskData:
        """A held-out task's test inputs in each of its (first `eval_versions`) versions, at the origin, with the
        versions' puzzle ids: what `predict.rollout` takes."""
        g = self.groups[group]
        start, end = self.version_start[group], self.version_start[group + 1]
        if self.config.eval_versions > 0:
            end = min(end, start + self.config.eval_versions)
        augs = [self.aug(v) for v in range(start, end)]
        rows = [(k, i) for k in range(len(augs)) for i in range(len(g.held_out))]
        inputs = [encode(self._apply(start + k, g.held_out[i][0]), OFFICIAL_CANVAS) for k, i in rows]
        empty = np.zeros((0, OFFICIAL_CANVAS * OFFICIAL_CANVAS), np.uint8)
        return TaskData(
            g.task_id,
            OFFICIAL_CANVAS,
            augs,
            empty,
            empty,
            np.zeros(0, np.int64),
            np.stack(inputs),
            np.array([start + k + 1 for k, _ in rows], np.int64),
            np.array([i for _, i in rows]),
            np.array([k for k, _ in rows]),
            len(g.held_out),
        )

    def solutions(self, groups: list[int]) -> dict[str, list[np.ndarray | None]]:
        """The held-out test outputs of these groups, by task id (for scoring)."""
        return {self.groups[i].task_id: [b for _, b in self.groups[i].held_out] for i in groups}


def _cache_key(config: DataConfig) -> dict:
    """What the versions depend on."""
    return {
        "subsets": list(config.subsets),
        "test": config.test,
        "augmentations": config.augmentations,
        "seed": config.seed,
        "max_tasks": config.max_tasks,
        "retries": RETRIES,
    }


def _read_cache(path: Path, config: DataConfig, loaded: dict[str, list[tasks.Task]]) -> dict | None:
    """{"order": {subset: [task ids]}, "versions": [(n, 11) per group]} from a cache of the same data, else None
    (another config, other tasks, or an unreadable file: the versions are drawn again)."""
    try:
        with np.load(path) as stored:
            key, order = json.loads(str(stored["key"])), json.loads(str(stored["order"]))
            versions = np.split(stored["table"], np.cumsum(stored["counts"])[:-1])
    except (OSError, ValueError, KeyError):
        return None
    same_tasks = all(sorted(order.get(n, [])) == sorted(t.id for t in loaded[n]) for n in loaded)
    return {"order": order, "versions": versions} if key == _cache_key(config) and same_tasks else None


def _load(name: str, max_tasks: int) -> list[tasks.Task]:
    """A subset's tasks (a split, or a task file or folder); every test pair must have its output, as the
    official builder reads it (trained on, or held out and scored): none is dropped without a word."""
    taskset = tasks.load(name)
    if taskset.problems:
        raise ValueError(f"subset {name}: {len(taskset.problems)} problem(s), first: {taskset.problems[0]}")
    chosen = taskset.tasks[:max_tasks] if max_tasks > 0 else taskset.tasks
    missing = [t.id for t in chosen if t.test_outputs is None or any(b is None for b in t.test_outputs)]
    if missing:
        raise ValueError(
            f"subset {name}: {len(missing)} task(s) without their test outputs ({', '.join(missing[:3])}"
            f"{'...' if len(missing) > 3 else ''}); a challenges file needs its *_solutions.json beside it"
        )
    return chosen


def check_overlap(loaded: dict[str, list[tasks.Task]], test: str) -> None:
    """Refuse a build whose held-out test pairs are also trained on (e.g. ARC-AGI-2 training holds 376 of the
    ARC-AGI-1 evaluation tasks, so arc2-train cannot be combined with arc1-eval as the test subset)."""
    held = {t.id for t in loaded.get(test, [])}
    for name, subset in loaded.items():
        shared = sorted(held & {t.id for t in subset}) if name != test else []
        if shared:
            raise ValueError(
                f"subset {name} contains {len(shared)} task(s) of the test subset {test} "
                f"({', '.join(shared[:5])}...): their held-out test pairs would be trained on"
            )


def _versions(pairs: list[tuple[np.ndarray, np.ndarray]], augmentations: int, rng: np.random.RandomState):
    """(1 + up to `augmentations`, 11) uint8 rows of (dihedral, colour map): the original first, then distinct
    versions, drawn as the official build does (a dihedral id, then a permutation of colours 1-9) for at most
    RETRIES * augmentations draws. Two versions are the same when their sets of (input, output) pairs are."""
    found = [np.concatenate([[0], np.arange(10)]).astype(np.uint8)]  # the original: identity, colours unchanged
    if augmentations <= 0:
        return np.stack(found)
    # dihedral id -> every pair's grids after the symmetry, with their shapes, for fast hashing
    flat: dict[int, list[tuple[bytes, bytes, bytes]]] = {}
    seen = {_digest(pairs, 0, np.arange(10, dtype=np.uint8), flat)}
    for _ in range(RETRIES * augmentations):
        k = int(rng.randint(0, 8))
        colours = np.concatenate([np.zeros(1, np.uint8), rng.permutation(np.arange(1, 10, dtype=np.uint8))])
        digest = _digest(pairs, k, colours, flat)
        if digest not in seen:
            seen.add(digest)
            found.append(np.concatenate([[k], colours]).astype(np.uint8))
            if len(found) >= augmentations + 1:
                break
    return np.stack(found)


def _digest(pairs, k: int, colours: np.ndarray, flat: dict) -> bytes:
    """A digest of the multiset of the version's (input, output) pairs."""
    if k not in flat:
        flat[k] = [
            (
                bytes(dihedral(a, k).shape) + bytes(dihedral(b, k).shape),
                dihedral(a, k).tobytes(),
                dihedral(b, k).tobytes(),
            )
            for a, b in pairs
        ]
    table = colours.tobytes() + bytes(range(10, 256))  # a byte table: colour c -> colours[c]
    pieces = sorted(shape + a.translate(table) + b"|" + b.translate(table) for shape, a, b in flat[k])
    return hashlib.sha256(b"#".join(pieces)).digest()


class Sampler:
    """The official batch packing over an endless stream of epochs: each epoch visits every group once in a
    random order; a visit takes one random version of the group and its examples in random order (the last
    group of a batch may be cut short). Every rank draws the same global batches and keeps its own slice.

    `state_dict()` holds the position and the random state, so a resumed run draws the same batches.
    """

    def __init__(self, data: PretrainData, global_batch: int, seed: int = 0, translate: bool = True):
        if not len(data.groups):
            raise ValueError("no task to train on")
        self.data, self.global_batch, self.seed, self.translate = data, global_batch, seed, translate
        self.rng = np.random.default_rng(seed)
        self.epoch, self.cursor = 0, 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.data.groups))

    def next_batch(self) -> np.ndarray:
        """(global_batch, 4) int64 rows of (version, example, row offset, column offset)."""
        data, rows, filled = self.data, [], 0
        while filled < self.global_batch:
            if self.cursor == len(self._order):
                self.epoch, self.cursor = self.epoch + 1, 0
                self._order = self._permutation(self.epoch)
            group = self._order[self.cursor]
            self.cursor += 1
            version = int(self.rng.integers(data.version_start[group], data.version_start[group + 1]))
            size = int(data.examples[group])
            take = min(size, self.global_batch - filled)
            examples = self.rng.choice(size, take, replace=False)
            offsets = np.zeros((take, 2), np.int64)
            if self.translate:
                offsets = self.rng.integers(0, data.room(version, examples) + 1)
                offsets[examples == version % size] = 0  # one example per version always sits at the origin
            rows.append(np.column_stack([np.full(take, version), examples, offsets]))
            filled += take
        return np.concatenate(rows).astype(np.int64)

    @property
    def epochs_done(self) -> float:
        return self.epoch + self.cursor / len(self._order)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "cursor": self.cursor, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])
        self.rng.bit_generator.state = state["rng"]
        self._order = self._permutation(self.epoch)
