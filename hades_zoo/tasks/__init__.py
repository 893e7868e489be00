"""Task kinds: the one place that knows how an RL dataset and an image dataset differ.

``get_task(kind)`` gives the kind's ``Task`` (``hades_zoo.tasks.base``): its spec lookup,
protocol resolution, default recipe, evaluation, metadata naming and card wording.

>>> from hades_zoo.tasks import get_task
>>> get_task("rl").get_spec("cartpole").env_id
'CartPole-v1'
"""

from __future__ import annotations

from hades_zoo.errors import ConfigError
from hades_zoo.tasks import image, rl
from hades_zoo.tasks.base import Task, TaskCard

TASKS: dict[str, Task] = {t.kind: t for t in (rl.TASK, image.TASK)}
DEFAULT_KIND = rl.KIND  # a file without a ``task`` field is an RL dataset


def get_task(kind: str | None) -> Task:
    """The ``Task`` of a kind (``None``: the default, ``rl``), or a ``ConfigError`` naming the kinds."""
    task = TASKS.get(DEFAULT_KIND if kind is None else kind) if isinstance(kind, (str, type(None))) else None
    if task is None:
        raise ConfigError(f"unknown task {kind!r}; use one of {', '.join(TASKS)}")
    return task


__all__ = ["Task", "TaskCard", "TASKS", "DEFAULT_KIND", "get_task"]
