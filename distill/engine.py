"""HaDES: an ES over synthetic datasets whose fitness is the return of a policy
behaviour-cloned on them from scratch.

``make_generation(problem)`` builds one pure generation
(ask -> vmapped [init -> BC -> rollouts] -> tell) from the client's own
``make_bc``/``make_evaluate``; ``make_chunk`` scans it over ``cfg.chunk``
generations under one jit. The population axis is sharded over every device (of
every process, see ``distill.distributed``), so the same code runs on 2 CPU cores
or many accelerators.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from distill.config import DistillConfig
from distill.strategies import make_strategy
from hades_zoo import envs
from hades_zoo.errors import ConfigError
from hades_zoo.evaluate import make_evaluate
from hades_zoo.policies import Policy, make_policy
from hades_zoo.recipe import InitSpec, ObsNorm
from hades_zoo.train import init_params, make_bc


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
    make_fitness: Any = None  # the task's inner loop, ``make_fitness(problem)``; None: RL (BC -> rollouts)
    data: Any = None  # what that inner loop closes over (image tasks: the held-out real split)


def random_policy_states(cfg: DistillConfig, key) -> np.ndarray:
    """Observations visited by a uniformly random policy (for const normalisation and init)."""
    env = envs.make(cfg.env)
    spec = env.spec
    n = cfg.norm_envs
    key_reset, key_run = jax.random.split(key)

    @jax.jit
    def collect(key_reset, key_run):
        obs, state = jax.vmap(env.reset)(jax.random.split(key_reset, n))

        def _step(carry, key):
            obs, state = carry
            key_act, key_env = jax.random.split(key)
            if spec.discrete:
                action = jax.random.randint(key_act, (n,), 0, spec.action_dim)
            else:
                action = jax.random.uniform(key_act, (n, spec.action_dim), minval=-1.0, maxval=1.0)
            obs2, state, _, _ = jax.vmap(env.step)(jax.random.split(key_env, n), state, action)
            return (obs2, state), obs

        _, seen = jax.lax.scan(_step, (obs, state), jax.random.split(key_run, cfg.norm_steps))
        return seen.reshape(-1, spec.obs_dim)

    return np.asarray(collect(key_reset, key_run))


def make_problem(cfg: DistillConfig) -> Problem:
    if cfg.task != "rl":
        from distill.supervised import make_problem as make_task_problem

        return make_task_problem(cfg)
    spec = cfg.spec
    recipe = cfg.bc_recipe
    policy = make_policy(recipe.arch, spec.obs_shape, spec.action_dim, spec.discrete)
    key = jax.random.PRNGKey(cfg.seed)
    key_norm, key_init = jax.random.split(jax.random.fold_in(key, 1))
    seen = random_policy_states(cfg, key_norm)
    if cfg.obs_norm == "const":
        obs_mean, obs_var = seen.mean(0).astype(np.float32), np.maximum(seen.var(0), 1e-6).astype(np.float32)
    else:
        obs_mean, obs_var = np.zeros(spec.obs_dim, np.float32), np.ones(spec.obs_dim, np.float32)
    D = cfg.size
    if cfg.init == "env-states":
        idx = np.asarray(jax.random.choice(key_init, seen.shape[0], (D,), replace=False))
        norm = ObsNorm("const")  # the ES starts from states in the dataset's space
        states = norm.normalize(seen[idx], norm.init_state(spec.obs_dim, obs_mean, obs_var)).astype(np.float32)
    else:
        states = np.zeros((D, spec.obs_dim), np.float32)
    solution = {"states": jnp.asarray(states)}
    labels = None
    if spec.discrete:
        labels = fixed_labels(D, spec.action_dim)
        if cfg.learn_labels:
            solution["label_logits"] = jnp.asarray(np.log(np.clip(labels, 1e-3, 1.0)))
            labels = None
    else:
        solution["actions"] = jnp.zeros((D, spec.action_dim), jnp.float32)
    fixed = None
    if cfg.method == "f":
        fixed = jax.tree.map(lambda x: x[0], init_params(policy, fixed_init_spec(cfg), [None]))
    es, es_params = make_strategy(cfg, solution)
    return Problem(cfg, policy, solution, labels, jnp.asarray(obs_mean), jnp.asarray(obs_var), fixed, es, es_params)


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
    dataset. Every task's inner loop starts with it."""
    cfg = problem.cfg
    bc = jax.vmap(make_bc(problem.policy, cfg.bc_recipe), in_axes=(0, None, None))

    def init_many(keys):
        if problem.fixed_init is not None:
            return jax.tree.map(lambda x: jnp.broadcast_to(x, (keys.shape[0], *x.shape)), problem.fixed_init)
        # No LAPACK QR on CPU (policies.orthogonal), so a batched init is safe everywhere.
        return jax.vmap(problem.policy.init)(keys)

    def train(key, candidate):
        params = init_many(jax.random.split(key, cfg.rollouts))
        return bc(params, candidate["states"], dataset_targets(problem, candidate))

    return train


def make_fitness(problem: Problem):
    """``fitness(key, candidate) -> mean return`` over ``cfg.rollouts`` BC runs."""
    cfg = problem.cfg
    train = make_inner_train(problem)
    evaluate = make_evaluate(cfg.env, problem.policy, cfg.protocol, cfg.obs_norm)

    def fitness(key, candidate):
        key_init, key_eval = jax.random.split(key)
        params = train(key_init, candidate)
        scores = jax.vmap(evaluate, in_axes=(0, 0, None, None))(
            jax.random.split(key_eval, cfg.rollouts), params, problem.obs_mean, problem.obs_var)
        return scores.mean()

    return fitness


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
    fitness = (problem.make_fitness or make_fitness)(problem)
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
    generation = make_generation(problem)

    @jax.jit
    def chunk(key, state):
        return jax.lax.scan(generation, (key, state), None, length=length)

    return chunk


def init_state(problem: Problem):
    key = jax.random.PRNGKey(problem.cfg.seed)
    key_es, key_run = jax.random.split(key)
    return key_run, problem.es.init(key_es, problem.solution, problem.es_params)


def env_steps_per_generation(cfg: DistillConfig) -> int:
    if cfg.task != "rl":
        return 0
    return cfg.popsize * cfg.rollouts * cfg.protocol.n_envs * cfg.protocol.steps_for(cfg.spec)


def mean_dataset(problem: Problem, state) -> dict:
    return problem.es.get_mean(state) if hasattr(problem.es, "get_mean") else _unravel(problem, state.mean)


def _unravel(problem: Problem, flat):
    return problem.es._unravel_solution(flat)


def best_dataset(problem: Problem, state) -> dict:
    return _unravel(problem, state.best_solution)
