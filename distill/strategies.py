"""Evolution strategies by name, from evosax (any of its algorithms)."""

from __future__ import annotations

import inspect

import optax

from hades_zoo.errors import ConfigError, close_matches

_ALIASES = {"openes": "Open_ES", "open-es": "Open_ES", "cmaes": "CMA_ES", "cma-es": "CMA_ES", "sepcmaes": "Sep_CMA_ES"}


def _algorithms() -> dict:
    from evosax import algorithms  # evosax takes seconds to import: loaded when a run starts, not by the CLI

    return dict(algorithms.algorithms)


def _shaping(name: str):
    from evosax.core import fitness_shaping as fs  # evosax: see _algorithms

    return {
        "raw": fs.identity_fitness_shaping_fn,
        "centered_rank": fs.centered_rank_fitness_shaping_fn,
        "z_score": fs.standardize_fitness_shaping_fn,
    }[name]


def make_strategy(cfg, solution):
    """``(strategy, params)`` for ``cfg.strategy`` over the ``solution`` pytree.

    Whatever the strategy accepts of these is set from the config: the mean's
    optimiser (Adam with the paper's beta1 0.99, or SGD) and learning rate, a
    constant sigma, antithetic sampling and fitness shaping (``default`` keeps
    the strategy's own, e.g. SNES's rank weights).
    """
    algos = _algorithms()
    name = _ALIASES.get(cfg.strategy.lower(), cfg.strategy)
    matches = [k for k in algos if k.lower() == name.lower()]
    if not matches:
        raise ConfigError(f"unknown evosax strategy {cfg.strategy!r}.{close_matches(cfg.strategy, algos)} Available: {', '.join(sorted(algos))}")
    cls = algos[matches[0]]
    accepted = inspect.signature(cls.__init__).parameters
    kwargs = {}
    if "optimizer" in accepted:
        kwargs["optimizer"] = optax.adam(cfg.es_lr, b1=0.99) if cfg.optimizer == "adam" else optax.sgd(cfg.es_lr)
    if "std_schedule" in accepted:
        kwargs["std_schedule"] = optax.constant_schedule(cfg.sigma)
    if "use_antithetic_sampling" in accepted:
        kwargs["use_antithetic_sampling"] = cfg.antithetic
    if "fitness_shaping_fn" in accepted and cfg.fitness_shaping != "default":
        kwargs["fitness_shaping_fn"] = _shaping(cfg.fitness_shaping)
    es = cls(cfg.popsize, solution, **kwargs)
    params = es.default_params
    if hasattr(params, "std_init"):
        params = params.replace(std_init=cfg.sigma)
    return es, params
