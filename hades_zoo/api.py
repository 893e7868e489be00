"""The client's user-facing functions: ``train`` and ``evaluate``.

Thin wrappers that resolve defaults from the dataset (its recipe, init,
protocol and observation normalisation), then call the same pure ``make_bc`` /
``make_evaluate`` that the distillation engine vmaps over its population.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from hades_zoo import bounds, progress
from hades_zoo._runtime import compiled, enable_compilation_cache
from hades_zoo import anchors as anchors_mod
from hades_zoo.agent import TrainedPolicy
from hades_zoo.bc import init_params, make_bc
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import ConfigError
from hades_zoo.policies import Policy, make_policy
from hades_zoo.recipe import EvalResult, InitSpec, Recipe
from hades_zoo.sources import load
from hades_zoo.tasks import get_task


@functools.lru_cache(maxsize=64)
def _batched_bc(policy: Policy, recipe: Recipe):
    return jax.jit(jax.vmap(make_bc(policy, recipe), in_axes=(0, None, None)))


def _as_dataset(dataset) -> SyntheticDataset:
    if isinstance(dataset, SyntheticDataset):
        return dataset
    with progress.phase("loading", str(dataset)):
        return load(dataset)


def train(
    dataset,
    model=None,
    *,
    seed: int = 0,
    num_seeds: int = 1,
    epochs: int | None = None,
    lr: float | None = None,
    init: str | InitSpec = "dataset",
    transfer: str = "auto",
    anchors: int | None = None,
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
        transfer: ``"auto"`` (default): ``"teacher"`` when the architecture, ``epochs``, ``lr``
            or init differ from the dataset's own recipe of an env task, else ``"none"`` (plain BC;
            image datasets always).
            ``"teacher"``: first train the dataset's own recipe (the *teacher*, with the
            dataset's init), then the requested network on the pairs plus ``anchors`` states
            around them labelled by the teacher, seed ``i`` by teacher seed ``i``
            (``hades_zoo.anchors``; no env step). ``"teacher-env"``: the anchors are states
            the teacher visits in its env. The teacher is ``trained.teacher``.
        anchors: *optional*, defaults to ``TRANSFER_ANCHORS`` of the mode (2048).

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
        params0 = jax.block_until_ready(init_params(policy, init_spec, keys))  # timed here, not inside BC
    mode = _transfer_mode(transfer, ds, recipe)
    teacher, t1 = None, time.perf_counter()
    if mode == "none":
        args = (params0, jnp.asarray(ds.states), jnp.asarray(ds.targets))
        batched = _batched_bc(policy, recipe)
    else:
        teacher, states, targets = _teacher_targets(ds, mode, anchors, seed, num_seeds)
        args = (params0, jnp.asarray(states), jnp.asarray(targets))
        batched = anchors_mod.batched_bc_per_seed(policy, recipe)
    t_teacher = time.perf_counter() - t1
    t1 = time.perf_counter()
    what = f"{num_seeds} seed{'s' * (num_seeds > 1)} of {arch_name}, {recipe.epochs} steps on {ds.size} pairs" + (
        f" + {len(states) - ds.size} {mode} anchors" if teacher is not None else "")
    compile_timing = {}
    bc = compiled(batched, f"behaviour cloning, {what}", *args, timing=compile_timing, name="bc")
    t2 = time.perf_counter()
    with progress.phase("behaviour cloning", what):
        params = jax.block_until_ready(bc(*args))
    t3 = time.perf_counter()
    timing = {"load_s": 0.0, "init_s": t1 - t0 - t_teacher, **compile_timing, "bc_s": t3 - t2}
    info = {}
    if teacher is not None:
        timing["teacher_s"] = t_teacher
        info["transfer"] = {"mode": mode, "anchors": len(targets[0]) - ds.size, "teacher_arch": teacher.arch}
    return TrainedPolicy(policy, params, ds, recipe, arch_name, [seed + i for i in seeds], timing, info=info,
                         teacher=teacher)


TRANSFERS = ("auto", "teacher", "teacher-env", "none")
TRANSFER_ANCHORS = {"teacher": 2048, "teacher-env": 2048}  # hopper R, mlp-2x256-relu: 512 -> 0.78, 2048 -> 0.96 of the teacher


def _transfer_mode(transfer: str, ds: SyntheticDataset, recipe: Recipe) -> str:
    """``auto`` -> ``teacher`` when the student's recipe is not the dataset's own, else ``none``."""
    if transfer not in TRANSFERS:
        raise ConfigError(f"transfer must be one of {', '.join(TRANSFERS)}, got {transfer!r}")
    if transfer == "teacher-env" and not get_task(ds.task).acts_in_env:
        raise ConfigError(f"transfer='teacher-env' needs an env; {ds.task} datasets have none: use transfer='teacher'")
    if transfer != "auto":
        return transfer
    if not get_task(ds.task).acts_in_env:  # a classifier on distilled images: plain BC unless asked
        return "none"
    own = ds.recipe
    same = (recipe.arch, recipe.epochs, recipe.lr, recipe.init) == (own.arch, own.epochs, own.lr, own.init)
    return "none" if same else "teacher"


def _teacher_targets(ds: SyntheticDataset, mode: str, anchors: int | None, seed: int, num_seeds: int):
    """The teacher (the dataset's own recipe, same seeds) and the student's training set: the
    pairs plus anchors labelled by each teacher seed: ``(teacher, states (N + K, O), targets (S, N + K, A))``."""
    n = TRANSFER_ANCHORS[mode] if anchors is None else bounds.check_int(
        "anchors", anchors, 0, bounds.MAX_DATASET_PAIRS, "hades_zoo.bounds.MAX_DATASET_PAIRS")
    with progress.phase("training the teacher", f"{ds.recipe.arch}, the dataset's own recipe"):
        teacher = train(ds, seed=seed, num_seeds=num_seeds, transfer="none")
    points = anchors_mod.anchor_states(teacher, n, "env" if mode == "teacher-env" else "data", seed=seed)
    x = np.asarray(ds.states, np.float32).reshape(ds.size, -1)
    states = np.concatenate([x, points])
    targets = np.concatenate([np.repeat(np.asarray(ds.targets, np.float32)[None], num_seeds, 0),
                              anchors_mod.label(teacher, points)], axis=1)
    return teacher, states, targets


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
    return get_task(trained.task).evaluate(trained, env, protocol=protocol, seed=seed, dynamics=dynamics)
