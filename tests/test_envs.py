"""Every registered env: make -> jit reset/step -> shapes (brax beyond hopper with --all); every brax
env traced through reset and one step (shapes and dtypes, no compile) in every run."""

import jax
import jax.numpy as jnp
import pytest

from hades_zoo import envs
from hades_zoo.errors import UnknownEnvError

_FAST = [e for e, s in envs.ENV_SPECS.items() if s.family == "gymnax"] + ["hopper"]


def pytest_generate_tests(metafunc):
    if "env_id" in metafunc.fixturenames:
        everything = metafunc.config.getoption("--all", default=False)
        metafunc.parametrize("env_id", list(envs.ENV_SPECS) if everything else _FAST)


def test_reset_and_step_shapes(env_id):
    env = envs.make(env_id)
    spec = env.spec
    obs, state = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), 3))
    assert obs.shape == (3, spec.obs_dim) and obs.dtype == jnp.float32
    action = jnp.zeros((3,), jnp.int32) if spec.discrete else jnp.zeros((3, spec.action_dim))
    step = jax.jit(jax.vmap(env.step))
    obs, state, reward, done = step(jax.random.split(jax.random.PRNGKey(1), 3), state, action)
    assert obs.shape == (3, spec.obs_dim) and reward.shape == (3,) and done.dtype == jnp.bool_


@pytest.mark.parametrize("brax_id", [e for e, s in envs.ENV_SPECS.items() if s.family == "brax" and e not in _FAST])
def test_every_brax_env_traces_reset_and_one_step(brax_id):
    """The cheap half of test_reset_and_step_shapes for the brax envs it skips without --all:
    reset and one step traced abstractly (``jax.eval_shape``: the whole pipeline, no XLA compile)."""
    env = envs.make(brax_id)
    spec = env.spec
    obs, state = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
    assert obs.shape == (spec.obs_dim,) and obs.dtype == jnp.float32
    obs, _, reward, done = jax.eval_shape(env.step, jax.random.PRNGKey(1), state, jnp.zeros((spec.action_dim,)))
    assert obs.shape == (spec.obs_dim,) and reward.shape == () and done.dtype == jnp.bool_


def test_continuous_actions_are_rescaled_not_just_clipped():
    """Pendulum's torque range is [-2, 2]: policy action 0.5 must be torque 1.0 (rescaled); clipping
    alone would give 0.5. And anything beyond 1.0 is the max torque."""
    import gymnax

    env = envs.make("Pendulum-v1")
    raw, params = gymnax.make("Pendulum-v1")
    key = jax.random.PRNGKey(0)
    _, state = env.reset(key)
    obs_half, _, r_half, _ = env.step(key, state, jnp.array([0.5]))
    raw_obs = {u: raw.step(key, state, jnp.array([u]), params) for u in (0.5, 1.0)}
    assert jnp.allclose(obs_half, raw_obs[1.0][0]) and jnp.allclose(r_half, raw_obs[1.0][2])
    assert not jnp.allclose(obs_half, raw_obs[0.5][0])  # what clipping without rescaling would give
    _, _, r1, _ = env.step(key, state, jnp.array([1.0]))
    _, _, r5, _ = env.step(key, state, jnp.array([5.0]))
    assert r1 == r5


def test_unknown_env_suggests():
    with pytest.raises(UnknownEnvError, match="Did you mean: CartPole-v1"):
        envs.get_spec("CartPole-v0")


def test_slug_and_id_resolve_to_one_spec():
    assert envs.get_spec("breakout-minatar") is envs.get_spec("Breakout-MinAtar")
