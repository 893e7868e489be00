"""The env behaviour of 2023 (brax 0.9.x, gymnax 0.0.6), restored as an explicit variant.

The authors distilled their datasets on those versions; four envs changed since
(shared/reference/protocol.md), and a dataset distilled on the old behaviour
scores differently on the new one (inverted_double_pendulum R D64: ~9300 on the
old, ~720 with ~80-step episodes on brax 0.14). ``dynamics="2023"`` rebuilds the
old behaviour with the real simulator, changing only what changed:

* inverted_double_pendulum (brax < 0.12.2): the tip is the second pole's origin
  moved 0.6 up in the *world* frame (``Transform(pos=(0,0,0.6)).do(x)``, not a
  point of the pole), and the alive bonus 10 is paid on every step, terminal
  ones included.
* humanoid, humanoidstandup (brax < 0.10.5): the policy's action goes to the
  actuators as is (they clip it to their ctrl_range of +-0.4) and the control
  cost is taken on it; today's env first rescales [-1, 1] onto [-0.4, 0.4]. An
  action wrapper applies the inverse of that rescaling, so the env sees the raw
  action again.
* SpaceInvaders-MinAtar (gymnax 0.0.6): a reset spawns aliens in columns 2..8
  (28 aliens), not 2..7 (24); the respawn after clearing the map was already 2..7.

Every other env behaves the same under both dynamics.
"""

from __future__ import annotations

import warnings

from hades_zoo.errors import ConfigError

DYNAMICS = ("current", "2023")
CHANGED_2023 = ("inverted_double_pendulum", "humanoid", "humanoidstandup", "SpaceInvaders-MinAtar")


def check_dynamics(dynamics: str) -> str:
    if dynamics not in DYNAMICS:
        raise ConfigError(f"unknown dynamics {dynamics!r}; use one of {', '.join(DYNAMICS)} "
                          "(2023: the brax 0.9.x / gymnax 0.0.6 behaviour the authors' datasets were made on)")
    return dynamics


def brax_env(env_id: str):
    """The positional brax env ``env_id`` with its 2023 behaviour (unwrapped)."""
    import jax  # noqa: F401 (with the simulator: reading a dataset's metadata needs neither)
    import jax.numpy as jnp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from brax import base  # a simulator (seconds to import): loaded when an env is made
        from brax.envs import get_environment
        from brax.envs.base import Wrapper
        from brax.envs.inverted_double_pendulum import InvertedDoublePendulum

    if env_id == "inverted_double_pendulum":

        class InvertedDoublePendulum2023(InvertedDoublePendulum):
            def step(self, state, action):
                ps = self.pipeline_step(state.pipeline_state, action)
                tip = base.Transform.create(pos=jnp.array([0.0, 0.0, 0.6])).do(ps.x.take(2))
                x, _, y = tip.pos
                v1, v2 = ps.qd[1:]
                reward = 10.0 - (0.01 * x**2 + (y - 2) ** 2) - (1e-3 * v1**2 + 5e-3 * v2**2)
                done = jnp.where(y <= 1, jnp.float32(1), jnp.float32(0))
                return state.replace(pipeline_state=ps, obs=self._get_obs(ps), reward=reward, done=done)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return InvertedDoublePendulum2023(backend="positional")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = get_environment(env_id, backend="positional")
    if env_id not in ("humanoid", "humanoidstandup"):
        return env

    class RawActuatorAction(Wrapper):
        """Undo the env's [-1, 1] -> ctrl_range rescaling: the env then acts on the raw action."""

        def step(self, state, action):
            lo, hi = self.env.sys.actuator.ctrl_range[:, 0], self.env.sys.actuator.ctrl_range[:, 1]
            return self.env.step(state, (action - lo) * 2.0 / (hi - lo) - 1.0)

    return RawActuatorAction(env)


def gymnax_env(env_id: str):
    """``(env, params)`` of gymnax ``env_id`` with its 2023 behaviour."""
    import jax  # noqa: F401 (with the simulator: reading a dataset's metadata needs neither)
    import jax.numpy as jnp

    import gymnax  # a simulator (seconds to import): loaded when an env is made

    env, params = gymnax.make(env_id)
    if env_id != "SpaceInvaders-MinAtar":
        return env, params
    from gymnax.environments.minatar.space_invaders import MinSpaceInvaders  # a simulator (seconds to import): loaded when an env is made

    class MinSpaceInvaders2023(MinSpaceInvaders):
        def reset_env(self, key: jax.Array, params):
            _, state = super().reset_env(key, params)
            state = state.replace(alien_map=state.alien_map.at[0:4, 2:9].set(True))
            return self.get_obs(state), state

    return MinSpaceInvaders2023(), params
