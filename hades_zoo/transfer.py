"""Teacher transfer: how ``train`` gets another architecture or recipe to behave like the dataset's own.

A distilled dataset pins a policy down only at its pairs. ``train(ds, arch, transfer=...)``
first trains the dataset's own recipe (the *teacher*), then trains the student on the pairs
plus anchor states around them labelled by the teacher (``hades_zoo.anchors``):

- ``transfer_mode``: ``auto`` picks ``teacher`` when the student's recipe is not the dataset's own;
- ``fresh_bc`` (``teacher``, the default, and ``teacher-fresh``): no fixed anchor set; every step
  draws its own anchors and the teacher labels them inside the step, so the student cannot learn a
  finite set by heart (the transformer fits a fixed set closer than an MLP and the states between
  worse). ``teacher`` (``FRESH_OPTS``) draws half of them as mixup points (convex combinations of
  two pairs' states: where a rollout of the teacher goes, closer to the pairs than the noise
  anchors) and half at 0.5, 1 and 2 times the per-dim std, and trains 3 times the given steps
  with cosine lr decay; ``teacher-fresh`` is the plain variant (noise 1x, constant lr);
- ``teacher_targets`` (``teacher-fixed``, ``teacher-env``): one fixed anchor set; for ``teacher-env``
  on frame observations (MinAtar) every state of the teacher's rollouts (``anchors.frame_pool``,
  ``pool="auto"``, the multi-task rule), of which each BC step takes ``pool_batch`` (the
  ``TRANSFER_ANCHORS`` count, or ``anchors``), weighted so the loss is the full set's in expectation
  (``hades_zoo.multitask.batches.anchor_sampler``); flat observations keep ``n`` drawn states, full batch;
- ``select_student``: the student's learning rate and step count chosen by how well it agrees
  with the teacher on *held-out* anchors (states drawn like the training anchors, never trained
  on), so that no env return is looked at: a recipe picked on returns would be picked on the
  test. Candidates are the given lr times ``LR_FACTORS`` and the given steps times
  ``STEP_FACTORS`` (one run per lr, checked between chunks); the lowest mean agreement loss over
  seeds wins (mean squared error of action means, or cross-entropy to the teacher's softmax).
  ``select_fresh`` is the same for the fresh modes: the cosine schedule ends with the run, so
  every (lr, steps) candidate is its own run: the lr times ``FRESH_LR_FACTORS`` and the student's
  steps (3x the given for ``teacher``) times ``FRESH_STEP_FACTORS``, checked on held-out anchors
  drawn like the training ones (``fresh_points``) from a key of their own.
- ``select="agreement-lr"``: the same choice among the learning rates only, at the student's
  steps (``step_factors``): a third of ``agreement``'s runs (3 students instead of 12 for
  ``teacher``), for students too dear for the full choice (the transformer on brax).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hades_zoo import anchors as anchors_mod
from hades_zoo import bounds, progress
from hades_zoo.bc import bc_loss, make_bc_steps, optimizer
from hades_zoo.errors import ConfigError
from hades_zoo.multitask.batches import anchor_sampler
from hades_zoo.policies import Policy
from hades_zoo.recipe import Recipe
from hades_zoo.tasks import get_task

TRANSFERS = ("auto", "teacher", "teacher-fixed", "teacher-env", "teacher-fresh", "none")
FIXED_MODES = ("teacher-fixed", "teacher-env")  # one anchor set, drawn and labelled before BC
FRESH_MODES = ("teacher", "teacher-fresh")  # new anchors every step, labelled inside the step
TRANSFER_ANCHORS = {"teacher": 512, "teacher-fixed": 2048, "teacher-env": 2048, "teacher-fresh": 512}  # per step for FRESH_MODES
SELECTS = ("none", "agreement", "agreement-lr")  # agreement-lr: the lr candidates only, at the student's steps
LR_FACTORS = (0.5, 1.0, 2.0)
STEP_FACTORS = (1, 2, 4)
FRESH_LR_FACTORS = (1.0, 2.0, 4.0)  # with cosine decay, a lower peak lr than the given one did not help a student
FRESH_STEP_FACTORS = (1, 3)
HELD_OUT = 512  # held-out anchors for the agreement check
_HELD_OUT_SEED = 0x5E1EC7  # their own stream: never the training anchors' states


def step_factors(select: str, fresh: bool) -> tuple:
    """The step candidates of ``select`` (times the student's steps): ``(1,)`` for ``agreement-lr``."""
    if select == "agreement-lr":
        return (1,)
    return FRESH_STEP_FACTORS if fresh else STEP_FACTORS


def transfer_mode(transfer: str, ds, recipe: Recipe) -> str:
    """``auto`` -> ``teacher`` when the student's recipe is not the dataset's own (env tasks), else ``none``."""
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


def student_recipe(recipe: Recipe, mode: str) -> Recipe:
    """The recipe the student actually trains with: ``FRESH_OPTS[mode].steps`` times the steps."""
    if mode not in FRESH_MODES:
        return recipe
    return dataclasses.replace(recipe, epochs=min(bounds.MAX_BC_STEPS, int(recipe.epochs) * FRESH_OPTS[mode].steps))


def teacher_targets(ds, mode: str, anchors: int | None, teacher, pool: str = "auto"):
    """The student's training set from ``teacher`` (the dataset's own recipe, the student's seeds): the
    pairs plus anchors labelled by each teacher seed, ``(states (N + K, O), targets (S, N + K, A))``.
    ``teacher-env`` on frame observations: K is every rollout state of the teacher's seeds (``pool_batch``);
    ``pool="fixed"``: ``n`` drawn from them, as before the pool (``tools/fit_check.py``'s full-batch check)."""
    n = _anchor_count(mode, anchors)
    seed, num_seeds = teacher.seeds[0], teacher.num_seeds
    pool = pool if mode == "teacher-env" and n > 0 else "fixed"
    points = anchors_mod.anchor_states(teacher, n, "env" if mode == "teacher-env" else "data", seed=seed, pool=pool)
    x = np.asarray(ds.states, np.float32).reshape(ds.size, -1)
    states = np.concatenate([x, points])
    targets = np.concatenate([np.repeat(np.asarray(ds.targets, np.float32)[None], num_seeds, 0),
                              anchors_mod.label(teacher, points)], axis=1)
    return states, targets


def _anchor_count(mode: str, anchors: int | None) -> int:
    return TRANSFER_ANCHORS[mode] if anchors is None else bounds.check_int(
        "anchors", anchors, 0, bounds.MAX_DATASET_PAIRS, "hades_zoo.bounds.MAX_DATASET_PAIRS")


def pool_batch(mode: str, anchors: int | None, n_anchors: int) -> int:
    """Anchors one BC step of a fixed mode takes: 0 (all, full batch) when ``teacher_targets`` gave
    at most the asked count, else that count (``TRANSFER_ANCHORS[mode]`` or ``anchors``), drawn
    afresh each step from the pool (the ``teacher-env`` MinAtar pool): the step's cost and memory
    stay those of the asked count, whatever the pool's size."""
    n = _anchor_count(mode, anchors)
    return 0 if n_anchors <= n else n


def pool_keys(seed: int, num_seeds: int):
    """One key per seed for ``pool_batch``'s per-step anchor samples (a stream of their own)."""
    return jnp.stack([jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), i), 0xA1C4) for i in range(num_seeds)])


