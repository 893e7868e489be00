"""HaDES: an ES over synthetic datasets whose fitness is the score of a policy
behaviour-cloned on them from scratch.

Generic over task kinds: a ``Problem`` (made by the kind's ``make_problem``,
``distill.tasks``) holds the genome and the inner loop's ``make_fitness``, which
starts with ``make_inner_train`` (init -> the client's ``make_bc``).
``make_generation(problem)`` builds one pure generation
(ask -> vmapped fitness -> tell); ``make_chunk`` scans it over ``cfg.chunk``
generations under one jit. The population axis is sharded over every device (of
every process, see ``distill.distributed``), so the same code runs on 2 CPU cores
or many accelerators.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from hades_zoo._runtime import unrolled_threefry
from hades_zoo.bc import make_bc
from hades_zoo.errors import ConfigError
from hades_zoo.policies import Policy
from hades_zoo.recipe import InitSpec

if TYPE_CHECKING:  # annotations only: the config imports the task registry, whose kinds import this module
    from distill.config import DistillConfig


@dataclasses.dataclass(frozen=True)
class Problem:
    """Everything a generation closes over, fixed for the whole run."""

    cfg: DistillConfig
    policy: Policy
    solution: dict  # example dataset pytree (the ES genome)
    labels: Any  # fixed labels (discrete, not learned) or None
    obs_mean: Any
    obs_var: Any
    fixed_init: Any  # HaDES-F initial params or None
    es: Any
    es_params: Any
    make_fitness: Any  # the task's inner loop: ``make_fitness(problem) -> fitness(key, candidate) -> score``
    data: Any = None  # what that inner loop closes over (image tasks: the held-out real split)


def fixed_init_spec(cfg: DistillConfig) -> InitSpec:
    return InitSpec("fixed", cfg.init_seed, bool(jax.config.jax_threefry_partitionable))


def fixed_labels(D: int, n_actions: int) -> np.ndarray:
    """One-hot labels, actions in equal blocks (the paper's MinAtar layout); a
    remainder D mod n_actions is spread round-robin so no state is wasted."""
    labels = np.zeros((D, n_actions), np.float32)
    per = max(D // n_actions, 1)
    for i in range(D):
        labels[i, min(i // per, n_actions - 1) if i < per * n_actions else i % n_actions] = 1.0
    return labels


def dataset_targets(problem: Problem, candidate: dict):
    if "actions" in candidate:
        return candidate["actions"]
    if "label_logits" in candidate:
        return jax.nn.softmax(candidate["label_logits"], axis=-1)
    return jnp.asarray(problem.labels)


def make_inner_train(problem: Problem):
    """``train(key, candidate) -> params`` stacked over ``cfg.rollouts``: init (the fixed one
    for HaDES-F, fresh per rollout for HaDES-R) -> BC (``make_bc``) on the candidate
    dataset, for ``cfg.search_bc_steps`` steps when set (the recipe's epochs otherwise).
    Every task's inner loop starts with it."""
    cfg = problem.cfg
    bc = jax.vmap(make_bc(problem.policy, cfg.search_recipe), in_axes=(0, None, None))

    def init_many(keys):
        if problem.fixed_init is not None:
            return jax.tree.map(lambda x: jnp.broadcast_to(x, (keys.shape[0], *x.shape)), problem.fixed_init)
        # No LAPACK QR on CPU (policies.orthogonal), so a batched init is safe everywhere.
        return jax.vmap(problem.policy.init)(keys)

    def train(key, candidate):
        params = init_many(jax.random.split(key, cfg.rollouts))
        return bc(params, candidate["states"], dataset_targets(problem, candidate))

    return train


def population_sharding(popsize: int):
    """Shard the population axis over every device of every process (None on one device)."""
    devices = jax.devices()
    if len(devices) == 1:
        return None
    if popsize % len(devices):
        where = f" of the {jax.process_count()} processes" if jax.process_count() > 1 else ""
        raise ConfigError(f"popsize {popsize} must be a multiple of the {len(devices)} devices{where}; "
                          f"pick a popsize divisible by {len(devices)}")
    return NamedSharding(Mesh(np.array(devices), ("pop",)), PartitionSpec("pop"))


def make_generation(problem: Problem):
    cfg, es, es_params = problem.cfg, problem.es, problem.es_params
    fitness = problem.make_fitness(problem)
    sharding = population_sharding(cfg.popsize)

    def generation(carry, _):
        key, state = carry
        key, key_ask, key_eval, key_tell = jax.random.split(key, 4)
        population, state = es.ask(key_ask, state, es_params)
        if sharding is not None:
            population = jax.lax.with_sharding_constraint(population, sharding)
        keys = jax.random.split(key_eval, cfg.popsize)
        if cfg.common_keys:  # common random numbers: all candidates see the same starts and inits
            keys = jnp.broadcast_to(keys[0], keys.shape)
        scores = jax.vmap(fitness)(keys, population)
        # evosax minimises; NaN returns count as the worst.
        loss = jnp.where(jnp.isfinite(scores), -scores, jnp.inf)
        state, _ = es.tell(key_tell, population, loss, state, es_params)
        return (key, state), {"fitness_mean": jnp.nanmean(scores), "fitness_max": jnp.nanmax(scores),
                              "fitness_min": jnp.nanmin(scores), "nan": jnp.sum(~jnp.isfinite(scores))}

    return generation


def make_chunk(problem: Problem, length: int):
    unrolled_threefry()  # ask's noise and the inits draw from it too; bit-identical (hades_zoo._runtime)
    generation = make_generation(problem)

    @jax.jit
    def chunk(key, state):
        return jax.lax.scan(generation, (key, state), None, length=length)

    return chunk


def init_state(problem: Problem):
    key = jax.random.PRNGKey(problem.cfg.seed)
    key_es, key_run = jax.random.split(key)
    return key_run, problem.es.init(key_es, problem.solution, problem.es_params)


def mean_dataset(problem: Problem, state) -> dict:
    return problem.es.get_mean(state) if hasattr(problem.es, "get_mean") else _unravel(problem, state.mean)


def _unravel(problem: Problem, flat):
    return problem.es._unravel_solution(flat)


def best_dataset(problem: Problem, state) -> dict:
    return _unravel(problem, state.best_solution)
