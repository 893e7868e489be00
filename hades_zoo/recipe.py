"""What a dataset was distilled for: its BC recipe, evaluation protocol and observation normalisation.

The one home of these concepts, written without jax so that reading a dataset file,
listing the catalog or validating a config never imports it:

- ``Recipe`` / ``InitSpec``: how a policy is behaviour-cloned on the dataset;
  ``default_recipe(spec)`` the paper's recipe per env family, ``IMAGE_RECIPE`` the image tasks',
  ``joint_recipe(recipes)`` the one a merged multi-task dataset trains with.
- ``Protocol``: how a policy is scored in its env; ``paper_protocol(spec)`` the
  family's paper protocol, ``get_protocol`` resolves a name, dict or ``Protocol``,
  ``resets_unneeded`` says when its rollout may skip the envs' auto-reset.
- ``ObsNorm``: how raw observations map into the dataset's space. Its methods are
  plain arithmetic, so they run on numpy arrays and on jax arrays inside a jitted
  rollout alike.
- ``EvalResult``: one score per trained seed.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, NamedTuple

import numpy as np

from hades_zoo import bounds, schema
from hades_zoo.errors import ConfigError

_FIX = "fix the recipe (a config's [recipe] table, or the dataset's metadata)"

LOSSES = ("gaussian-nll", "xent")
OPTIMIZERS = ("adam", "sgd")  # sgd: plain SGD, no momentum (the authors' MNIST recipe)


# -- the BC recipe ------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class InitSpec:
    """How BC initialises the policy: a fresh key per seed (HaDES-R), or the one
    fixed key a HaDES-F dataset was distilled for (with the PRNG setting of its day)."""

    mode: str = "random"  # "random" | "fixed"
    seed: int = 0
    threefry_partitionable: bool = True

    def __post_init__(self):
        bounds.check_seed("init seed", self.seed)

    def to_dict(self) -> dict:
        if self.mode == "random":
            return {"mode": "random"}
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "InitSpec":
        schema.validate(schema.InitMeta, d, "recipe", _FIX, error=ConfigError, root="init")  # types (hades_zoo.schema)
        if d.get("mode") not in ("random", "fixed"):
            raise ConfigError(f"init mode must be 'random' or 'fixed', got {d.get('mode')!r}")
        return cls(d["mode"], int(d.get("seed", 0)), bool(d.get("threefry_partitionable", True)))


@dataclasses.dataclass(frozen=True)
class Recipe:
    """The training recipe a dataset was distilled for (stored in its metadata)."""

    arch: str = "mlp-2x512-tanh"
    lr: float = 5e-3
    epochs: int = 200  # full-batch gradient steps
    grad_clip: float | None = 0.5
    loss: str = "gaussian-nll"
    adam_eps: float = 1e-5
    init: InitSpec = InitSpec()
    optimizer: str = "adam"

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown BC loss {self.loss!r}; use one of {', '.join(LOSSES)}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown BC optimizer {self.optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
        if not (self.lr > 0 and np.isfinite(self.lr)):
            raise ConfigError(f"learning rate must be a positive number, got {self.lr}")
        bounds.check_int("epochs (BC steps)", self.epochs, 1, bounds.MAX_BC_STEPS, "hades_zoo.bounds.MAX_BC_STEPS")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError(f"grad clip must be positive or None, got {self.grad_clip}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["init"] = self.init.to_dict()
        if self.optimizer == "adam":  # the default stays unwritten: older files keep their bytes
            del d["optimizer"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Recipe":
        schema.validate(schema.RecipeMeta, d, "recipe", _FIX, error=ConfigError, root="recipe")  # types (hades_zoo.schema)
        d = dict(d)
        init = InitSpec.from_dict(d.pop("init", {"mode": "random"}))
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown recipe keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d, init=init)


def default_recipe(spec) -> Recipe:
    """The paper's recipe for an env's family (``EnvSpec``; brax hopper/IDP: 200 steps, else 400)."""
    if spec.minatar:
        return Recipe("mlp-2x512-relu", 0.03, 64, None, "xent")
    if spec.discrete:
        return Recipe("mlp-2x64-tanh", 0.01, 100, None, "xent")
    if spec.family == "gymnax":
        return Recipe("mlp-2x64-tanh", 0.01, 100, 1.0, "gaussian-nll")
    return Recipe(epochs=200 if spec.env_id in ("hopper", "inverted_double_pendulum") else 400)


IMAGE_RECIPE = Recipe("mlp-1x128-relu", 0.01, 100, None, "xent")  # image tasks: the inner-loop classifier (full-batch Adam)

_WIDTH_RE = re.compile(r"-(\d+)x(\d+)-", re.ASCII)


def joint_recipe(recipes) -> Recipe:
    """One recipe for several datasets trained together (a merged multi-task dataset):
    the widest architecture (then deepest), the smallest learning rate, the most steps,
    the tightest gradient clip, the smallest Adam eps."""
    recipes = list(recipes)

    def size(r):
        m = _WIDTH_RE.search(r.arch)
        return (int(m.group(2)), int(m.group(1))) if m else (0, 0)

    clips = [r.grad_clip for r in recipes if r.grad_clip is not None]
    return Recipe(arch=max(recipes, key=size).arch, lr=min(r.lr for r in recipes), epochs=max(r.epochs for r in recipes),
                  grad_clip=min(clips) if clips else None, loss="gaussian-nll", adam_eps=min(r.adam_eps for r in recipes))


# -- the evaluation protocol --------------------------------------------------------------------
METRICS = ("completed_mean", "last_completed", "first_episode")


@dataclasses.dataclass(frozen=True)
class Protocol:
    """How a policy is scored in its env (``hades_zoo.rollout`` runs it)."""

    name: str
    n_envs: int
    n_steps: int | None  # None: the env's episode length (one full episode per env)
    sample_actions: bool
    metric: str

    def __post_init__(self):
        if self.metric not in METRICS:
            raise ConfigError(f"unknown metric {self.metric!r}; use one of {', '.join(METRICS)}")
        bounds.check_int("protocol n_envs", self.n_envs, 1, bounds.MAX_EVAL_ENVS, "hades_zoo.bounds.MAX_EVAL_ENVS")
        if self.n_steps is not None:
            bounds.check_int("protocol n_steps", self.n_steps, 1, bounds.MAX_EVAL_STEPS, "hades_zoo.bounds.MAX_EVAL_STEPS")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Protocol":
        schema.validate(schema.ProtocolMeta, d, "protocol", "fix the protocol (a config's [fitness_protocol] table, or "
                        "the dataset's metadata)", error=ConfigError, root="protocol")  # types (hades_zoo.schema)
        try:
            return cls(**d)
        except TypeError as e:
            raise ConfigError(f"bad protocol {d!r}: {e}") from None

    def steps_for(self, spec) -> int:
        return self.n_steps if self.n_steps is not None else spec.episode_length


PROTOCOLS = {
    p.name: p
    for p in [
        Protocol("paper-brax", 4, 1024, True, "completed_mean"),
        Protocol("paper-minatar", 8, 1024, True, "last_completed"),
        Protocol("paper-classic", 8, 1024, True, "completed_mean"),
        Protocol("episodes", 16, None, False, "first_episode"),
    ]
}


def paper_protocol(spec) -> Protocol:
    """The protocol of the authors' script for the env's family: brax, MinAtar (and
    Pong-misc, run with the MinAtar script), or the classic-control one."""
    return PROTOCOLS["paper-brax" if spec.family == "brax" else "paper-minatar" if spec.minatar else "paper-classic"]


def get_protocol(name_or_protocol, spec) -> Protocol:
    """Resolve a protocol name (``paper`` -> ``paper_protocol(spec)``), dict or ``Protocol``."""
    if isinstance(name_or_protocol, Protocol):
        return name_or_protocol
    if isinstance(name_or_protocol, dict):
        return Protocol.from_dict(name_or_protocol)
    if name_or_protocol == "paper":
        return paper_protocol(spec)
    if name_or_protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {name_or_protocol!r}; use one of paper, {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name_or_protocol]


def resets_unneeded(protocol: Protocol, norm_kind: str) -> bool:
    """Whether the envs of a ``protocol`` rollout may step without their auto-reset: its score
    reads each env's first episode only (``first_episode``) and no ``running`` statistics go on
    merging observations after it. The one rule of ``make_evaluate(..., reset=False)`` and of a
    distill config's ``fitness_reset = false`` (issue 21)."""
    return protocol.metric == "first_episode" and norm_kind != "running"