def held_out(teacher, mode: str, n: int = HELD_OUT):
    """``n`` anchors drawn like the training ones from a stream of their own, with the teacher's labels."""
    seed = teacher.seeds[0] + _HELD_OUT_SEED
    points = anchors_mod.anchor_states(teacher, n, "env" if mode == "teacher-env" else "data", seed=seed)
    return points, anchors_mod.label(teacher, points)


def agreement(policy: Policy, params, states, labels) -> np.ndarray:
    """Per seed: how far the student is from the teacher on ``states`` (MSE of means, or cross-entropy)."""
    return np.asarray(_agreement(policy)(params, jnp.asarray(states), jnp.asarray(labels)))


def select_student(policy: Policy, recipe: Recipe, params0, states, targets, held_states, held_labels,
                   step_factors: tuple = STEP_FACTORS, sampler: tuple | None = None, keys=None):
    """Train one student per lr candidate, checked on the held-out anchors after each step
    candidate (the steps times ``step_factors``); returns ``(recipe with the chosen lr and epochs, its params, the table)``.
    ``sampler``, ``keys``, *optional*: ``(pairs, (anchors,), pool_batch)`` and ``pool_keys``, a sampled
    anchor batch per step (``anchor_sampler``) instead of every row."""
    steps = sorted({max(1, int(recipe.epochs * f)) for f in step_factors})
    table, best = [], None
    for lr in sorted({recipe.lr * f for f in LR_FACTORS}):
        cand = dataclasses.replace(recipe, lr=lr)
        params, done = params0, 0
        opt = jax.vmap(optimizer(cand).init)(params0)
        for n in steps:
            with progress.phase("choosing the student's recipe", f"lr {lr:g}, {n} steps"):
                run = _chunk(policy, cand, n - done, sampler)
                extra = () if sampler is None else (jax.vmap(lambda k: jax.random.fold_in(k, done))(keys),)
                params, opt = run(params, opt, jnp.asarray(states), jnp.asarray(targets), *extra)
            done = n
            loss = float(np.mean(agreement(policy, params, held_states, held_labels)))
            table.append({"lr": lr, "epochs": n, "agreement": loss})
            if np.isfinite(loss) and (best is None or loss < best[0]):
                best = (loss, dataclasses.replace(cand, epochs=n), params)
    return _chosen(best, table)


