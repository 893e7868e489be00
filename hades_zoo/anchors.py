"""Teacher-labelled anchor states: what a network should do *between* a dataset's pairs.

A 64-pair dataset says nothing about the states around its pairs, and a student of
another architecture (or a multi-task network pulled by other tasks) fills them in its
own way. An *anchor* is a state near the pairs, labelled by a *teacher*: the dataset's
own recipe, behaviour-cloned on the same pairs, whose behaviour there is the one the
dataset was distilled for. Two ways to pick the states:

- ``data`` (no env step): a random pair's state plus Gaussian noise of the per-dim std
  of the dataset's states times ``scale``, in the dataset's normalised space;
- ``env``: states the teacher visits in its env (one protocol rollout per seed);
- ``auto``: ``env`` where data anchors are known to fail (MinAtar frames, fixed-init datasets),
  ``data`` elsewhere (``anchor_kind``; a merge also gives env anchors to the other sources of
  those envs, ``hades_zoo.multitask.train.source_anchor_kinds``).

Labels (``label``) are per teacher seed: action means, or the softmax of the logits as
label distributions, so that student seed ``i`` learns from teacher seed ``i``
(``batched_bc_per_seed``). Used by ``hades_zoo.train(..., transfer=...)`` and by the
multi-task ``anchored`` / ``anchored-env`` variants.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from hades_zoo import bounds
from hades_zoo.agent import TrainedPolicy
from hades_zoo.bc import make_bc
from hades_zoo.errors import ConfigError
from hades_zoo.policies import Policy
from hades_zoo.recipe import Recipe
from hades_zoo.rollout import make_visited_states

ANCHOR_STATES = ("data", "env", "auto")


AUTO_ENV_REASONS = {
    "minatar": "MinAtar frames: data anchors gave Breakout R 0.14",
    "fixed-init": "fixed-init (F) dataset: data anchors gave hopper F 0.87, two of eight seeds collapsing",
    "sibling": "another source of its env takes env anchors: hopper R beside hopper F with env anchors held 0.90 "
               "with data anchors",
}


def anchor_reason(spec, fixed_init: bool = False) -> str | None:
    """Why ``auto`` gives a source env anchors (a key of ``AUTO_ENV_REASONS``), or None: data anchors.

    - ``minatar``: Gaussian noise around 16 hallucinated binary frames is nowhere near the
      frames of the real game, and the authors' MinAtar files only act well under their own
      recipe; with data anchors Breakout R held 0.14 of its single-task return in a merge,
      with env anchors 0.99 (README, "Where data anchors are not enough").
    - ``fixed-init``: an F dataset is distilled for one initialisation; its pairs make a good
      policy only from there, so a student from another init must copy the F teacher where
      the policy goes. Data anchors fill an 11-dim ball around the pairs and leave the states
      of the gait sparsely pinned: merged with three hopper R files, F's student stayed 2-3x
      further from its teacher on the states it visits than with env anchors, and two of
      eight seeds fell (README, "Three seeds and an F file of one env").
    Flat-observation R datasets (brax, classic control) hold >= 0.94 with data anchors: no env step."""
    if spec.minatar or len(spec.obs_shape) > 1:
        return "minatar"
    return "fixed-init" if fixed_init else None


def anchor_kind(kind: str, spec, fixed_init: bool = False) -> str:
    """The anchor states one source gets: ``kind`` itself, or for ``auto`` ``env`` where
    ``anchor_reason`` names one (MinAtar frames, fixed-init datasets) and ``data`` elsewhere."""
    if kind not in ANCHOR_STATES:
        raise ConfigError(f"anchor_states must be one of {', '.join(ANCHOR_STATES)}, got {kind!r}")
    if kind != "auto":
        return kind
    return "data" if anchor_reason(spec, fixed_init) is None else "env"
STD_FLOOR = 0.1  # smallest per-dim std of the noise around a pair (a dim constant over the pairs still moves)


def data_states(states: np.ndarray, n: int, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """``n`` states around ``states`` (flattened ``(N, O)``): a random row plus Gaussian noise
    of the per-dim std (at least ``STD_FLOOR``) times ``scale``."""
    x = np.asarray(states, np.float32).reshape(len(states), -1)
    std = np.maximum(x.std(0), STD_FLOOR) * scale
    return (x[rng.integers(len(x), size=n)] + rng.normal(size=(n, x.shape[1])) * std).astype(np.float32)


def rollout_states(trained: TrainedPolicy, *, seed: int = 0) -> np.ndarray:
    """Every state (flattened, in the dataset's normalised space) of one protocol rollout per
    seed of ``trained``, on the dynamics its dataset is evaluated on: ``(seeds * envs * steps, O)``."""
    ds = trained.dataset
    spec, proto = ds.spec, ds.protocol
    # the dynamics the teacher is evaluated on (the dataset's: "2023" for the authors' files), not today's env:
    # SpaceInvaders' 2023 reset differs, and its teachers visited the wrong game (7-11 instead of 24-97)
    fn = _batched_visits(spec.env_id, trained.policy, proto, ds.norm, trained.dynamics or ds.dynamics)
    mean = jnp.zeros(spec.obs_shape) if ds.obs_mean is None else jnp.asarray(ds.obs_mean)
    var = jnp.ones(spec.obs_shape) if ds.obs_var is None else jnp.asarray(ds.obs_var)
    keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 1), trained.num_seeds)
    states = np.asarray(fn(keys, trained.params, mean, var), np.float32).reshape(-1, int(np.prod(spec.obs_shape)))
    if not np.all(np.isfinite(states)):
        raise ConfigError(f"the rollouts of {ds.name or ds.env_id}'s own policy gave non-finite states; use anchor_states='data'")
    return states


def visited_states(trained: TrainedPolicy, n: int, *, seed: int = 0) -> np.ndarray:
    """``n`` states drawn from ``rollout_states``: where ``trained``'s behaviour matters."""
    return draw_states(rollout_states(trained, seed=seed), n, seed)


def draw_states(states: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` of ``states`` at random (with replacement only where there are fewer): the rule every anchor
    set drawn from rollouts follows (``visited_states``, ``frame_pool``, the student rounds' ``dagger``)."""
    rng = np.random.default_rng(seed)
    return states[rng.choice(len(states), size=n, replace=len(states) < n)]


ANCHOR_POOLS = ("fixed", "auto")


def frame_pool(spec, states: np.ndarray, n: int) -> bool:
    """``anchor_pool="auto"``: does a source keep *every* state of its teacher's rollouts as its env
    anchors, instead of ``n`` drawn from them? Yes for frame observations (MinAtar) when the
    rollouts hold more than ``n`` states. A student copies its teacher on the frames it is shown
    and guesses between them, and ``n`` draws weighted by visits miss the rarer frames: Asterix,
    whose frames rarely repeat (15,565 distinct in 32,768 rollout states), held 0.51 of its
    teacher's return with 2048 anchors, 0.82 with 8192 and 0.93 with every rollout state (R alone,
    4 seeds); Breakout R (250-550 distinct frames) 0.38 with 2048 and 1.00 with 4096, SpaceInvaders F
    0.80 and 0.98 (2-seed screens; README, "Why MinAtar fell" and "Why Asterix falls"). Flat
    observations are continuous, where 2048 anchors held (no evidence for more): they keep ``n``."""
    return anchor_reason(spec) == "minatar" and len(states) > n


def anchor_states(teacher: TrainedPolicy, n: int, kind: str = "data", *, seed: int = 0, scale: float = 1.0,
                  rng: np.random.Generator | None = None, pool: str = "fixed") -> np.ndarray:
    """``n`` anchor states for ``teacher``'s dataset, ``kind`` ``data``, ``env`` or ``auto`` (module
    docstring). ``pool="auto"``: the env anchors of frame observations are every rollout state (up
    to ``bounds.MAX_ANCHOR_POOL``), more than ``n`` (``frame_pool``)."""
    if pool not in ANCHOR_POOLS:
        raise ConfigError(f"anchor_pool must be one of {', '.join(ANCHOR_POOLS)}, got {pool!r}")
    ds = teacher.dataset
    # data draws are taken even for env anchors: the sources after this one draw what they did before
    points = data_states(ds.states, n, np.random.default_rng(seed) if rng is None else rng, scale)
    if anchor_kind(kind, ds.spec, ds.recipe.init.mode == "fixed") != "env":
        return points
    states = rollout_states(teacher, seed=seed)
    if pool == "auto" and frame_pool(ds.spec, states, n):
        return states if len(states) <= bounds.MAX_ANCHOR_POOL else draw_states(states, bounds.MAX_ANCHOR_POOL, seed)
    return draw_states(states, n, seed)


def label(teacher: TrainedPolicy, states: np.ndarray) -> np.ndarray:
    """Every teacher seed's labels of ``states``: ``(seeds, M, A)`` action means, or softmax
    distributions over the logits for a discrete action space."""
    out = _batched_apply(teacher.policy)(teacher.params, jnp.asarray(states))
    return np.asarray(jax.nn.softmax(out, axis=-1) if teacher.policy.discrete else out, np.float32)


@functools.lru_cache(maxsize=16)
def batched_bc_per_seed(policy: Policy, recipe: Recipe, chunk: int | None = None):
    """``make_bc`` vmapped over seeds with one target set per seed (each seed's own teacher).
    ``chunk``, *optional*: vmap ``chunk`` seeds at a time, the chunks one after another
    (``jax.lax.map``): each seed's own BC as before, in about ``chunk / seeds`` of the memory."""
    bc = make_bc(policy, recipe)
    if chunk is None:
        return jax.jit(jax.vmap(bc, in_axes=(0, None, 0)))
    return jax.jit(lambda params, states, targets: jax.lax.map(lambda a: bc(a[0], states, a[1]), (params, targets),
                                                               batch_size=int(chunk)))


def seed_chunk(compiled_bc, num_seeds: int, budget: int | None = None) -> int | None:
    """``None`` when ``compiled_bc`` (all ``num_seeds`` seeds vmapped at once) needs at most
    ``budget`` bytes (default ``bounds.MAX_BC_TEMP_BYTES``) of working memory by XLA's own count, else the seeds per chunk that keep
    it there (at least 1) for ``batched_bc_per_seed(..., chunk)``. Breakout R through
    ``teacher-env`` with ``tfm-1x64-gelu``: 2064 states of 101 tokens, 20.4 GiB for 8 seeds."""
    analysis = compiled_bc.memory_analysis()
    temp = None if analysis is None else analysis.temp_size_in_bytes
    budget = bounds.MAX_BC_TEMP_BYTES if budget is None else budget
    if temp is None or temp <= budget or num_seeds <= 1:
        return None
    return max(1, int(num_seeds * budget // temp))


@functools.lru_cache(maxsize=64)
def _batched_apply(policy: Policy):
    return jax.jit(jax.vmap(policy.__call__, in_axes=(0, None)))


@functools.lru_cache(maxsize=16)
def _batched_visits(env_id: str, policy: Policy, protocol, obs_norm, dynamics: str = "current"):
    return jax.jit(jax.vmap(make_visited_states(env_id, policy, protocol, obs_norm, dynamics), in_axes=(0, 0, None, None)))
