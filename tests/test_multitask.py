"""Merged datasets and multi-task training: padding, masks, task ids, provenance, errors,
the masked loss, per-task evaluation in the real envs, fine-tuning, the CLI contract."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import run_cli

import hades_zoo
from hades_zoo import format as fmt
from hades_zoo.errors import ConfigError, IncompatibleDatasetError
from hades_zoo.multitask import MultiTaskDataset, load_merged, merge
from hades_zoo.multitask import (VARIANTS, evaluate_multitask, finetune, make_anchors, make_multitask_policy, packed_states, train_multitask,
                                 visited_states)
from hades_zoo.multitask.batches import anchor_sampler, batch_blocks
from hades_zoo.multitask.views import disjoint_inputs
from hades_zoo.sources import catalog
from hades_zoo.bc import bc_loss

CP, MC, AC = "cartpole-hades-r-4", "mountaincar-continuous-hades-r-4", "acrobot-hades-r-4"


def test_merge_pads_masks_and_records_provenance(tmp_path):
    cp, mc = hades_zoo.load(CP), hades_zoo.load(MC)  # 4 obs / 2 discrete actions; 2 obs / 1 continuous action
    m = merge([CP, MC])
    assert m.env_ids == ["CartPole-v1", "MountainCarContinuous-v0"] and m.size == 8
    assert (m.obs_dim, m.action_dim, m.n_tasks) == (4, 2, 2)
    np.testing.assert_array_equal(m.task_ids, [0, 0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(m.tasks, np.repeat(np.eye(2, dtype=np.float32), 4, axis=0))
    np.testing.assert_array_equal(m.states[:4], cp.states)
    np.testing.assert_array_equal(m.states[4:, :2], mc.states)
    assert not m.states[4:, 2:].any()
    np.testing.assert_array_equal(m.targets[:4], cp.labels)
    np.testing.assert_array_equal(m.targets[4:, :1], mc.actions)
    assert not m.targets[4:, 1:].any()
    np.testing.assert_array_equal(m.action_mask, [[1, 1]] * 4 + [[1, 0]] * 4)
    np.testing.assert_array_equal(m.obs_mask, [[1, 1, 1, 1]] * 4 + [[1, 1, 0, 0]] * 4)
    np.testing.assert_array_equal(m.obs_mean[1], np.r_[mc.obs_mean, 0, 0])
    np.testing.assert_array_equal(m.obs_var[1], np.r_[mc.obs_var, 1, 1])
    for src, ds in zip(m.sources, (cp, mc)):
        entry = catalog()[ds.name]
        assert src["name"] == ds.name and src["revision"] == entry["revision"]
        assert src["file_sha256"] == entry["sha256"] and src["sha256"] == fmt.payload_sha256(ds.tensors())
        assert src["location"] == f"hades_zoo/zoo/{entry['file']}"  # the package's path, the same on every checkout
    path = tmp_path / "merged.safetensors"
    m.save(path)
    back = load_merged(path)
    for k, v in m.tensors().items():
        np.testing.assert_array_equal(back.tensors()[k], v)
    assert back.sources == m.sources and back.name == f"{CP} + {MC}"
    for k, ds in enumerate((cp, mc)):  # every source comes back exactly, with its own recipe
        again = back.source_dataset(k)
        assert fmt.payload_sha256(again.tensors()) == fmt.payload_sha256(ds.tensors())
        assert again.recipe == ds.recipe and again.protocol == ds.protocol and again.obs_norm == ds.obs_norm
    # a merged file is an input too: its sources are taken over, with their provenance
    m3 = merge([path, AC])
    assert m3.env_ids == ["CartPole-v1", "MountainCarContinuous-v0", "Acrobot-v1"] and m3.obs_dim == 6 and m3.action_dim == 3
    assert [s["sha256"] for s in m3.sources[:2]] == [s["sha256"] for s in m.sources]
    # a local file is recorded by its name and sha256, never by the merging machine's directories
    own = tmp_path / "deep" / "mine.safetensors"
    own.parent.mkdir()
    hades_zoo.load(AC).save(own)
    src = merge([CP, own]).sources[1]
    assert src["location"] == src["given"] == "mine.safetensors" and src["file_sha256"] == fmt.file_sha256(own)
    twin = tmp_path / "elsewhere" / "mine.safetensors"
    twin.parent.mkdir()
    twin.write_bytes(own.read_bytes())
    merge([CP, own]).save(tmp_path / "1.safetensors")
    merge([CP, twin]).save(tmp_path / "2.safetensors")
    assert fmt.file_sha256(tmp_path / "1.safetensors") == fmt.file_sha256(tmp_path / "2.safetensors")  # same sources, same bytes
    assert str(tmp_path) not in json.dumps(merge([CP, own]).sources)


def test_same_env_twice_shares_one_task(cartpole_dataset):
    other = cartpole_dataset.replace(states=cartpole_dataset.states * 2, name="cp-doubled")
    m = merge([cartpole_dataset.replace(name="cp"), other, hades_zoo.load(MC)])
    assert m.env_ids == ["CartPole-v1", "MountainCarContinuous-v0"] and m.task_info[0]["sources"] == [0, 1]
    assert m.task_dataset("cartpole").size == 8


def test_one_env_with_two_normalisations_gets_two_views(cartpole_dataset):
    """A 3-env merge with two CartPole sources in different spaces (const stats and raw): two
    tasks of one env, each source trained and rolled out through its own input view."""
    cp = hades_zoo.load(CP)
    raw = cartpole_dataset.replace(name="cp-raw")  # obs_norm none: raw observations
    shifted = cp.replace(obs_mean=cp.obs_mean + 1, name="cp-shifted")
    m = merge([CP, raw, MC, shifted, AC])
    assert m.env_ids == ["CartPole-v1", "CartPole-v1", "MountainCarContinuous-v0", "CartPole-v1", "Acrobot-v1"]
    assert [s["task"] for s in m.sources] == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(m.obs_mean[3, :4], cp.obs_mean + 1)
    with pytest.raises(ConfigError, match=r"CartPole-v1 has 3 tasks.*pass the task index, one of \[0, 1, 3\]"):
        m.task_index("cartpole")
    trained = train_multitask(m, "mlp-1x8-tanh", epochs=2, anchors=0)
    assert trained.policy.n_tasks == 5  # one head per source
    views = [trained.source(k) for k in range(5)]
    assert [v.dataset.obs_norm for v in views] == ["const", "none", "const", "const", "const"]
    np.testing.assert_array_equal(views[3].dataset.obs_mean, cp.obs_mean + 1)
    for k, v in enumerate(views):  # each view sees its own unit's one-hot (in its parameters) and normalisation
        np.testing.assert_array_equal(v.params["net"]["task"], np.eye(5)[[k]])
    assert views[0].policy == views[3].policy  # same env and shape: one view, one compiled rollout
    scores = evaluate_multitask(trained, protocol={"name": "short", "n_envs": 1, "n_steps": 20, "sample_actions": False,
                                                   "metric": "completed_mean"})
    assert list(scores) == ["cartpole-hades-r-4", "cp-raw", MC, "cp-shifted", AC]
    assert [s.task for s in scores.values()] == [0, 1, 2, 3, 4]


def test_mismatched_format_versions_are_refused(tmp_path, cartpole_dataset):
    good, newer = tmp_path / "good.safetensors", tmp_path / "newer.safetensors"
    hades_zoo.load(AC).save(good)
    tensors = {k: fmt._c_array(v) for k, v in cartpole_dataset.tensors().items()}
    meta = {**cartpole_dataset.metadata, "format": "hades-zoo/2", "sha256": fmt.payload_sha256(tensors)}
    newer.write_bytes(fmt.safetensors_bytes(tensors, fmt.encode_metadata(meta)))
    with pytest.raises(IncompatibleDatasetError, match=r"different format versions.*newer.safetensors is hades-zoo/2.*re-export"):
        merge([good, newer])


def test_bad_merges_get_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="at least two datasets"):
        merge([CP])
    with pytest.raises(ConfigError, match="given twice"):
        merge([CP, MC, CP])
    m = merge([CP, MC])
    path = tmp_path / "m.safetensors"
    m.save(path)
    with pytest.raises(IncompatibleDatasetError, match="merged multi-task dataset; read it with hades_zoo.load_merged"):
        hades_zoo.load(path)
    with pytest.raises(IncompatibleDatasetError, match="single-task dataset, not a merged one"):
        MultiTaskDataset.load(catalog_path(CP))
    altered = dict(m.tensors())
    altered["states"] = altered["states"].copy()
    altered["states"][0, 0] += 1  # consistent file sha256, but no longer the source's pairs
    fmt.write(path, altered, m.metadata)
    with pytest.raises(IncompatibleDatasetError, match="do not match its recorded sha256"):
        load_merged(path)
    proc = run_cli("merge", CP, "-o", tmp_path / "x.safetensors")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("error: merge needs at least two")


def catalog_path(name):
    from hades_zoo.catalogue import ZOO_DIR

    return ZOO_DIR / catalog()[name]["file"]


# one variant per code path of the network (anchors change the data, not the loss)
@pytest.mark.parametrize("variant", ["zero-pad", "embedding-balanced", "heads-balanced", "heads-only-standardize",
                                     "disjoint-balanced"])
def test_masked_loss_is_each_tasks_own_loss(variant):
    """On one task's pairs the multi-task loss is that task's single-task BC loss, computed
    by the client's ``bc_loss`` on the task's view (its own dims, labels and log-std)."""
    m = merge([CP, MC, AC])
    cfg = dataclasses.replace(VARIANTS[variant], balance="pair")
    policy = make_multitask_policy(m, "mlp-2x16-tanh", cfg)
    params = policy.init(jax.random.PRNGKey(1))
    params["log_std"] = params["log_std"] + jnp.arange(params["log_std"].size).reshape(params["log_std"].shape) * 0.1
    states = packed_states(m)
    for t in range(m.n_tasks):
        rows = m.task_ids == t
        ds = m.task_dataset(t)
        mine = policy.bc_loss(params, jnp.asarray(states[rows]), jnp.asarray(m.targets[rows]))
        own = bc_loss(policy.task_policy(t), policy.task_params(params, t), jnp.asarray(ds.states.reshape(ds.size, -1)),
                      jnp.asarray(ds.targets))
        assert float(mine) == pytest.approx(float(own), rel=1e-5)


def test_disjoint_inputs_give_each_task_its_own_slots_and_sources_of_a_task_share_them():
    """``inputs="disjoint"``: the trunk reads ``sum(task widths)`` inputs, a row's own task's observation in
    its task's slots and zeros elsewhere; the R and F sources of one env (one task) read the same slots."""
    m = merge([CP, "cartpole-hades-f-4", MC])
    assert m.n_tasks == 2 and len(m.sources) == 3
    policy = make_multitask_policy(m, "mlp-1x8-tanh", dataclasses.replace(VARIANTS["anchored"], inputs="disjoint"))
    assert policy.net.views == (0, 0, 1)
    states = packed_states(m)  # [padded obs | source one-hot]
    x = np.asarray(disjoint_inputs(jnp.asarray(states[:, :4]), jnp.asarray(states[:, 4:]), policy.obs_dims, policy.net.views))
    assert x.shape == (m.size, 4 + 2)
    cart, car = m.task_ids == 0, m.task_ids == 1
    np.testing.assert_array_equal(x[cart, :4], m.states[cart])  # R and F rows alike
    np.testing.assert_array_equal(x[car, 4:], m.states[car, :2])
    assert not x[cart, 4:].any() and not x[car, :4].any()
    params = policy.init(jax.random.PRNGKey(0))
    assert params["net"]["params"]["ViewLayer_0"]["kernel"].shape == (6, 8)  # the MLP's first layer, one block per view


