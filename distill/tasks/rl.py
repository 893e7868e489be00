"""The ``rl`` task of the engine: datasets of state-action pairs, scored by the return of
policies behaviour-cloned on them (the client's ``make_bc`` -> ``make_evaluate``).

Genome: ``states`` (D, obs) in the dataset's normalised space, plus ``actions`` (D, A)
for a continuous env, or fixed one-hot labels (``learn_labels``: their ``label_logits``)
for a discrete one. ``obs_norm = const`` normalises with the statistics of a random
policy's observations (``random_policy_states``), which the dataset stores.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

import distill
from distill.engine import Problem, dataset_targets, fixed_init_spec, fixed_labels, make_inner_train
from distill.strategies import make_strategy
from distill.tasks.base import DistillTask
from hades_zoo import envs
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.bc import init_params
from hades_zoo.ids import local_name
from hades_zoo.policies import make_policy
from hades_zoo.recipe import PROTOCOLS, InitSpec, ObsNorm
from hades_zoo.rollout import make_evaluate

if TYPE_CHECKING:  # annotations only: the config imports the task registry
    from distill.config import DistillConfig

KIND = "rl"
INITS = ("zeros", "env-states")


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
    """The RL problem: genome ``states`` (D, obs) plus ``actions`` or fixed/learned labels, fitness
    the return of policies behaviour-cloned on a candidate (``make_fitness``)."""
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
    return Problem(cfg, policy, solution, labels, jnp.asarray(obs_mean), jnp.asarray(obs_var), fixed, es, es_params,
                   make_fitness=make_fitness)


def make_fitness(problem: Problem):
    """``fitness(key, candidate) -> mean return`` over ``cfg.rollouts`` BC runs."""
    cfg = problem.cfg
    train = make_inner_train(problem)
    evaluate = make_evaluate(cfg.env, problem.policy, cfg.protocol, cfg.obs_norm, reset=cfg.fitness_reset)

    def fitness(key, candidate):
        key_init, key_eval = jax.random.split(key)
        params = train(key_init, candidate)
        scores = jax.vmap(evaluate, in_axes=(0, 0, None, None))(
            jax.random.split(key_eval, cfg.rollouts), params, problem.obs_mean, problem.obs_var)
        return scores.mean()

    return fitness


def to_dataset(problem: Problem, tree, cfg: DistillConfig, generation: int, command: str) -> SyntheticDataset:
    """A ``SyntheticDataset`` of one ES solution, with the recipe and provenance of the run."""
    spec = cfg.spec
    states = np.asarray(tree["states"], np.float32).reshape(cfg.size, *spec.obs_shape)
    targets = np.asarray(dataset_targets(problem, tree), np.float32)
    recipe = dataclasses.replace(cfg.bc_recipe, init=fixed_init_spec(cfg) if cfg.method == "f" else InitSpec())
    kw = {"labels": targets} if spec.discrete else {"actions": targets}
    norm = {}
    if cfg.obs_norm == "const":
        norm = {"obs_mean": np.asarray(problem.obs_mean).reshape(spec.obs_shape), "obs_var": np.asarray(problem.obs_var).reshape(spec.obs_shape)}
    return SyntheticDataset(
        states=states, env_id=spec.env_id, method=f"hades-{cfg.method}", recipe=recipe,
        protocol=cfg.eval_protocol, obs_norm=cfg.obs_norm, name=local_name(spec.slug, f"hades-{cfg.method}", cfg.size),
        provenance={"engine": f"distill {distill.__version__}", "command": command, "config": cfg.to_dict(),
                    "seed": cfg.seed, "generations": generation, "population": cfg.popsize, "strategy": cfg.strategy,
                    "env_steps": generation * env_steps(cfg)},
        versions=envs.simulator_versions(spec), **kw, **norm,
    )


def env_steps(cfg: DistillConfig) -> int:
    """Env steps of one generation: every candidate's rollouts under the fitness protocol."""
    return cfg.popsize * cfg.rollouts * cfg.protocol.n_envs * cfg.protocol.steps_for(cfg.spec)


def _checks(cfg: DistillConfig) -> list:
    return [(cfg.eval_protocol in PROTOCOLS or cfg.eval_protocol == "paper", f"unknown eval_protocol {cfg.eval_protocol!r}")]


TASK = DistillTask(
    kind=KIND, target="env", inits=INITS, items_per_size=lambda spec: 1, checks=_checks,
    missing="no env given: pass --env or set env in the config file (image datasets: --task image-classification --dataset NAME)",
    make_problem=make_problem, to_dataset=to_dataset, env_steps=env_steps,
    describe=lambda cfg: f"{cfg.env} HaDES-{cfg.method.upper()} D={cfg.size}", digits=1,
)
