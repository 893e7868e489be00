"""Teacher transfer in ``train``: the dataset's own recipe labels anchor states for another
architecture; ``auto`` keeps plain BC for the dataset's own recipe."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import run_cli

import hades_zoo
from hades_zoo import transfer as transfer_mod
from hades_zoo.transfer import teacher_targets
from hades_zoo.errors import ConfigError

CP = "cartpole-hades-r-4"


def test_auto_keeps_plain_bc_for_the_datasets_own_recipe():
    ds = hades_zoo.load(CP)
    auto = hades_zoo.train(ds, num_seeds=2, epochs=ds.recipe.epochs)  # an override equal to the recipe is no change
    plain = hades_zoo.train(ds, num_seeds=2, transfer="none")
    assert auto.teacher is None and "transfer" not in auto.info and "teacher_s" not in auto.timing
    jax.tree.map(np.testing.assert_array_equal, auto.params, plain.params)


@pytest.mark.parametrize("kwargs", [{"model": "mlp-1x8-relu"}, {"lr": 0.02}, {"epochs": 7}, {"init": "random"}])
def test_auto_uses_the_teacher_when_the_recipe_differs(kwargs):
    ds = hades_zoo.load(CP)
    if kwargs.get("init") == "random" and ds.recipe.init.mode != "fixed":
        pytest.skip("a HaDES-R dataset's own init is already random")
    trained = hades_zoo.train(ds, num_seeds=2, anchors=8, **kwargs)
    assert trained.info["transfer"] == {"mode": "teacher", "anchors": 8, "teacher_arch": ds.recipe.arch}
    assert trained.teacher.recipe == hades_zoo.train(ds, num_seeds=2).recipe and trained.teacher.teacher is None
    assert trained.timing["teacher_s"] > 0


def test_anchors_are_the_pairs_plus_states_labelled_by_each_teacher_seed():
    ds = hades_zoo.load(CP)
    own = hades_zoo.train(ds, seed=3, num_seeds=2)
    states, targets = teacher_targets(ds, "teacher", 16, own)
    assert states.shape == (ds.size + 16, 4) and targets.shape == (2, ds.size + 16, 2)
    np.testing.assert_array_equal(states[: ds.size], ds.states)
    np.testing.assert_array_equal(targets[:, : ds.size], np.repeat(ds.targets[None], 2, 0))
    for i in range(2):
        want = jax.nn.softmax(own.policy(own.params_of(i), jnp.asarray(states[ds.size:])), axis=-1)
        np.testing.assert_allclose(targets[i, ds.size:], want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(targets[0, ds.size:], targets[1, ds.size:])  # each student seed has its own teacher


def test_bad_transfer_names_the_choices():
    with pytest.raises(ConfigError, match="transfer must be one of auto, teacher, teacher-fixed, teacher-env, teacher-fresh, none"):
        hades_zoo.train(CP, "mlp-1x8-relu", transfer="distil")


def test_cli_reports_the_teacher_beside_the_student():
    r = run_cli("train", CP, "--arch", "mlp-1x8-relu", "--seeds", "2", "--epochs", "50", "--anchors", "64", "--json", "-q")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["transfer"] == "teacher" and out["anchors"] == 64 and out["arch"] == "mlp-1x8-relu"
    assert out["teacher"]["arch"] == out["teacher"]["recipe"]["arch"] != "mlp-1x8-relu"
    assert len(out["teacher"]["returns"]) == 2 and out["timing"]["teacher_s"] > 0
    assert out["student_over_teacher"] == pytest.approx(out["mean"] / out["teacher"]["mean"])
    plain = json.loads(run_cli("train", CP, "--seeds", "1", "--json", "-q").stdout)
    assert plain["transfer"] == "none" and "teacher" not in plain


@pytest.fixture
def no_env(monkeypatch):
    """Building any env fails: the student's recipe must be chosen without one."""
    from hades_zoo import envs

    def refuse(*a, **k):
        raise AssertionError("the student's recipe choice built an env")

    monkeypatch.setattr(envs, "make", refuse)
    monkeypatch.setattr(envs, "_make", refuse)