@pytest.mark.parametrize("conditioning", ["none", "onehot", "embedding"])
def test_view_layer_blocks_give_the_dense_result(conditioning):
    """The row-block forward (each source's rows through its own view's kernel block: what BC runs) equals the
    forward over the whole disjoint input, on a batch laid out as pairs then per-source anchor samples, sources of one
    task and of mixed units (a block -1) included; a layout that does not cover the batch is refused."""
    m = merge([CP, "cartpole-hades-f-4", MC, AC])
    cfg = dataclasses.replace(VARIANTS["anchored"], inputs="disjoint", conditioning=conditioning)
    policy = make_multitask_policy(m, "mlp-2x16-tanh", cfg)
    params = policy.init(jax.random.PRNGKey(3))
    pairs = packed_states(m)
    pools = (5, 7, 3, 6)
    anchors = np.concatenate([np.repeat(pairs[m.source_ids == k][:1], p, 0) for k, p in enumerate(pools)])
    anchors[:, : m.obs_dim] += np.random.default_rng(0).normal(size=(len(anchors), m.obs_dim)).astype(np.float32) * m.obs_mask[0]
    states = np.concatenate([pairs, anchors])
    units = states[:, m.obs_dim :].argmax(1)
    for batch in (0, 4):  # the full batch, and anchor_sampler's per-source samples
        x = jnp.asarray(states)
        if batch:
            x, _, _ = anchor_sampler(m.size, pools, batch)(jax.random.PRNGKey(1), x, jnp.zeros((len(states), 3)))
        blocks = batch_blocks(units, m.size, pools, batch)
        assert sum(n for _, n, _ in blocks) == len(x) and {u for _, _, u in blocks} == {0, 1, 2, 3}
        dense = policy(params, x[:, : m.obs_dim], x[:, m.obs_dim :])
        blocked = dataclasses.replace(policy, blocks=blocks)(params, x[:, : m.obs_dim], x[:, m.obs_dim :])
        np.testing.assert_allclose(np.asarray(blocked), np.asarray(dense), rtol=1e-5, atol=1e-6)
    mixed = batch_blocks(np.r_[units[: m.size], 0, 1, units[m.size + 2 :]], m.size, pools, 0)
    assert len(mixed) > len(batch_blocks(units, m.size, pools, 0))
    assert batch_blocks(np.r_[units[: m.size], [1] + [0] * (pools[0] - 1), units[m.size + pools[0] :]], m.size, pools, 4)[
        len(batch_blocks(units[: m.size], m.size, (), 0))][2] == -1
    with pytest.raises(ConfigError, match="row blocks cover"):
        dataclasses.replace(policy, blocks=((0, 3, 0),))(params, x[:, : m.obs_dim], x[:, m.obs_dim :])


