"""``SyntheticDataset``: a few state-action pairs plus everything needed to use them.

Validated on construction, so a dataset object is always usable: shapes and
dtypes match its env, values are finite, labels are distributions, and the
recipe and protocol it was distilled for parse.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from hades_zoo import bounds, schema, views
from hades_zoo import format as fmt
from hades_zoo.envs.dynamics_2023 import DYNAMICS
from hades_zoo.errors import ConfigError, IncompatibleDatasetError, UnknownEnvError
from hades_zoo.archs import check_arch
from hades_zoo.recipe import NORM_EPS, NormState, ObsNorm, Protocol, Recipe
from hades_zoo.tasks import DEFAULT_KIND, Task, get_task

METHODS = ("hades-r", "hades-f", "imported", "random-real")  # random-real: the image tasks' baseline
_NORM_TENSORS = ("obs_mean", "obs_var")


@dataclasses.dataclass(frozen=True, eq=False)
class SyntheticDataset:
    """A distilled dataset. ``actions`` for continuous envs, ``labels`` (target
    distributions, a zero row = unused state) for discrete ones."""

    states: np.ndarray
    env_id: str
    actions: np.ndarray | None = None
    labels: np.ndarray | None = None
    method: str = "hades-r"
    recipe: Recipe | None = None
    protocol: Protocol | str = "paper"
    obs_norm: str | ObsNorm = "none"  # the kind (an ``ObsNorm`` given here is split into kind and eps)
    obs_mean: np.ndarray | None = None
    obs_var: np.ndarray | None = None
    recorded_return: dict | None = None
    provenance: dict = dataclasses.field(default_factory=dict)
    versions: dict = dataclasses.field(default_factory=dict)
    name: str | None = None
    extra: dict = dataclasses.field(default_factory=dict)
    source: str | None = None  # where it was read from (not stored)
    task: str = DEFAULT_KIND  # its kind (hades_zoo.tasks); "image-classification": env_id is the image dataset id
    dynamics: str = "current"  # the env behaviour it was distilled on: "current" or "2023" (envs.make)
    norm_eps: float = NORM_EPS  # the eps of its observation normalisation (stored in the file)

    def __post_init__(self):
        self._check_types()
        try:
            spec = self.kind.get_spec(self.env_id)
        except (UnknownEnvError, ConfigError) as e:
            raise IncompatibleDatasetError(f"{self._where()}: {e}") from None
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("env_id", spec.env_id)
        if isinstance(self.obs_norm, ObsNorm):
            set_("norm_eps", self.obs_norm.eps)
            set_("obs_norm", self.obs_norm.kind)
        if self.recipe is None:
            set_("recipe", self.kind.default_recipe(spec))
        elif isinstance(self.recipe, dict):
            set_("recipe", Recipe.from_dict(self.recipe))
        set_("protocol", self.kind.get_protocol(self.protocol, spec))
        for k in ("states", "actions", "labels", "obs_mean", "obs_var"):
            v = getattr(self, k)
            if v is not None:
                set_(k, np.asarray(v))
        self._validate(spec)

    def __repr__(self) -> str:  # the arrays stay out: print(ds) is one line
        ident = self.name or self.source or "unnamed"
        dyn = f", dynamics={self.dynamics!r}" if self.dynamics != "current" else ""
        return (f"SyntheticDataset({ident!r}, env={self.env_id!r}, method={self.method!r}, pairs={self.size}, "
                f"obs_norm={self.obs_norm!r}, arch={self.recipe.arch!r}{dyn})")

    # -- properties -------------------------------------------------------------------
    @property
    def kind(self) -> Task:
        """Its task kind's ``Task`` (spec lookup, protocols, evaluation)."""
        return get_task(self.task)

    @property
    def spec(self):
        """Its ``EnvSpec``, or the image task's ``ImageSpec``."""
        return self.kind.get_spec(self.env_id)

    @property
    def norm(self) -> ObsNorm:
        """Its observation normalisation (kind and eps); statistics from ``norm_state``."""
        return ObsNorm(self.obs_norm, self.norm_eps)

    def norm_state(self) -> NormState:
        """The statistics a rollout starts from: the stored ones (``const``), the running
        prior (``running``: merge each batch of observations with ``norm.update``), or none."""
        return self.norm.init_state(self.spec.obs_dim, self.obs_mean, self.obs_var)  # flat observations

    @property
    def size(self) -> int:
        return int(self.states.shape[0])

    @property
    def discrete(self) -> bool:
        return self.labels is not None

    @property
    def targets(self) -> np.ndarray:
        return self.labels if self.discrete else self.actions

    @property
    def metadata(self) -> dict[str, Any]:
        """Everything stored in the file's ``__metadata__`` (decoded); an image dataset
        has ``task`` and ``dataset_id`` where an RL one has ``env_id``."""
        spec = self.spec
        ident = self.kind.ident(self.env_id)
        return {
            "name": self.name,
            **ident,
            "backend": spec.backend,
            "method": self.method,
            "size": str(self.size),
            "recipe": self.recipe.to_dict(),
            "protocol": self.protocol.to_dict(),
            "obs_norm": self.norm.to_dict(),
            "recorded_return": self.recorded_return,
            "provenance": self.provenance,
            "versions": self.versions,
            "extra": self.extra or None,
            # Written only when not today's env, so files of our own engine keep their bytes.
            "dynamics": None if self.dynamics == "current" else self.dynamics,
        }

    def replace(self, **changes) -> "SyntheticDataset":
        return dataclasses.replace(self, **changes)

    # -- data views (hades_zoo.views: the same columns as a merged dataset's) ------------
    def to_numpy(self) -> dict[str, np.ndarray]:
        return views.single_columns(self)

    def to_torch(self):
        return views.to_torch(self.to_numpy())

    def to_hf_dataset(self):
        return views.to_hf_dataset(self.to_numpy(), [self.env_id], [self.name or self.source or self.env_id])

    # -- io ---------------------------------------------------------------------------
    def tensors(self) -> dict[str, np.ndarray]:
        out = {"states": self.states}
        out["labels" if self.discrete else "actions"] = self.targets
        if self.obs_norm == "const":
            out["obs_mean"], out["obs_var"] = self.obs_mean, self.obs_var
        return out

    def save(self, path: str | os.PathLike) -> str:
        """Write the dataset atomically; returns the sha256 of the file written."""
        return fmt.write(path, self.tensors(), self.metadata)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SyntheticDataset":
        """Read, verify (sha256, format version) and validate a dataset file."""
        tensors, meta = fmt.read(path)
        return cls.from_parts(tensors, meta, source=str(path))

    @classmethod
    def from_parts(cls, tensors: dict, meta: dict, source: str | None = None) -> "SyntheticDataset":
        where = source or "dataset"
        if not isinstance(meta, dict) or not isinstance(tensors, dict):
            raise IncompatibleDatasetError(f"{where}: from_parts needs a dict of tensors and a dict of metadata, got "
                                           f"{type(tensors).__name__} and {type(meta).__name__}")
        if meta.get("kind") == "policy":
            raise IncompatibleDatasetError(f"{where}: a trained policy, not a dataset; read it with hades_zoo.load_policy "
                                           "or run it with hades-zoo rollout")
        if meta.get("kind") == "multitask":
            raise IncompatibleDatasetError(f"{where}: a merged multi-task dataset; read it with hades_zoo.load_merged "
                                           "or train it with hades-zoo train-multitask")
        task = meta.get("task", DEFAULT_KIND)
        try:
            id_key = get_task(task).id_key
        except ConfigError as e:
            raise IncompatibleDatasetError(f"{where}: {e}") from None
        missing = [k for k in (id_key, "recipe", "protocol", "obs_norm") if k not in meta]
        if missing or "states" not in tensors:
            raise IncompatibleDatasetError(f"{where}: missing {missing or ['states tensor']}; the file was not written by hades-zoo")
        schema.validate(schema.DatasetMeta, meta, where, "the file is damaged or was not written by hades-zoo; "
                        "export or download it again", label="metadata field")
        try:
            norm = ObsNorm.from_dict(meta["obs_norm"])
            ds = cls(
                states=tensors["states"], env_id=meta[id_key], task=task, actions=tensors.get("actions"),
                labels=tensors.get("labels"), method=meta.get("method", "imported"),
                recipe=meta["recipe"], protocol=meta["protocol"], obs_norm=norm,
                obs_mean=tensors.get("obs_mean"), obs_var=tensors.get("obs_var"),
                recorded_return=meta.get("recorded_return"), provenance=meta.get("provenance") or {},
                versions=meta.get("versions") or {}, name=meta.get("name"), extra=meta.get("extra") or {},
                source=source, dynamics=meta.get("dynamics") or "current",
            )
        except ConfigError as e:
            raise IncompatibleDatasetError(f"{where}: {e}") from None
        if "size" in meta and meta["size"] != str(ds.size):
            raise IncompatibleDatasetError(f"{where}: metadata says {meta['size']} pairs but the file holds {ds.size}")
        return ds

    # -- validation -------------------------------------------------------------------
    def _where(self) -> str:
        return self.source or self.name or "dataset"

    def _fail(self, msg: str):
        raise IncompatibleDatasetError(f"{self._where()}: {msg}")

    _TYPES = {"env_id": str, "task": str, "method": str, "obs_norm": (str, ObsNorm), "dynamics": str, "name": (str, type(None)),
              "source": (str, type(None)), "recipe": (Recipe, dict, type(None)), "recorded_return": (dict, type(None)),
              "provenance": dict, "versions": dict, "extra": dict, "norm_eps": (float, int)}

    def _check_types(self) -> None:
        """Constructor arguments of the wrong kind (``env_id=None``, ``recipe="x"``): one typed error
        here, not an AttributeError deep in validation."""
        for key, types in self._TYPES.items():
            value = getattr(self, key)
            if not isinstance(value, types):
                names = " or ".join(t.__name__ if t is not type(None) else "None"
                                    for t in (types if isinstance(types, tuple) else (types,)))
                self._fail(f"{key} must be {names}, got {type(value).__name__} {str(value)[:40]!r}")

    def _check_array(self, key: str, shape: tuple) -> None:
        arr = getattr(self, key)
        if arr.dtype != np.float32:
            self._fail(f"{key} must be float32, got {arr.dtype}; convert with .astype(np.float32)")
        if tuple(arr.shape) != tuple(shape):
            self._fail(f"{key} has shape {tuple(arr.shape)}, expected {tuple(shape)} for {self.env_id}")
        if not np.all(np.isfinite(arr)):
            self._fail(f"{key} contains {int(np.sum(~np.isfinite(arr)))} NaN/inf values; the dataset is unusable")

    def _check_arch(self, spec) -> None:
        """The recipe's architecture must build for this env, within ``bounds``: else ``train``
        would fail (or abort in XLA) long after the dataset was accepted."""
        try:
            check_arch(self.recipe.arch, spec.action_dim, spec.obs_shape)
        except ConfigError as e:
            self._fail(f"its recipe's {e}")

    def _validate(self, spec) -> None:
        if self.method not in METHODS:
            self._fail(f"unknown method {self.method!r}; use one of {', '.join(METHODS)}")
        if self.states.ndim < 1 or self.states.shape[0] < 1:
            self._fail(f"states must have shape (D, {', '.join(map(str, spec.obs_shape))}) with D >= 1")
        D = self.states.shape[0]
        if D > bounds.MAX_DATASET_PAIRS:
            self._fail(f"{D} pairs is over the bound of {bounds.MAX_DATASET_PAIRS} (hades_zoo.bounds.MAX_DATASET_PAIRS)")
        self._check_arch(spec)
        self._check_array("states", (D, *spec.obs_shape))
        if spec.discrete:
            if self.labels is None or self.actions is not None:
                self._fail(f"{spec.env_id} has discrete actions: the dataset needs 'labels' (D, {spec.action_dim}), not 'actions'")
            self._check_array("labels", (D, spec.action_dim))
            sums = self.labels.sum(axis=1)
            if np.any(self.labels < 0) or not np.all(np.isclose(sums, 1.0, atol=1e-4) | (sums == 0)):
                self._fail("labels must be non-negative rows summing to 1 (or all-zero for an unused state)")
            if self.recipe.loss != "xent":
                self._fail(f"a discrete dataset needs the 'xent' loss, recipe says {self.recipe.loss!r}")
        else:
            if self.actions is None or self.labels is not None:
                self._fail(f"{spec.env_id} has continuous actions: the dataset needs 'actions' (D, {spec.action_dim}), not 'labels'")
            self._check_array("actions", (D, spec.action_dim))
            if self.recipe.loss != "gaussian-nll":
                self._fail(f"a continuous dataset needs the 'gaussian-nll' loss, recipe says {self.recipe.loss!r}")
        if self.dynamics not in DYNAMICS:
            self._fail(f"unknown dynamics {self.dynamics!r}; use one of {', '.join(DYNAMICS)}")
        try:
            self.norm
        except ConfigError as e:
            self._fail(str(e))
        if self.obs_norm == "const":
            for key in _NORM_TENSORS:
                if getattr(self, key) is None:
                    self._fail(f"constant observation normalisation needs the {key} tensor")
                self._check_array(key, spec.obs_shape)
            if np.any(self.obs_var < 0):
                self._fail("obs_var has negative entries")
