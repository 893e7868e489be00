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

from hades_zoo import aot, bounds, progress
from hades_zoo._runtime import compiled, enable_compilation_cache
from hades_zoo import anchors as anchors_mod
from hades_zoo import transfer as transfer_mod
from hades_zoo.agent import TrainedPolicy
from hades_zoo.bc import init_params, make_bc, ours
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import ConfigError
from hades_zoo.multitask.batches import batched_anchor_bc
from hades_zoo.policies import Policy, make_policy
from hades_zoo.recipe import EvalResult, InitSpec, Recipe
from hades_zoo.sources import load
from hades_zoo.tasks import get_task

MAX_EVAL_REPEATS = 64  # evaluation seeds per trained seed (each one is a whole protocol run)


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
    select: str = "none",
    teacher: TrainedPolicy | None = None,
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
            (``hades_zoo.anchors``; no env step): 512 new anchors every step, half of them
            mixup points between two pairs' states, half noise at 0.5, 1 or 2 times the per-dim
            std, for 3 times the given steps with cosine lr decay (``hades_zoo.transfer``).
            ``"teacher-fixed"``: one set of 2048 noise anchors, the given steps;
            ``"teacher-fresh"``: 512 new noise anchors (1x std) every step, the given steps;
            ``"teacher-env"``: 2048 fixed anchors from the states the teacher visits in its env.
            The teacher is ``trained.teacher``.
        anchors: *optional*, defaults to ``TRANSFER_ANCHORS`` of the mode (per step for the
            fresh modes).
        select: ``"none"`` (default) trains the student with the given (or the dataset's) lr and
            steps; ``"agreement"`` (with a teacher mode) keeps, of several students, the one that
            agrees best with the teacher on held-out anchors: no env return is looked at
            (``hades_zoo.transfer``). ``teacher-fixed`` and ``teacher-env`` try that lr x 0.5, 1, 2
            and those steps x 1, 2, 4 (one run per lr); ``teacher`` and ``teacher-fresh`` that lr
            x 1, 2, 4 and their student's steps x 1, 3 (one run each: about 12 times the student).
            ``"agreement-lr"``: the same among the lr candidates only, at the student's steps
            (about 3 times the student). ``trained.info["transfer"]["selection"]``
            has every candidate's agreement loss.
        teacher: *optional*, an already-trained teacher to reuse (``train(ds, seed=seed,
            num_seeds=num_seeds)``, the dataset's own recipe on the same seeds).

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
    mode = transfer_mod.transfer_mode(transfer, ds, recipe)
    if select not in transfer_mod.SELECTS:
        raise ConfigError(f"select must be one of {', '.join(transfer_mod.SELECTS)}, got {select!r}")
    if select != "none" and mode == "none":
        raise ConfigError(f"select={select!r} picks a student's recipe by its agreement with a teacher; "
                          "use it with transfer='teacher' (or another teacher mode)")
    t1 = time.perf_counter()
    pool_batch, sampler, pool_keys = 0, None, None
    if mode == "none":
        teacher = None
        args = (params0, jnp.asarray(ds.states), jnp.asarray(ds.targets))
        batched = _batched_bc(policy, recipe)
    elif mode in transfer_mod.FRESH_MODES:
        teacher = _own_teacher(ds, teacher, seed, num_seeds)
        n_fresh = transfer_mod.TRANSFER_ANCHORS[mode] if anchors is None else bounds.check_int(
            "anchors", anchors, 1, bounds.MAX_DATASET_PAIRS, "hades_zoo.bounds.MAX_DATASET_PAIRS")
        recipe = transfer_mod.student_recipe(recipe, mode)
        batched, (keys_, *rest) = transfer_mod.fresh_bc(policy, recipe, teacher, n_fresh, seed,
                                                        transfer_mod.FRESH_OPTS[mode])
        args = (params0, keys_, *rest)
        states = targets = None
    else:
        teacher = _own_teacher(ds, teacher, seed, num_seeds)
        states, targets = transfer_mod.teacher_targets(ds, mode, anchors, teacher)
        pool = len(states) - ds.size
        pool_batch = transfer_mod.pool_batch(mode, anchors, pool)
        if pool_batch:  # teacher-env's MinAtar pool: every rollout state, a sample of them per step
            sampler = (ds.size, (pool,), pool_batch)
            pool_keys = transfer_mod.pool_keys(seed, num_seeds)
            args = (params0, pool_keys, jnp.asarray(states), jnp.asarray(targets))
            batched = batched_anchor_bc(policy, recipe, *sampler)
        else:
            args = (params0, jnp.asarray(states), jnp.asarray(targets))
            batched = anchors_mod.batched_bc_per_seed(policy, recipe)
    t_teacher = time.perf_counter() - t1
    t1 = time.perf_counter()
    fresh = mode in transfer_mod.FRESH_MODES
    n_anchors = n_fresh if fresh else 0 if teacher is None else len(states) - ds.size
    what = f"{num_seeds} seed{'s' * (num_seeds > 1)} of {arch_name}, {recipe.epochs} steps on {ds.size} pairs" + (
        f" + {n_anchors} {mode} anchors{' per step' if fresh else ''}" if teacher is not None else "") + (
        f", {pool_batch} of them per step" if pool_batch else "")
    compile_timing, selection = {}, None
    if select != "none" and fresh:
        t2 = time.perf_counter()
        recipe, params, selection = transfer_mod.select_fresh(policy, recipe, params0, teacher, n_fresh, seed,
                                                              transfer_mod.FRESH_OPTS[mode],
                                                              transfer_mod.step_factors(select, True))
    elif select != "none":
        held_states, held_labels = transfer_mod.held_out(teacher, mode)
        t2 = time.perf_counter()
        recipe, params, selection = transfer_mod.select_student(policy, recipe, params0, states, targets,
                                                                held_states, held_labels,
                                                                transfer_mod.step_factors(select, False), sampler, pool_keys)
    else:
        if teacher is None and ours(policy):  # kept exported (hades_zoo.aot): a warm run skips tracing BC
            bc = aot.program(lambda: batched, ("bc", repr(policy), recipe), args, f"behaviour cloning, {what}",
                             timing=compile_timing, name="bc")
            compile_timing.pop("env_s")
        else:
            bc = compiled(batched, f"behaviour cloning, {what}", *args, timing=compile_timing, name="bc")
            chunk = None if teacher is None or fresh else anchors_mod.seed_chunk(bc, num_seeds)
            if chunk is not None:  # fixed anchors over MAX_BC_TEMP_BYTES: the seeds in chunks, one after another
                first = compile_timing["bc_compile_s"]
                chunked = (batched_anchor_bc(policy, recipe, *sampler, chunk) if pool_batch else
                           anchors_mod.batched_bc_per_seed(policy, recipe, chunk))
                bc = compiled(chunked,
                              f"behaviour cloning, {what}, {chunk} seed{'s' * (chunk > 1)} at a time", *args,
                              timing=compile_timing, name="bc")
                compile_timing.update(bc_compile_s=first + compile_timing["bc_compile_s"], bc_seed_chunk=chunk)
        t2 = time.perf_counter()
        with progress.phase("behaviour cloning", what):
            params = jax.block_until_ready(bc(*args))
    t3 = time.perf_counter()
    timing = {"load_s": 0.0, "init_s": t1 - t0 - t_teacher, **compile_timing, "bc_s": t3 - t2}
    info = {}
    if teacher is not None:
        timing["teacher_s"] = t_teacher
        info["transfer"] = {"mode": mode, "anchors": n_anchors, "teacher_arch": teacher.arch}
        if pool_batch:
            info["transfer"]["anchor_batch"] = pool_batch
        if selection is not None:
            info["transfer"]["selection"] = selection
    return TrainedPolicy(policy, params, ds, recipe, arch_name, [seed + i for i in seeds], timing, info=info,
                         teacher=teacher)


def _own_teacher(ds: SyntheticDataset, teacher: TrainedPolicy | None, seed: int, num_seeds: int) -> TrainedPolicy:
    """The dataset's own recipe on the student's seeds: ``teacher`` if given (checked), else trained now."""
    if teacher is None:
        with progress.phase("training the teacher", f"{ds.recipe.arch}, the dataset's own recipe"):
            return train(ds, seed=seed, num_seeds=num_seeds, transfer="none")
    if teacher.seeds != [seed + i for i in range(num_seeds)] or teacher.recipe != ds.recipe:
        raise ConfigError(f"teacher= must be the dataset's own recipe on the student's seeds {seed}..{seed + num_seeds - 1}; "
                          "pass train(ds, seed=seed, num_seeds=num_seeds) or leave it out")
    return teacher


def evaluate(trained: TrainedPolicy, env: str | None = None, *, protocol=None, seed: int = 0,
             dynamics: str | None = None, repeats: int = 1) -> EvalResult:
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
        repeats: *optional*, 1 by default: run the protocol under evaluation seeds ``seed``,
            ``seed + 1``, ... and score each trained seed by the mean over them. The same protocol
            with less evaluation noise: one key's 8-seed mean of humanoid R moves by -18 % to +6 %
            with the key alone (README, "How much one evaluation key moves a score").

    Image datasets (``task="image-classification"``): one accuracy per seed on the real
    test split (``protocol="val"``: the held-out split); no env, no seed involved, so ``repeats``
    evaluates once.
    """
    seed = bounds.check_seed("seed", seed)
    repeats = bounds.check_int("repeats", repeats, 1, MAX_EVAL_REPEATS)
    bounds.check_seed("seed + repeats - 1", seed + repeats - 1)
    enable_compilation_cache()
    task = get_task(trained.task)
    runs = [task.evaluate(trained, env, protocol=protocol, seed=seed + j, dynamics=dynamics)
            for j in range(repeats if task.acts_in_env else 1)]
    if len(runs) == 1:
        return runs[0]
    return EvalResult(runs[0].env, f"{runs[0].protocol}, mean of {repeats} evaluation seeds",
                      [float(x) for x in np.mean([r.returns for r in runs], axis=0)], [r.returns for r in runs])