def test_disjoint_training_runs_on_row_blocks():
    """train_multitask with the disjoint encoding trains through the row blocks (a ViewLayer of the MLP's width) and its
    task views act through the dense path: per-task returns come back for every source."""
    trained = train_multitask([CP, MC], "mlp-2x16-tanh", inputs="disjoint", anchors=8, anchor_states="data", epochs=3,
                              num_seeds=2)
    assert trained.policy.blocks is None and trained.policy.net.view_width == 16
    assert np.isfinite(np.asarray(jax.tree.leaves(trained.params)[0])).all()
    r = hades_zoo.evaluate(trained.task("cartpole"))
    assert len(r.returns) == 2


def test_task_views_keep_each_tasks_normalisation(cartpole_dataset):
    running = hades_zoo.load(AC).replace(obs_norm="running", obs_mean=None, obs_var=None, name="ac-running")
    m = merge([cartpole_dataset.replace(name="cp-none"), running, MC])
    trained = train_multitask(m, "mlp-1x8-tanh", epochs=2, anchors=0)
    norms = {env: trained.task(env).dataset.obs_norm for env in m.env_ids}
    assert norms == {"CartPole-v1": "none", "Acrobot-v1": "running", "MountainCarContinuous-v0": "const"}
    np.testing.assert_array_equal(trained.task("mountaincar-continuous").dataset.obs_mean, hades_zoo.load(MC).obs_mean)
    acrobot = trained.task("acrobot")  # running statistics: act carries them (issue 17)
    action, state = acrobot.act(np.zeros(6, np.float32), acrobot.reset_state())
    assert action.shape == () and 0 <= int(action) < 3 and float(state.count) == pytest.approx(1 + 1e-4)
    assert trained.task("mountaincar-continuous").act(np.zeros(2, np.float32)).shape == (1,)
    with pytest.raises(ConfigError, match="no task 'hopper'.*CartPole-v1"):
        trained.task("hopper")


