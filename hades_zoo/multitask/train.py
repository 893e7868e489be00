"""One policy for every task of a merged dataset: train, and fine-tune per task (``scoring`` evaluates).

``train_multitask(merged, model)`` behaviour-clones one network
(``hades_zoo.multitask.policy``) on the padded pairs of all tasks with the client's
own ``make_bc`` (full-batch Adam under ``lax.scan``, vmapped over seeds); only the
loss is the multi-task one: per pair, the loss of its task's own recipe (Gaussian
NLL over the task's action dims with a per-task learned log-std, or cross-entropy
over the task's logits), restricted to the valid action dims. The default variant
(``anchored``) adds teacher-labelled anchor states (``make_anchors``).

Every task is evaluated in its own env through a single-task view
(``MultiTaskTrained.task(env)`` -> ``TrainedPolicy``): raw observations are
normalised with *that task's* normalisation (``running`` statistics computed online
per task, ``const`` stats, or none), zero-padded, conditioned on the task, and the
output sliced to the task's actions; ``hades_zoo.evaluate`` and ``make_bc`` take
it like any policy, so fine-tuning one env is plain BC on the view.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hades_zoo import bounds, progress
from hades_zoo.anchors import anchor_kind, anchor_reason, anchor_states, batched_bc_per_seed, label
from hades_zoo.agent import TrainedPolicy
from hades_zoo.api import _batched_bc, train
from hades_zoo.errors import ConfigError
from hades_zoo.multitask.batches import anchor_batch as resolve_anchor_batch, batch_blocks, batched_anchor_bc
from hades_zoo.multitask.dagger import grow_anchors
from hades_zoo.multitask.dataset import MultiTaskDataset
from hades_zoo.multitask.merging import load_merged
from hades_zoo.multitask.policy import (
    DEFAULT_VARIANT,
    VARIANTS,
    MultiTaskConfig,
    MultiTaskPolicy,
    make_multitask_policy,
    packed_states,
    unit_tasks,
)
from hades_zoo.multitask.tokens import DEFAULT_ARCH as TOKEN_ARCH
from hades_zoo.recipe import InitSpec, Recipe, joint_recipe
from hades_zoo.bc import init_params


def _steps(what: str, value) -> int:
    return bounds.check_int(what, value, 1, bounds.MAX_BC_STEPS, "hades_zoo.bounds.MAX_BC_STEPS")


@dataclasses.dataclass
class MultiTaskTrained:
    """``num_seeds`` multi-task policies (parameters stacked on axis 0)."""

    policy: MultiTaskPolicy
    params: Any
    dataset: MultiTaskDataset
    recipe: Recipe
    arch: str
    config: MultiTaskConfig
    seeds: list[int]
    timing: dict = dataclasses.field(default_factory=dict)
    teachers: dict = dataclasses.field(default_factory=dict)  # source index -> its own recipe's TrainedPolicy (anchors)
    anchor_kinds: dict = dataclasses.field(default_factory=dict)  # source index -> "data" or "env" (its anchors' states)
    anchor_pools: dict = dataclasses.field(default_factory=dict)  # source index -> its number of anchors

    @property
    def num_seeds(self) -> int:
        return len(self.seeds)

    def task(self, task: int | str) -> TrainedPolicy:
        """Task ``task`` (index, env id or slug) as a single-task ``TrainedPolicy``:
        ``hades_zoo.evaluate(trained.task("hopper"))`` rolls it out in hopper. With
        ``unit="source"`` it acts through the head of the task's first source."""
        t = self.dataset.task_index(task)
        if self.config.unit == "source":
            return self.source(self.dataset.task_info[t]["sources"][0])
        return self._view(t, self.dataset.task_dataset(t))

    def source(self, k: int) -> TrainedPolicy:
        """Source ``k``'s view: its own head (``unit="source"``) or its task's, and its own dataset."""
        if not 0 <= k < len(self.dataset.sources):
            raise ConfigError(f"source index {k} is out of range: this dataset has {len(self.dataset.sources)} sources")
        unit = k if self.config.unit == "source" else self.dataset.sources[k]["task"]
        return self._view(unit, self.dataset.source_dataset(k))

    def _view(self, unit: int, ds) -> TrainedPolicy:
        recipe = dataclasses.replace(ds.recipe, arch=self.arch, lr=self.recipe.lr, epochs=self.recipe.epochs,
                                     grad_clip=self.recipe.grad_clip, init=InitSpec())
        return TrainedPolicy(self.policy.task_policy(unit), self.policy.task_params(self.params, unit), ds, recipe,
                             self.arch, list(self.seeds))