def _pair_states(ds):
    """The pairs' states, flat, and their per-dim std (floored): what the fresh modes draw anchors around."""
    x = np.asarray(ds.states, np.float32).reshape(ds.size, -1)
    return x, np.maximum(x.std(0), anchors_mod.STD_FLOOR).astype(np.float32)


def _chosen(best, table):
    """``select_*``'s answer: ``(recipe, params, table)`` of the lowest finite agreement loss."""
    if best is None:
        raise ConfigError("every student recipe diverged (non-finite agreement with the teacher); pass --lr and --epochs")
    return best[1], best[2], table


def held_out_fresh(teacher, opts: "FreshOpts", n: int = HELD_OUT):
    """``n`` anchors drawn like a fresh mode's (``fresh_points``) from a key of their own, with the teacher's labels."""
    x, std = _pair_states(teacher.dataset)
    key = jax.random.fold_in(jax.random.PRNGKey(teacher.seeds[0]), _HELD_OUT_SEED)
    points = np.asarray(fresh_points(key, jnp.asarray(x), jnp.asarray(std), n, opts), np.float32)
    return points, anchors_mod.label(teacher, points)


def select_fresh(policy: Policy, recipe: Recipe, params0, teacher, n: int, seed: int, opts: "FreshOpts",
                 step_factors: tuple = FRESH_STEP_FACTORS):
    """``select_student`` for the fresh modes: one run per (lr, steps) candidate (``FRESH_LR_FACTORS``
    x ``step_factors`` around ``recipe``, the student's recipe), each checked on held-out
    anchors; returns ``(chosen recipe, its params, the table)``. No env is built."""
    held_states, held_labels = held_out_fresh(teacher, opts)
    table, best = [], None
    for lr in sorted({recipe.lr * f for f in FRESH_LR_FACTORS}):
        for steps in sorted({min(bounds.MAX_BC_STEPS, max(1, int(recipe.epochs) * f)) for f in step_factors}):
            cand = dataclasses.replace(recipe, lr=lr, epochs=steps)
            fn, args = fresh_bc(policy, cand, teacher, n, seed, opts)
            with progress.phase("choosing the student's recipe", f"lr {lr:g}, {steps} steps"):
                params = jax.block_until_ready(fn(params0, *args))
            loss = float(np.mean(agreement(policy, params, held_states, held_labels)))
            table.append({"lr": lr, "epochs": steps, "agreement": loss})
            if np.isfinite(loss) and (best is None or loss < best[0]):
                best = (loss, cand, params)
    return _chosen(best, table)


