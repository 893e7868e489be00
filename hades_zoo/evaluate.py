"""Rollouts of a policy in the real env, under a named evaluation protocol.

``make_evaluate(env_id, policy, protocol, obs_norm, dynamics)`` returns a pure
``evaluate(key, params, obs_mean, obs_var) -> score`` for *one* policy; the
client vmaps it over BC seeds and the engine over a population.

Protocols (``PROTOCOLS``):
  paper-brax     4 envs x 1024 steps, sampled actions, score = mean return of the
                 episodes completed in the window (authors' brax fitness)
  paper-minatar  8 envs x 1024 steps, sampled actions, score = mean over envs of
                 the return of the last completed episode, 0 if none (authors' MinAtar)
  paper-classic  8 envs x 1024 steps, sampled actions, completed-episode mean
  episodes       ours: 16 envs, one full episode each from reset, greedy actions
                 (Gaussian mean / argmax), score = mean episode return
``paper`` picks the family's paper protocol. ``dynamics`` picks the env's behaviour
(``envs.make``): ``current`` or ``2023`` (what the authors' datasets were made on).

Observation normalisation belongs to the dataset (its states live in that
space): ``running`` restarts (mean 0, var 1, count 1e-4) per evaluation and
merges every batch of env observations, reset batch included, before
normalising; ``const`` uses the dataset's ``obs_mean``/``obs_var``; ``none``.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from hades_zoo import bounds, envs
from hades_zoo.errors import ConfigError
from hades_zoo.policies import Policy

METRICS = ("completed_mean", "last_completed", "first_episode")
NORM_KINDS = ("running", "const", "none")
NORM_EPS = 1e-8


@dataclasses.dataclass(frozen=True)
class Protocol:
    name: str
    n_envs: int
    n_steps: int | None  # None: the env's episode length (one full episode per env)
    sample_actions: bool
    metric: str

    def __post_init__(self):
        if self.metric not in METRICS:
            raise ConfigError(f"unknown metric {self.metric!r}; use one of {', '.join(METRICS)}")
        bounds.check_int("protocol n_envs", self.n_envs, 1, bounds.MAX_EVAL_ENVS, "hades_zoo.bounds.MAX_EVAL_ENVS")
        if self.n_steps is not None:
            bounds.check_int("protocol n_steps", self.n_steps, 1, bounds.MAX_EVAL_STEPS, "hades_zoo.bounds.MAX_EVAL_STEPS")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Protocol":
        try:
            return cls(**d)
        except TypeError as e:
            raise ConfigError(f"bad protocol {d!r}: {e}") from None

    def steps_for(self, spec: envs.EnvSpec) -> int:
        return self.n_steps if self.n_steps is not None else spec.episode_length


PROTOCOLS = {
    p.name: p
    for p in [
        Protocol("paper-brax", 4, 1024, True, "completed_mean"),
        Protocol("paper-minatar", 8, 1024, True, "last_completed"),
        Protocol("paper-classic", 8, 1024, True, "completed_mean"),
        Protocol("episodes", 16, None, False, "first_episode"),
    ]
}


def get_protocol(name_or_protocol, spec: envs.EnvSpec) -> Protocol:
    """Resolve a protocol name (``paper`` -> the family's own), dict or ``Protocol``."""
    if isinstance(name_or_protocol, Protocol):
        return name_or_protocol
    if isinstance(name_or_protocol, dict):
        return Protocol.from_dict(name_or_protocol)
    name = name_or_protocol
    if name == "paper":
        name = "paper-brax" if spec.family == "brax" else "paper-minatar" if spec.minatar else "paper-classic"
    if name not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {name!r}; use one of paper, {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def _norm_update(stats, obs):
    """Chan's parallel mean/variance merge of a batch into running stats."""
    mean, var, count = stats
    b_mean, b_var, b_count = obs.mean(0), obs.var(0), obs.shape[0]
    delta = b_mean - mean
    total = count + b_count
    new_mean = mean + delta * b_count / total
    m2 = var * count + b_var * b_count + delta**2 * count * b_count / total
    return new_mean, m2 / total, total


@functools.lru_cache(maxsize=64)
def make_evaluate(env_id: str, policy: Policy, protocol: Protocol, obs_norm: str, dynamics: str = "current"):
    """A pure ``evaluate(key, params, obs_mean, obs_var) -> score`` for one policy."""
    rollout = _make_rollout(env_id, policy, protocol, obs_norm, dynamics=dynamics)
    return lambda key, params, obs_mean, obs_var: rollout(key, params, obs_mean, obs_var)[0]


@functools.lru_cache(maxsize=16)
def make_visited_states(env_id: str, policy: Policy, protocol: Protocol, obs_norm: str, dynamics: str = "current"):
    """A pure ``states(key, params, obs_mean, obs_var) -> (n_steps, n_envs, *obs)``: the
    normalised observations the policy acted on in a ``protocol`` rollout (what it sees,
    in the dataset's space; ``hades_zoo.multitask`` anchors a student on them)."""
    rollout = _make_rollout(env_id, policy, protocol, obs_norm, collect=True, dynamics=dynamics)
    return lambda key, params, obs_mean, obs_var: rollout(key, params, obs_mean, obs_var)[1]


def _make_rollout(env_id: str, policy: Policy, protocol: Protocol, obs_norm: str, collect: bool = False,
                  dynamics: str = "current"):
    """``rollout(key, params, obs_mean, obs_var) -> (score, normalised observations or None)``."""
    if obs_norm not in NORM_KINDS:
        raise ConfigError(f"unknown observation normalisation {obs_norm!r}; use one of {', '.join(NORM_KINDS)}")
    env = envs.make(env_id, dynamics)
    n_envs, n_steps = protocol.n_envs, protocol.steps_for(env.spec)
    batched_reset, batched_step = jax.vmap(env.reset), jax.vmap(env.step)

    def evaluate(key, params, obs_mean, obs_var):
        key_reset, key_run = jax.random.split(key)
        obs, state = batched_reset(jax.random.split(key_reset, n_envs))
        dim = obs.shape[-1]
        if obs_norm == "running":
            stats = _norm_update((jnp.zeros(dim), jnp.ones(dim), jnp.float32(1e-4)), obs)
        else:
            stats = (obs_mean.reshape(-1), obs_var.reshape(-1), jnp.float32(0.0))
        zeros = jnp.zeros(n_envs)
        carry = (obs, state, stats, zeros, zeros, zeros, zeros, zeros, zeros.astype(bool))

        def _step(carry, key):
            obs, state, stats, ep_ret, done_sum, done_n, last, first, seen = carry
            key_act, key_env = jax.random.split(key)
            if obs_norm != "none":
                obs = (obs - stats[0]) / jnp.sqrt(stats[1] + NORM_EPS)
            action = policy.act(key_act, params, obs, protocol.sample_actions)
            next_obs, state, reward, done = batched_step(jax.random.split(key_env, n_envs), state, action)
            if obs_norm == "running":
                stats = _norm_update(stats, next_obs)
            ep_ret = ep_ret + reward
            d = done.astype(jnp.float32)
            done_sum, done_n = done_sum + ep_ret * d, done_n + d
            last = jnp.where(done, ep_ret, last)
            first = jnp.where(done & ~seen, ep_ret, first)
            seen = seen | done
            return (next_obs, state, stats, ep_ret * (1.0 - d), done_sum, done_n, last, first, seen), (obs if collect else None)

        carry, visited = jax.lax.scan(_step, carry, jax.random.split(key_run, n_steps))
        _, _, _, ep_ret, done_sum, done_n, last, first, seen = carry
        if protocol.metric == "completed_mean":
            # No episode completed in the window: score the episodes in progress.
            score = jnp.where(done_n.sum() > 0, done_sum.sum() / jnp.maximum(done_n.sum(), 1), ep_ret.mean())
        elif protocol.metric == "last_completed":
            score = last.mean()
        else:
            score = jnp.where(seen, first, ep_ret).mean()
        return score, visited

    return evaluate
