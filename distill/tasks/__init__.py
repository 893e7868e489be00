"""The engine's task kinds (``rl``, ``image-classification``): the one place that knows them apart.

>>> from distill.tasks import make_problem
>>> problem = make_problem(build_config("cartpole", generations=2))  # doctest: +SKIP
"""

from __future__ import annotations

from distill.tasks import image, rl
from distill.tasks.base import DistillTask
from hades_zoo.errors import ConfigError

TASKS: dict[str, DistillTask] = {t.kind: t for t in (rl.TASK, image.TASK)}


def get_task(kind: str) -> DistillTask:
    """The engine's ``DistillTask`` of a kind, or a ``ConfigError`` naming the kinds."""
    task = TASKS.get(kind) if isinstance(kind, str) else None
    if task is None:
        raise ConfigError(f"config: task must be one of {', '.join(TASKS)}, got {kind!r}")
    return task


def make_problem(cfg):
    """The run's ``Problem`` (``distill.engine``), made by its kind."""
    return get_task(cfg.task).make_problem(cfg)


def to_dataset(problem, tree, cfg, generation: int, command: str):
    """A ``SyntheticDataset`` of one ES solution (``tree``), with the recipe and provenance of the run."""
    return get_task(cfg.task).to_dataset(problem, tree, cfg, generation, command)


def env_steps_per_generation(cfg) -> int:
    """Env steps one generation spends (0 for a task without an env)."""
    return get_task(cfg.task).env_steps(cfg)


__all__ = ["DistillTask", "TASKS", "get_task", "make_problem", "to_dataset", "env_steps_per_generation"]