def test_student_recipe_is_chosen_by_agreement_with_no_env(no_env):
    """``select="agreement"`` picks lr and steps on held-out teacher labels: no env is ever built."""
    ds = hades_zoo.load(CP)
    trained = hades_zoo.train(ds, "mlp-1x8-relu", num_seeds=2, epochs=4, lr=0.01, anchors=16, transfer="teacher-fixed",
                              select="agreement")
    table = trained.info["transfer"]["selection"]
    assert {(r["lr"], r["epochs"]) for r in table} == {(lr, ep) for lr in (0.005, 0.01, 0.02) for ep in (4, 8, 16)}
    best = min(table, key=lambda r: r["agreement"])
    assert (trained.recipe.lr, trained.recipe.epochs) == (best["lr"], best["epochs"])
    # the chosen student is the one that recipe trains from scratch (chunks resume Adam exactly)
    again = hades_zoo.train(ds, "mlp-1x8-relu", num_seeds=2, epochs=best["epochs"], lr=best["lr"], anchors=16,
                            transfer="teacher-fixed", teacher=trained.teacher)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), trained.params, again.params)


def test_select_needs_a_teacher_and_a_given_teacher_must_match():
    ds = hades_zoo.load(CP)
    with pytest.raises(ConfigError, match="use it with transfer='teacher'"):
        hades_zoo.train(ds, "mlp-1x8-relu", transfer="none", select="agreement")
    other = hades_zoo.train(ds, seed=5, num_seeds=2)
    with pytest.raises(ConfigError, match="teacher= must be the dataset's own recipe"):
        hades_zoo.train(ds, "mlp-1x8-relu", num_seeds=2, transfer="teacher", teacher=other)


def test_cli_select_without_a_teacher_is_one_error_line():
    r = run_cli("train", CP, "--arch", "mlp-1x8-relu", "--transfer", "none", "--select", "agreement", "-q")
    assert r.returncode == 2
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "use it with transfer='teacher'" in last, last


def test_teacher_fresh_draws_new_anchors_every_step():
    ds = hades_zoo.load(CP)
    a = hades_zoo.train(ds, "mlp-1x8-relu", num_seeds=2, epochs=5, anchors=8, transfer="teacher-fresh")
    assert a.info["transfer"] == {"mode": "teacher-fresh", "anchors": 8, "teacher_arch": ds.recipe.arch}
    b = hades_zoo.train(ds, "mlp-1x8-relu", num_seeds=2, epochs=5, anchors=8, transfer="teacher-fresh", teacher=a.teacher)
    jax.tree.map(np.testing.assert_array_equal, a.params, b.params)  # same seed, same draws
    fixed = hades_zoo.train(ds, "mlp-1x8-relu", num_seeds=2, epochs=5, anchors=8, transfer="teacher-fixed", teacher=a.teacher)
    assert not np.allclose(a.params["net"]["params"]["Dense_0"]["kernel"], fixed.params["net"]["params"]["Dense_0"]["kernel"])


def test_teacher_selection_trains_every_candidate_with_no_env(no_env):
    """``select="agreement"`` with the default ``teacher``: one run per (lr x 1/2/4, student steps x 1/3),
    checked on held-out fresh anchors; the (1, 1) candidate is the unselected student, and the
    chosen one is what its recipe trains. No env is ever built."""
    ds = hades_zoo.load(CP)
    teacher = hades_zoo.train(ds, num_seeds=2)
    sel = hades_zoo.train(ds, "mlp-1x8-relu", num_seeds=2, epochs=2, lr=0.01, anchors=8, select="agreement", teacher=teacher)
    table = sel.info["transfer"]["selection"]
    assert {(r["lr"], r["epochs"]) for r in table} == {(lr, ep) for lr in (0.01, 0.02, 0.04) for ep in (6, 18)}
    best = min(table, key=lambda r: r["agreement"])
    assert (sel.recipe.lr, sel.recipe.epochs) == (best["lr"], best["epochs"])
    opts = transfer_mod.FRESH_OPTS["teacher"]
    plain = hades_zoo.train(ds, "mlp-1x8-relu", num_seeds=2, epochs=2, lr=0.01, anchors=8, teacher=teacher)
    held = transfer_mod.held_out_fresh(teacher, opts)
    first = next(r for r in table if (r["lr"], r["epochs"]) == (0.01, 6))
    assert first["agreement"] == pytest.approx(float(np.mean(transfer_mod.agreement(plain.policy, plain.params, *held))))
    again = hades_zoo.train(ds, "mlp-1x8-relu", num_seeds=2, epochs=best["epochs"] // opts.steps, lr=best["lr"], anchors=8,
                            teacher=teacher)
    jax.tree.map(np.testing.assert_array_equal, sel.params, again.params)


