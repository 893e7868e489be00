"""Per-source anchor batches: a multi-task BC step whose cost does not grow with the zoo.

The default variant gives every source 2048 teacher-labelled anchors (``hades_zoo.anchors``), a MinAtar
source every state of its teachers' rollouts (``anchor_pool``).
Full-batch BC (``hades_zoo.bc.make_bc``) takes all of them every step, so the rows of a step
grow with the number of sources: the whole zoo's 30 sources make 61,440 anchor rows beside
1176 pairs, 98 % of every step (``examples/multitask_cost.py``). Here every step of the same
``make_bc`` takes all the pairs and a fresh sample of ``batch`` anchors per source
(``anchor_sampler``: without replacement, a new sample each step and seed), each weighted
``pool / batch``: a source's mean loss over its
pairs and sampled anchors is then an unbiased estimate of its full-batch loss, with the
same weight of pairs against anchors (``MultiTaskPolicy.bc_loss``'s ``weights``).

``anchor_batch(config, pools)`` resolves a config's ``anchor_batch``: ``auto`` keeps the
full batch while all anchors fit ``FULL_BATCH_ANCHOR_ROWS`` (every merge measured in the
README with full batches, up to 8 sources of 2048, stays exactly as it was; those with MinAtar
sources with ``anchor_pool="fixed"``, their rule then) and beyond that
samples ``ANCHOR_ROWS_PER_STEP // n_sources`` per source (at least ``MIN_ANCHOR_BATCH``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from hades_zoo.bc import make_bc
from hades_zoo.recipe import Recipe

FULL_BATCH_ANCHOR_ROWS = 16384  # auto: every anchor every step up to this many anchor rows (8 sources x 2048)
ANCHOR_ROWS_PER_STEP = 8192  # auto, beyond it: the anchor rows one step takes, shared out over the sources
MIN_ANCHOR_BATCH = 256  # auto: the fewest anchors per source and step


def anchor_batch(config, pools) -> int:
    """Anchors per source that one BC step takes (a source with fewer takes all of its own); 0: all
    of them (full batch). ``pools``: the number of sources (each with ``config.anchors`` anchors)
    or every source's own anchor count (``anchor_pool="auto"`` gives some sources more)."""
    pools = (int(config.anchors),) * pools if isinstance(pools, int) else tuple(int(p) for p in pools)
    batch = config.anchor_batch
    if batch == "auto":
        if sum(pools) <= FULL_BATCH_ANCHOR_ROWS:
            return 0
        batch = max(MIN_ANCHOR_BATCH, ANCHOR_ROWS_PER_STEP // len(pools))
    return 0 if batch >= max(pools) else int(batch)


def random_subset(key, pool: int, take: int):
    """``take`` distinct indices of ``range(pool)``, every subset equally likely: the ``take`` largest of ``pool``
    uniform draws. ``jax.random.choice(replace=False)`` draws the same law by permuting the whole pool (a sort): on
    the whole zoo (8 MinAtar pools of 65,536) that cost 1.86 s of every 8-seed step, top-k of floats 0.07 s (of
    integer bits 1.3 s: XLA's CPU top-k sorts those; ``python -m benchmarks.anchor_sampler``). Float32 draws tie
    at the boundary in about 1 % of draws of 65,536, broken toward the lower index: a negligible lean."""
    return jax.lax.top_k(jax.random.uniform(key, (pool,)), take)[1]


def anchor_sampler(n_pairs: int, pools: tuple[int, ...], batch: int):
    """The per-step batch of ``hades_zoo.bc.make_bc``: ``sample(key, states, targets) -> (states,
    targets, weights)``, all ``n_pairs`` pairs (weight 1) and ``min(batch, pool_k)`` of each source's
    ``pool_k`` anchors (weight ``pool_k / min(batch, pool_k)``), drawn without replacement from ``key``.

    ``states`` / ``targets`` are laid out as ``train_multitask`` builds them: the pairs, then one
    block of anchors per source in source order (``make_anchors``), ``pools[k]`` rows for source ``k``."""
    takes = [min(batch, p) for p in pools]
    starts = n_pairs + np.concatenate([[0], np.cumsum(pools)[:-1]]).astype(int)
    weights = jnp.concatenate([jnp.ones(n_pairs)] + [jnp.full(t, p / t) for p, t in zip(pools, takes)])

    def sample(key, states, targets):
        keys = jax.random.split(key, len(pools))
        rows = [jnp.arange(n_pairs)]
        for k, (start, p, t) in enumerate(zip(starts, pools, takes)):
            rows.append(start + (jnp.arange(p) if t == p else random_subset(keys[k], p, t)))
        rows = jnp.concatenate(rows)
        return states[rows], targets[rows], weights

    return sample


def batch_blocks(units: np.ndarray, n_pairs: int, pools: tuple[int, ...], batch: int) -> tuple:
    """The static row blocks ``((start, rows, unit), ...)`` of the batches ``anchor_sampler`` (``batch`` > 0) or the
    full batch (``batch`` 0) takes from rows laid out as ``train_multitask`` builds them, ``units[i]`` row ``i``'s unit:
    runs of equal unit over the pairs, then one block per source's anchors (unit -1, rows of mixed units, where a
    source's block holds several). ``hades_zoo.multitask.views.ViewLayer`` takes each block through its own view."""
    def runs(u, start):
        cuts = np.flatnonzero(np.diff(u)) + 1
        return [(start + int(a), int(b - a), int(u[a])) for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(u)])]

    units = np.asarray(units)
    if not batch:
        return tuple(runs(units, 0)) if len(units) else ()
    out, start, at = runs(units[:n_pairs], 0) if n_pairs else [], n_pairs, n_pairs
    for p in pools:
        take, block = min(batch, p), units[at : at + p]
        out.append((start, take, int(block[0]) if (block == block[0]).all() else -1))
        start, at = start + take, at + p
    return tuple(out)


@functools.lru_cache(maxsize=16)
def batched_anchor_bc(policy, recipe: Recipe, n_pairs: int, pools: tuple[int, ...], batch: int, chunk: int | None = None):
    """``make_bc`` with ``anchor_sampler``'s batches (``recipe.epochs`` steps), jitted and vmapped over
    seeds: ``(params, keys, states, targets)`` with a parameter set, a key and a target set per seed
    (each seed's own teachers). ``pools``: every source's anchor count, a tuple. Also the single-task
    ``teacher-env`` student's BC over a MinAtar anchor pool (one source: ``hades_zoo.api.train``).
    ``chunk``, *optional*: ``chunk`` seeds at a time (``hades_zoo.anchors.batched_bc_per_seed``'s)."""
    bc = make_bc(policy, recipe, anchor_sampler(n_pairs, tuple(pools), batch))
    one = lambda params, key, states, targets: bc(params, states, targets, key)  # noqa: E731
    if chunk is None:
        return jax.jit(jax.vmap(one, in_axes=(0, 0, None, 0)))
    return jax.jit(lambda params, keys, states, targets: jax.lax.map(lambda a: one(a[0], a[1], states, a[2]),
                                                                     (params, keys, targets), batch_size=int(chunk)))