def test_finetune_lowers_the_tasks_own_loss():
    m = merge([CP, MC, AC])
    trained = train_multitask(m, "mlp-2x32-tanh", num_seeds=2, epochs=5, variant="heads-only-balanced")
    view = trained.task("acrobot")
    tuned = finetune(trained, "acrobot", steps=30)
    ds = view.dataset
    loss = lambda tp, i: float(bc_loss(tp.policy, tp.params_of(i), jnp.asarray(ds.states), jnp.asarray(ds.targets)))
    for i in range(2):
        assert loss(tuned, i) < 0.5 * loss(view, i)


def test_train_multitask_cli_three_envs(tmp_path):
    """Three envs with different observation (4, 2, 6) and action (2 discrete, 1 continuous,
    3 discrete) sizes: the default multi-task policy reaches >= 90 % of every single-task
    return (Acrobot: normalised score), evaluated in the real envs."""
    path = tmp_path / "zoo3.safetensors"
    proc = run_cli("merge", CP, MC, AC, "-o", path)
    assert proc.returncode == 0, proc.stderr
    assert "task 2: Acrobot-v1 (obs 6, 3 discrete actions, const normalisation)" in proc.stdout
    lines = tmp_path / "scores.jsonl"
    proc = run_cli("train-multitask", path, "--seeds", 2, "--eval-repeats", 2, "--json", "--out", lines)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    rows = [json.loads(line) for line in lines.read_text().splitlines()]  # written as measured: partial results survive
    assert [r["phase"] for r in rows] == ["trained", "source", "source", "source", "done"]
    assert rows[0]["anchor_states"] == {CP: "data", MC: "data", AC: "data"} and rows[0]["config"]["anchor_states"] == "auto"
    assert rows[0]["anchors"] == {CP: 2048, MC: 2048, AC: 2048} and rows[0]["config"]["anchor_pool"] == "auto"
    assert [r["source"] for r in rows[1:4]] == [CP, MC, AC] and rows[2]["relative"] == out["per_source"][MC]["relative"]
    assert rows[-1]["per_source"] == out["per_source"] and out["per_source"][AC]["anchor_states"] == "data"
    assert set(out["per_source"]) == {CP, MC, AC}
    assert {r["env"] for r in out["per_source"].values()} == {"CartPole-v1", "MountainCarContinuous-v0", "Acrobot-v1"}
    for env, row in out["per_source"].items():
        assert len(row["returns"]) == 2 and row["mean"] == pytest.approx(np.mean(row["returns"]))
        assert len(row["single_task_returns"]) == 2
        assert row["single_task_mean"] == pytest.approx(np.mean(row["single_task_returns"]))
        assert row["relative"] >= 0.9, (env, row)
    norm = lambda ret, single, rand: (np.mean(ret) - np.mean(rand)) / (np.mean(single) - np.mean(rand))  # noqa: E731
    for row in out["per_source"].values():  # the normalised score everywhere: random 0, single-task 1
        assert row["relative"] == pytest.approx((row["mean"] - row["random_mean"]) / (row["single_task_mean"] - row["random_mean"]))
        # --eval-repeats 2: each seed's score is the mean of two evaluation seeds', and each key is scored alone too
        assert row["returns"] == pytest.approx(np.mean(row["returns_by_key"], axis=0).tolist())
        assert row["single_task_returns"] == pytest.approx(np.mean(row["single_task_returns_by_key"], axis=0).tolist())
        assert row["relative_by_key"] == pytest.approx([norm(*k) for k in zip(row["returns_by_key"], row["single_task_returns_by_key"],
                                                                               row["random_by_key"])])
    assert out["eval_repeats"] == 2 and out["recipe"]["epochs"] == 2 * max(hades_zoo.load(d).recipe.epochs for d in (CP, MC, AC))
    assert out["config"]["inputs"] == "disjoint" and out["config"]["steps_factor"] == 2
    assert out["min_relative"] == min(r["relative"] for r in out["per_source"].values()) and out["below_0.9"] == []


