"""Pretraining data on real ARC tasks: versions, held-out pairs, on-the-fly encoding, the sampler and its state."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from arc_trm.core.config import load_config
from arc_trm.data import augment
from arc_trm.data.augment import parse_name
from arc_trm.data.dataset import DataConfig, PretrainData, Sampler
from arc_trm.data.encoding import COLOUR_OFFSET, EOS, OFFICIAL_CANVAS, decode
from arc_trm.eval.scoring import score
from arc_trm.train.pretrain import TrainConfig
from arc_trm.ttt import vote

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def config() -> DataConfig:
    return load_config(TrainConfig, REPO / "configs" / "debug.yaml").data


@pytest.fixture(scope="module")
def data(config) -> PretrainData:
    return PretrainData.build(config)


def test_groups_versions_and_held_out_pairs(data, config):
    assert len(data.groups) == 3 * config.max_tasks
    held = [g for g in data.groups if g.held_out]
    assert len(held) == config.max_tasks == len(data.test_groups)  # only the test subset holds pairs out
    for group, start, end in zip(data.groups, data.version_start[:-1], data.version_start[1:]):
        versions = [data.aug(v) for v in range(start, end)]
        assert versions[0] == augment.IDENTITY and 1 < len(versions) <= config.augmentations + 1
        assert all(a.colours[0] == 0 for a in versions)  # background fixed, as the official build
        contents = {
            tuple(sorted(a.apply(x).tobytes() + a.apply(y).tobytes() for x, y in group.pairs)) for a in versions
        }
        assert len(contents) == len(versions)  # every version is a different task
    assert data.num_puzzle_ids == data.num_versions + 1


def test_test_subset_trains_on_demonstrations_only(data):
    from arc_trm.core import tasks

    arc1_eval = tasks.load("arc1-eval")
    for index in data.test_groups:
        group = data.groups[index]
        task = arc1_eval[group.task_id]
        assert len(group.pairs) == len(task.train) and len(group.held_out) == len(task.test_inputs)
        assert all(np.array_equal(b, t) for (_, b), t in zip(group.held_out, task.test_outputs))
    others = [g for i, g in enumerate(data.groups) if i not in data.test_groups]
    assert all(len(g.pairs) > 0 and not g.held_out for g in others)


def test_identifiers_name_each_version(data):
    names = data.identifiers()
    assert names[0] == "<blank>" and len(names) == data.num_puzzle_ids
    for v in (0, 1, data.num_versions - 1):
        task_id, aug = parse_name(names[v + 1])
        assert task_id == data.groups[data.group_of[v]].task_id and aug == data.aug(v)


def test_encoded_rows_are_the_augmented_pairs_at_their_offsets(data):
    sampler = Sampler(data, 32, seed=3)
    rows = sampler.next_batch()
    batch = data.encode(rows)
    assert (
        batch["inputs"].shape == (32, OFFICIAL_CANVAS**2) and batch["puzzle_ids"].tolist() == (rows[:, 0] + 1).tolist()
    )
    assert (rows[:, 2:] > 0).any()  # translation happens
    for (version, example, r, c), tokens in zip(rows, batch["labels"].numpy()):
        grid = data._apply(version, data.groups[data.group_of[version]].pairs[example][1])
        canvas = tokens.reshape(OFFICIAL_CANVAS, OFFICIAL_CANVAS)
        h, w = grid.shape
        assert np.array_equal(canvas[r : r + h, c : c + w] - COLOUR_OFFSET, grid)
        assert r + h == OFFICIAL_CANVAS or (canvas[r + h, c : c + w] == EOS).all()
        assert canvas.sum() == (grid + COLOUR_OFFSET).sum() + EOS * ((r + h < 30) * w + (c + w < 30) * h)


def test_an_epoch_visits_every_task_once_and_the_state_resumes_the_stream(data):
    sampler = Sampler(data, 8, seed=1)
    seen = []
    while sampler.epoch == 0:
        seen += list(dict.fromkeys(data.group_of[sampler.next_batch()[:, 0]]))
    assert set(seen) == set(range(len(data.groups)))
    state = sampler.state_dict()
    expected = [sampler.next_batch() for _ in range(5)]
    again = Sampler(data, 8, seed=1)
    again.load_state_dict(state)
    assert all(np.array_equal(a, b) for a, b in zip(expected, (again.next_batch() for _ in range(5))))


def test_held_out_inputs_vote_back_to_the_truth(data):
    """The evaluation path on real tasks: every version's answer, de-augmented and voted, scores full marks."""
    groups = data.eval_groups()
    answers = {}
    for index in groups:
        task = data.eval_data(index)
        truth = data.groups[index].held_out
        assert len(task.augs) == min(
            data.config.eval_versions, data.version_start[index + 1] - data.version_start[index]
        )
        assert set(task.test_ids) <= set(range(data.version_start[index] + 1, data.version_start[index + 1] + 1))
        candidates = [[] for _ in truth]
        for row, tokens in enumerate(task.test_inputs):
            aug, i = task.augs[task.test_aug[row]], task.test_index[row]
            assert np.array_equal(aug.invert(decode(tokens)), truth[i][0])  # at the origin, official canvas
            candidates[i].append(vote.Candidate(aug, aug.apply(truth[i][1]), 0.5))
        answers[task.task_id] = [
            dict(zip(("attempt_1", "attempt_2"), vote.top2(vote.vote(cs), cs[0].grid))) for cs in candidates
        ]
    result = score(answers, data.solutions(groups), k=1)
    assert result.n_tasks == data.config.eval_tasks and result.macro == 1.0


def test_a_test_subset_that_is_also_trained_on_is_refused(config):
    bad = dataclasses.replace(config, subsets=["arc2-train", "arc1-eval"], test="arc1-eval", max_tasks=0)
    with pytest.raises(ValueError, match="376 task"):
        PretrainData.build(bad)
    with pytest.raises(ValueError, match="not one of"):
        PretrainData.build(dataclasses.replace(config, test="arc2-eval"))


def test_versions_cache_gives_the_same_data_and_is_ignored_for_other_data(config, data, tmp_path):
    cache = tmp_path / "versions.npz"
    written = PretrainData.build(config, cache)
    assert cache.is_file() and written.identifiers() == data.identifiers()
    read = PretrainData.build(config, cache)
    assert read.identifiers() == data.identifiers() and [g.task_id for g in read.groups] == [
        g.task_id for g in data.groups
    ]
    other = PretrainData.build(dataclasses.replace(config, seed=7), cache)  # another draw: not the cached one
    assert other.identifiers() != data.identifiers()
