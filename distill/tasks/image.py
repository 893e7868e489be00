"""HaDES for supervised dataset distillation: the ``image-classification`` task of the engine.

The generation loop is the RL one (``distill.engine``: ask -> vmapped inner loop ->
tell, scanned in chunks, checkpoints, resume); only the inner loop differs:
init a classifier (fresh per rollout for HaDES-R, the fixed one for HaDES-F) ->
train it from scratch on the candidate images with the client's ``make_bc``
(cross-entropy on the labels) -> score it on the real held-out split
(``image_fitness``: ``loss`` = minus the mean cross-entropy, or ``accuracy``).
The real test split is never seen here; ``distill eval`` / ``hades-zoo train``
report it.

Genome: ``states`` (D, H*W*C) normalised pixels, D = ``size`` images per class x
classes (class ``c`` owns rows ``c*size ... c*size + size - 1``), and with
``learn_labels`` the ``label_logits`` (D, classes) of soft labels.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

import distill
from distill.engine import Problem, dataset_targets, fixed_init_spec, fixed_labels, make_inner_train
from distill.strategies import make_strategy
from distill.tasks.base import DistillTask
from hades_zoo.bc import init_params
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.hub.figures import image_grid_png
from hades_zoo.ids import local_name
from hades_zoo.policies import make_policy
from hades_zoo.recipe import InitSpec, ObsNorm
from hades_zoo.tasks.image import KIND, ImageProtocol, load_splits, source_versions

if TYPE_CHECKING:  # annotations only: the config imports the task registry
    from distill.config import DistillConfig

INITS = ("zeros", "real")  # zeros, or random real train images of each class
FITNESS = ("loss", "accuracy")  # image_fitness: -cross-entropy or accuracy on the held-out split


def make_problem(cfg: DistillConfig) -> Problem:
    spec = cfg.spec
    splits = load_splits(spec.env_id, cfg.data_path or None)
    policy = make_policy(cfg.bc_recipe.arch, spec.obs_shape, spec.n_classes, True)
    if cfg.obs_norm == "const":
        mean, var = splits.pixel_stats()
    else:
        mean, var = np.zeros(spec.obs_shape, np.float32), np.ones(spec.obs_shape, np.float32)

    norm = ObsNorm("const")  # zeros/ones without pixel standardisation: the identity
    stats = norm.init_state(spec.obs_shape, mean, var)

    def normalise(x):
        return norm.normalize(x, stats).reshape(len(x), -1).astype(np.float32)

    C, per_class = spec.n_classes, cfg.size
    labels = fixed_labels(per_class * C, C)
    if cfg.init == "real":  # random real train images of each class (the baseline's draw)
        x, y = splits["train"]
        key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 1)
        idx = [np.asarray(jax.random.choice(jax.random.fold_in(key, c), np.flatnonzero(y == c), (per_class,), replace=False))
               for c in range(C)]
        states = normalise(x[np.concatenate(idx)])
    else:
        states = np.zeros((per_class * C, spec.obs_dim), np.float32)
    solution = {"states": jnp.asarray(states)}
    if cfg.learn_labels:
        solution["label_logits"] = jnp.asarray(np.log(np.clip(labels, 1e-3, 1.0)))
        labels = None
    fixed = None
    if cfg.method == "f":
        fixed = jax.tree.map(lambda a: a[0], init_params(policy, fixed_init_spec(cfg), [None]))
    es, es_params = make_strategy(cfg, solution)
    val_x, val_y = splits["val"]
    return Problem(cfg, policy, solution, labels, jnp.asarray(mean), jnp.asarray(var), fixed, es, es_params,
                   make_fitness=make_image_fitness, data=(jnp.asarray(normalise(val_x)), jnp.asarray(val_y)))


def make_image_fitness(problem: Problem):
    """``fitness(key, candidate) -> score`` (higher is better) over ``cfg.rollouts`` classifiers."""
    cfg = problem.cfg
    train = make_inner_train(problem)
    val_x, val_y = problem.data
    batch = cfg.image_batch
    logits_of = jax.vmap(problem.policy, in_axes=(0, None))

    def fitness(key, candidate):
        key_init, key_batch = jax.random.split(key)
        params = train(key_init, candidate)
        x, y = val_x, val_y
        if batch and batch < val_x.shape[0]:
            idx = jax.random.randint(key_batch, (batch,), 0, val_x.shape[0])
            x, y = x[idx], y[idx]
        logits = logits_of(params, x)  # (rollouts, N, classes)
        if cfg.image_fitness == "accuracy":
            return jnp.mean(jnp.argmax(logits, -1) == y)
        logp = jax.nn.log_softmax(logits, axis=-1)
        return jnp.mean(jnp.take_along_axis(logp, y[None, :, None], axis=-1))

    return fitness


def to_dataset(problem: Problem, tree, cfg: DistillConfig, generation: int, command: str) -> SyntheticDataset:
    """A ``SyntheticDataset`` of one ES solution: images, labels, pixel normalisation, provenance."""
    spec = cfg.spec
    D = cfg.size * spec.n_classes
    states = np.asarray(tree["states"], np.float32).reshape(D, *spec.obs_shape)
    targets = np.asarray(dataset_targets(problem, tree), np.float32)
    recipe = dataclasses.replace(cfg.bc_recipe, init=fixed_init_spec(cfg) if cfg.method == "f" else InitSpec())
    splits = load_splits(spec.env_id, cfg.data_path or None)
    norm = {}
    if cfg.obs_norm == "const":
        norm = {"obs_mean": np.asarray(problem.obs_mean, np.float32), "obs_var": np.asarray(problem.obs_var, np.float32)}
    n_val = len(splits["val"][1])
    return SyntheticDataset(
        states=states, labels=targets, env_id=spec.env_id, task=KIND, method=f"hades-{cfg.method}", recipe=recipe,
        protocol=ImageProtocol(), obs_norm=cfg.obs_norm,
        name=local_name(spec.slug, f"hades-{cfg.method}", cfg.size, unit="ipc"),
        provenance={"engine": f"distill {distill.__version__}", "command": command, "config": cfg.to_dict(),
                    "seed": cfg.seed, "generations": generation, "population": cfg.popsize, "strategy": cfg.strategy,
                    "source": splits.source, "fitness": f"{cfg.image_fitness} on the held-out split",
                    "held_out_images_per_evaluation": cfg.image_batch or n_val},
        versions=source_versions(spec),
        extra={"pixels": f"raw / {spec.pixel_max:g} in [0, 1], then (x - obs_mean) / sqrt(obs_var + 1e-8)"
               if cfg.obs_norm == "const" else f"raw / {spec.pixel_max:g} in [0, 1]",
               **({"data_path": cfg.data_path} if cfg.data_path else {})},
        **norm,
    )


def _checks(cfg: DistillConfig) -> list:
    return [(cfg.obs_norm in ("const", "none"), "obs_norm of an image task must be const (pixel standardisation) or none"),
            (cfg.image_fitness in FITNESS, f"image_fitness must be one of {FITNESS}")]


def _finish(out: Path) -> None:
    """The run's mean images as a grid, beside the dataset."""
    if (out / "mean.safetensors").exists():
        image_grid_png(SyntheticDataset.load(out / "mean.safetensors"), out / "mean.png")


TASK = DistillTask(
    kind=KIND, target="dataset", inits=INITS, items_per_size=lambda spec: spec.n_classes, checks=_checks,
    missing=f"task {KIND} needs --dataset (e.g. digits, mnist, fashion-mnist) and no --env",
    make_problem=make_problem, to_dataset=to_dataset, env_steps=lambda cfg: 0,
    describe=lambda cfg: f"{cfg.dataset} HaDES-{cfg.method.upper()} {cfg.size} per class", digits=4, finish=_finish,
)

__all__ = ["make_problem", "make_image_fitness", "to_dataset", "TASK"]