def _config(config, variant, overrides) -> MultiTaskConfig:
    if config is not None and variant is not None:
        raise ConfigError("pass either config or variant, not both")
    if variant is not None:
        if variant not in VARIANTS:
            raise ConfigError(f"unknown multi-task variant {variant!r}; use one of {', '.join(VARIANTS)}")
        config = VARIANTS[variant]
    config = config or VARIANTS[DEFAULT_VARIANT]
    return dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})


def train_multitask(
    merged,
    model=None,
    *,
    task_conditioning: str | None = None,
    heads: str | None = None,
    balance: str | None = None,
    task_norm: str | None = None,
    anchors: int | None = None,
    anchor_states: str | None = None,
    anchor_batch: int | str | None = None,
    anchor_pool: str | None = None,
    student_rounds: int | None = None,
    unit: str | None = None,
    inputs: str | None = None,
    variant: str | None = None,
    config: MultiTaskConfig | None = None,
    seed: int = 0,
    num_seeds: int = 1,
    epochs: int | None = None,
    lr: float | None = None,
) -> MultiTaskTrained:
    """Behaviour-clone ``num_seeds`` multi-task policies on a merged dataset (vmapped).

    Args:
        merged: a ``MultiTaskDataset``, the path of a merged file, or a list of sources to merge.
        model: *optional*, defaults to ``joint_recipe`` of the sources' recipes (the sources' widest).
            An architecture string or a flax module mapping ``[obs | task]`` to the outputs
            (``A``, or ``T * A`` with per-task heads).
        task_conditioning, heads, balance, task_norm, anchors, anchor_states: *optional* overrides of
            the variant (``anchors``: teacher-labelled states per source, ``make_anchors``; 0 for none;
            ``anchor_states``: ``data``, ``env`` or ``auto``, env anchors for MinAtar sources only;
            ``anchor_batch``: anchors per source that one BC step takes, 0 all, ``auto`` all up to 8
            sources' worth, per-source samples beyond, ``hades_zoo.multitask.batches``;
            ``anchor_pool``: ``fixed`` or ``auto``, every rollout state for env-anchored MinAtar sources,
            ``hades_zoo.anchors.frame_pool``;
            ``student_rounds``: DAgger rounds, anchors where the student goes (``hades_zoo.multitask.dagger``);
            ``unit``: heads per ``source`` or per ``task``;
            ``inputs``: ``padded``, ``disjoint`` or ``tokens``, the encoding; ``tokens`` trains
            ``tfm-1x64-gelu`` unless ``model`` names another ``tfm``).
        variant: *optional*, defaults to ``DEFAULT_VARIANT``; a key of ``VARIANTS``.
        config: *optional* explicit ``MultiTaskConfig`` (instead of ``variant``).
        seed, num_seeds: seed ``i`` initialises from ``fold_in(PRNGKey(seed), i)``.
        epochs, lr: *optional* overrides of that joint recipe (default steps: the recipe's times the
            variant's ``steps_factor``).

    Example:
        >>> merged = hades_zoo.merge(["cartpole-hades-r-4", "mountaincar-continuous-hades-r-4"])
        >>> trained = hades_zoo.train_multitask(merged, "mlp-2x64-tanh", num_seeds=2)
        >>> print(hades_zoo.evaluate(trained.task("cartpole")))
    """
    t0 = time.perf_counter()
    merged = load_merged(merged)
    if num_seeds < 1:
        raise ConfigError(f"num_seeds must be >= 1, got {num_seeds}")
    cfg = _config(config, variant, {"conditioning": task_conditioning, "heads": heads, "balance": balance,
                                    "task_norm": task_norm, "anchors": anchors,
                                    "anchor_states": anchor_states, "anchor_batch": anchor_batch, "anchor_pool": anchor_pool,
                                    "student_rounds": student_rounds, "unit": unit,
                                    "inputs": inputs})
    base = joint_recipe(Recipe.from_dict(s["metadata"]["recipe"]) for s in merged.sources)
    arch = (TOKEN_ARCH if cfg.inputs == "tokens" else base.arch) if model is None else model
    arch_name = arch if isinstance(arch, str) else type(arch).__name__
    recipe = dataclasses.replace(base, arch=arch_name, epochs=base.epochs * cfg.steps_factor if epochs is None else _steps("epochs", epochs),
                                 lr=base.lr if lr is None else bounds.check_positive("lr", lr))
    policy = make_multitask_policy(merged, arch, cfg)
    seeds = list(range(num_seeds))
    params0 = init_params(policy, InitSpec(), [jax.random.fold_in(jax.random.PRNGKey(seed), i) for i in seeds])
    teachers, states, targets, pools = {}, packed_states(merged, cfg.unit), merged.targets, ()
    kinds = {k: kind for k, (kind, _) in source_anchor_kinds(merged, cfg.anchor_states).items()} if cfg.anchors else {}
    t1 = time.perf_counter()
    if cfg.anchors:
        teachers, a_states, a_targets, pools = make_anchors(merged, cfg, seed=seed, num_seeds=num_seeds)
        states = np.concatenate([states, a_states])
        targets = np.concatenate([np.repeat(targets[None], num_seeds, 0), a_targets], axis=1)
    t2 = time.perf_counter()
    params = _clone(policy, recipe, cfg, merged, params0, states, targets, pools, seed, seeds, arch_name)
    timing = {"init_s": t1 - t0, "teachers_s": t2 - t1, "bc_s": time.perf_counter() - t2,
              "anchor_batch": resolve_anchor_batch(cfg, pools) if cfg.anchors else 0}
    trained = MultiTaskTrained(policy, params, merged, recipe, arch_name, cfg, [seed + i for i in seeds], timing, teachers,
                               kinds, dict(enumerate(pools)))
    for r in range(1, cfg.student_rounds + 1):  # hades_zoo.multitask.dagger
        t3 = time.perf_counter()
        states, targets, pools = grow_anchors(trained, states, targets, pools, n_pairs=merged.size, seed=seed)
        t4 = time.perf_counter()
        trained.params = _clone(policy, recipe, cfg, merged, trained.params, states, targets, pools, seed, seeds,
                                arch_name, round=r)
        trained.anchor_pools = dict(enumerate(pools))
        timing.update({f"student_rollouts_s[{r}]": t4 - t3, f"bc_s[{r}]": time.perf_counter() - t4})
    return trained


