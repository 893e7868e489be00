"""HaDES as neuroevolution vs plain OpenES on the policy's parameters.

Same env, same strategy (the preset's OpenES: population, sigma, learning rate,
antithetic sampling, fitness shaping), same fitness protocol and the same env steps
per generation: HaDES evolves the dataset and behaviour-clones a fresh policy per
evaluation; OpenES evolves the policy's ~thousands of weights directly. A second
OpenES run uses a sigma suited to weights (0.05), since the preset's sigma is sized
for dataset coordinates. Every ``eval_every`` generations the ES mean is scored with
the greedy ``episodes`` protocol over 8 seeds (HaDES: 8 BC seeds; OpenES: 8 env seeds).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import Result, savefig
from distill.config import build_config
from distill.engine import init_state, make_chunk, mean_dataset
from distill.tasks import env_steps_per_generation, make_problem
from distill.strategies import make_strategy
from hades_zoo.rollout import make_evaluate
from hades_zoo.recipe import get_protocol
from hades_zoo.bc import make_bc

EVAL_SEEDS = 8


def _dataset_numbers(problem) -> int:
    return int(sum(np.size(x) for x in jax.tree.leaves(problem.solution)))


def _param_count(tree) -> int:
    return int(sum(np.size(x) for x in jax.tree.leaves(tree)))


def hades_curve(cfg, eval_every: int) -> tuple[list[dict], object]:
    problem = make_problem(cfg)
    key, state = init_state(problem)
    chunk = make_chunk(problem, eval_every)
    bc = jax.jit(jax.vmap(make_bc(problem.policy, cfg.bc_recipe), in_axes=(0, None, None)))
    evaluate = _scorer(cfg, problem)
    from distill.engine import dataset_targets

    curve = []
    for gen in range(0, cfg.generations + 1, eval_every):
        if gen:
            (key, state), _ = chunk(key, state)
        tree = mean_dataset(problem, state)
        params = jax.vmap(problem.policy.init)(jax.random.split(jax.random.PRNGKey(1), EVAL_SEEDS))
        params = bc(params, tree["states"], dataset_targets(problem, tree))
        curve.append({"generation": gen, "env_steps": gen * env_steps_per_generation(cfg), "return": evaluate(params)})
    return curve, problem


def _scorer(cfg, problem):
    """Mean greedy-episode return of a stack of EVAL_SEEDS parameter sets."""
    ev = make_evaluate(cfg.env, problem.policy, get_protocol("episodes", cfg.spec), cfg.obs_norm)
    keys = jax.random.split(jax.random.PRNGKey(123), EVAL_SEEDS)
    fn = jax.jit(jax.vmap(ev, in_axes=(0, 0, None, None)))
    return lambda params: float(fn(keys, params, problem.obs_mean, problem.obs_var).mean())


def openes_curve(cfg, problem, eval_every: int) -> list[dict]:
    """Plain OpenES on the policy parameters with the same fitness and env-step budget."""
    policy = problem.policy
    params0 = policy.init(jax.random.PRNGKey(cfg.init_seed))
    es, es_params = make_strategy(cfg, params0)
    fit_eval = make_evaluate(cfg.env, policy, cfg.protocol, cfg.obs_norm)

    def fitness(key, params):  # cfg.rollouts evaluations, as HaDES spends per candidate
        scores = jax.vmap(fit_eval, in_axes=(0, None, None, None))(
            jax.random.split(key, cfg.rollouts), params, problem.obs_mean, problem.obs_var)
        return scores.mean()

    def generation(carry, _):
        key, state = carry
        key, k_ask, k_eval, k_tell = jax.random.split(key, 4)
        pop, state = es.ask(k_ask, state, es_params)
        keys = jax.random.split(k_eval, cfg.popsize)
        if cfg.common_keys:
            keys = jnp.broadcast_to(keys[0], keys.shape)
        scores = jax.vmap(fitness)(keys, pop)
        state, _ = es.tell(k_tell, pop, jnp.where(jnp.isfinite(scores), -scores, jnp.inf), state, es_params)
        return (key, state), None

    chunk = jax.jit(lambda key, state: jax.lax.scan(generation, (key, state), None, length=eval_every)[0])
    key_es, key = jax.random.split(jax.random.PRNGKey(cfg.seed))
    state = es.init(key_es, params0, es_params)
    score = _scorer(cfg, problem)
    curve = []
    for gen in range(0, cfg.generations + 1, eval_every):
        if gen:
            key, state = chunk(key, state)
        mean = es.get_mean(state)
        stacked = jax.tree.map(lambda x: jnp.broadcast_to(x, (EVAL_SEEDS, *x.shape)), mean)
        curve.append({"generation": gen, "env_steps": gen * env_steps_per_generation(cfg), "return": score(stacked)})
    return curve


def run(quick: bool, out: Path) -> Result:
    res = Result("neuroevolution", seeds=[0])
    envs_ = ["CartPole-v1"] if quick else ["CartPole-v1", "Acrobot-v1", "MountainCarContinuous-v0"]
    curves = {}
    for env in envs_:
        cfg = build_config(env, method="r", seed=0)
        if quick:
            cfg = dataclasses.replace(cfg, generations=2, popsize=8, fitness_protocol={**cfg.fitness_protocol, "n_steps": 50})
        every = 1 if quick else 10
        hades, problem = hades_curve(cfg, every)
        openes = openes_curve(cfg, problem, every)
        curves[env] = {"HaDES-R (dataset)": hades, f"OpenES params, sigma {cfg.sigma:g}": openes}
        if not quick:
            curves[env]["OpenES params, sigma 0.05"] = openes_curve(dataclasses.replace(cfg, sigma=0.05), problem, every)
        n_data, n_params = _dataset_numbers(problem), _param_count(problem.policy.init(jax.random.PRNGKey(0)))
        budget = hades[-1]["env_steps"]
        res.figure(f"{env}: env steps per run (each method)", budget, "steps")
        for label, curve in curves[env].items():
            res.figure(f"{env}: {label} return at the budget", curve[-1]["return"], "return")
            res.rows += [{"env": env, "method": label, **p} for p in curve]
        res.figure(f"{env}: compression (policy parameters / dataset numbers)", n_params / n_data, "x")
        res.notes.append(f"{env}: {cfg.popsize} members, sigma {cfg.sigma:g}, lr {cfg.es_lr:g}, {cfg.generations} "
                         f"generations, policy {cfg.bc_recipe.arch} ({n_params} parameters) vs dataset of "
                         f"{cfg.size} pairs ({n_data} numbers).")
    hopper = _paper_hopper_compression()
    res.figure("hopper (paper: 2x512 tanh policy, D=64): compression", hopper, "x")
    _plot(out, res, curves)
    return res


def _paper_hopper_compression() -> float:
    """Paper's hopper: a 2x512 policy (the weights plain ES would evolve) vs 64 states + actions."""
    from hades_zoo.envs.specs import get_spec
    from hades_zoo.policies import make_policy

    spec = get_spec("hopper")
    policy = make_policy("mlp-2x512-tanh", spec.obs_shape, spec.action_dim, spec.discrete)
    shapes = jax.eval_shape(policy.init, jax.random.PRNGKey(0))
    return _param_count(jax.tree.map(lambda s: np.empty(s.shape, np.int8), shapes)) / (64 * (spec.obs_dim + spec.action_dim))


def _plot(out: Path, res: Result, curves: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.4), squeeze=False)
    for ax, (env, by_method) in zip(axes[0], curves.items()):
        for label, curve in by_method.items():
            ax.plot([p["env_steps"] for p in curve], [p["return"] for p in curve], "o-", ms=3, label=label)
        ax.set_title(env)
        ax.set_xlabel("env steps")
        ax.set_ylabel("return of the ES mean (greedy)")
    axes[0][0].legend(fontsize=7)
    savefig(fig, out, "neuroevolution.png", res)