def test_anchors_are_labelled_by_each_seeds_own_recipe():
    m = merge([CP, MC])
    teachers, states, targets, _ = make_anchors(m, dataclasses.replace(VARIANTS["anchored"], anchors=16), seed=3, num_seeds=2)
    assert states.shape == (32, 4 + 2) and targets.shape == (2, 32, 2)
    np.testing.assert_array_equal(states[:16, 4:], [[1, 0]] * 16)  # task one-hot
    assert not states[16:, 2:4].any() and not targets[:, 16:, 1:].any()  # padding of the 2-obs, 1-action task
    for k, rows in ((0, slice(0, 16)), (1, slice(16, 32))):
        ds = m.source_dataset(k)
        own = hades_zoo.train(ds, seed=3, num_seeds=2)  # the dataset's own recipe, same seeds
        assert teachers[k].seeds == own.seeds and teachers[k].recipe == own.recipe
        for i in range(2):
            out = own.policy(own.params_of(i), jnp.asarray(states[rows, : ds.spec.obs_dim]))
            want = jax.nn.softmax(out, axis=-1) if ds.discrete else out
            np.testing.assert_allclose(targets[i, rows, : ds.spec.action_dim], want, rtol=1e-5, atol=1e-6)
    assert np.allclose(targets[:, :16].sum(-1), 1.0)  # CartPole anchors: label distributions


def test_env_anchor_states_are_the_teachers_own_rollout_states():
    """anchor_states="env": the anchors are states the teacher met in its env (in the dataset's
    normalised space), labelled by the same teacher; "data" anchors lie around the pairs."""
    m = merge([CP, AC])
    cfg = dataclasses.replace(VARIANTS["anchored-env"], anchors=64)
    teachers, states, targets, _ = make_anchors(m, cfg, seed=1, num_seeds=2)
    assert states.shape == (128, 6 + 2) and targets.shape == (2, 128, 3) and np.all(np.isfinite(states))
    cp = m.source_dataset(0)
    raw = states[:64, :4] * np.sqrt(np.asarray(cp.obs_var).reshape(-1)) + np.asarray(cp.obs_mean).reshape(-1)
    assert np.all(np.abs(raw[:, 2]) <= 0.21) and np.all(np.abs(raw[:, 0]) <= 2.4)  # CartPole's live region
    assert not states[:64, 4:6].any()  # padding of the 4-obs task
    again = visited_states(teachers[0], 64, seed=1)
    np.testing.assert_array_equal(again, states[:64, :4])  # deterministic in the seed
    with pytest.raises(ConfigError, match="anchor_states"):
        train_multitask(m, variant="anchored", anchor_states="rollouts")


