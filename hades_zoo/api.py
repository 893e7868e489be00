"""The client's user-facing functions: ``train`` and ``evaluate``.

Thin wrappers that resolve defaults from the dataset (its recipe, init,
protocol and observation normalisation), then call the same pure ``make_bc`` /
``make_evaluate`` that the distillation engine vmaps over its population.
"""

from __future__ import annotations

import dataclasses
import functools
import time
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hades_zoo import bounds, envs, progress
from hades_zoo._runtime import enable_compilation_cache
from hades_zoo.agent import TrainedPolicy
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import ConfigError, HadesZooWarning, IncompatibleDatasetError
from hades_zoo.evaluate import make_evaluate
from hades_zoo.policies import Policy, make_policy
from hades_zoo.recipe import EvalResult, InitSpec, ObsNorm, Protocol, Recipe, get_protocol
from hades_zoo.train import init_params, make_bc


@functools.lru_cache(maxsize=64)
def _batched_bc(policy: Policy, recipe: Recipe):
    return jax.jit(jax.vmap(make_bc(policy, recipe), in_axes=(0, None, None)))


@functools.lru_cache(maxsize=64)
def _batched_eval(env_id: str, policy: Policy, protocol: Protocol, obs_norm: ObsNorm, dynamics: str = "current",
                  per_seed_stats: bool = False):
    stats_axis = 0 if per_seed_stats else None  # a frozen policy's statistics: one set per seed
    return jax.jit(jax.vmap(make_evaluate(env_id, policy, protocol, obs_norm, dynamics),
                            in_axes=(0, 0, stats_axis, stats_axis)))


def _as_dataset(dataset) -> SyntheticDataset:
    if isinstance(dataset, SyntheticDataset):
        return dataset
    from hades_zoo.sources import load

    with progress.phase("loading", str(dataset)):
        return load(dataset)


_COMPILED: dict = {}


def _compiled(fn, what: str, *args):
    """``fn`` (a jitted function) compiled for ``args``: ahead of the call, so that compiling
    shows as its own phase; kept per argument types (the jit cache does not see AOT compiles)."""
    key = (fn, jax.tree.structure(args), tuple(jax.typeof(x) for x in jax.tree.leaves(args)))
    if key not in _COMPILED:
        with progress.phase("compiling", what):
            if len(_COMPILED) >= 128:
                _COMPILED.pop(next(iter(_COMPILED)))
            _COMPILED[key] = fn.lower(*args).compile()
    return _COMPILED[key]


def train(
    dataset,
    model=None,
    *,
    seed: int = 0,
    num_seeds: int = 1,
    epochs: int | None = None,
    lr: float | None = None,
    init: str | InitSpec = "dataset",
) -> TrainedPolicy:
    """Behaviour-clone ``num_seeds`` policies on ``dataset`` at once (vmapped).

    Args:
        dataset: a ``SyntheticDataset``, a catalog name or a path.
        model: *optional*, defaults to the dataset's own architecture. An architecture
            string (``"mlp-4x256-relu"``) or any ``flax.linen.Module`` mapping flat
            observations to action means (continuous) or logits (discrete).
        seed, num_seeds: seed ``i`` initialises from ``fold_in(PRNGKey(seed), i)``.
        epochs, lr: *optional* overrides of the dataset's recipe.
        init: ``"dataset"`` (default) uses the dataset's own init: the fixed one of a
            HaDES-F dataset when training its own architecture, else random;
            ``"random"``; or an explicit ``InitSpec``.

    Returns:
        A ``TrainedPolicy``; pass it to ``evaluate``.

    Example:
        >>> ds = hades_zoo.load("cartpole-hades-r-4")
        >>> print(hades_zoo.evaluate(hades_zoo.train(ds, num_seeds=4)))
    """
    t0 = time.perf_counter()
    enable_compilation_cache()
    ds = _as_dataset(dataset)
    num_seeds = bounds.check_int("num_seeds", num_seeds, 1, bounds.MAX_NUM_SEEDS, "hades_zoo.bounds.MAX_NUM_SEEDS")
    seed = bounds.check_seed("seed", seed)
    spec = ds.spec
    arch = ds.recipe.arch if model is None else model
    arch_name = arch if isinstance(arch, str) else type(arch).__name__
    if isinstance(init, InitSpec):
        init_spec = init
    elif init == "dataset":
        init_spec = ds.recipe.init if arch_name == ds.recipe.arch else InitSpec()
    elif init == "random":
        init_spec = InitSpec()
    else:
        raise ConfigError(f"init must be 'dataset', 'random' or an InitSpec, got {init!r}")
    recipe = dataclasses.replace(
        ds.recipe,
        arch=arch_name,
        epochs=ds.recipe.epochs if epochs is None else bounds.check_int("epochs", epochs, 1, bounds.MAX_BC_STEPS,
                                                                         "hades_zoo.bounds.MAX_BC_STEPS"),
        lr=ds.recipe.lr if lr is None else bounds.check_positive("lr", lr),
        init=init_spec,
    )
    policy = make_policy(arch, spec.obs_shape, spec.action_dim, spec.discrete)
    seeds = list(range(num_seeds))
    keys = [jax.random.fold_in(jax.random.PRNGKey(seed), i) for i in seeds]
    with progress.phase("initialising", f"{num_seeds} polic{'ies' if num_seeds > 1 else 'y'} of {arch_name}"):
        params0 = init_params(policy, init_spec, keys)
    t1 = time.perf_counter()
    args = (params0, jnp.asarray(ds.states), jnp.asarray(ds.targets))
    what = f"{num_seeds} seed{'s' * (num_seeds > 1)} of {arch_name}, {recipe.epochs} steps on {ds.size} pairs"
    bc = _compiled(_batched_bc(policy, recipe), f"behaviour cloning, {what}", *args)
    t2 = time.perf_counter()
    with progress.phase("behaviour cloning", what):
        params = jax.block_until_ready(bc(*args))
    t3 = time.perf_counter()
    timing = {"load_s": 0.0, "init_s": t1 - t0, "compile_s": t2 - t1, "bc_s": t3 - t2}
    return TrainedPolicy(policy, params, ds, recipe, arch_name, [seed + i for i in seeds], timing)


