"""Generated tasks (arc_trm/data/generate.py): every family gives valid tasks whose pairs follow one rule, the same
tasks for the same seed; the prior adds them to its data and never holds them out."""

import numpy as np
import pytest
from scipy import ndimage

from arc_trm.data import generate
from arc_trm.data.augment import dihedral
from arc_trm.train.prior import PriorConfig, PriorData, encode_all, pretraining_tasks


def pairs(task):
    return list(task.train) + [(task.test_inputs[0], task.test_outputs[0])]


@pytest.mark.parametrize("family", list(generate.FAMILIES))
def test_every_family_gives_valid_tasks_that_change_their_inputs(family):
    for n in range(20):
        task = generate.task(family, n)
        assert task.id == f"gen-{family}-{n}" and task.solvable and len(task.train) == generate.DEMONSTRATIONS
        for a, b in pairs(task):
            assert a.dtype == b.dtype == np.uint8 and b.max() <= 9 and all(1 <= s <= 30 for s in b.shape)
        assert any(a.shape != b.shape or (a != b).any() for a, b in pairs(task))


def test_the_same_seed_gives_the_same_tasks_and_another_seed_others():
    one, again, other = generate.generate(3, seed=0), generate.generate(3, seed=0), generate.generate(3, seed=1)
    assert len(one) == 3 * len(generate.FAMILIES) == len({t.id for t in one})
    same = [all((a == c).all() for (a, _), (c, _) in zip(x.train, y.train)) for x, y in zip(one, again)]
    assert all(same)
    assert any(
        x.train[0][0].shape != y.train[0][0].shape or (x.train[0][0] != y.train[0][0]).any() for x, y in zip(one, other)
    )


def test_the_rules_do_what_their_family_says():
    for n in range(10):
        scaled = generate.task("scale", n)
        k = scaled.train[0][1].shape[0] // scaled.train[0][0].shape[0]
        assert all((b[::k, ::k] == a).all() and b.shape == (a.shape[0] * k, a.shape[1] * k) for a, b in pairs(scaled))
        turned = generate.task("geometry", n)
        turns = [
            k
            for k in range(1, 8)
            if all(dihedral(a, k).shape == b.shape and (dihedral(a, k) == b).all() for a, b in pairs(turned))
        ]
        assert turns  # one dihedral transform explains every pair
        for a, b in pairs(generate.task("gravity", n)):  # cells fall, none appear or vanish
            counts = [np.bincount(g.ravel(), minlength=10) for g in (a, b)]
            assert a.shape == b.shape and (counts[0] == counts[1]).all()
        for _a, b in pairs(generate.task("symmetry", n)):
            assert (b == np.fliplr(b)).all() or (b == np.flipud(b)).all()
        for a, b in pairs(generate.task("fill", n)):  # only background cells change
            assert ((a == b) | (a == 0)).all()
        for _a, b in pairs(generate.task("count", n)):
            assert b.shape[0] == 1 and len(np.unique(b)) == 1
        for a, b in pairs(generate.task("largest", n)):  # one object, larger than all others, recoloured
            labels, _ = ndimage.label(a != 0)
            sizes = np.bincount(labels.ravel())[1:]
            assert (sizes == sizes.max()).sum() == 1
            assert (a[labels != 1 + sizes.argmax()] == b[labels != 1 + sizes.argmax()]).all()
            assert len(np.unique(b[labels == 1 + sizes.argmax()])) == 1


def test_the_prior_adds_generated_tasks_and_holds_out_only_real_ones():
    data = PriorData(max_tasks=6, eval_tasks=3, generated=2)
    all_tasks = pretraining_tasks(data)
    generated = [t for t in all_tasks if t.id.startswith(generate.PREFIX)]
    assert len(all_tasks) == 6 + len(generated) and len(generated) == 2 * len(generate.FAMILIES)
    config = PriorConfig(data=data)
    config.ttt.versions = 2
    _, held_out, _ = encode_all(all_tasks, config)
    _, held_real, _ = encode_all(all_tasks[:6], config)
    assert [p.task_id for p in held_out] == [p.task_id for p in held_real]  # the same real tasks held out
    assert not any(p.task_id.startswith(generate.PREFIX) for p in held_out)