def test_env_anchors_come_from_the_datasets_own_dynamics():
    """A dataset distilled on the 2023 env behaviour gets its env anchors from that behaviour, where its
    teacher is evaluated: SpaceInvaders' 2023 reset spawns 28 aliens, today's 24. Drawn from today's
    env (the bug), the authors' SpaceInvaders F teacher scored 11 instead of 97 where its anchors came from."""
    ds = hades_zoo.load("spaceinvaders-minatar-hades-f-16")
    assert ds.dynamics == "2023"
    teacher = hades_zoo.train(ds, num_seeds=1)  # its own recipe (64 steps on 16 pairs)
    states = visited_states(teacher, 512, seed=0)
    raw = states * np.sqrt(np.asarray(ds.obs_var).reshape(-1) + ds.norm.eps) + np.asarray(ds.obs_mean).reshape(-1)
    aliens = np.round(raw.reshape(-1, *ds.spec.obs_shape)[..., 1]).sum(axis=(1, 2))  # channel 1: the aliens
    assert aliens.max() == 28


def test_default_takes_env_anchors_where_data_anchors_fail():
    """The default's ``anchor_states="auto"``: env anchors where data anchors are known to fail
    (MinAtar frames, fixed-init F datasets), none for flat-observation R datasets; what each
    source got is recorded, and the R sources' data anchors are drawn as without the others."""
    from hades_zoo.anchors import anchor_kind
    from hades_zoo.envs.specs import ENV_SPECS

    assert VARIANTS["anchored"].anchor_states == "auto" and VARIANTS["anchored-data"].anchor_states == "data"
    kinds = {env: anchor_kind("auto", spec) for env, spec in ENV_SPECS.items()}
    assert {env for env, kind in kinds.items() if kind == "env"} == {
        "Breakout-MinAtar", "Asterix-MinAtar", "Freeway-MinAtar", "SpaceInvaders-MinAtar", "Pong-misc"}
    assert {anchor_kind("auto", spec, fixed_init=True) for spec in ENV_SPECS.values()} == {"env"}
    assert anchor_kind("data", ENV_SPECS["Breakout-MinAtar"]) == "data" and anchor_kind("env", ENV_SPECS["hopper"]) == "env"
    with pytest.raises(ConfigError, match="anchor_states"):
        anchor_kind("rollouts", ENV_SPECS["hopper"])
    cpf = "cartpole-hades-f-4"
    assert hades_zoo.load(cpf).recipe.init.mode == "fixed" and hades_zoo.load(CP).recipe.init.mode != "fixed"
    m = merge([CP, cpf, MC])
    trained = train_multitask(m, "mlp-1x16-tanh", epochs=2, anchors=8)
    assert trained.anchor_kinds == {0: "env", 1: "env", 2: "data"}  # CartPole R: its F sibling's env takes env anchors
    from hades_zoo.multitask.train import source_anchor_kinds

    assert source_anchor_kinds(m, "auto") == {0: ("env", "sibling"), 1: ("env", "fixed-init"), 2: ("data", None)}
    assert source_anchor_kinds(m, "data") == {0: ("data", None), 1: ("data", None), 2: ("data", None)}
    _, auto, _, _ = make_anchors(m, dataclasses.replace(VARIANTS["anchored"], anchors=8), num_seeds=1)
    _, data, _, _ = make_anchors(m, dataclasses.replace(VARIANTS["anchored-data"], anchors=8), num_seeds=1)
    np.testing.assert_array_equal(auto[16:], data[16:])  # MountainCar's draws do not move
    assert not np.array_equal(auto[:8], data[:8]) and not np.array_equal(auto[8:16], data[8:16])  # teachers' own states
    from hades_zoo.multitask.cli import _kinds  # the header line says which sources took env anchors, and why

    assert _kinds("auto", {"r": "data", "f": "env", "b": "env"}, {"r": None, "f": "fixed-init", "b": "MinAtar"}) == (
        "auto: env anchors where data anchors are known to fail, for f (fixed-init); b (MinAtar); data anchors for the rest")
    assert _kinds("auto", {"f": "env"}, {"f": "fixed-init"}).endswith("for f (fixed-init)")


