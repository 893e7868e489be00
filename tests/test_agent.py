"""``TrainedPolicy.act`` driven by hand reproduces ``evaluate`` (const, running and no normalisation)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hades_zoo
from hades_zoo import SyntheticDataset, envs
from hades_zoo.errors import StatefulPolicyError

TINY_SAMPLED = {"name": "tiny-sampled", "n_envs": 2, "n_steps": None, "sample_actions": True, "metric": "first_episode"}
TINY_GREEDY = {"name": "tiny", "n_envs": 2, "n_steps": 150, "sample_actions": False, "metric": "completed_mean"}


def _pendulum(obs_norm: str) -> SyntheticDataset:
    rng = np.random.default_rng(0)
    states = rng.normal(size=(8, 3)).astype(np.float32)
    actions = np.tanh(-2.0 * states[:, 2:3]).astype(np.float32)  # push against the angular velocity
    stats = {"obs_mean": np.array([0.5, 0.0, 0.1], np.float32), "obs_var": np.array([0.3, 0.5, 4.0], np.float32)}
    return SyntheticDataset(states=states, actions=actions, env_id="Pendulum-v1", obs_norm=obs_norm,
                            protocol=TINY_SAMPLED, recipe={"arch": "mlp-1x16-tanh", "lr": 0.01, "epochs": 20},
                            name=f"pendulum-{obs_norm}", **(stats if obs_norm == "const" else {}))


def hand_loop(trained, index: int, key, protocol) -> float:
    """The evaluation protocol as a user writes it: reset a batch, then ``act`` + ``step`` in Python,
    with the keys ``evaluate`` uses for seed ``index`` (so the returns agree up to float rounding)."""
    env = trained.env()
    reset, step = jax.jit(jax.vmap(env.reset)), jax.jit(jax.vmap(env.step))
    act = jax.jit(lambda obs, state, k: trained.act(obs, state, key=k if protocol.sample_actions else None, index=index))
    n = protocol.n_envs
    key_reset, key_run = jax.random.split(key)
    obs, env_state = reset(jax.random.split(key_reset, n))
    state = trained.reset_state(index)
    ep_ret, done_sum, done_n = np.zeros(n), 0.0, 0
    first = np.full(n, np.nan)
    for k in jax.random.split(key_run, protocol.steps_for(env.spec)):
        key_act, key_env = jax.random.split(k)
        action, state = act(obs, state, key_act)
        obs, env_state, reward, done = step(jax.random.split(key_env, n), env_state, action)
        ep_ret += np.asarray(reward)
        done = np.asarray(done)
        first = np.where(done & np.isnan(first), ep_ret, first)
        done_sum, done_n = done_sum + ep_ret[done].sum(), done_n + done.sum()
        ep_ret[done] = 0.0
    if protocol.metric == "first_episode":
        return float(np.where(np.isnan(first), ep_ret, first).mean())
    return float(done_sum / done_n) if done_n else float(ep_ret.mean())


@pytest.mark.parametrize("make", [lambda: _pendulum("running"), lambda: _pendulum("const"), "cartpole"],
                         ids=["running", "const", "none"])
def test_hand_loop_matches_evaluate(make, cartpole_dataset):
    ds = cartpole_dataset.replace(protocol=TINY_GREEDY) if make == "cartpole" else make()
    assert ds.obs_norm == ("none" if make == "cartpole" else ds.name.split("-")[1])
    trained = hades_zoo.train(ds, num_seeds=2)
    result = hades_zoo.evaluate(trained, seed=3)
    keys = jax.random.split(jax.random.PRNGKey(3), 2)
    by_hand = [hand_loop(trained, i, keys[i], ds.protocol) for i in range(2)]
    np.testing.assert_allclose(by_hand, result.returns, rtol=1e-3, atol=1e-2)


def test_running_policy_needs_its_state_and_freezes():
    trained = hades_zoo.train(_pendulum("running"), num_seeds=2)
    obs = np.array([1.0, 0.0, 0.5], np.float32)
    with pytest.raises(StatefulPolicyError, match=r"reset_state\(\).*freeze\(\)") as err:
        trained.act(obs)
    assert "\n" not in str(err.value)
    # single observation and batch: the state follows what it was given
    state = trained.reset_state()
    a1, s1 = trained.act(obs, state)
    a2, s2 = trained.act(np.stack([obs, -obs]), state)
    assert a1.shape == (1,) and a2.shape == (2, 1)
    assert float(s1.count) == pytest.approx(1 + 1e-4) and float(s2.count) == pytest.approx(2 + 1e-4)
    np.testing.assert_allclose(s2.mean, 0.0, atol=1e-6)
    # under jit, equal to the eager call
    a3, s3 = jax.jit(lambda o, s: trained.act(o, s))(obs, state)
    np.testing.assert_allclose(a3, a1, rtol=1e-6)
    # frozen: the statistics of each seed's evaluation, stateless, and as plain numpy
    frozen = trained.freeze(seed=0)
    assert frozen.frozen == {"protocol": "tiny-sampled", "seed": 0} and frozen.norm.kind == "const"
    assert frozen.norm_state.mean.shape == (2, 3) and np.all(frozen.norm_state.count > 100)
    a4 = frozen.act(obs, index=1)
    np.testing.assert_allclose(frozen.as_numpy(1)(obs), np.clip(a4, -1, 1) * 2.0, rtol=1e-5, atol=1e-6)
    assert abs(hades_zoo.evaluate(frozen).mean - hades_zoo.evaluate(trained).mean) < 400  # Pendulum: ~-1000 scale


def test_as_numpy_and_env_action(cartpole_dataset):
    trained = hades_zoo.train(cartpole_dataset, num_seeds=1)
    obs = np.array([[0, 0, 0.1, 0.5], [0, 0, -0.1, -0.5]], np.float32)
    np.testing.assert_array_equal(trained.as_numpy()(obs), np.asarray(trained.act(obs)))
    assert trained.to_env_action(jnp.array([1.0, 0.0])).dtype == jnp.int32
    assert repr(trained).startswith("TrainedPolicy(") and "\n" not in repr(trained)
    assert envs.to_env_action(trained.spec, jnp.array([1])).dtype == jnp.int32
