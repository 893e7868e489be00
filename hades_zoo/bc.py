"""Behaviour cloning: the inner loop of distillation and the client's ``train``.

``make_bc(policy, recipe)`` returns a pure ``bc(params, states, targets) ->
params`` (full-batch Adam steps under ``lax.scan``) that the client vmaps over
seeds and the engine vmaps over a population: one implementation for both, and
for the multi-task student's sampled anchor batches (``make_bc(..., batch)``, a
per-step batch and per-row weights: ``hades_zoo.multitask.batches``).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax

from hades_zoo.policies import Policy
from hades_zoo.recipe import InitSpec, Recipe

def bc_loss(policy: Policy, params: Any, states: jax.Array, targets: jax.Array, weights: jax.Array | None = None) -> jax.Array:
    """Paper losses: mean Gaussian NLL over pairs, or ``-mean(labels * log_softmax)``
    over the (pair, action) entries of the *labelled* pairs: a zero label row is an
    unused state, which the authors' BC never sees (MinAtar D=16 with 3 actions).
    A policy with its own ``bc_loss`` (``hades_zoo.multitask``: masked, per-task) uses it;
    ``weights`` (rows,), *optional*, per-row weights (a sampled anchor batch,
    ``hades_zoo.multitask.batches.anchor_sampler``): each row counts ``weights`` times, in the sum
    and in the count it is divided by, so that a batch whose weights sum to the full set's rows
    has the full set's normaliser (the single-task ``teacher-env`` anchor pool)."""
    if hasattr(policy, "bc_loss"):
        return policy.bc_loss(params, states, targets) if weights is None else policy.bc_loss(params, states, targets, weights)
    if policy.discrete:
        logp = jax.nn.log_softmax(policy(params, states), axis=-1)
        if weights is None:
            n_labelled = jnp.maximum(jnp.sum(targets), 1.0)  # rows sum to 1 or 0
            return -jnp.sum(targets * logp) / (n_labelled * targets.shape[-1])
        w = weights[:, None]
        return -jnp.sum(w * targets * logp) / (jnp.maximum(jnp.sum(w * targets), 1.0) * targets.shape[-1])
    if weights is None:
        return -jnp.mean(policy.log_prob(params, states, targets))
    return -jnp.sum(weights * policy.log_prob(params, states, targets)) / jnp.sum(weights)


def optimizer(recipe: Recipe) -> optax.GradientTransformation:
    """The recipe's optimiser: Adam (or plain SGD), after global-norm clipping if it clips."""
    tx = optax.sgd(recipe.lr) if recipe.optimizer == "sgd" else optax.adam(recipe.lr, eps=recipe.adam_eps)
    if recipe.grad_clip is not None:
        tx = optax.chain(optax.clip_by_global_norm(recipe.grad_clip), tx)
    return tx


def make_bc_steps(policy: Policy, recipe: Recipe, steps: int, batch=None):
    """A pure ``steps(params, opt_state, states, targets, key=None) -> (params, opt_state)``: ``steps``
    steps of the recipe's optimiser that can be resumed (``hades_zoo.transfer`` checks a student
    between chunks). Each step takes every row, or with ``batch``, *optional*, the rows and per-row
    weights ``batch(key, states, targets) -> (states, targets, weights)`` gives for that step's key,
    split from ``key`` (``hades_zoo.multitask.batches`` samples anchors per source)."""
    tx = optimizer(recipe)
    grad_fn = jax.grad(functools.partial(bc_loss, policy))

    def run(params, opt_state, states, targets, key=None):
        states = states.reshape((states.shape[0], -1))

        def _step(carry, key):
            params, opt_state = carry
            grads = grad_fn(params, states, targets) if batch is None else grad_fn(params, *batch(key, states, targets))
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), None

        if batch is not None and key is None:
            raise TypeError("a BC with a per-step batch needs a key")
        keys = None if batch is None else jax.random.split(key, int(steps))
        return jax.lax.scan(_step, (params, opt_state), keys, length=int(steps))[0]

    return run


@functools.lru_cache(maxsize=64)
def make_bc(policy: Policy, recipe: Recipe, batch=None):
    """A pure ``bc(params, states, targets, key=None) -> params``: ``recipe.epochs`` steps from a fresh
    optimiser state (``batch`` and ``key``: ``make_bc_steps``); vmap it over seeds or a population."""
    tx, run = optimizer(recipe), make_bc_steps(policy, recipe, recipe.epochs, batch)

    def bc(params, states, targets, key=None):
        return run(params, tx.init(params), states, targets, key)[0]

    return bc


@functools.lru_cache(maxsize=64)
def _jitted_init(policy: Policy, batched: bool):
    return jax.jit(jax.vmap(policy.init) if batched else policy.init)


def ours(policy: Policy) -> bool:
    """A network of ``hades_zoo.policies``: its orthogonal init is plain XLA ops on CPU."""
    return type(getattr(policy, "net", None)).__module__ == "hades_zoo.policies"


def init_params(policy: Policy, init: InitSpec, keys: jax.Array) -> Any:
    """Initial parameters for each key, stacked on a leading axis.

    Our own networks initialise every key in one vmapped program: on CPU their orthogonal
    init is Gram-Schmidt (``policies.orthogonal``), 16x cheaper vmapped than key by key
    (8 seeds of mlp-2x512: 0.4 instead of 6 CPU-seconds). Any other module keeps one init
    per key outside ``vmap``: a batched LAPACK QR (``nn.initializers.orthogonal``) of
    512-wide layers can deadlock on CPU jaxlib. ``fixed`` ignores ``keys`` and repeats the
    dataset's own initialisation under its PRNG setting.
    """
    if init.mode == "fixed":
        with jax.threefry_partitionable(init.threefry_partitionable):
            one = jax.jit(policy.init)(jax.random.PRNGKey(init.seed))
        return jax.tree.map(lambda x: jnp.stack([x] * len(keys)), one)
    if ours(policy):  # the program kept exported (hades_zoo.aot): a warm run skips tracing flax's init
        from hades_zoo import aot  # aot imports the runtime, which the engine's own imports do not need

        keys = jnp.stack(list(keys))
        init = aot.program(lambda: _jitted_init(policy, True), ("init", repr(policy)), (keys,), None, timing={},
                           name="init")  # no phase line: it runs inside `initialising`
        return init(keys)
    fn = _jitted_init(policy, False)
    return jax.tree.map(lambda *xs: jnp.stack(xs), *[fn(k) for k in keys])
