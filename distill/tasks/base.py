"""``DistillTask``: what the engine, the runner and the config need from one task kind.

The generation loop (``distill.engine``: ask -> vmapped inner loop -> tell, scanned in
chunks) and the runner (checkpoints, resume, logging) are the same for every kind; a
kind brings its problem (genome, inner loop, what it closes over), how a solution
becomes a ``SyntheticDataset``, and its config rules. ``distill.tasks.get_task(kind)``
looks one up; nothing else tests a config's ``task``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class DistillTask:
    """One task kind of the engine.

    Args:
        kind: the kind (``hades_zoo.tasks``), a config's ``task``.
        target: the config field naming what to distil for (``env`` | ``dataset``).
        missing: the error when neither the command line nor the config names it.
        inits: the allowed values of ``init`` (the ES mean's start).
        items_per_size: ``items_per_size(spec)``: pairs per unit of ``size`` (RL 1, images: classes).
        checks: ``checks(cfg) -> [(ok, message)]``: the kind's own config rules.
        make_problem: ``make_problem(cfg) -> Problem`` (genome, fitness, what it closes over).
        to_dataset: ``to_dataset(problem, tree, cfg, generation, command) -> SyntheticDataset``.
        env_steps: ``env_steps(cfg)``: env steps one generation spends (0 without an env).
        describe: ``describe(cfg)``: the progress bar's title.
        digits: decimals of a fitness on the progress bar.
        finish: ``finish(out)``: extra files once a run's datasets are written (or None).
    """

    kind: str
    target: str
    missing: str
    inits: tuple[str, ...]
    items_per_size: Callable[[Any], int]
    checks: Callable[[Any], list]
    make_problem: Callable[[Any], Any]
    to_dataset: Callable[..., Any]
    env_steps: Callable[[Any], int]
    describe: Callable[[Any], str]
    digits: int
    finish: Callable[[Any], None] | None = None