@pytest.mark.parametrize("mode,lrs,steps", [("teacher", (0.01, 0.02, 0.04), 6), ("teacher-fixed", (0.005, 0.01, 0.02), 2)])
def test_agreement_lr_tries_only_the_learning_rates_with_no_env(no_env, mode, lrs, steps):
    """``select="agreement-lr"``: the lr candidates of ``agreement`` at the student's own steps only
    (3 students, not 12); the chosen one is what its recipe trains. No env is ever built."""
    ds = hades_zoo.load(CP)
    teacher = hades_zoo.train(ds, num_seeds=2)
    sel = hades_zoo.train(ds, "mlp-1x8-relu", num_seeds=2, epochs=2, lr=0.01, anchors=8, transfer=mode,
                          select="agreement-lr", teacher=teacher)
    table = sel.info["transfer"]["selection"]
    assert sorted((r["lr"], r["epochs"]) for r in table) == [(lr, steps) for lr in lrs]
    best = min(table, key=lambda r: r["agreement"])
    assert (sel.recipe.lr, sel.recipe.epochs) == (best["lr"], steps)
    again = hades_zoo.train(ds, "mlp-1x8-relu", num_seeds=2, epochs=2, lr=best["lr"], anchors=8, transfer=mode,
                            teacher=teacher)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), sel.params, again.params)


def test_teacher_trains_three_times_the_steps_on_fresh_mixup_anchors():
    """The default ``teacher``: fresh anchors every step (FRESH_OPTS), 3x the given steps, deterministic."""
    from hades_zoo.transfer import FRESH_OPTS

    ds = hades_zoo.load(CP)
    a = hades_zoo.train(ds, "mlp-1x8-relu", num_seeds=2, epochs=5, anchors=8, transfer="teacher")
    assert a.info["transfer"] == {"mode": "teacher", "anchors": 8, "teacher_arch": ds.recipe.arch}
    assert a.recipe.epochs == 5 * FRESH_OPTS["teacher"].steps == 15
    b = hades_zoo.train(ds, "mlp-1x8-relu", num_seeds=2, epochs=5, anchors=8, transfer="teacher", teacher=a.teacher)
    jax.tree.map(np.testing.assert_array_equal, a.params, b.params)
    plain = hades_zoo.train(ds, "mlp-1x8-relu", num_seeds=2, epochs=15, anchors=8, transfer="teacher-fresh", teacher=a.teacher)
    assert plain.recipe.epochs == 15
    assert not np.allclose(a.params["net"]["params"]["Dense_0"]["kernel"], plain.params["net"]["params"]["Dense_0"]["kernel"])


def test_fresh_points_mix_pairs_and_scale_the_noise():
    from hades_zoo.transfer import FreshOpts, fresh_points

    x = jnp.asarray(np.random.default_rng(0).normal(size=(6, 3)), jnp.float32)
    std = jnp.ones(3)
    mixed = np.asarray(fresh_points(jax.random.PRNGKey(1), x, std, 400, FreshOpts(mixup=1.0)))
    # every mixup point lies on a segment between two pairs: inside the pairs' bounding box
    assert np.all(mixed >= np.asarray(x).min(0) - 1e-6) and np.all(mixed <= np.asarray(x).max(0) + 1e-6)
    noise = [np.asarray(fresh_points(jax.random.PRNGKey(1), x, std, 4000, FreshOpts(scales=(s,)))) for s in (0.5, 2.0)]
    gaps = [np.abs(p[:, None] - np.asarray(x)[None]).min(1).mean() for p in noise]
    assert gaps[1] > 2 * gaps[0]  # the noise grows with the scale


def test_expected_clipped_action_matches_sampling():
    from hades_zoo.transfer import expected_clipped

    mean, std = jnp.asarray([-3.0, -0.9, 0.0, 0.4, 1.2, 5.0]), 0.5
    eps = np.random.default_rng(0).normal(size=(200_000, 1))
    want = np.clip(np.asarray(mean)[None] + std * eps, -1, 1).mean(0)
    np.testing.assert_allclose(np.asarray(expected_clipped(mean, std)), want, atol=5e-3)


