"""Per-source anchor batches: a multi-task BC step whose cost does not grow with the zoo.

The default variant gives every source 2048 teacher-labelled anchors (``hades_zoo.anchors``).
Full-batch BC (``hades_zoo.bc.make_bc``) takes all of them every step, so the rows of a step
grow with the number of sources: the whole zoo's 30 sources make 61,440 anchor rows beside
1176 pairs, 98 % of every step (``examples/multitask_cost.py``). Here every step of the same
``make_bc`` takes all the pairs and a fresh sample of ``batch`` anchors per source
(``anchor_sampler``: without replacement, a new sample each step and seed), each weighted
``pool / batch``: a source's mean loss over its
pairs and sampled anchors is then an unbiased estimate of its full-batch loss, with the
same weight of pairs against anchors (``MultiTaskPolicy.bc_loss``'s ``weights``).

``anchor_batch(config, n_sources)`` resolves a config's ``anchor_batch``: ``auto`` keeps the
full batch while all anchors fit ``FULL_BATCH_ANCHOR_ROWS`` (every merge measured in the
README with full batches, up to 8 sources of 2048, stays exactly as it was) and beyond that
samples ``ANCHOR_ROWS_PER_STEP // n_sources`` per source (at least ``MIN_ANCHOR_BATCH``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from hades_zoo.bc import make_bc
from hades_zoo.recipe import Recipe

FULL_BATCH_ANCHOR_ROWS = 16384  # auto: every anchor every step up to this many anchor rows (8 sources x 2048)
ANCHOR_ROWS_PER_STEP = 8192  # auto, beyond it: the anchor rows one step takes, shared out over the sources
MIN_ANCHOR_BATCH = 256  # auto: the fewest anchors per source and step


def anchor_batch(config, n_sources: int) -> int:
    """Anchors per source that one BC step takes; 0: all of them (full batch)."""
    pool, batch = int(config.anchors), config.anchor_batch
    if batch == "auto":
        if pool * n_sources <= FULL_BATCH_ANCHOR_ROWS:
            return 0
        batch = max(MIN_ANCHOR_BATCH, ANCHOR_ROWS_PER_STEP // n_sources)
    return 0 if batch >= pool else int(batch)


def anchor_sampler(n_pairs: int, n_sources: int, pool: int, batch: int):
    """The per-step batch of ``hades_zoo.bc.make_bc``: ``sample(key, states, targets) -> (states,
    targets, weights)``, all ``n_pairs`` pairs (weight 1) and ``batch`` of each source's ``pool``
    anchors (weight ``pool / batch``), drawn without replacement from ``key``.

    ``states`` / ``targets`` are laid out as ``train_multitask`` builds them: the pairs, then
    ``n_sources`` blocks of ``pool`` anchors in source order (``make_anchors``)."""
    weights = jnp.concatenate([jnp.ones(n_pairs), jnp.full(n_sources * batch, pool / batch)])

    def sample(key, states, targets):
        pairs = states[:n_pairs], targets[:n_pairs]
        blocks = states[n_pairs:].reshape(n_sources, pool, -1), targets[n_pairs:].reshape(n_sources, pool, -1)
        idx = jax.vmap(lambda k: jax.random.choice(k, pool, (batch,), replace=False))(jax.random.split(key, n_sources))
        s, t = (jnp.concatenate([p, jnp.take_along_axis(b, idx[..., None], axis=1).reshape(n_sources * batch, -1)])
                for p, b in zip(pairs, blocks))
        return s, t, weights

    return sample


@functools.lru_cache(maxsize=16)
def batched_anchor_bc(policy, recipe: Recipe, n_pairs: int, n_sources: int, pool: int, batch: int):
    """``make_bc`` with ``anchor_sampler``'s batches (``recipe.epochs`` steps), jitted and vmapped over
    seeds: ``(params, keys, states, targets)`` with a parameter set, a key and a target set per seed
    (each seed's own teachers)."""
    bc = make_bc(policy, recipe, anchor_sampler(n_pairs, n_sources, pool, batch))
    return jax.jit(jax.vmap(lambda params, key, states, targets: bc(params, states, targets, key), in_axes=(0, 0, None, 0)))