def _clone(policy, recipe, cfg, merged, params, states, targets, pools, seed, seeds, arch_name, round: int = 0):
    """``recipe.epochs`` BC steps of every seed from ``params`` on the pairs and anchors (full batch, or per-source
    anchor batches beyond ``batches.FULL_BATCH_ANCHOR_ROWS``); ``round`` > 0: a student round's, on the grown set."""
    batch = resolve_anchor_batch(cfg, pools) if cfg.anchors else 0
    if policy.net.view_width:  # each block of one source's rows through its own view only (views.ViewLayer)
        units = np.asarray(states)[:, policy.obs_max : policy.obs_max + policy.n_tasks].argmax(1)
        policy = dataclasses.replace(policy, blocks=batch_blocks(units, merged.size, pools, batch))
    what = (f"{len(seeds)} seed{'s' * (len(seeds) > 1)} of {arch_name}, {recipe.epochs} steps on {merged.size} pairs"
            f"{f' + {len(states) - merged.size} anchors' if cfg.anchors else ''} of {len(merged.sources)} sources"
            f"{f', {batch} anchors per source and step' if batch else ''}")
    with progress.phase("multi-task behaviour cloning" + (f", student round {round}" if round else ""), what):
        if batch:  # all pairs and a sample of each source's anchors per step (hades_zoo.multitask.batches)
            bc = batched_anchor_bc(policy, recipe, merged.size, pools, batch)
            keys = [jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), i), 1) for i in seeds]
            keys = jnp.stack([jax.random.fold_in(k, round) if round else k for k in keys])
            return jax.block_until_ready(bc(params, keys, jnp.asarray(states), jnp.asarray(targets)))
        bc = batched_bc_per_seed(policy, recipe) if cfg.anchors else _batched_bc(policy, recipe)
        return jax.block_until_ready(bc(params, jnp.asarray(states), jnp.asarray(targets)))


def _fixed_init(source: dict) -> bool:
    return Recipe.from_dict(source["metadata"]["recipe"]).init.mode == "fixed"


def source_anchor_kinds(merged: MultiTaskDataset, setting: str) -> dict[int, tuple[str, str | None]]:
    """Per source: ``(kind, reason)``, its anchors' states (``data`` or ``env``) and, under
    ``auto``, why env (a key of ``hades_zoo.anchors.AUTO_ENV_REASONS``). ``auto`` gives env
    anchors to MinAtar and fixed-init sources (``anchor_kind``), and then to every other source
    of the same task (``sibling``): pinning one source on the states its env visits and its
    sibling only around its pairs pulled the sibling off (hopper R beside F: 0.90, a seed at 1147)."""
    out = {}
    for k, src in enumerate(merged.sources):
        spec, fixed = merged.task_spec(int(src["task"])), _fixed_init(src)
        kind = anchor_kind(setting, spec, fixed)
        out[k] = (kind, anchor_reason(spec, fixed) if setting == "auto" and kind == "env" else None)
    if setting == "auto":
        env_tasks = {int(merged.sources[k]["task"]) for k, (kind, _) in out.items() if kind == "env"}
        for k, src in enumerate(merged.sources):
            if out[k][0] == "data" and int(src["task"]) in env_tasks:
                out[k] = ("env", "sibling")
    return out