def test_fixed_anchors_over_the_memory_bound_train_the_seeds_in_chunks(monkeypatch):
    """Over ``bounds.MAX_BC_TEMP_BYTES`` (XLA's own count of the vmapped BC's working memory), the
    seeds of a fixed-anchor student train a chunk at a time: the same students, less memory."""
    from hades_zoo import anchors as anchors_mod
    from hades_zoo import bounds

    ds = hades_zoo.load(CP)
    teacher = hades_zoo.train(ds, num_seeds=3)
    whole = hades_zoo.train(ds, "mlp-1x8-relu", num_seeds=3, epochs=4, anchors=16, transfer="teacher-fixed", teacher=teacher)
    assert "bc_seed_chunk" not in whole.timing
    states, targets = teacher_targets(ds, "teacher-fixed", 16, teacher)
    args = (whole.params, jnp.asarray(states), jnp.asarray(targets))
    temp = anchors_mod.batched_bc_per_seed(whole.policy, whole.recipe).lower(*args).compile().memory_analysis().temp_size_in_bytes
    monkeypatch.setattr(bounds, "MAX_BC_TEMP_BYTES", temp // 2)
    chunked = hades_zoo.train(ds, "mlp-1x8-relu", num_seeds=3, epochs=4, anchors=16, transfer="teacher-fixed", teacher=teacher)
    assert chunked.timing["bc_seed_chunk"] == 1
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), whole.params, chunked.params)


def test_weighted_bc_loss_counts_a_row_as_often_as_its_weight():
    """A plain policy's ``bc_loss`` with per-row weights (a sampled anchor batch) is the loss of the
    rows repeated that many times, discrete and continuous; without weights it is as before."""
    from hades_zoo.bc import bc_loss, init_params
    from hades_zoo.policies import make_policy
    from hades_zoo.recipe import InitSpec

    rng = np.random.default_rng(0)
    states = jnp.asarray(rng.normal(size=(5, 4)), jnp.float32)
    for discrete, targets in [(True, jax.nn.softmax(jnp.asarray(rng.normal(size=(5, 3)), jnp.float32))),
                              (False, jnp.asarray(rng.normal(size=(5, 3)), jnp.float32))]:
        policy = make_policy("mlp-1x8-relu", (4,), 3, discrete)
        params = jax.tree.map(lambda x: x[0], init_params(policy, InitSpec(), [jax.random.PRNGKey(0)]))
        weights = jnp.asarray([1.0, 1.0, 3.0, 2.0, 1.0])
        rep = np.repeat(np.arange(5), np.asarray(weights, int))
        np.testing.assert_allclose(bc_loss(policy, params, states, targets, weights),
                                   bc_loss(policy, params, states[rep], targets[rep]), rtol=1e-6)
        np.testing.assert_allclose(bc_loss(policy, params, states, targets, jnp.ones(5)),
                                   bc_loss(policy, params, states, targets), rtol=1e-6)


def test_teacher_env_keeps_every_rollout_frame_on_minatar_and_samples_it_per_step():
    """Single-task ``teacher-env`` on MinAtar takes the multi-task pool rule (``anchors.frame_pool``):
    every state of the teacher's rollouts is an anchor, and each BC step takes ``TRANSFER_ANCHORS``
    of them (``multitask.batches.batched_anchor_bc``: the same sampler and weights); an asked count
    at least the pool's trains on all of them, full batch."""
    from hades_zoo.anchors import rollout_states, visited_states
    from hades_zoo.bc import init_params
    from hades_zoo.multitask.batches import batched_anchor_bc
    from hades_zoo.recipe import InitSpec, get_protocol

    ds = hades_zoo.load("breakout-minatar-hades-r-16")
    teacher = hades_zoo.train(ds, num_seeds=1)
    every = rollout_states(teacher, seed=0)
    proto = get_protocol(ds.protocol, ds.spec)
    pool = proto.n_envs * proto.n_steps
    assert len(every) == pool > transfer_mod.TRANSFER_ANCHORS["teacher-env"]
    states, targets = teacher_targets(ds, "teacher-env", None, teacher)
    assert targets.shape == (1, ds.size + pool, ds.spec.action_dim)
    np.testing.assert_array_equal(states[ds.size:], every)
    drawn, _ = teacher_targets(ds, "teacher-env", None, teacher, pool="fixed")  # before the pool: 2048 drawn
    np.testing.assert_array_equal(drawn[ds.size:], visited_states(teacher, 2048, seed=0))
    assert transfer_mod.pool_batch("teacher-env", None, pool) == 2048 and transfer_mod.pool_batch("teacher-env", pool, pool) == 0
    st = hades_zoo.train(ds, "mlp-1x8-relu", num_seeds=1, epochs=3, transfer="teacher-env", teacher=teacher)
    assert st.info["transfer"] == {"mode": "teacher-env", "anchors": pool, "teacher_arch": ds.recipe.arch, "anchor_batch": 2048}
    params0 = init_params(st.policy, InitSpec(), [jax.random.fold_in(jax.random.PRNGKey(0), 0)])
    want = batched_anchor_bc(st.policy, st.recipe, ds.size, (pool,), 2048)(
        params0, transfer_mod.pool_keys(0, 1), jnp.asarray(states), jnp.asarray(targets))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), st.params, want)
    full = hades_zoo.train(ds, "mlp-1x8-relu", num_seeds=1, epochs=1, anchors=pool, transfer="teacher-env", teacher=teacher)
    assert full.info["transfer"]["anchors"] == pool and "anchor_batch" not in full.info["transfer"]