def test_brax_family_mix_of_normalisations():
    """walker2d (17 obs, 6 actions, running), ant (27, 8, const), CartPole (4, 2 discrete, const):
    padded to 27 x 8; each view keeps its env's sizes and its own normalisation."""
    rng = np.random.default_rng(0)

    def fake(env, obs, act, norm):
        stats = {"obs_mean": rng.normal(size=obs).astype(np.float32), "obs_var": rng.uniform(0.5, 2, obs).astype(np.float32)}
        return hades_zoo.SyntheticDataset(states=rng.normal(size=(8, obs)).astype(np.float32), env_id=env,
                                          actions=rng.uniform(-1, 1, (8, act)).astype(np.float32), name=f"{env}-test",
                                          obs_norm=norm, **(stats if norm == "const" else {}))

    m = merge([fake("walker2d", 17, 6, "running"), fake("ant", 27, 8, "const"), CP])
    assert (m.obs_dim, m.action_dim) == (27, 8)
    np.testing.assert_array_equal(m.action_mask.sum(1), [6] * 8 + [8] * 8 + [2] * 4)
    trained = train_multitask(m, "mlp-1x16-tanh", epochs=3, num_seeds=2, anchors=0)
    for env, (obs, act, norm) in {"walker2d": (17, 6, "running"), "ant": (27, 8, "const"), "CartPole-v1": (4, 2, "const")}.items():
        view = trained.task(env)
        assert (view.policy.obs_dim, view.policy.action_dim, view.dataset.obs_norm) == (obs, act, norm)
        out = view.policy(view.params_of(1), jnp.zeros((5, obs)))
        assert out.shape == (5, act) and np.all(np.isfinite(out))
    assert trained.params["log_std"].shape == (2, 3, 8)


def test_data_views_of_merged_and_single_datasets(tmp_path):
    m = merge([CP, MC, hades_zoo.load(CP).replace(obs_mean=hades_zoo.load(CP).obs_mean * 0, name="cp-zero")])
    cols = m.to_numpy()
    assert {k: v.shape for k, v in cols.items()} == {"states": (12, 4), "targets": (12, 2), "obs_mask": (12, 4),
                                                     "action_mask": (12, 2), "task": (12,), "source": (12,)}
    np.testing.assert_array_equal(cols["task"], [0] * 4 + [1] * 4 + [2] * 4)  # the zero-mean CartPole: its own view
    np.testing.assert_array_equal(cols["source"], [0] * 4 + [1] * 4 + [2] * 4)
    hf = m.to_hf_dataset()
    assert len(hf) == 12 and hf[4]["env"] == "MountainCarContinuous-v0" and hf[11]["source_name"] == "cp-zero"
    np.testing.assert_array_equal(hf[5]["states"], m.states[5])
    single = hades_zoo.load(AC).to_hf_dataset()
    assert len(single) == 4 and single[0]["env"] == "Acrobot-v1" and single[0]["states"].shape == (6,)
    assert hades_zoo.load(AC).to_numpy()["targets"].shape == (4, 3)
    path = tmp_path / "m.safetensors"
    m.save(path)
    out = json.loads(run_cli("info", path, "--json").stdout)
    assert out["kind"] == "multitask" and out["n_tasks"] == 3 and out["n_sources"] == 3 and out["shapes"]["states"] == [12, 4]
    assert out["task 2"].startswith("CartPole-v1 (const normalisation") and "verified" in out["source 1"]


def test_torch_view():
    torch = pytest.importorskip("torch")
    ds = merge([CP, MC]).to_torch()
    assert len(ds) == 8 and ds[5]["task"].item() == 1 and ds[5]["states"].dtype == torch.float32
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch["states"].shape == (3, 4) and batch["targets"].shape == (3, 2)