def make_anchors(merged: MultiTaskDataset, config: MultiTaskConfig, *, seed: int = 0, num_seeds: int = 1):
    """Teacher-labelled anchor states: for flat-observation R sources no env step, only the datasets and
    their own recipes; by default (``auto``) MinAtar and fixed-init sources, and the other sources of
    their envs, take their teachers' rollout states (``source_anchor_kinds``).

    Every source is behaviour-cloned with its own recipe (``train``, seeds as the
    student's); ``config.anchors`` states are drawn around its states (a random pair's
    state plus Gaussian noise of the per-dim std of its states times ``anchor_scale``,
    in the task's normalised space; ``hades_zoo.anchors``), or with ``anchor_states="env"`` from the states
    its teachers visit in their env (``visited_states``: one protocol rollout per seed,
    env steps spent; ``"auto"``, the default's: ``env`` for MinAtar and fixed-init sources only), and labelled by each seed's teacher: action means, or the
    softmax of its logits as label distributions. Pinning the student to its
    teachers *between* the few distilled states keeps what the other tasks' gradients
    would otherwise shift there: a fitted 4-pair task stops producing gradients long
    before a 64-pair one does, and without anchors its behaviour off the pairs drifts.

    With ``config.anchor_pool="auto"`` an env-anchored MinAtar source keeps all its rollout states (``hades_zoo.anchors.frame_pool``).

    Returns ``(teachers {source: TrainedPolicy}, states (M, O + T), targets (seeds, M, A), pools)``,
    ``pools[k]`` the anchors of source ``k`` (its block of rows, in source order).
    """
    rng = np.random.default_rng(seed)
    O, A, K = merged.obs_dim, merged.action_dim, int(config.anchors)
    T = len(unit_tasks(merged, config.unit))
    teachers, states, targets = {}, [], []
    n, kinds = len(merged.sources), source_anchor_kinds(merged, config.anchor_states)
    for k, src in enumerate(merged.sources):
        ds = merged.source_dataset(k)
        kind = kinds[k][0]
        with progress.phase("teachers", f"source {k + 1} of {n} ({merged.source_label(k)}), its own recipe; {kind} anchors"):
            teacher = train(ds, seed=seed, num_seeds=num_seeds)
        teachers[k] = teacher
        points = anchor_states(teacher, K, kind, seed=seed, scale=config.anchor_scale, rng=rng, pool=config.anchor_pool)
        labels = label(teacher, points)
        unit = k if config.unit == "source" else src["task"]
        states.append(np.concatenate([np.pad(points, ((0, 0), (0, O - points.shape[1]))),
                                      np.repeat(np.eye(T, dtype=np.float32)[unit][None], len(points), 0)], axis=1))
        targets.append(np.pad(labels, ((0, 0), (0, 0), (0, A - labels.shape[-1]))))
    return teachers, np.concatenate(states), np.concatenate(targets, axis=1), tuple(len(s) for s in states)


def finetune(trained: MultiTaskTrained, task: int | str, *, steps: int = 20, lr: float | None = None) -> TrainedPolicy:
    """A few full-batch BC steps of every seed on one task's (or source's) own pairs and loss
    (``make_bc`` on its view; the shared trunk is updated for it only). ``task``: a task
    index, env id or slug, or a source label (the keys of ``evaluate_multitask``)."""
    labels = [trained.dataset.source_label(k) for k in range(len(trained.dataset.sources))]
    view = trained.source(labels.index(task)) if task in labels else trained.task(task)
    recipe = dataclasses.replace(view.dataset.recipe, arch=trained.arch, epochs=_steps("fine-tuning steps", steps),
                                 lr=trained.recipe.lr if lr is None else bounds.check_positive("lr", lr), init=InitSpec())
    ds = view.dataset
    params = _batched_bc(view.policy, recipe)(view.params, jnp.asarray(ds.states), jnp.asarray(ds.targets))
    return dataclasses.replace(view, params=jax.block_until_ready(params), recipe=recipe)
