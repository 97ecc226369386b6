"""The path from the model's output to the submission is exact, and the CPU default still solves a real task.

An oracle stands in for the trained network: it answers each rollout row (one test input in one augmented
version) with that row's own augmented truth. Through solve's encoding, rollout, decoding, inversion, voting
and submission code, every test input of real tasks must then get its truth as attempt 1, with the vote of
every version. A row inverted with another row's augmentation, a colour map inverted the wrong way or a
crop that loses a row would each break that.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import REPO

from arc_trm.core import submission, tasks
from arc_trm.core.config import load_config
from arc_trm.data import augment, task_encoding
from arc_trm.data.encoding import VOCAB_SIZE, encode
from arc_trm.eval import scoring
from arc_trm.model import TRMConfig
from arc_trm.solve.config import SolveConfig
from arc_trm.solve.records import attempts_of
from arc_trm.solve.run import solve
from arc_trm.solve.task import encode_group, task_record
from arc_trm.ttt import predict

# Real tasks with several test inputs, non-square grids, and outputs whose shape differs from the input's
# (31d5ba1a, 4852f2fa); Concept tasks have three test inputs each.
ORACLE_TASKS = {"arc1-eval": ["31d5ba1a", "4852f2fa", "c074846d", "e21a174a"], "concept": ["Center1"]}
ALL_DIHEDRAL = set(range(8))


class Oracle(torch.nn.Module):
    """Answers every row with its version's truth; `shift` answers with the truth of version k + shift instead
    (a deliberately wrong pairing of rows and augmentations, to show the test can fail)."""

    def __init__(self, task: tasks.Task, data: task_encoding.TaskData, first_id: int = 1, shift: int = 0):
        super().__init__()
        self.config = TRMConfig(N_sup=2)
        self.register_buffer("anchor", torch.zeros(1))  # rollout reads the device from a buffer
        self.answers: dict[tuple[int, bytes], np.ndarray] = {}
        for k, aug in enumerate(data.augs):
            truth_aug = data.augs[(k + shift) % len(data.augs)]
            for grid, truth in zip(task.test_inputs, task.test_outputs):
                key = (first_id + k, encode(aug.apply(grid), data.canvas).tobytes())
                self.answers[key] = encode(truth_aug.apply(truth), data.canvas)

    def initial_carry(self, batch):
        return None

    def forward(self, carry, batch):
        rows = zip(batch["puzzle_ids"].tolist(), batch["inputs"].to(torch.uint8).numpy())
        tokens = np.stack([self.answers[(pid, row.tobytes())] for pid, row in rows]).astype(np.int64)
        logits = F.one_hot(torch.from_numpy(tokens), VOCAB_SIZE).float()
        return carry, {"logits": logits, "q_halt_logits": torch.zeros(len(tokens))}


def oracle_tasks() -> list[tasks.Task]:
    return [tasks.load(split)[task_id] for split, ids in ORACLE_TASKS.items() for task_id in ids]


def solve_with(oracle_shift: int, config: SolveConfig, task: tasks.Task) -> dict:
    """The task's record as solve makes it, with the oracle in place of the trained model."""
    canvas = task_encoding.task_canvas(task, config.ttt.translate)
    assert all(max(t.shape) <= canvas for t in task.test_outputs), "the truth must fit the canvas"
    (data,) = encode_group([task], config, canvas)
    candidates = predict.rollout(Oracle(task, data, shift=oracle_shift), data, config.rollout_batch)
    return task_record(task, candidates, config, {}), data


@pytest.mark.parametrize("permute_background,translate", [(True, 0), (False, 0), (True, 3), (False, 2)])
def test_oracle_answers_come_back_as_attempt_1_with_every_vote(permute_background, translate):
    config = load_config(
        SolveConfig,
        REPO / "configs" / "cpu.yaml",
        [f"ttt.permute_background={permute_background}", f"ttt.translate={translate}"],
    )
    taskset = tasks.TaskSet(oracle_tasks())
    attempts, dihedral_ids, moved_black, translated = {}, set(), False, False
    for task in taskset:
        record, data = solve_with(0, config, task)
        assert record["status"] == "predicted"
        for truth, ranked in zip(task.test_outputs, record["candidates"]):
            assert ranked[0]["votes"] == len(data.augs) and len(ranked) == 1
            assert np.array_equal(np.asarray(ranked[0]["grid"]), truth)
        attempts[task.id] = attempts_of(record)
        dihedral_ids |= {aug.dihedral for aug in data.augs}
        moved_black |= any(aug.colours[0] != 0 for aug in data.augs)
        translated |= any(aug.translate != (0, 0) for aug in data.augs)
    assert dihedral_ids == ALL_DIHEDRAL and moved_black == permute_background and translated == (translate > 0)
    sub = submission.build(taskset, attempts)
    assert submission.validate(sub, taskset) == []
    for task in taskset:
        for entry, truth in zip(sub[task.id], task.test_outputs):
            assert entry["attempt_1"] == truth.tolist()
    scores = scoring.score(sub, taskset.solutions())
    assert scores.macro == 1.0 and scores.n_test == 2 + 2 + 2 + 2 + 3


def test_a_row_inverted_with_another_rows_augmentation_is_caught():
    config = load_config(SolveConfig, REPO / "configs" / "cpu.yaml")
    task = tasks.load("arc1-eval")["31d5ba1a"]
    record, data = solve_with(1, config, task)
    top_votes = [ranked[0]["votes"] for ranked in record["candidates"]]
    assert max(top_votes) < len(data.augs) // 2  # the versions disagree once rows and augmentations are paired wrongly
    assert augment.IDENTITY in data.augs


# ---------------------------------------------------------------------------------------------- canary

# A real ARC-AGI-1 evaluation task that the CPU default solves at a fixed step count, deterministically on the
# CPU: if a change to the model, training, encoding or voting breaks learning, this stops solving.
CANARY = {"split": "arc1-eval", "task": "66e6c45b", "steps": 600}


@pytest.mark.slow
def test_canary_task_is_solved_by_the_cpu_default(tmp_path):
    task = tasks.load(CANARY["split"])[CANARY["task"]]
    config = load_config(
        SolveConfig,
        REPO / "configs" / "cpu.yaml",
        [f"ttt.max_steps={CANARY['steps']}", "task_seconds=3600", "device=cpu"],
    )
    taskset = tasks.TaskSet([task])
    report = solve(taskset, tmp_path / "submission.json", config)
    record = report.results[0].record
    assert record["status"] == "predicted" and record["steps"] == CANARY["steps"]
    scores = scoring.score(submission.read(tmp_path / "submission.json"), taskset.solutions())
    assert scores.macro == 1.0, record["candidates"]