@dataclasses.dataclass(frozen=True)
class FreshOpts:
    """How ``teacher-fresh`` draws its anchors and fits the teacher on them (hashable: a jit cache key).

    - ``scales``: each anchor's noise is the per-dim std times one of these, drawn uniformly;
    - ``mixup``: the fraction of anchors that are convex combinations of two pairs' states
      (weight uniform in [0, 1]) instead of a pair's state plus noise;
    - ``jac``: weight of Sobolev matching: the student's directional derivative along a random
      unit direction at each anchor against the teacher's (``jax.jvp``), mean squared error;
    - ``schedule``: ``constant`` lr or ``cosine`` decay to 0 over the steps;
    - ``weight_decay``: decoupled (AdamW) weight decay;
    - ``std``: ``learn`` (the student's log-std learned by the NLL) or ``teacher`` (the teacher's
      log-std copied into the student after training: the same action distribution around the mean);
    - ``loss`` (continuous actions): ``nll`` (the BC loss on the teacher's means) or ``clipped``: the
      squared gap between the student's and the teacher's *expected clipped actions*
      (``expected_clipped``, under the teacher's std), over the teacher's variance: where the
      teacher's mean lies far beyond the action bound, any mean beyond it acts the same.
    """

    scales: tuple = (1.0,)
    mixup: float = 0.0
    jac: float = 0.0
    schedule: str = "constant"
    weight_decay: float = 0.0
    std: str = "learn"
    loss: str = "nll"
    steps: int = 1  # the student trains the given steps times this


# ``teacher`` (hopper R D64 seed 0, resmlp-2x256-relu, 4 seeds, paper protocol): plain fresh anchors 0.77
# of the teacher (one seed of 4 falls), these 1.00 (README "Through the dataset's own teacher").
FRESH_OPTS = {"teacher": FreshOpts(scales=(0.5, 1.0, 2.0), mixup=0.5, schedule="cosine", steps=3),
              "teacher-fresh": FreshOpts()}


def expected_clipped(mean, std):
    """``E[clip(mean + std * eps, -1, 1)]``, ``eps ~ N(0, 1)``: the action a continuous env
    applies on average (it clips to [-1, 1]), in closed form; smooth in ``mean``."""
    a, b = (-1.0 - mean) / std, (1.0 - mean) / std
    cdf, pdf = jax.scipy.stats.norm.cdf, jax.scipy.stats.norm.pdf
    return -cdf(a) + (1.0 - cdf(b)) + mean * (cdf(b) - cdf(a)) - std * (pdf(b) - pdf(a))


def fresh_bc(policy: Policy, recipe: Recipe, teacher, n: int, seed: int, opts: FreshOpts = FreshOpts()):
    """Train the student with ``n`` fresh teacher-labelled anchors per step around ``teacher``'s pairs
    (seed ``i`` by teacher seed ``i``) for ``recipe.epochs`` steps (``student_recipe`` has applied
    ``opts.steps``); returns ``(fn, args)``: ``fn(params0, *args)`` trains them."""
    ds = teacher.dataset
    x, std = _pair_states(ds)
    keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 0xF2E5), teacher.num_seeds)
    fn = _fresh(policy, teacher.policy, recipe, int(n), opts)
    return fn, (keys, teacher.params, jnp.asarray(x), jnp.asarray(ds.targets, jnp.float32), jnp.asarray(std))


def _fresh_optimizer(recipe: Recipe, opts: FreshOpts) -> optax.GradientTransformation:
    if opts.schedule == "constant" and opts.weight_decay == 0.0:
        return optimizer(recipe)
    lr = optax.cosine_decay_schedule(recipe.lr, int(recipe.epochs)) if opts.schedule == "cosine" else recipe.lr
    tx = optax.adamw(lr, eps=recipe.adam_eps, weight_decay=opts.weight_decay)
    return tx if recipe.grad_clip is None else optax.chain(optax.clip_by_global_norm(recipe.grad_clip), tx)


