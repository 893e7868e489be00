"""Scores of a multi-task run: every source through its view, in its own env, against its own recipe.

``evaluate_multitask`` gives one ``TaskScore`` per source: the multi-task returns and, compared, the
source's own single-task recipe's and the random policy's on the same seeds and protocol, so that
``relative`` (the normalised score: random 0, single-task 1) reads the same for every env. ``below``,
``no_scale`` and ``warnings`` are what ``train-multitask`` reports on them.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from hades_zoo import progress
from hades_zoo.api import evaluate, train
from hades_zoo.multitask.train import MultiTaskTrained
from hades_zoo.recipe import EvalResult, get_protocol
from hades_zoo.scores import normalised_score, random_return

THRESHOLD = 0.9  # a source below this normalised score gets a warning line


@dataclasses.dataclass(frozen=True)
class TaskScore:
    """One source's multi-task score through its view and, when compared, its own single-task
    recipe's (same seeds and protocol) and the random policy's: ``relative`` is the normalised
    score, random 0 and single-task 1, the same scale for every env (``hades_zoo.scores``)."""

    env: str
    result: EvalResult
    single_task: EvalResult | None = None
    random: EvalResult | None = None
    source: str | None = None
    task: int | None = None

    @property
    def relative(self) -> float | None:
        """The normalised score; NaN (no scale) where the single-task recipe does not beat the random
        policy by more than the spread of either over the seeds (Freeway: both 0)."""
        if self.single_task is None or self.random is None:
            return None
        tol = max(float(np.std(self.single_task.returns)), float(np.std(self.random.returns)))
        return normalised_score(self.result.mean, self.single_task.mean, self.random.mean, tol)

    def to_json(self) -> dict:
        out = {"env": self.env, "task": self.task, "mean": self.result.mean, "std": self.result.std,
               "returns": self.result.returns, "protocol": self.result.protocol}
        if self.single_task is not None:
            out.update(single_task_mean=self.single_task.mean, single_task_returns=self.single_task.returns,
                       relative=self.relative)
        if self.random is not None:
            out["random_mean"] = self.random.mean
        if self.result.by_key:  # several evaluation seeds: each one's scores, and its own normalised score
            out["returns_by_key"] = self.result.by_key
            if self.single_task is not None and self.random is not None:
                out["single_task_returns_by_key"] = self.single_task.by_key
                out["random_by_key"] = self.random.by_key
                out["relative_by_key"] = [self.rescored(j).relative for j in range(len(self.result.by_key))]
        return out

    def rescored(self, key: int) -> "TaskScore":
        """The score under evaluation seed ``key`` alone (of ``evaluate(repeats=N)``'s)."""
        def one(r):
            return r if r is None or not r.by_key else dataclasses.replace(r, returns=r.by_key[key], by_key=None)

        return dataclasses.replace(self, result=one(self.result), single_task=one(self.single_task), random=one(self.random))


def below(scores: dict[str, TaskScore], threshold: float = THRESHOLD) -> list[str]:
    """The sources whose normalised score is under ``threshold`` (an undefined score is not)."""
    return [name for name, s in scores.items() if s.relative is not None and s.relative < threshold]


def no_scale(scores: dict[str, TaskScore]) -> list[str]:
    """The compared sources with no normalised score: their own recipe does no better than random."""
    return [name for name, s in scores.items() if s.relative is not None and s.relative != s.relative]


def warnings(scores: dict[str, TaskScore], threshold: float = THRESHOLD) -> list[str]:
    """One ``warning:`` line per source of ``below``, then one ``note:`` line per source of ``no_scale``."""
    return [f"warning: {n} ({scores[n].env}) holds {scores[n].relative:.2f} of its single-task return "
            f"(normalised: random 0, single-task 1), under {threshold}" for n in below(scores, threshold)] + [
            f"note: {n} ({scores[n].env}) has no normalised score: its single-task return {scores[n].single_task.mean:.2f} "
            f"does not beat the random policy's {scores[n].random.mean:.2f} by more than the seeds' spread" for n in no_scale(scores)]


def evaluate_multitask(trained: MultiTaskTrained, *, protocol=None, seed: int = 0, compare: bool = False,
                       on_score=None, repeats: int = 1) -> dict[str, TaskScore]:
    """Every source through its view, in its own env: ``{source label: TaskScore}``.

    Args:
        protocol: *optional*, defaults to each source's own protocol; a name (``paper``
            resolves per env family), dict or ``Protocol``, for every source.
        compare: also train and evaluate each source's own single-task recipe with the same
            training seeds, protocol, evaluation seed and number of seeds (the anchors'
            teachers where there are some), and the random policy, for the normalised ``relative``.
        on_score: *optional* ``on_score(source label, TaskScore)``, called as each source is
            scored (the CLI's ``--out`` writes it at once, so a long run's partial results survive).
        repeats: evaluation seeds per trained seed, for the multi-task, single-task and random
            scores alike (``hades_zoo.evaluate``): the same protocol with less evaluation noise.
    """
    merged, out, done, randoms = trained.dataset, {}, {}, {}
    n = len(merged.sources)
    for k in range(n):
        name, view = merged.source_label(k), trained.source(k)
        env_id = view.dataset.env_id
        proto = get_protocol(view.dataset.protocol if protocol is None else protocol, view.dataset.spec)
        unit = k if trained.config.unit == "source" else merged.sources[k]["task"]
        with progress.phase("evaluating", f"source {k + 1} of {n} ({name}, {env_id})"):
            t0 = time.perf_counter()
            if (unit, proto) not in done:  # sources sharing a head share its rollouts
                done[unit, proto] = evaluate(view, protocol=proto, seed=seed, repeats=repeats)
            result = done[unit, proto]
            trained.timing[f"eval_s[{name}]"] = time.perf_counter() - t0
            single = rand = None
            if compare:
                t0 = time.perf_counter()
                own = trained.teachers.get(k)  # the anchors' teachers are exactly these single-task runs
                if own is None:
                    own = train(merged.source_dataset(k), seed=trained.seeds[0], num_seeds=trained.num_seeds)
                single = evaluate(own, protocol=proto, seed=seed, repeats=repeats)
                if (env_id, proto) not in randoms:
                    randoms[env_id, proto] = random_return(view.dataset, proto, seed=seed, num_seeds=trained.num_seeds,
                                                           repeats=repeats)
                rand = randoms[env_id, proto]
                trained.timing[f"single_task_s[{name}]"] = time.perf_counter() - t0
        out[name] = TaskScore(env_id, result, single, rand, name, int(merged.sources[k]["task"]))
        if on_score is not None:
            on_score(name, out[name])
    return out
