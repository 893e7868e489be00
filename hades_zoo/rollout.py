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
space): ``hades_zoo.recipe.ObsNorm`` (``running`` restarts per evaluation and
merges every batch of env observations, reset batch included, before
normalising; ``const`` uses the dataset's ``obs_mean``/``obs_var``; ``none``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from hades_zoo import envs
from hades_zoo._runtime import unrolled_threefry
from hades_zoo.errors import ConfigError
from hades_zoo.policies import Policy
from hades_zoo.recipe import ObsNorm, Protocol, resets_unneeded


# Env steps per trip of the rollout's loop, read when a rollout is traced. Same scores at any value;
# 1 is the fastest measured on CPU (`python -m benchmarks.distill_throughput --configs FILE --levers unroll=2`).
SCAN_UNROLL = 1
# True: a score-only rollout of the ``first_episode`` metric stops once every env has ended its first
# episode; what follows cannot change the score, so scores are bit-identical (tests/test_distill.py).
# Read when a rollout is traced. Off: vmapped over the engine's population it stopped early in no
# generation measured, and cost 11 % on hopper (README, issue 21; `distill_throughput --levers early-exit`).
EARLY_EXIT = False


@functools.lru_cache(maxsize=64)
def make_evaluate(env_id: str, policy: Policy, protocol: Protocol, obs_norm: str | ObsNorm, dynamics: str = "current",
                  reset: bool = True):
    """A pure ``evaluate(key, params, obs_mean, obs_var) -> score`` for one policy.

    ``reset=False`` (a ``first_episode`` score without ``running`` normalisation only): the envs step
    without their auto-reset (``Env.step_no_reset``), since nothing after an env's first episode
    reaches the score: the reset draw and the ``where`` over the env state every step are gone
    (on CartPole XLA had fused the reset's threefry into each of them: 2.2x faster rollouts). The same
    arithmetic until each env's first ``done``; not bit-identical, as XLA rounds the step differently in
    that program (a few ulp in some states). The engine's ``fitness_reset = false`` (issue 21)."""
    kind = obs_norm.kind if isinstance(obs_norm, ObsNorm) else ObsNorm(obs_norm).kind
    if not reset and not resets_unneeded(protocol, kind):
        raise ConfigError(f"reset=False needs a first_episode protocol and no running normalisation, got "
                          f"{protocol.metric} and {kind}")
    rollout = _make_rollout(env_id, policy, protocol, obs_norm, dynamics=dynamics, score_only=True, reset=reset)
    return lambda key, params, obs_mean, obs_var: rollout(key, params, obs_mean, obs_var)[0]


@functools.lru_cache(maxsize=16)
def make_visited_states(env_id: str, policy: Policy, protocol: Protocol, obs_norm: str | ObsNorm, dynamics: str = "current"):
    """A pure ``states(key, params, obs_mean, obs_var) -> (n_steps, n_envs, *obs)``: the
    normalised observations the policy acted on in a ``protocol`` rollout (what it sees,
    in the dataset's space; ``hades_zoo.multitask`` anchors a student on them)."""
    rollout = _make_rollout(env_id, policy, protocol, obs_norm, collect=True, dynamics=dynamics)
    return lambda key, params, obs_mean, obs_var: rollout(key, params, obs_mean, obs_var)[1]


@functools.lru_cache(maxsize=16)
def make_norm_stats(env_id: str, policy: Policy, protocol: Protocol, obs_norm: str | ObsNorm, dynamics: str = "current"):
    """A pure ``stats(key, params, obs_mean, obs_var) -> NormState``: the normalisation statistics
    at the end of a ``protocol`` rollout (``TrainedPolicy.freeze`` keeps a running policy's)."""
    rollout = _make_rollout(env_id, policy, protocol, obs_norm, dynamics=dynamics)
    return lambda key, params, obs_mean, obs_var: rollout(key, params, obs_mean, obs_var)[2]


def _make_rollout(env_id: str, policy: Policy, protocol: Protocol, obs_norm: str | ObsNorm, collect: bool = False,
                  dynamics: str = "current", score_only: bool = False, reset: bool = True):
    """``rollout(key, params, obs_mean, obs_var) -> (score, normalised observations or None, final statistics)``.

    ``score_only``: the caller reads the score alone, so a ``first_episode`` rollout may stop once
    every env has ended its first episode (``EARLY_EXIT``; the statistics then stop there)."""
    unrolled_threefry()  # same random bits, no while loop per draw (most of a CartPole step)
    norm = obs_norm if isinstance(obs_norm, ObsNorm) else ObsNorm(obs_norm)
    env = envs.make(env_id, dynamics)
    n_envs, n_steps = protocol.n_envs, protocol.steps_for(env.spec)
    batched_reset = jax.vmap(env.reset)
    batched_step = jax.vmap(env.step if reset or env.step_no_reset is None else env.step_no_reset)

    def evaluate(key, params, obs_mean, obs_var):
        key_reset, key_run = jax.random.split(key)
        obs, state = batched_reset(jax.random.split(key_reset, n_envs))
        stats = norm.update(norm.init_state(obs.shape[-1], obs_mean, obs_var), obs)
        zeros = jnp.zeros(n_envs)
        carry = (obs, state, stats, zeros, zeros, zeros, zeros, zeros, zeros.astype(bool))

        def _step(carry, key):
            obs, state, stats, ep_ret, done_sum, done_n, last, first, seen = carry
            key_act, key_env = jax.random.split(key)
            obs = norm.normalize(obs, stats)
            action = policy.act(key_act, params, obs, protocol.sample_actions)
            next_obs, state, reward, done = batched_step(jax.random.split(key_env, n_envs), state, action)
            stats = norm.update(stats, next_obs)
            ep_ret = ep_ret + reward
            d = done.astype(jnp.float32)
            done_sum, done_n = done_sum + ep_ret * d, done_n + d
            last = jnp.where(done, ep_ret, last)
            first = jnp.where(done & ~seen, ep_ret, first)
            seen = seen | done
            return (next_obs, state, stats, ep_ret * (1.0 - d), done_sum, done_n, last, first, seen), (obs if collect else None)

        keys = jax.random.split(key_run, n_steps)
        if score_only and EARLY_EXIT and protocol.metric == "first_episode" and not collect:
            # the same steps with the same keys, until every env has seen its first episode end
            def _cond(c):
                return (c[0] < n_steps) & ~jnp.all(c[1][-1])

            def _body(c):
                return c[0] + 1, _step(c[1], keys[c[0]])[0]

            carry, visited = jax.lax.while_loop(_cond, _body, (jnp.int32(0), carry))[1], None
        else:
            carry, visited = jax.lax.scan(_step, carry, keys, unroll=SCAN_UNROLL)
        _, _, stats, ep_ret, done_sum, done_n, last, first, seen = carry
        if protocol.metric == "completed_mean":
            # No episode completed in the window: score the episodes in progress.
            score = jnp.where(done_n.sum() > 0, done_sum.sum() / jnp.maximum(done_n.sum(), 1), ep_ret.mean())
        elif protocol.metric == "last_completed":
            score = last.mean()
        else:
            score = jnp.where(seen, first, ep_ret).mean()
        return score, visited, stats

    return evaluate