_VERSION_WARNED: set = set()


def _warn_versions(trained: TrainedPolicy, spec: envs.EnvSpec) -> None:
    versions = trained.info.get("versions") or {}
    recorded = {k: v for k, v in versions.items() if k in ("brax", "gymnax", "mujoco")}
    if not recorded:
        return
    current = envs.simulator_versions(spec)
    diff = {k: (v, current.get(k)) for k, v in recorded.items() if current.get(k) != v}
    key = (spec.env_id, tuple(sorted(diff.items())))
    if diff and key not in _VERSION_WARNED:
        _VERSION_WARNED.add(key)
        desc = ", ".join(f"{k} {a} (now {b})" for k, (a, b) in diff.items())
        name = (trained.info.get("dataset") or {}).get("name") or "the dataset"
        warnings.warn(f"{name} was made with {desc}; returns may differ", HadesZooWarning, stacklevel=3)


def evaluate(trained: TrainedPolicy, env: str | None = None, *, protocol=None, seed: int = 0,
             dynamics: str | None = None) -> EvalResult:
    """Roll every trained seed out in the real env; returns one score per seed.

    Args:
        trained: what ``train`` returned.
        env: *optional*, defaults to the dataset's env; another env must have the same
            observation and action spaces.
        protocol: *optional*, defaults to the dataset's own protocol; a name
            (``paper``, ``episodes``, ...), dict or ``Protocol``.
        seed: evaluation seed; seed ``i`` of the policy uses key ``i`` of ``split(PRNGKey(seed))``.
        dynamics: *optional*, defaults to the dynamics the dataset was distilled on
            (``"2023"`` for the authors' datasets); ``"current"``: today's simulator.

    Image datasets (``task="image-classification"``): one accuracy per seed on the real
    test split (``protocol="val"``: the held-out split); no env, no seed involved.
    """
    seed = bounds.check_seed("seed", seed)
    enable_compilation_cache()
    name = (trained.info.get("dataset") or {}).get("name") or trained.env_id
    if trained.task != "rl":
        from hades_zoo import supervised

        if env is not None:
            raise ConfigError(f"{name} is an image dataset, scored on its real test split; drop env={env!r}")
        if trained.dataset is None:
            raise ConfigError(f"{name}: a loaded image classifier is scored through its dataset; "
                              "train it again with hades_zoo.train(dataset)")
        return supervised.evaluate(trained, protocol)
    own = trained.spec
    spec = own if env is None else envs.get_spec(env)
    if (spec.obs_shape, spec.action_dim, spec.discrete) != (own.obs_shape, own.action_dim, own.discrete):
        raise IncompatibleDatasetError(
            f"dataset is for {own.env_id} (obs {own.obs_shape}, actions {own.action_dim}) and cannot drive "
            f"{spec.env_id} (obs {spec.obs_shape}, actions {spec.action_dim}); evaluate on {own.env_id}"
        )
    proto = trained.protocol if protocol is None else get_protocol(protocol, spec)
    dyn = envs.check_dynamics(trained.dynamics if dynamics is None else dynamics)
    if dyn == "current":  # "2023" restores the recorded simulator's behaviour: nothing to warn about
        _warn_versions(trained, spec)
    fn = _batched_eval(spec.env_id, trained.policy, proto, trained.norm, dyn, bool(trained.frozen))
    mean, var = jnp.asarray(trained.norm_state.mean), jnp.asarray(trained.norm_state.var)
    t0 = time.perf_counter()
    args = (jax.random.split(jax.random.PRNGKey(seed), trained.num_seeds), trained.params, mean, var)
    steps = f"{proto.n_steps} steps" if proto.n_steps is not None else "one episode each"
    what = (f"{trained.num_seeds} seed{'s' * (trained.num_seeds > 1)} on {spec.env_id}, {proto.name} "
            f"({proto.n_envs} envs x {steps})")
    run = _compiled(fn, f"evaluation rollout, {what}", *args)
    t1 = time.perf_counter()
    with progress.phase("evaluating", what):
        scores = np.asarray(jax.block_until_ready(run(*args)), dtype=np.float64)
    trained.timing["eval_compile_s"] = t1 - t0
    trained.timing["eval_s"] = time.perf_counter() - t1
    if not np.all(np.isfinite(scores)):
        raise IncompatibleDatasetError(f"evaluation of {name} produced non-finite returns")
    result = EvalResult(spec.env_id, proto.name, [float(s) for s in scores])
    if spec.env_id == trained.env_id:  # what a saved policy reports as its measured return
        trained.info["returns"] = {"protocol": proto.to_dict(), "dynamics": dyn, "seed": seed, "returns": result.returns,
                                   "mean": result.mean, "std": result.std}
    return result