# -- observation normalisation ------------------------------------------------------------------
NORM_KINDS = ("running", "const", "none")
NORM_EPS = 1e-8
RUNNING_COUNT0 = 1e-4  # the running statistics' prior count (the authors' NormalizeVecObservation)


class NormState(NamedTuple):
    """Normalisation statistics, flat over the observation: a pytree, so it rides in a ``lax.scan`` carry."""

    mean: Any
    var: Any
    count: Any


def _sqrt(x):
    # numpy's or jax's own sqrt, whichever library ``x`` belongs to (both speak the array API).
    ns = getattr(x, "__array_namespace__", None)
    return ns().sqrt(x) if ns is not None else x**0.5


@dataclasses.dataclass(frozen=True)
class ObsNorm:
    """How raw observations map into a dataset's space: ``(x - mean) / sqrt(var + eps)``.

    ``kind``: ``none`` (identity), ``const`` (the dataset's stored ``obs_mean``/``obs_var``),
    or ``running`` (statistics restarted per rollout at mean 0, var 1, count 1e-4 and
    merged with every whole batch of env observations, the reset batch included, before
    acting on it: the paper's brax protocol). ``eps`` is the one stored in the dataset.

    Hashable (``kind`` and ``eps`` only): the statistics live in a ``NormState``, so one
    compiled rollout serves every dataset of an env.

    >>> norm = ObsNorm("running")
    >>> state = norm.update(norm.init_state(3), np.ones((8, 3), np.float32))  # a batch of 8 observations
    >>> x = norm.normalize(np.ones(3, np.float32), state)
    """

    kind: str = "none"
    eps: float = NORM_EPS

    def __post_init__(self):
        if self.kind not in NORM_KINDS:
            raise ConfigError(f"unknown observation normalisation {self.kind!r}; use one of {', '.join(NORM_KINDS)}")
        if not (isinstance(self.eps, (int, float)) and np.isfinite(self.eps) and self.eps >= 0):
            raise ConfigError(f"observation normalisation eps must be a finite number >= 0, got {self.eps!r}")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "eps": self.eps}

    @classmethod
    def from_dict(cls, d: dict | str) -> "ObsNorm":
        """From a file's ``obs_norm`` metadata (``{"kind", "eps"}``; eps defaults to 1e-8)."""
        if isinstance(d, str):
            return cls(d)
        if not isinstance(d, dict):
            raise ConfigError(f"obs_norm must be a {{'kind', 'eps'}} object, got {d!r}")
        eps = NORM_EPS if d.get("eps") is None else d["eps"]
        return cls(d.get("kind", "none"), float(eps) if isinstance(eps, (int, float)) and not isinstance(eps, bool) else eps)

    @classmethod
    def from_dataset(cls, dataset) -> "ObsNorm":
        """The normalisation of a ``SyntheticDataset`` (same as ``dataset.norm``)."""
        return dataset.norm

    def init_state(self, shape: int | tuple, mean=None, var=None) -> NormState:
        """Statistics at the start of a rollout, shaped like one observation (``shape``: an
        int for flat observations): ``const`` takes ``mean``/``var`` (reshaped), ``running``
        the prior (0, 1, count 1e-4: merge the first batch with ``update`` before
        normalising it), ``none`` the identity."""
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        if self.kind == "const":
            if mean is None or var is None:
                raise ConfigError("constant observation normalisation needs obs_mean and obs_var")
            return NormState(mean.reshape(shape), var.reshape(shape), np.float32(0.0))
        count = np.float32(RUNNING_COUNT0 if self.kind == "running" else 0.0)
        return NormState(np.zeros(shape, np.float32), np.ones(shape, np.float32), count)

    def normalize(self, x, state: NormState):
        """``x`` (..., obs_dim) in the dataset's space; the identity for ``none``."""
        if self.kind == "none":
            return x
        return (x - state.mean) / _sqrt(state.var + self.eps)

    def denormalize(self, x, state: NormState):
        """The inverse of ``normalize``: dataset space back to raw observations."""
        if self.kind == "none":
            return x
        return x * _sqrt(state.var + self.eps) + state.mean

    def update(self, state: NormState, batch) -> NormState:
        """``running``: merge a whole batch (n, obs_dim) into the statistics (Chan's parallel
        mean/variance merge, as the paper protocol does once per env step); else unchanged."""
        if self.kind != "running":
            return state
        mean, var, count = state
        b_mean, b_var, b_count = batch.mean(0), batch.var(0), batch.shape[0]
        delta = b_mean - mean
        total = count + b_count
        new_mean = mean + delta * b_count / total
        m2 = var * count + b_var * b_count + delta**2 * count * b_count / total
        return NormState(new_mean, m2 / total, total)


# -- results ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class EvalResult:
    """One score per trained seed (returns, or accuracies for an image dataset); ``by_key``: with
    several evaluation seeds (``evaluate(repeats=N)``), each one's scores, of which ``returns`` is the mean."""

    env: str
    protocol: str
    returns: list[float]
    by_key: list[list[float]] | None = None

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        return float(np.std(self.returns))

    def __str__(self) -> str:
        return f"{self.mean:.2f} ± {self.std:.2f} ({len(self.returns)} seeds, {self.protocol})"
