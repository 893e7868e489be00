"""Per-source anchor batches (``hades_zoo.multitask.batches``): the ``auto`` rule, a batch of
every anchor equal to full-batch BC, sampled batches that train, and the full-batch path
unchanged where selected."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hades_zoo.anchors import batched_bc_per_seed
from hades_zoo.bc import init_params
from hades_zoo.errors import ConfigError
from hades_zoo.multitask import VARIANTS, make_anchors, make_multitask_policy, merge, packed_states, train_multitask
from hades_zoo.multitask.batches import anchor_batch, batched_anchor_bc
from hades_zoo.recipe import InitSpec, Recipe

CP, MC = "cartpole-hades-r-4", "mountaincar-continuous-hades-r-4"
POOL, SEEDS = 16, 2


def test_auto_keeps_every_anchor_up_to_eight_sources_then_samples_per_source():
    cfg = VARIANTS["anchored"]  # 2048 anchors per source
    assert [anchor_batch(cfg, n) for n in (2, 6, 8, 9, 30, 64)] == [0, 0, 0, 910, 273, 256]
    assert anchor_batch(dataclasses.replace(cfg, anchor_batch=0), 30) == 0  # full batch, as selected
    assert anchor_batch(dataclasses.replace(cfg, anchor_batch=64), 2) == 64
    assert anchor_batch(dataclasses.replace(cfg, anchor_batch=4096), 30) == 0  # the whole pool: full batch
    for bad in (-1, "some", 1.5):
        with pytest.raises(ConfigError, match="anchor_batch"):
            dataclasses.replace(cfg, anchor_batch=bad)


@pytest.fixture(scope="module")
def rows():
    """A 2-source merge, its pairs and 16 data anchors per source, labelled per seed."""
    m = merge([CP, MC])
    cfg = dataclasses.replace(VARIANTS["anchored-data"], anchors=POOL)
    _, a_states, a_targets, _ = make_anchors(m, cfg, num_seeds=SEEDS)
    states = jnp.asarray(np.concatenate([packed_states(m), a_states]))
    targets = jnp.asarray(np.concatenate([np.repeat(m.targets[None], SEEDS, 0), a_targets], axis=1))
    policy = make_multitask_policy(m, "mlp-1x16-tanh", cfg)
    params0 = init_params(policy, InitSpec(), [jax.random.PRNGKey(i) for i in range(SEEDS)])
    return m, policy, params0, states, targets


def full_loss(policy, params, states, targets):
    return np.array([float(policy.bc_loss(jax.tree.map(lambda x: x[i], params), states, targets[i])) for i in range(SEEDS)])


def test_a_batch_of_every_anchor_is_full_batch_bc(rows):
    m, policy, params0, states, targets = rows
    recipe = Recipe(arch="mlp-1x16-tanh", lr=0.01, epochs=5)
    keys = jax.random.split(jax.random.PRNGKey(0), SEEDS)
    batched = batched_anchor_bc(policy, recipe, m.size, (POOL, POOL), POOL)(params0, keys, states, targets)
    full = batched_bc_per_seed(policy, recipe)(params0, states, targets)  # rows permuted, weights 1: the same loss
    for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(full)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_a_sampled_anchor_weighs_as_many_anchors_as_it_stands_for(rows):
    """Weight ``pool / batch`` on a row is that row counted ``pool / batch`` times in its source's mean:
    pairs keep their full-batch share against anchors."""
    m, policy, params0, states, targets = rows
    params = jax.tree.map(lambda x: x[0], params0)
    pick = np.r_[0:m.size, m.size:m.size + 4, m.size + POOL:m.size + POOL + 4]  # the pairs, 4 anchors per source
    weights = jnp.asarray(np.r_[np.ones(m.size), np.full(8, 4.0)])
    repeated = np.r_[0:m.size, np.repeat(pick[m.size:], 4)]
    weighted = policy.bc_loss(params, states[pick], targets[0][pick], weights)
    np.testing.assert_allclose(weighted, policy.bc_loss(params, states[repeated], targets[0][repeated]), rtol=1e-6)
    assert not np.isclose(weighted, policy.bc_loss(params, states[pick], targets[0][pick]))


def test_sampled_anchor_batches_train_and_are_deterministic_in_the_key(rows):
    m, policy, params0, states, targets = rows
    recipe = Recipe(arch="mlp-1x16-tanh", lr=0.01, epochs=20)
    bc = batched_anchor_bc(policy, recipe, m.size, (POOL, POOL), 4)
    keys = jax.random.split(jax.random.PRNGKey(0), SEEDS)
    params = bc(params0, keys, states, targets)
    before, after = full_loss(policy, params0, states, targets), full_loss(policy, params, states, targets)
    assert np.all(after < before - 0.1), (before, after)  # the loss over every row falls on each seed
    again = bc(params0, keys, states, targets)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(again)))
    other = bc(params0, jax.random.split(jax.random.PRNGKey(1), SEEDS), states, targets)
    assert not np.array_equal(jax.tree.leaves(params)[0], jax.tree.leaves(other)[0])  # other key, other samples


def test_train_multitask_takes_the_batched_path_only_where_selected(rows):
    m, _, _, states, targets = rows
    kw = dict(variant="anchored-data", anchors=POOL, epochs=5, num_seeds=SEEDS)
    full = train_multitask(m, "mlp-1x16-tanh", anchor_batch=0, **kw)
    keys = [jax.random.fold_in(jax.random.PRNGKey(0), i) for i in range(SEEDS)]
    want = batched_bc_per_seed(full.policy, full.recipe)(init_params(full.policy, InitSpec(), keys), states, targets)
    assert full.timing["anchor_batch"] == 0
    for a, b in zip(jax.tree.leaves(full.params), jax.tree.leaves(want)):  # the full-batch path as it was
        np.testing.assert_array_equal(a, b)
    sampled = train_multitask(m, "mlp-1x16-tanh", anchor_batch=4, **kw)
    assert sampled.timing["anchor_batch"] == 4
    assert not np.array_equal(jax.tree.leaves(sampled.params)[0], jax.tree.leaves(full.params)[0])
    assert train_multitask(m, "mlp-1x16-tanh", **kw).timing["anchor_batch"] == 0  # auto: 2 sources, full batch


def test_the_token_encoding_takes_anchor_batches_too(rows):
    m = rows[0]
    trained = train_multitask(m, "tfm-1x8-gelu", variant="anchored-data", inputs="tokens", anchors=POOL, anchor_batch=4, epochs=2)
    assert trained.timing["anchor_batch"] == 4
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(trained.params))


def test_sources_of_different_pool_sizes_sample_from_their_own_block():
    """``anchor_pool="auto"`` gives some sources more anchors: each block is sampled within itself,
    a source with no more anchors than the batch takes all of them (weight 1), the others
    ``batch`` at weight ``pool / batch``."""
    from hades_zoo.multitask.batches import anchor_sampler

    n_pairs, pools, batch = 3, (16, 4, 10), 8
    rows = n_pairs + sum(pools)
    states = jnp.arange(rows, dtype=jnp.float32)[:, None]
    sample = anchor_sampler(n_pairs, pools, batch)
    s, t, w = jax.jit(sample)(jax.random.PRNGKey(0), states, states * 2)
    s, w = np.asarray(s[:, 0]).astype(int), np.asarray(w)
    assert len(s) == n_pairs + 8 + 4 + 8 and np.array_equal(np.asarray(t[:, 0]), 2 * s)
    np.testing.assert_array_equal(s[:3], [0, 1, 2])
    first, second, third = s[3:11], s[11:15], s[15:]
    assert set(first) <= set(range(3, 19)) and len(set(first)) == 8  # without replacement, in its own block
    np.testing.assert_array_equal(second, np.arange(19, 23))  # 4 anchors, batch 8: all of them
    assert set(third) <= set(range(23, 33)) and len(set(third)) == 8
    np.testing.assert_allclose(w, np.r_[np.ones(3), np.full(8, 2.0), np.ones(4), np.full(8, 10 / 8)])
    cfg = VARIANTS["anchored"]
    assert anchor_batch(cfg, (2048,) * 28 + (65536, 65536)) == 273  # the whole zoo with two large pools
    assert anchor_batch(cfg, (2048, 8192)) == 0  # 10,240 anchor rows: still the full batch
    assert anchor_batch(cfg, (2048, 65536)) == 4096


def test_anchor_batches_in_seed_chunks_are_the_same_students(rows):
    """``chunk``: the seeds a chunk at a time (``lax.map``), each with its own key and targets: the
    same students as all seeds at once (the single-task ``teacher-env`` pool over the memory bound)."""
    m, policy, params0, states, targets = rows
    recipe = Recipe(arch="mlp-1x16-tanh", lr=0.01, epochs=5)
    keys = jax.random.split(jax.random.PRNGKey(0), SEEDS)
    whole = batched_anchor_bc(policy, recipe, m.size, (POOL, POOL), 4)(params0, keys, states, targets)
    chunked = batched_anchor_bc(policy, recipe, m.size, (POOL, POOL), 4, 1)(params0, keys, states, targets)
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(chunked)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_random_subset_is_distinct_and_uniform():
    """The sampler's draw without replacement (top-k of random bits instead of a permutation of the pool): distinct
    indices in range, each index and each pair of indices as often as any other."""
    from hades_zoo.multitask.batches import random_subset

    draws = np.asarray(jax.vmap(lambda k: random_subset(k, 6, 3))(jax.random.split(jax.random.PRNGKey(0), 6000)))
    assert draws.shape == (6000, 3) and draws.min() >= 0 and draws.max() < 6
    assert all(len(set(row)) == 3 for row in draws)
    np.testing.assert_allclose(np.bincount(draws.ravel(), minlength=6) / 6000, 0.5, atol=0.03)  # 3 of 6
    pairs = np.zeros((6, 6))
    for row in draws:
        pairs[np.ix_(row, row)] += 1
    off = pairs[~np.eye(6, dtype=bool)] / 6000
    np.testing.assert_allclose(off, 3 * 2 / (6 * 5), atol=0.03)  # P(i and j both drawn) = 0.2
