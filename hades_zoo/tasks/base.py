"""``Task``: what one kind of dataset needs from the rest of the package.

A dataset is for a task kind: ``rl`` (states and actions or labels, scored by the return
of a behaviour-cloned policy in an env) or ``image-classification`` (synthetic images and
labels, scored by a classifier's accuracy on real images). Every difference between the
kinds lives in one ``Task`` (``hades_zoo.tasks.rl.TASK``, ``hades_zoo.tasks.image.TASK``),
as gymnax's ``step`` -> ``step_env`` seam does: the generic code asks the task, never
tests its kind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class TaskCard:
    """How a dataset card and its files describe datasets of this kind."""

    item: str  # what one pair holds (the parquet mirror's column): "state" | "image"
    category: str  # the hub's task_categories entry
    tag: str  # the hub tag of the method family
    digits: int  # decimals of a per-seed score in the card's table
    figure: str  # the dataset figure (hades_zoo.hub.figures.dataset_figure): "pairs" | "images"
    summary: Callable[..., str]  # summary(ds, kind, own) -> the card's first paragraph
    protocol_text: Callable[[Any], str]  # protocol_text(protocol) -> its row in the recipe table
    score: str  # what a score is: "return" | "test accuracy"
    baseline: str  # the scale's floor: the random policy, or chance
    scale_protocol: Callable[..., str]  # scale_protocol(ds, own) -> the protocol the scale is looked up under
    protocol_note: str  # ends the card's protocol limitation
    intended_use: str  # what the trained models are (and are not) for


@dataclasses.dataclass(frozen=True)
class Task:
    """One task kind, looked up by ``hades_zoo.tasks.get_task(kind)``.

    Args:
        kind: the kind's name, stored in a file's metadata as ``task`` (omitted for ``rl``).
        id_key: the metadata key naming what the dataset is for (``env_id`` / ``dataset_id``).
        get_spec: ``get_spec(ident) -> spec`` (``obs_shape``, ``action_dim``, ``discrete``,
            ``slug``, ``backend``, ``obs_dim``) or ``UnknownEnvError``.
        get_protocol: ``get_protocol(name | dict | protocol | None, spec) -> protocol``.
        default_recipe: ``default_recipe(spec) -> Recipe`` (from ``hades_zoo.recipe``).
        evaluate: ``evaluate(trained, env, *, protocol, seed, dynamics) -> EvalResult``.
        ident: ``ident(ident) -> dict``: the metadata fields naming the env or data set.
        card: how cards describe it.
        acts_in_env: whether its policies act in an env (env actions, ``hades_zoo.merge``); image classifiers do not.
    """

    kind: str
    id_key: str
    get_spec: Callable[[str], Any]
    get_protocol: Callable[[Any, Any], Any]
    default_recipe: Callable[[Any], Any]
    evaluate: Callable[..., Any]
    ident: Callable[[str], dict]
    card: TaskCard
    acts_in_env: bool = False