def fresh_points(key, x, std, n: int, opts: FreshOpts = FreshOpts()):
    """``n`` anchors around the pairs' states ``x`` (``FreshOpts``: noise scales, mixup)."""
    k1, k2, k3, k4, k5 = jax.random.split(key, 5)
    scale = jnp.asarray(opts.scales, jnp.float32)[jax.random.randint(k3, (n, 1), 0, len(opts.scales))]
    points = x[jax.random.randint(k1, (n,), 0, x.shape[0])] + jax.random.normal(k2, (n, x.shape[1])) * std * scale
    if opts.mixup > 0:
        lam = jax.random.uniform(k4, (n, 1))
        j = jax.random.randint(k5, (2, n), 0, x.shape[0])
        mixed = lam * x[j[0]] + (1 - lam) * x[j[1]]
        points = jnp.where(jnp.arange(n)[:, None] < int(round(opts.mixup * n)), mixed, points)
    return points


@functools.lru_cache(maxsize=16)
def _fresh(policy: Policy, teacher_policy: Policy, recipe: Recipe, n: int, opts: FreshOpts = FreshOpts()):
    tx = _fresh_optimizer(recipe, opts)

    def loss_fn(params, states, targets, points, direction, t_tangent, t_std):
        if opts.loss == "clipped" and not policy.discrete:
            n_pairs = states.shape[0] - points.shape[0]
            pairs = bc_loss(policy, params, states[:n_pairs], targets[:n_pairs])
            mean = policy(params, points)
            gap = (expected_clipped(mean, t_std) - expected_clipped(targets[n_pairs:], t_std)) / t_std
            loss = (n_pairs * pairs + points.shape[0] * 0.5 * jnp.mean(jnp.sum(gap ** 2, -1))) / states.shape[0]
        else:
            loss = bc_loss(policy, params, states, targets)
        if opts.jac > 0:
            _, s_tangent = jax.jvp(lambda p: policy(params, p), (points,), (direction,))
            loss = loss + opts.jac * jnp.mean((s_tangent - t_tangent) ** 2)
        return loss

    grad_fn = jax.grad(loss_fn)

    def one(params, key, teacher_params, x, pair_targets, std):
        def step(carry, k):
            params, opt = carry
            k1, k2 = jax.random.split(k)
            points = fresh_points(k1, x, std, n, opts)
            direction = jax.random.normal(k2, points.shape)
            direction = direction / jnp.linalg.norm(direction, axis=-1, keepdims=True)
            if opts.jac > 0:
                out, t_tangent = jax.jvp(lambda p: teacher_policy(teacher_params, p), (points,), (direction,))
            else:
                out = teacher_policy(teacher_params, points)
                t_tangent = jnp.zeros_like(out)
            labels = jax.nn.softmax(out, axis=-1) if teacher_policy.discrete else out
            states = jnp.concatenate([x, points])
            targets = jax.lax.stop_gradient(jnp.concatenate([pair_targets, labels]))
            t_std = jnp.exp(teacher_params["log_std"]) if "log_std" in teacher_params else jnp.ones(())
            g = grad_fn(params, states, targets, points, direction, jax.lax.stop_gradient(t_tangent), t_std)
            updates, opt = tx.update(g, opt, params)
            return (optax.apply_updates(params, updates), opt), None

        params = jax.lax.scan(step, (params, tx.init(params)), jax.random.split(key, int(recipe.epochs)))[0][0]
        if opts.std == "teacher" and "log_std" in params:
            params = {**params, "log_std": teacher_params["log_std"]}
        return params

    return jax.jit(jax.vmap(one, in_axes=(0, 0, 0, None, None, None)))


@functools.lru_cache(maxsize=64)
def _chunk(policy: Policy, recipe: Recipe, steps: int, sampler: tuple | None = None):
    if sampler is None:
        return jax.jit(jax.vmap(make_bc_steps(policy, recipe, steps), in_axes=(0, 0, None, 0)))
    n_pairs, pools, batch = sampler
    run = make_bc_steps(policy, recipe, steps, anchor_sampler(n_pairs, tuple(pools), batch))
    return jax.jit(jax.vmap(run, in_axes=(0, 0, None, 0, 0)))


@functools.lru_cache(maxsize=64)
def _agreement(policy: Policy):
    def one(params, states, labels):
        out = policy(params, states)
        if policy.discrete:
            return -jnp.mean(jnp.sum(labels * jax.nn.log_softmax(out, axis=-1), axis=-1))
        return jnp.mean((out - labels) ** 2)

    return jax.jit(jax.vmap(one, in_axes=(0, None, 0)))
