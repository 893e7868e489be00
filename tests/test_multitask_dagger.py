"""Student rounds (DAgger): the student's own rollout states join each env-anchored source's anchors,
labelled by that source's teacher; data-anchored sources and the pairs stay as they were."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from hades_zoo.anchors import label
from hades_zoo.errors import ConfigError
from hades_zoo.multitask import VARIANTS, make_anchors, merge, packed_states, train_multitask
from hades_zoo.multitask.dagger import grow_anchors, student_anchors

ARCH = "mlp-1x32-tanh"


@pytest.fixture(scope="module")
def merged():
    # a fixed-init source (env anchors under "auto") beside an R source of another env (data anchors)
    return merge(["cartpole-hades-f-4", "acrobot-hades-r-4"])


def _train(merged, rounds):
    return train_multitask(merged, ARCH, anchors=32, student_rounds=rounds, num_seeds=2, epochs=10)


def test_grow_anchors_adds_the_students_states_labelled_by_the_teacher(merged):
    trained = _train(merged, 0)
    assert trained.anchor_kinds == {0: "env", 1: "data"}
    cfg = trained.config
    teachers, a_states, a_targets, pools = make_anchors(merged, cfg, seed=0, num_seeds=2)
    states = np.concatenate([packed_states(merged, cfg.unit), a_states])
    targets = np.concatenate([np.repeat(merged.targets[None], 2, 0), a_targets], axis=1)
    n = merged.size
    new_states, new_targets, new_pools = grow_anchors(trained, states, targets, pools, n_pairs=n)
    assert new_pools == (64, 32)
    np.testing.assert_array_equal(new_states[: n + 32], states[: n + 32])  # the pairs and the env source's old block
    np.testing.assert_array_equal(new_targets[:, : n + 32], targets[:, : n + 32])
    np.testing.assert_array_equal(new_states[n + 64:], states[n + 32:])  # the data source's block, unchanged
    np.testing.assert_array_equal(new_targets[:, n + 64:], targets[:, n + 32:])
    visited, labels = student_anchors(trained, 0, 32)
    O, A = merged.obs_dim, merged.action_dim
    added = new_states[n + 32: n + 64]
    np.testing.assert_array_equal(added[:, : visited.shape[1]], visited)
    assert not added[:, visited.shape[1]: O].any()  # zero-padded to the widest observation
    np.testing.assert_array_equal(added[:, O:], states[n: n + 32, O:])  # the source's unit one-hot
    np.testing.assert_allclose(new_targets[:, n + 32: n + 64, : labels.shape[-1]], label(trained.teachers[0], visited))
    assert not new_targets[:, n + 32: n + 64, labels.shape[-1]: A].any()


def test_a_student_round_trains_on_the_grown_anchors(merged):
    plain, rounds = _train(merged, 0), _train(merged, 1)
    assert plain.anchor_pools == {0: 32, 1: 32} and rounds.anchor_pools == {0: 64, 1: 32}
    assert "student_rollouts_s[1]" in rounds.timing and "bc_s[1]" in rounds.timing
    # the first round's BC is the plain run's; the second changes the weights
    assert not all(np.allclose(a, b) for a, b in zip(jax.tree.leaves(plain.params), jax.tree.leaves(rounds.params)))


def test_student_rounds_need_teachers_and_a_bound():
    with pytest.raises(ConfigError, match="student_rounds"):
        VARIANTS["anchored"].__class__(anchors=0, anchor_states="env", student_rounds=1)
    with pytest.raises(ConfigError, match="student_rounds"):
        VARIANTS["anchored"].__class__(anchors=32, anchor_states="data", student_rounds=1)
    with pytest.raises(ConfigError, match="student_rounds"):
        VARIANTS["anchored"].__class__(anchors=32, anchor_states="env", student_rounds=9)
