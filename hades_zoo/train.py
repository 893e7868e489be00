"""Behaviour cloning: the inner loop of distillation and the client's ``train``.

``make_bc(policy, recipe)`` returns a pure ``bc(params, states, targets) ->
params`` (full-batch Adam steps under ``lax.scan``) that the client vmaps over
seeds and the engine vmaps over a population: one implementation for both.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hades_zoo import bounds
from hades_zoo.errors import ConfigError
from hades_zoo.policies import Policy

LOSSES = ("gaussian-nll", "xent")
OPTIMIZERS = ("adam", "sgd")  # sgd: plain SGD, no momentum (the authors' MNIST recipe)


@dataclasses.dataclass(frozen=True)
class InitSpec:
    """How BC initialises the policy: a fresh key per seed (HaDES-R), or the one
    fixed key a HaDES-F dataset was distilled for (with the PRNG setting of its day)."""

    mode: str = "random"  # "random" | "fixed"
    seed: int = 0
    threefry_partitionable: bool = True

    def __post_init__(self):
        bounds.check_seed("init seed", self.seed)

    def to_dict(self) -> dict:
        if self.mode == "random":
            return {"mode": "random"}
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "InitSpec":
        if d.get("mode") not in ("random", "fixed"):
            raise ConfigError(f"init mode must be 'random' or 'fixed', got {d.get('mode')!r}")
        return cls(d["mode"], int(d.get("seed", 0)), bool(d.get("threefry_partitionable", True)))


@dataclasses.dataclass(frozen=True)
class Recipe:
    """The training recipe a dataset was distilled for (stored in its metadata)."""

    arch: str = "mlp-2x512-tanh"
    lr: float = 5e-3
    epochs: int = 200  # full-batch gradient steps
    grad_clip: float | None = 0.5
    loss: str = "gaussian-nll"
    adam_eps: float = 1e-5
    init: InitSpec = InitSpec()
    optimizer: str = "adam"

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown BC loss {self.loss!r}; use one of {', '.join(LOSSES)}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown BC optimizer {self.optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
        if not (self.lr > 0 and np.isfinite(self.lr)):
            raise ConfigError(f"learning rate must be a positive number, got {self.lr}")
        bounds.check_int("epochs (BC steps)", self.epochs, 1, bounds.MAX_BC_STEPS, "hades_zoo.bounds.MAX_BC_STEPS")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError(f"grad clip must be positive or None, got {self.grad_clip}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["init"] = self.init.to_dict()
        if self.optimizer == "adam":  # the default stays unwritten: older files keep their bytes
            del d["optimizer"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Recipe":
        d = dict(d)
        init = InitSpec.from_dict(d.pop("init", {"mode": "random"}))
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown recipe keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d, init=init)


def bc_loss(policy: Policy, params: Any, states: jax.Array, targets: jax.Array) -> jax.Array:
    """Paper losses: mean Gaussian NLL over pairs, or ``-mean(labels * log_softmax)``
    over the (pair, action) entries of the *labelled* pairs: a zero label row is an
    unused state, which the authors' BC never sees (MinAtar D=16 with 3 actions).
    A policy with its own ``bc_loss`` (``hades_zoo.multitask``: masked, per-task) uses it."""
    if hasattr(policy, "bc_loss"):
        return policy.bc_loss(params, states, targets)
    if policy.discrete:
        logp = jax.nn.log_softmax(policy(params, states), axis=-1)
        n_labelled = jnp.maximum(jnp.sum(targets), 1.0)  # rows sum to 1 or 0
        return -jnp.sum(targets * logp) / (n_labelled * targets.shape[-1])
    return -jnp.mean(policy.log_prob(params, states, targets))


@functools.lru_cache(maxsize=64)
def make_bc(policy: Policy, recipe: Recipe):
    """A pure ``bc(params, states, targets) -> params``; vmap it over seeds or a population."""
    tx = optax.sgd(recipe.lr) if recipe.optimizer == "sgd" else optax.adam(recipe.lr, eps=recipe.adam_eps)
    if recipe.grad_clip is not None:
        tx = optax.chain(optax.clip_by_global_norm(recipe.grad_clip), tx)
    grad_fn = jax.grad(functools.partial(bc_loss, policy))

    def bc(params, states, targets):
        states = states.reshape((states.shape[0], -1))

        def _step(carry, _):
            params, opt_state = carry
            updates, opt_state = tx.update(grad_fn(params, states, targets), opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), None

        (params, _), _ = jax.lax.scan(_step, (params, tx.init(params)), None, length=int(recipe.epochs))
        return params

    return bc


@functools.lru_cache(maxsize=64)
def _jitted_init(policy: Policy):
    return jax.jit(policy.init)


def init_params(policy: Policy, init: InitSpec, keys: jax.Array) -> Any:
    """Initial parameters for each key, stacked on a leading axis.

    One init per key outside ``vmap``: a vmapped orthogonal init (batched QR) of
    512-wide layers can deadlock on CPU jaxlib. ``fixed`` ignores ``keys`` and
    repeats the dataset's own initialisation under its PRNG setting.
    """
    if init.mode == "fixed":
        with jax.threefry_partitionable(init.threefry_partitionable):
            one = jax.jit(policy.init)(jax.random.PRNGKey(init.seed))
        return jax.tree.map(lambda x: jnp.stack([x] * len(keys)), one)
    fn = _jitted_init(policy)
    return jax.tree.map(lambda *xs: jnp.stack(xs), *[fn(k) for k in keys])