def test_normalised_scores_and_the_warning_line():
    from hades_zoo.multitask.scoring import TaskScore, below, no_scale, warnings
    from hades_zoo.recipe import EvalResult

    res = lambda env, *r: EvalResult(env, "paper", list(r))
    scores = {"ant-f": TaskScore("ant", res("ant", 40.0), res("ant", 100.0), res("ant", -20.0)),  # (40+20)/(100+20)
              "hopper-r": TaskScore("hopper", res("hopper", 1700.0), res("hopper", 1800.0), res("hopper", 100.0)),
              "freeway-r": TaskScore("Freeway-MinAtar", res("f", 0.0), res("f", 0.0), res("f", 0.0))}
    assert scores["ant-f"].relative == pytest.approx(0.5) and scores["hopper-r"].relative == pytest.approx(1600 / 1700)
    assert np.isnan(scores["freeway-r"].relative)  # no scale: undefined, not a warning
    assert below(scores) == ["ant-f"]
    # a single-task return near zero is fine while it beats random (ant: -11.9 was a ratio over it) ...
    near0 = TaskScore("ant", res("ant", 5.0, 7.0), res("ant", 2.0, 4.0), res("ant", -60.0, -40.0))
    assert near0.relative == pytest.approx((6 + 50) / (3 + 50))
    # ... but one that does not beat random by more than the seeds' spread has no scale (no explosion, no sign flip)
    scores["ant-r"] = TaskScore("ant", res("ant", -300.0, 100.0), res("ant", -49.0, -51.0), res("ant", -60.0, -40.0))
    scores["worse"] = TaskScore("ant", res("ant", 10.0), res("ant", -80.0), res("ant", -50.0))
    assert np.isnan(scores["ant-r"].relative) and np.isnan(scores["worse"].relative)
    assert below(scores) == ["ant-f"] and no_scale(scores) == ["freeway-r", "ant-r", "worse"]
    lines = warnings(scores)
    assert lines[0] == ("warning: ant-f (ant) holds 0.50 of its single-task return (normalised: random 0, "
                        "single-task 1), under 0.9")
    assert len(lines) == 4 and all(line.startswith("note: ") and "no normalised score" in line for line in lines[1:])


def test_token_encoding_reads_no_padding():
    """``inputs="tokens"``: one token per dim (per-env vocabulary), one per MinAtar cell with its
    channel vector (100 tokens); the padding never reaches the network."""
    from hades_zoo.multitask.tokens import layout

    m = merge([CP, "breakout-minatar-hades-r-16", AC])
    specs = [m.task_spec(t) for t in range(3)]
    index, valid, n_envs = layout(specs, [0, 1, 2])
    assert index.shape == (3, 100, 4) and valid.sum(1).tolist() == [4, 100, 6] and n_envs == 3
    assert index[1, 7].tolist() == [28, 29, 30, 31] and index[0, 1].tolist() == [1, -1, -1, -1]
    policy = make_multitask_policy(m, "tfm-1x8-gelu", dataclasses.replace(VARIANTS["anchored"], inputs="tokens", anchors=0))
    params = policy.init(jax.random.PRNGKey(0))
    s = jnp.asarray(packed_states(m))
    noisy = s.at[:4, 4:400].set(5.0).at[20:, 6:400].set(-3.0)  # CartPole's and Acrobot's padding
    out = policy(params, s[:, :400], s[:, 400:])
    np.testing.assert_array_equal(out, policy(params, noisy[:, :400], noisy[:, 400:]))
    with pytest.raises(ConfigError, match="token encoding needs a transformer"):
        train_multitask(m, "mlp-2x8-tanh", inputs="tokens", anchors=0, epochs=1)


def distinct_rows(states: np.ndarray) -> int:
    """How many distinct states (exact rows) ``states`` holds."""
    return len(np.unique(states, axis=0))


def test_auto_pool_keeps_every_rollout_frame():
    """``anchor_pool="auto"``: an env-anchored MinAtar source keeps every state of its teacher's
    rollouts (every frame it met, rare ones included) instead of a draw of its anchor count; flat
    observations keep the count."""
    from hades_zoo.anchors import anchor_states, frame_pool, rollout_states
    from hades_zoo.envs.specs import ENV_SPECS
    from hades_zoo.recipe import get_protocol

    ds = hades_zoo.load("spaceinvaders-minatar-hades-f-16")
    teacher = hades_zoo.train(ds, num_seeds=1)
    every = rollout_states(teacher, seed=0)
    proto = get_protocol(ds.protocol, ds.spec)
    assert len(every) == proto.n_envs * proto.n_steps and 16 < distinct_rows(every) < len(every)
    assert distinct_rows(np.r_[every[:5], every[:5]]) == distinct_rows(every[:5])
    drawn = visited_states(teacher, 16, seed=0)
    assert distinct_rows(drawn) < distinct_rows(every)  # a draw misses frames the rollouts met
    assert frame_pool(ds.spec, every, 16) and not frame_pool(ds.spec, every, len(every))
    flat = np.random.default_rng(0).normal(size=(100, 11)).astype(np.float32)
    assert not frame_pool(ENV_SPECS["hopper"], flat, 16)  # continuous states: the count stays
    np.testing.assert_array_equal(anchor_states(teacher, 16, "env", pool="auto"), every)
    np.testing.assert_array_equal(anchor_states(teacher, 16, "env", pool="fixed"), drawn)
    with pytest.raises(ConfigError, match="anchor_pool"):
        anchor_states(teacher, 16, "env", pool="all")
    with pytest.raises(ConfigError, match="anchor_pool"):
        VARIANTS["anchored"].__class__(anchor_pool="all")