def test_teacher_env_on_flat_observations_is_unchanged():
    """Flat observations (classic control, brax) keep ``TRANSFER_ANCHORS`` states drawn from the
    rollouts and full-batch BC over them, exactly as before the MinAtar pool."""
    from hades_zoo import anchors as anchors_mod
    from hades_zoo.bc import init_params
    from hades_zoo.recipe import InitSpec

    ds = hades_zoo.load(CP)
    teacher = hades_zoo.train(ds, num_seeds=2)
    states, targets = teacher_targets(ds, "teacher-env", 16, teacher)
    np.testing.assert_array_equal(states[ds.size:], anchors_mod.anchor_states(teacher, 16, "env", seed=0, pool="fixed"))
    assert len(anchors_mod.rollout_states(teacher, seed=0)) > 16 and transfer_mod.pool_batch("teacher-env", 16, 16) == 0
    st = hades_zoo.train(ds, "mlp-1x8-relu", num_seeds=2, epochs=4, anchors=16, transfer="teacher-env", teacher=teacher)
    assert st.info["transfer"] == {"mode": "teacher-env", "anchors": 16, "teacher_arch": ds.recipe.arch}
    params0 = init_params(st.policy, InitSpec(), [jax.random.fold_in(jax.random.PRNGKey(0), i) for i in range(2)])
    want = anchors_mod.batched_bc_per_seed(st.policy, st.recipe)(params0, jnp.asarray(states), jnp.asarray(targets))
    jax.tree.map(np.testing.assert_array_equal, st.params, want)


def test_select_student_over_a_sampled_anchor_pool(no_env):
    """``select_student`` with a sampler (``teacher-env``'s MinAtar pool: a sample of the anchors per step): every
    (lr, steps) candidate trains on sampled batches, is scored on the held-out anchors, and the chosen one is the
    lowest; the same keys give the same table, and the samples differ from the full batch. No env is built."""
    from hades_zoo.bc import init_params
    from hades_zoo.recipe import InitSpec, Recipe

    ds = hades_zoo.load(CP)
    teacher = hades_zoo.train(ds, num_seeds=2)
    states, targets = teacher_targets(ds, "teacher", 40, teacher)
    policy = hades_zoo.train(ds, "mlp-1x8-relu", num_seeds=2, epochs=1, transfer="none").policy
    params0 = init_params(policy, InitSpec(), [jax.random.PRNGKey(i) for i in range(2)])
    held = transfer_mod.held_out(teacher, "teacher")
    recipe = Recipe(arch="mlp-1x8-relu", lr=0.01, epochs=2)
    sampler, keys = (ds.size, (len(states) - ds.size,), 8), transfer_mod.pool_keys(0, 2)
    select = lambda s: transfer_mod.select_student(policy, recipe, params0, states, targets, *held, (1, 3), s, keys)  # noqa: E731
    chosen, params, table = select(sampler)
    assert {(r["lr"], r["epochs"]) for r in table} == {(lr, ep) for lr in (0.005, 0.01, 0.02) for ep in (2, 6)}
    best = min(table, key=lambda r: r["agreement"])
    assert (chosen.lr, chosen.epochs) == (best["lr"], best["epochs"])
    assert best["agreement"] == pytest.approx(float(np.mean(transfer_mod.agreement(policy, params, *held))))
    assert [r["agreement"] for r in select(sampler)[2]] == [r["agreement"] for r in table]
    assert [r["agreement"] for r in select(None)[2]] != [r["agreement"] for r in table]
