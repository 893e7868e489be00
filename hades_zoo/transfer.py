"""Teacher transfer: how ``train`` gets another architecture or recipe to behave like the dataset's own.

A distilled dataset pins a policy down only at its pairs. ``train(ds, arch, transfer=...)``
first trains the dataset's own recipe (the *teacher*), then trains the student on the pairs
plus anchor states around them labelled by the teacher (``hades_zoo.anchors``):

- ``transfer_mode``: ``auto`` picks ``teacher`` when the student's recipe is not the dataset's own;
- ``teacher_targets``: the student's training set, seed ``i`` labelled by teacher seed ``i``;
- ``fresh_bc`` (``teacher-fresh``): no fixed anchor set; every step draws its own anchors (the
  ``data`` kind) and the teacher labels them inside the step, so the student cannot learn a finite
  set by heart (the transformer fits a fixed set closer than an MLP and the states between worse);
- ``select_student``: the student's learning rate and step count chosen by how well it agrees
  with the teacher on *held-out* anchors (states drawn like the training anchors, never trained
  on), so that no env return is looked at: a recipe picked on returns would be picked on the
  test. Candidates are the given lr times ``LR_FACTORS`` and the given steps times
  ``STEP_FACTORS`` (one run per lr, checked between chunks); the lowest mean agreement loss over
  seeds wins (mean squared error of action means, or cross-entropy to the teacher's softmax).
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
from hades_zoo.policies import Policy
from hades_zoo.recipe import Recipe
from hades_zoo.tasks import get_task

TRANSFERS = ("auto", "teacher", "teacher-env", "teacher-fresh", "none")
TRANSFER_ANCHORS = {"teacher": 2048, "teacher-env": 2048, "teacher-fresh": 512}  # hopper R, mlp-2x256-relu: 512 -> 0.78, 2048 -> 0.96 of the teacher
SELECTS = ("none", "agreement")
LR_FACTORS = (0.5, 1.0, 2.0)
STEP_FACTORS = (1, 2, 4)
HELD_OUT = 512  # held-out anchors for the agreement check
_HELD_OUT_SEED = 0x5E1EC7  # their own stream: never the training anchors' states


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


def teacher_targets(ds, mode: str, anchors: int | None, teacher):
    """The student's training set from ``teacher`` (the dataset's own recipe, the student's seeds): the
    pairs plus anchors labelled by each teacher seed, ``(states (N + K, O), targets (S, N + K, A))``."""
    n = TRANSFER_ANCHORS[mode] if anchors is None else bounds.check_int(
        "anchors", anchors, 0, bounds.MAX_DATASET_PAIRS, "hades_zoo.bounds.MAX_DATASET_PAIRS")
    seed, num_seeds = teacher.seeds[0], teacher.num_seeds
    points = anchors_mod.anchor_states(teacher, n, "env" if mode == "teacher-env" else "data", seed=seed)
    x = np.asarray(ds.states, np.float32).reshape(ds.size, -1)
    states = np.concatenate([x, points])
    targets = np.concatenate([np.repeat(np.asarray(ds.targets, np.float32)[None], num_seeds, 0),
                              anchors_mod.label(teacher, points)], axis=1)
    return states, targets


def held_out(teacher, mode: str, n: int = HELD_OUT):
    """``n`` anchors drawn like the training ones from a stream of their own, with the teacher's labels."""
    seed = teacher.seeds[0] + _HELD_OUT_SEED
    points = anchors_mod.anchor_states(teacher, n, "env" if mode == "teacher-env" else "data", seed=seed)
    return points, anchors_mod.label(teacher, points)


def agreement(policy: Policy, params, states, labels) -> np.ndarray:
    """Per seed: how far the student is from the teacher on ``states`` (MSE of means, or cross-entropy)."""
    return np.asarray(_agreement(policy)(params, jnp.asarray(states), jnp.asarray(labels)))


