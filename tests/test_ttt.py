"""Test-time training pieces on real tasks: encoded versions, canvases, pretrained starts, the trainer."""

import numpy as np
import pytest
import torch

from arc_trm.core import tasks
from arc_trm.data import augment, task_encoding
from arc_trm.data.encoding import decode
from arc_trm.model import TRMConfig
from arc_trm.model.checkpoint import load_any
from arc_trm.ttt import predict
from arc_trm.ttt import trainer as ttt

TINY = TRMConfig(hidden_size=32, num_heads=2, puzzle_emb_dim=32, puzzle_emb_len=2, T=2, n=1, N_sup=2)


@pytest.fixture(scope="module")
def arc1_train():
    return tasks.load("arc1-train")


def test_task_data_encodes_every_version(arc1_train):
    task = arc1_train["3c9b0459"]  # rot180, 4 demonstrations, 3x3
    augs = augment.versions(task, 6, seed=1)
    data = task_encoding.task_data(task, augs, task_encoding.task_canvas(task))
    assert data.canvas == 4 and data.inputs.shape == (6 * 4, 16) and data.test_inputs.shape == (6, 16)
    assert list(data.puzzle_ids) == [k + 1 for k in range(6) for _ in range(4)]
    for row, (k, j) in enumerate((k, j) for k in range(6) for j in range(4)):
        assert np.array_equal(decode(data.labels[row], 4), augs[k].apply(task.train[j][1]))
    assert all(np.array_equal(augs[k].invert(decode(data.test_inputs[k], 4)), task.test_inputs[0]) for k in range(6))
    batch = data.sample(8)
    assert batch["inputs"].shape == (8, 16) and batch["puzzle_ids"].dtype == torch.int64


def test_translation_keeps_one_demonstration_per_version_at_the_origin(arc1_train):
    task = arc1_train["3c9b0459"]
    augs = augment.versions(task, 5, seed=0, translate=3)
    canvas = task_encoding.task_canvas(task, 3)
    data = task_encoding.task_data(task, augs, canvas)
    for k in range(5):
        at_origin = [decode(data.inputs[k * 4 + j], canvas) is not None for j in range(4)]
        assert at_origin[k % 4]  # decode reads from the top-left: only untranslated grids decode
        assert sum(at_origin) < 4 or augs[k].translate == (0, 0)


@pytest.mark.parametrize("task_id, side", [("c59eb873", 11), ("9172f3a0", 10), ("3c9b0459", 4), ("a416b8f3", 9)])
def test_canvas_has_room_for_the_likely_output(arc1_train, task_id, side):
    task = arc1_train[task_id]
    assert task_encoding.task_canvas(task) == side
    assert all(max(g.shape) < side for g in task.test_outputs)  # the answer and its end-of-grid marker fit


def test_trainer_learns_a_small_task(arc1_train):
    task = arc1_train["0d3d703e"]  # a fixed colour map on 3x3 grids
    augs = augment.versions(task, 4, seed=0)
    data = task_encoding.task_data(task, augs, task_encoding.task_canvas(task))
    model = ttt.new_model(TINY, len(augs), torch.device("cpu"))
    trainer = ttt.Trainer(model, ttt.TTTConfig(lr=3e-3, warmup_steps=5, batch_size=16, weight_decay=0.1, ema=0.0))
    losses = [trainer.step(data.sample(16))["loss"] for _ in range(60)]
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])
    candidates = predict.rollout(model, data)
    assert len(candidates) == 1 and len(candidates[0]) == 4


