"""Every registered env: make -> jit reset/step -> shapes (brax beyond hopper with --all)."""

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


def test_continuous_actions_are_rescaled():
    env = envs.make("Pendulum-v1")
    _, state = env.reset(jax.random.PRNGKey(0))
    # policy action 1.0 (and anything above) is the env's max torque 2.0
    _, _, r1, _ = env.step(jax.random.PRNGKey(0), state, jnp.array([1.0]))
    _, _, r5, _ = env.step(jax.random.PRNGKey(0), state, jnp.array([5.0]))
    assert r1 == r5


def test_unknown_env_suggests():
    with pytest.raises(UnknownEnvError, match="Did you mean: CartPole-v1"):
        envs.get_spec("CartPole-v0")


def test_slug_and_id_resolve_to_one_spec():
    assert envs.get_spec("breakout-minatar") is envs.get_spec("Breakout-MinAtar")