def select_student(policy: Policy, recipe: Recipe, params0, states, targets, held_states, held_labels):
    """Train one student per lr candidate, checked on the held-out anchors after each step
    candidate; returns ``(recipe with the chosen lr and epochs, its params, the table)``."""
    steps = sorted({max(1, int(recipe.epochs * f)) for f in STEP_FACTORS})
    table, best = [], None
    for lr in sorted({recipe.lr * f for f in LR_FACTORS}):
        cand = dataclasses.replace(recipe, lr=lr)
        params, done = params0, 0
        opt = jax.vmap(optimizer(cand).init)(params0)
        for n in steps:
            with progress.phase("choosing the student's recipe", f"lr {lr:g}, {n} steps"):
                params, opt = _chunk(policy, cand, n - done)(params, opt, jnp.asarray(states), jnp.asarray(targets))
            done = n
            loss = float(np.mean(agreement(policy, params, held_states, held_labels)))
            table.append({"lr": lr, "epochs": n, "agreement": loss})
            if np.isfinite(loss) and (best is None or loss < best[0]):
                best = (loss, dataclasses.replace(cand, epochs=n), params)
    if best is None:
        raise ConfigError("every student recipe diverged (non-finite agreement with the teacher); pass --lr and --epochs")
    return best[1], best[2], table


def fresh_bc(policy: Policy, recipe: Recipe, teacher, n: int, seed: int):
    """Train the student with ``n`` fresh teacher-labelled anchors per step around ``teacher``'s pairs
    (seed ``i`` by teacher seed ``i``); returns the students' params, stacked like the teacher's."""
    ds = teacher.dataset
    x = np.asarray(ds.states, np.float32).reshape(ds.size, -1)
    std = np.maximum(x.std(0), anchors_mod.STD_FLOOR).astype(np.float32)
    keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 0xF2E5), teacher.num_seeds)
    fn = _fresh(policy, teacher.policy, recipe, int(n))
    return fn, (keys, teacher.params, jnp.asarray(x), jnp.asarray(ds.targets, jnp.float32), jnp.asarray(std))


@functools.lru_cache(maxsize=16)
def _fresh(policy: Policy, teacher_policy: Policy, recipe: Recipe, n: int):
    tx = optimizer(recipe)
    grad_fn = jax.grad(functools.partial(bc_loss, policy))

    def one(params, key, teacher_params, x, pair_targets, std):
        def step(carry, k):
            params, opt = carry
            k1, k2 = jax.random.split(k)
            points = x[jax.random.randint(k1, (n,), 0, x.shape[0])] + jax.random.normal(k2, (n, x.shape[1])) * std
            out = teacher_policy(teacher_params, points)
            labels = jax.nn.softmax(out, axis=-1) if teacher_policy.discrete else out
            states = jnp.concatenate([x, points])
            targets = jax.lax.stop_gradient(jnp.concatenate([pair_targets, labels]))
            updates, opt = tx.update(grad_fn(params, states, targets), opt, params)
            return (optax.apply_updates(params, updates), opt), None

        return jax.lax.scan(step, (params, tx.init(params)), jax.random.split(key, int(recipe.epochs)))[0][0]

    return jax.jit(jax.vmap(one, in_axes=(0, 0, 0, None, None, None)))


@functools.lru_cache(maxsize=64)
def _chunk(policy: Policy, recipe: Recipe, steps: int):
    return jax.jit(jax.vmap(make_bc_steps(policy, recipe, steps), in_axes=(0, 0, None, 0)))


@functools.lru_cache(maxsize=64)
def _agreement(policy: Policy):
    def one(params, states, labels):
        out = policy(params, states)
        if policy.discrete:
            return -jnp.mean(jnp.sum(labels * jax.nn.log_softmax(out, axis=-1), axis=-1))
        return jnp.mean((out - labels) ** 2)

    return jax.jit(jax.vmap(one, in_axes=(0, None, 0)))
