"""One small functional env API over brax and gymnax.

``make(env_id)`` returns an ``Env`` with two pure, jit- and vmap-able functions
on a *single* env (vmap them for a batch)::

    obs, state = env.reset(key)
    obs, state, reward, done = env.step(key, state, action)

Observations are flat float32 vectors, episodes auto-reset inside ``step``,
``done`` covers termination and truncation, and continuous actions are given in
the policy's [-1, 1] space: ``step`` clips them and rescales to the env's range.
``Env.step_no_reset`` is the same step without the auto-reset: until ``done`` it gives
exactly what ``step`` gives; after it, the env runs on from where the episode ended.

``make(env_id, dynamics="2023")`` gives the env as it behaved when the authors'
datasets were made (brax 0.9.x, gymnax 0.0.6; ``dynamics_2023``); the default
``"current"`` is today's installed simulator.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import warnings
from importlib.metadata import version
from typing import Any, Callable


from hades_zoo.envs.dynamics_2023 import CHANGED_2023, DYNAMICS, brax_env, check_dynamics, gymnax_env
from hades_zoo.envs.specs import ENV_SPECS, EnvSpec, get_spec

__all__ = ["Env", "EnvSpec", "ENV_SPECS", "DYNAMICS", "CHANGED_2023", "check_dynamics", "get_spec", "make", "simulator_versions", "to_env_action"]


@dataclasses.dataclass(frozen=True)
class Env:
    spec: EnvSpec
    reset: Callable[[jax.Array], tuple[jax.Array, Any]]
    step: Callable[[jax.Array, Any, jax.Array], tuple[jax.Array, Any, jax.Array, jax.Array]]
    upstream: Any = None  # the brax or gymnax env itself (``hades_zoo.render`` reads brax's ``sys``)
    params: Any = None  # a gymnax env's parameters (``hades_zoo.render`` draws classic control with them)
    # ``step`` without the auto-reset (same signature), for callers that read nothing of an env after its
    # first ``done`` (``hades_zoo.rollout``'s first-episode scores): no reset draw, no ``where`` over the
    # state every step. None where an env's own ``step`` is not the base class's.
    step_no_reset: Callable | None = None


def to_env_action(spec: EnvSpec, action: jax.Array) -> jax.Array:
    """A policy action in the simulator's terms: clipped to [-1, 1] and rescaled to the env's
    range (continuous), or ``int32`` (discrete). ``Env.step`` applies it itself."""
    import jax.numpy as jnp  # here, not at import: specs and dynamics names are read without jax

    if spec.discrete:
        return action.astype(jnp.int32)
    a = jnp.clip(action, -1.0, 1.0)
    return spec.action_low + (a + 1.0) * 0.5 * (spec.action_high - spec.action_low)


def _make_brax(spec: EnvSpec, dynamics: str) -> Env:
    # brax prints deprecation warnings on import, and mujoco.mjx prints "Failed to import
    # warp" twice on stdout (an optional GPU backend); neither is ours to act on.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        from brax import envs as brax_envs  # a simulator (seconds to import): loaded when an env is made
        from brax.envs.wrappers.training import AutoResetWrapper, EpisodeWrapper

        with _model_on_this_process():
            if dynamics == "2023":
                env = brax_env(spec.env_id)
            else:
                env = brax_envs.get_environment(spec.env_id, backend="positional")
    env = AutoResetWrapper(EpisodeWrapper(env, episode_length=spec.episode_length, action_repeat=1))

    def reset(key):
        state = env.reset(key)
        return state.obs, state

    def step(key, state, action):
        state = env.step(state, to_env_action(spec, action))
        return state.obs, state, state.reward, state.done > 0.5

    def step_no_reset(key, state, action):  # the EpisodeWrapper inside the AutoResetWrapper
        state = env.env.step(state, to_env_action(spec, action))
        return state.obs, state, state.reward, state.done > 0.5

    return Env(spec, reset, step, env, step_no_reset=step_no_reset)


@contextlib.contextmanager
def _model_on_this_process():
    """Build brax's model on this process's own device. MJX's ``put_model`` (which brax calls
    with no device) picks ``jax.devices()[0]``: with several processes (``distill run
    --num-processes``) that is process 0's device, and every other process then cannot trace the
    env ("closing over jax.Array that spans non-addressable devices"); nor can it move the model
    afterwards (no cross-host transfers on CPU). One process: nothing changes."""
    import jax  # here, not at import: as in to_env_action (reading a spec needs no jax)

    if jax.process_count() == 1:
        yield
        return
    from mujoco import mjx  # a simulator, loaded with brax when an env is made

    put_model = mjx.put_model
    mjx.put_model = functools.partial(put_model, device=jax.local_devices()[0])
    try:
        yield
    finally:
        mjx.put_model = put_model


def _make_gymnax(spec: EnvSpec, dynamics: str) -> Env:
    import jax  # here, not at import: as in to_env_action
    import jax.numpy as jnp

    import gymnax  # a simulator (seconds to import): loaded when an env is made

    if dynamics == "2023":
        env, params = gymnax_env(spec.env_id)
    else:
        env, params = gymnax.make(spec.env_id)

    def reset(key):
        obs, state = env.reset(key, params)
        return obs.reshape(-1).astype(jnp.float32), state

    def step(key, state, action):
        a = to_env_action(spec, action)
        if not spec.discrete:
            a = a.reshape(env.action_space(params).shape)
        obs, state, reward, terminated, truncated, _ = env.step(key, state, a, params)
        done = jnp.logical_or(terminated, truncated)
        return obs.reshape(-1).astype(jnp.float32), state, jnp.asarray(reward, jnp.float32), done

    def step_no_reset(key, state, action):  # gymnax's Environment.step up to its reset draw and select
        a = to_env_action(spec, action)
        if not spec.discrete:
            a = a.reshape(env.action_space(params).shape)
        key_step, _ = jax.random.split(key)
        obs, state, reward, terminated, _ = env.step_env(key_step, state, a, params)
        done = jnp.logical_or(terminated, env.is_truncated(state, params))
        return obs.reshape(-1).astype(jnp.float32), state, jnp.asarray(reward, jnp.float32), done

    from gymnax.environments.environment import Environment  # deferred: gymnax only for gymnax envs (light imports)

    plain = getattr(type(env), "step", None) is Environment.step and hasattr(env, "is_truncated")
    return Env(spec, reset, step, env, params, step_no_reset=step_no_reset if plain else None)


def make(env_id: str, dynamics: str = "current") -> Env:
    """The env for ``env_id`` (upstream id or slug); cached so jitted users reuse it.

    ``dynamics``: ``"current"`` (today's simulator) or ``"2023"`` (the behaviour the
    authors' datasets were distilled on; differs for ``CHANGED_2023`` only).
    """
    env_id = get_spec(env_id).env_id
    check_dynamics(dynamics)
    # Unchanged envs share one instance (and their jit caches) under both names.
    return _make(env_id, dynamics if env_id in CHANGED_2023 else "current")


@functools.lru_cache(maxsize=None)
def _make(env_id: str, dynamics: str) -> Env:
    spec = get_spec(env_id)
    return _make_brax(spec, dynamics) if spec.family == "brax" else _make_gymnax(spec, dynamics)


def simulator_versions(spec: EnvSpec) -> dict[str, str]:
    """Versions of the packages that define this env's dynamics (recorded in datasets)."""
    names = ["brax", "mujoco"] if spec.family == "brax" else ["gymnax"]
    return {n: version(n) for n in names}
