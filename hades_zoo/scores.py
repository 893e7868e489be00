"""Returns relative to a reference recipe, and the random-policy baseline they need.

``relative_score(mean, reference, random)``: where the reference return is positive
(CartPole, MountainCarContinuous, hopper, ...) the plain ratio ``mean / reference``;
where it is not (Acrobot, Pendulum: returns are negative) the normalised score
``(mean - random) / (reference - random)``: a random policy scores 0, the
reference 1.

``random_return(dataset, protocol)`` rolls out the *random policy* under the same
protocol (envs, steps, metric): zero logits / zero means with actions sampled,
i.e. a uniform categorical, or N(0, 1) per action dim clipped to [-1, 1]. It goes
through the client's own ``evaluate`` (``make_evaluate``), with the protocol's
``sample_actions`` switched on.
"""

from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp

from hades_zoo.agent import TrainedPolicy
from hades_zoo.api import evaluate
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import ConfigError
from hades_zoo.policies import Policy
from hades_zoo.recipe import EvalResult, get_protocol


@dataclasses.dataclass(frozen=True)
class ZeroNet:
    """A parameter-free network that outputs zeros: the random policy's logits / means."""

    out_dim: int

    def init(self, key, obs):
        return {}

    def apply(self, variables, obs):
        return jnp.zeros((*obs.shape[:-1], self.out_dim), jnp.float32)


def needs_random(reference: float) -> bool:
    """Whether ``relative_score`` needs the random baseline for this reference return."""
    return not reference > 0


def relative_score(mean: float, reference: float, random: float | None = None) -> float:
    """``mean / reference`` for a positive reference, else ``(mean - random) / (reference - random)``."""
    if not needs_random(reference):
        return float(mean / reference)
    if random is None:
        raise ConfigError(f"reference return {reference:.3g} is not positive: the normalised score needs the random policy's return")
    if math.isclose(reference, random):
        return float("nan")  # the reference does no better than random: no scale to measure on
    return float((mean - random) / (reference - random))


def normalised_score(mean: float, reference: float, random: float, tol: float = 0.0) -> float:
    """``(mean - random) / (reference - random)`` for every env (random 0, reference 1);
    NaN where the reference does no better than random by more than ``tol`` (Freeway: no
    scale; a reference at or under the random return would give a score of the wrong sign,
    a reference barely above it one that explodes)."""
    if math.isclose(reference, random) or not reference - random > tol:
        return float("nan")
    return float((mean - random) / (reference - random))


def random_return(dataset: SyntheticDataset, protocol=None, *, seed: int = 0, num_seeds: int = 1, repeats: int = 1) -> EvalResult:
    """The random policy's score on ``dataset``'s env under ``protocol`` (default: the dataset's own),
    ``repeats`` evaluation seeds as ``hades_zoo.evaluate``'s."""
    spec = dataset.spec
    proto = get_protocol(dataset.protocol if protocol is None else protocol, spec)
    proto = dataclasses.replace(proto, name=f"{proto.name}, random policy", sample_actions=True)
    policy = Policy(ZeroNet(spec.action_dim), spec.obs_dim, spec.action_dim, spec.discrete)
    params = {"net": {}} if spec.discrete else {"net": {}, "log_std": jnp.zeros((num_seeds, spec.action_dim))}
    trained = TrainedPolicy(policy, params, dataset, dataset.recipe, "random", list(range(seed, seed + num_seeds)))
    return evaluate(trained, protocol=proto, seed=seed, repeats=repeats)