def test_embeddings_only_training_leaves_the_weights_alone(reference_dir, arc1_train):
    base = load_any(reference_dir / "official_att" / "checkpoint.pt")
    task = arc1_train["3c9b0459"]
    augs = augment.versions(task, 3, seed=0)
    model = ttt.from_pretrained(base, len(augs), torch.device("cpu"))
    table = base.puzzle_emb.weight
    mean = table[table.abs().sum(-1) > 0].mean(0)
    assert model.puzzle_emb.weight.shape == (4, table.shape[1])
    assert torch.allclose(model.puzzle_emb.weight, mean.expand(4, -1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = ttt.Trainer(model, ttt.TTTConfig(train="embeddings", batch_size=4))
    data = task_encoding.task_data(task, augs, task_encoding.task_canvas(task))
    for _ in range(2):
        trainer.step(data.sample(4))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in after if k != "puzzle_emb.weight")
    assert not torch.equal(before["puzzle_emb.weight"], after["puzzle_emb.weight"])
    assert torch.equal(base.puzzle_emb.weight, table)  # the base model is untouched


def test_batch_shrinks_on_big_canvases_when_asked():
    config = ttt.TTTConfig(batch_size=16, batch_tokens=784)
    assert [ttt.batch_size(config, c) for c in (4, 7, 8, 11, 30)] == [16, 16, 12, 6, 2]
    assert ttt.batch_size(ttt.TTTConfig(batch_size=16, batch_tokens=0), 30) == 16


def test_joint_tasks_number_their_versions_on_and_share_each_batch(arc1_train):
    first, second = arc1_train["3c9b0459"], arc1_train["0d3d703e"]  # 4 and 4 demonstrations, 3x3 grids
    canvas = max(task_encoding.task_canvas(first), task_encoding.task_canvas(second))
    a = task_encoding.task_data(first, augment.versions(first, 3, seed=0), canvas)
    b = task_encoding.task_data(second, augment.versions(second, 5, seed=0), canvas, first_id=4)
    assert set(a.puzzle_ids) == set(a.test_ids) == {1, 2, 3}
    assert set(b.puzzle_ids) == set(b.test_ids) == {4, 5, 6, 7, 8}
    batch = task_encoding.sample_joint([a, b], 6)
    ids = batch["puzzle_ids"].tolist()
    assert batch["inputs"].shape == (12, canvas * canvas)
    assert all(i <= 3 for i in ids[:6]) and all(i >= 4 for i in ids[6:])  # 6 rows of each task
    model = ttt.new_model(TINY, 8, torch.device("cpu"))
    ttt.Trainer(model, ttt.TTTConfig(batch_size=6)).step(batch)
    assert [len(cs) for cs in predict.rollout(model, b)] == [5]  # the second task's rows answer its test input


def test_output_shape_rule_follows_the_demonstrations(arc1_train):
    mirror, upscale, crop = arc1_train["3af2c5a8"], arc1_train["c59eb873"], arc1_train["1f85a75f"]
    assert task_encoding.output_shape_rule(mirror)((5, 7)) == (10, 14)  # 3x4 -> 6x8: twice the input
    assert task_encoding.output_shape_rule(upscale)((5, 5)) == (10, 10)  # 2x2, 3x3, 4x4 -> twice
    assert task_encoding.output_shape_rule(crop) is None  # 30x30 -> 5x3 and 3x3: crops follow no rule
    grow = tasks.Task("grow", [(np.zeros((7, 7), np.uint8), np.zeros((9, 9), np.uint8))] * 2, [None], None)
    assert task_encoding.output_shape_rule(grow)((21, 21)) == (27, 27)  # exact: in floats 21 * (9 / 7) rounds up to 28


def test_out_shapes_are_the_outputs_shape_in_each_version(arc1_train):
    task = arc1_train["3af2c5a8"]  # a 4-way mirror: 3x4 -> 6x8
    augs = augment.versions(task, 8, seed=0, permute_background=True)
    data = task_encoding.task_data(task, augs, task_encoding.task_canvas(task))
    labels = [decode(row, data.canvas).shape for row in data.labels]
    assert [tuple(s) for s in data.out_shapes] == labels  # training: exactly the demonstrations' outputs
    truth = [augs[k].apply(task.test_outputs[0]).shape for k in data.test_aug]
    assert [tuple(s) for s in data.test_out_shapes] == truth  # the test: the rule's, oriented per version
    assert {tuple(s) for s in data.test_out_shapes} == {(6, 8), (8, 6)}
    assert data.sample(4)["out_shape"].shape == (4, 2)


def test_without_an_output_rule_the_expected_output_is_the_input(arc1_train):
    task = next(t for t in arc1_train if task_encoding.output_shape_rule(t) is None)
    augs = augment.versions(task, 2, seed=0)
    data = task_encoding.task_data(task, augs, task_encoding.task_canvas(task))
    assert [tuple(s) for s in data.out_shapes] == [decode(row, data.canvas).shape for row in data.inputs]
