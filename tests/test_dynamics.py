"""dynamics="2023": the env behaviour the authors' datasets were made on, restored by real means."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hades_zoo import envs
from hades_zoo.errors import ConfigError


def test_unchanged_envs_share_one_instance():
    assert envs.make("cartpole", dynamics="2023") is envs.make("CartPole-v1")
    assert envs.make("Breakout-MinAtar", "2023") is envs.make("breakout-minatar", "current")
    with pytest.raises(ConfigError, match="unknown dynamics"):
        envs.make("hopper", dynamics="2021")


def test_space_invaders_2023_reset_spawns_28_aliens():
    aliens = {}
    for dyn in ("current", "2023"):
        obs, _ = envs.make("SpaceInvaders-MinAtar", dyn).reset(jax.random.PRNGKey(0))
        aliens[dyn] = int(obs.reshape(10, 10, 6)[..., 1].sum())
    assert aliens == {"current": 24, "2023": 28}


def test_pong_misc_is_a_3600_dim_env():
    env = envs.make("pong-misc")
    obs, state = env.reset(jax.random.PRNGKey(0))
    assert obs.shape == (3600,) and env.spec.action_dim == 3 and env.spec.minatar


def _idp_episode_lengths(dyn, steps=300):
    """A constant push from reset: the poles fall; return up to the first terminal step, and its index."""
    env = envs.make("inverted_double_pendulum", dyn)

    @jax.jit
    def run(key):
        obs, state = env.reset(key)

        def step(carry, _):
            state, ret, first_done, t = carry
            _, state, r, done = env.step(key, state, jnp.array([0.3]))
            ret = ret + r * (first_done < 0)  # up to and including the first terminal step
            first_done = jnp.where((first_done < 0) & done, t, first_done)
            return (state, ret, first_done, t + 1), None

        (_, ret, first, _), _ = jax.lax.scan(step, (state, 0.0, -1, 0), None, length=steps)
        return ret, first

    return run(jax.random.PRNGKey(1))


def test_inverted_double_pendulum_2023_tip_and_bonus():
    ret_now, len_now = _idp_episode_lengths("current")
    ret_old, len_old = _idp_episode_lengths("2023")
    assert 0 < int(len_now) <= int(len_old)  # the old tip (origin + 0.6 world-up) is never lower
    assert float(ret_old) - float(ret_now) > 9.0  # the alive bonus 10 on the terminal step


@pytest.mark.slow  # compiles a humanoid step twice: minutes on 2 shared cores
def test_humanoid_2023_acts_on_the_raw_action():
    """Today's env maps a in [-1, 1] onto the actuators' [-0.4, 0.4]; the 2023 one hands a to the
    actuators as is (they clip at 0.4) and charges the control cost on a. At a = 1 the physics
    agree (0.4 either way) and the rewards differ by exactly the control cost 0.01 * 17 * (1 - 0.16)."""
    env_now, env_old = envs.make("humanoidstandup"), envs.make("humanoidstandup", "2023")
    _, state = jax.jit(env_now.reset)(jax.random.PRNGKey(0))
    a = jnp.ones((17,))
    obs_now, _, r_now, _ = jax.jit(env_now.step)(jax.random.PRNGKey(0), state, a)
    obs_old, _, r_old, _ = jax.jit(env_old.step)(jax.random.PRNGKey(0), state, a)
    np.testing.assert_allclose(np.asarray(obs_old), np.asarray(obs_now), rtol=1e-5, atol=1e-4)
    assert float(r_now) - float(r_old) == pytest.approx(0.01 * 17 * (1 - 0.16), rel=1e-3)


def test_a_dataset_carries_its_dynamics(cartpole_dataset, tmp_path):
    import hades_zoo
    from hades_zoo.dataset import SyntheticDataset
    from hades_zoo.errors import IncompatibleDatasetError

    path = tmp_path / "c.safetensors"
    cartpole_dataset.replace(dynamics="2023").save(path)
    assert SyntheticDataset.load(path).dynamics == "2023"
    cartpole_dataset.save(path)
    assert SyntheticDataset.load(path).dynamics == "current" and cartpole_dataset.metadata["dynamics"] is None
    with pytest.raises(IncompatibleDatasetError, match="unknown dynamics"):
        cartpole_dataset.replace(dynamics="1999")
    trained = hades_zoo.train(cartpole_dataset, num_seeds=1)
    with pytest.raises(ConfigError, match="unknown dynamics"):
        hades_zoo.evaluate(trained, dynamics="1999")
