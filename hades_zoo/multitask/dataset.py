"""Merged datasets: the pairs of several single-task datasets in one multi-task file.

``merge([a, b, c])`` (``hades_zoo.multitask.merging``) zero-pads every source's
(flattened) states and targets to the largest observation and action sizes and adds, per pair, a one-hot task id and
masks of the valid observation and action dims. One *task* is one input view of one
env: sources of the same env and normalisation (e.g. three seeds of hopper HaDES-R)
share a task id; a source of that env normalised differently (the bundled
``hopper-hades-r-64`` and an authors' file normalised with other constant stats)
gets a task of its own, since its states live in another observation space.

Tensors (``hades-zoo/1`` safetensors, metadata ``kind = "multitask"``):

  ``states``       (N, O) float32  each task's states in its own normalised space, zero-padded
  ``targets``      (N, A) float32  continuous actions or discrete label rows, zero-padded
  ``tasks``        (N, T) float32  one-hot task id
  ``obs_mask``     (N, O) float32  1 on the task's observation dims
  ``action_mask``  (N, A) float32  1 on the task's action dims (means or logits)
  ``obs_mean``, ``obs_var`` (T, O) float32  constant normalisation stats per task
                                   (mean 0, var 1 for ``running``/``none`` tasks and padding)

Metadata ``tasks`` (per task: env, normalisation, protocol, its sources) and
``sources`` (per source: name, revision, sha256 of its tensors, file sha256,
location, rows, and its full single-task metadata) make every source exactly
recoverable: ``source_dataset(k)`` rebuilds it and, on load, its sha256 is checked.
Continuous- and discrete-action envs may be merged: a discrete task's logits and a
continuous task's Gaussian means share the (masked) output, or get one head per
task (``hades_zoo.multitask``).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from hades_zoo import format as fmt
from hades_zoo import schema, views
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.envs.specs import EnvSpec, get_spec
from hades_zoo.errors import ConfigError, CorruptDatasetError, IncompatibleDatasetError, UnknownEnvError
from hades_zoo.sources import _looks_like_path

KIND = "multitask"
_TENSORS = ("states", "targets", "tasks", "obs_mask", "action_mask", "obs_mean", "obs_var")


def _norm_stats(ds: SyntheticDataset) -> tuple[np.ndarray, np.ndarray]:
    n = ds.spec.obs_dim
    if ds.obs_norm == "const":
        return ds.obs_mean.reshape(-1), ds.obs_var.reshape(-1)
    return np.zeros(n, np.float32), np.ones(n, np.float32)


def _label(ds: SyntheticDataset) -> str:
    return ds.name or ds.source or f"<{ds.env_id} dataset>"


@dataclasses.dataclass(frozen=True, eq=False)
class MultiTaskDataset:
    """Padded pairs of several envs; see the module docstring for the layout."""

    states: np.ndarray
    targets: np.ndarray
    tasks: np.ndarray
    obs_mask: np.ndarray
    action_mask: np.ndarray
    obs_mean: np.ndarray
    obs_var: np.ndarray
    task_info: tuple  # per task: {"env_id", "obs_norm", "protocol", "sources": [k, ...]}
    sources: tuple  # per source: {"name", "revision", "sha256", "file_sha256", "location", "task", "rows", "metadata"}
    name: str | None = None
    source: str | None = None  # where it was read from (not stored)

    def __post_init__(self):
        for k in _TENSORS:
            object.__setattr__(self, k, np.asarray(getattr(self, k)))
        object.__setattr__(self, "task_info", tuple(self.task_info))
        object.__setattr__(self, "sources", tuple(self.sources))
        self._validate()

    def __repr__(self) -> str:  # the arrays stay out: print(merged) is one line
        ident = self.name or self.source or "unnamed"
        return f"MultiTaskDataset({ident!r}, tasks={self.env_ids}, pairs={self.size}, sources={len(self.sources)})"

    # -- properties -------------------------------------------------------------------
    @property
    def size(self) -> int:
        return int(self.states.shape[0])

    @property
    def n_tasks(self) -> int:
        return len(self.task_info)

    @property
    def obs_dim(self) -> int:
        return int(self.states.shape[1])

    @property
    def action_dim(self) -> int:
        return int(self.targets.shape[1])

    @property
    def env_ids(self) -> list[str]:
        return [t["env_id"] for t in self.task_info]

    @property
    def task_ids(self) -> np.ndarray:
        return np.argmax(self.tasks, axis=1).astype(np.int32)

    def task_spec(self, task: int) -> EnvSpec:
        return get_spec(self.task_info[task]["env_id"])

    def task_index(self, task: int | str) -> int:
        """The index of a task given as index, env id or slug (``"hopper"``, ``"cartpole"``)."""
        if isinstance(task, (int, np.integer)):
            if not 0 <= task < self.n_tasks:
                raise ConfigError(f"task index {task} is out of range: this dataset has {self.n_tasks} tasks {self.env_ids}")
            return int(task)
        try:
            env_id = get_spec(str(task)).env_id
        except UnknownEnvError:
            env_id = None
        if env_id not in self.env_ids:
            raise ConfigError(f"no task {task!r} in this merged dataset; its tasks are {', '.join(self.env_ids)}")
        hits = [t for t, e in enumerate(self.env_ids) if e == env_id]
        if len(hits) > 1:
            raise ConfigError(f"{env_id} has {len(hits)} tasks in this merged dataset (one per normalisation): "
                              f"pass the task index, one of {hits}")
        return hits[0]

    @property
    def source_ids(self) -> np.ndarray:
        """(N,) int32: the source each pair comes from."""
        out = np.empty(self.size, np.int32)
        for k, src in enumerate(self.sources):
            out[src["rows"][0] : src["rows"][1]] = k
        return out

    def source_label(self, k: int) -> str:
        """Source ``k``'s name; where two sources share it, the stem of the file it was merged
        from, else ``name#k``."""
        src = self.sources[k]
        name = str(src.get("name") or f"source {k}")
        if [str(s.get("name")) for s in self.sources].count(name) == 1:
            return name
        stem = Path(str(src.get("given") or "")).stem if _looks_like_path(str(src.get("given") or "")) else ""
        stems = [Path(str(s.get("given") or "")).stem for s in self.sources]
        return stem if stem and stems.count(stem) == 1 else f"{name}#{k}"

    # -- the sources back ---------------------------------------------------------------
    def source_dataset(self, k: int) -> SyntheticDataset:
        """Source ``k`` exactly as it was merged (unpadded, with its own recipe and metadata)."""
        src = self.sources[k]
        start, stop = src["rows"]
        t = src["task"]
        spec = self.task_spec(t)
        tensors = {"states": self.states[start:stop, : spec.obs_dim].reshape((stop - start, *spec.obs_shape))}
        tensors["labels" if spec.discrete else "actions"] = self.targets[start:stop, : spec.action_dim]
        meta = src["metadata"]
        if meta["obs_norm"]["kind"] == "const":
            tensors["obs_mean"] = self.obs_mean[t, : spec.obs_dim].reshape(spec.obs_shape)
            tensors["obs_var"] = self.obs_var[t, : spec.obs_dim].reshape(spec.obs_shape)
        where = f"{self._where()} (source {k}: {src.get('name')})"
        return SyntheticDataset.from_parts({k_: np.ascontiguousarray(v) for k_, v in tensors.items()}, meta, source=where)

    def task_dataset(self, task: int | str) -> SyntheticDataset:
        """All pairs of one task as a single-task dataset (the metadata of its first source)."""
        t = self.task_index(task)
        parts = [self.source_dataset(k) for k in self.task_info[t]["sources"]]
        if len(parts) == 1:
            return parts[0]
        first = parts[0]
        extra = {f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(first)
                 if f.name in ("states", "actions", "labels") and getattr(first, f.name) is not None}
        return first.replace(**extra, name=" + ".join(_label(p) for p in parts), recorded_return=None)

    # -- data views (hades_zoo.views) ---------------------------------------------------------
    def to_numpy(self) -> dict[str, np.ndarray]:
        """Per pair: ``states``, ``targets``, ``obs_mask``, ``action_mask``, ``task``, ``source``."""
        return views.columns(self.states, self.targets, self.obs_mask, self.action_mask, self.task_ids, self.source_ids)

    def to_torch(self):
        """A ``torch.utils.data.Dataset`` of the pairs (torch: an optional extra)."""
        return views.to_torch(self.to_numpy())

    def to_hf_dataset(self):
        """A ``datasets.Dataset``: the columns plus each row's ``env`` and ``source_name``."""
        return views.to_hf_dataset(self.to_numpy(), self.env_ids, [self.source_label(k) for k in range(len(self.sources))])

    # -- io ---------------------------------------------------------------------------
    def tensors(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in _TENSORS}

    @property
    def metadata(self) -> dict[str, Any]:
        return {"kind": KIND, "name": self.name, "size": str(self.size),
                "tasks": json.dumps(list(self.task_info), sort_keys=True),
                "sources": json.dumps(list(self.sources), sort_keys=True)}

    def save(self, path: str | os.PathLike) -> str:
        """Write atomically; returns the sha256 of the file written."""
        return fmt.write(path, self.tensors(), self.metadata)

    @classmethod
    def load(cls, path: str | os.PathLike) -> MultiTaskDataset:
        """Read, verify (sha256, format version) and validate a merged file."""
        tensors, meta = fmt.read(path)
        if meta.get("kind") != KIND:
            raise IncompatibleDatasetError(
                f"{path}: a single-task dataset, not a merged one; merge it with others first "
                f"(hades-zoo merge A B -o merged.safetensors)")
        missing = [k for k in _TENSORS if k not in tensors] + [k for k in ("tasks", "sources") if k not in meta]
        if missing:
            raise IncompatibleDatasetError(f"{path}: merged file lacks {missing}; write it again with hades-zoo merge")
        try:
            task_info, sources = json.loads(meta["tasks"]), json.loads(meta["sources"])
        except json.JSONDecodeError:
            raise CorruptDatasetError(f"{path}: metadata 'tasks'/'sources' is not valid JSON; write the file again with hades-zoo merge") from None
        schema.validate(schema.MergedMeta, {"tasks": task_info, "sources": sources}, str(path),
                        "write the file again with hades-zoo merge", label="metadata field")
        ds = cls(**{k: tensors[k] for k in _TENSORS}, task_info=task_info, sources=sources,
                 name=meta.get("name"), source=str(path))
        if meta.get("size") not in (None, str(ds.size)):
            raise IncompatibleDatasetError(f"{path}: metadata says {meta['size']} pairs but the file holds {ds.size}")
        return ds

    # -- validation -------------------------------------------------------------------
    def _where(self) -> str:
        return self.source or self.name or "merged dataset"

    def _fail(self, msg: str):
        raise IncompatibleDatasetError(f"{self._where()}: {msg}")

    def _validate(self) -> None:
        T = self.n_tasks
        if T < 1 or not self.sources:
            self._fail("a merged dataset needs at least one task and one source")
        N, O = self.states.shape if self.states.ndim == 2 else self._fail("states must be (N, O)")
        A = self.targets.shape[1] if self.targets.ndim == 2 else self._fail("targets must be (N, A)")
        shapes = {"states": (N, O), "targets": (N, A), "tasks": (N, T), "obs_mask": (N, O), "action_mask": (N, A),
                  "obs_mean": (T, O), "obs_var": (T, O)}
        for k, shape in shapes.items():
            arr = getattr(self, k)
            if arr.dtype != np.float32 or tuple(arr.shape) != shape:
                self._fail(f"{k} must be float32 of shape {shape}, got {arr.dtype} {tuple(arr.shape)}")
            if not np.all(np.isfinite(arr)):
                self._fail(f"{k} contains NaN/inf values; the dataset is unusable")
        if not np.all((self.tasks == 0) | (self.tasks == 1)) or not np.all(self.tasks.sum(1) == 1):
            self._fail("tasks must hold one one-hot row per pair")
        try:
            specs = [get_spec(t["env_id"]) for t in self.task_info]
        except (UnknownEnvError, KeyError, TypeError) as e:
            self._fail(f"bad task entry ({e})")
        ids = self.task_ids
        obs_dims = np.array([s.obs_dim for s in specs])
        act_dims = np.array([s.action_dim for s in specs])
        want_obs = (np.arange(O)[None, :] < obs_dims[ids][:, None]).astype(np.float32)
        want_act = (np.arange(A)[None, :] < act_dims[ids][:, None]).astype(np.float32)
        if not (np.array_equal(self.obs_mask, want_obs) and np.array_equal(self.action_mask, want_act)):
            self._fail("obs_mask/action_mask do not match the tasks' observation and action sizes")
        if np.any(self.states * (1 - want_obs)) or np.any(self.targets * (1 - want_act)):
            self._fail("padding entries of states/targets must be zero")
        if O != obs_dims.max() or A != act_dims.max():
            self._fail(f"padded sizes ({O}, {A}) are not the largest task sizes ({obs_dims.max()}, {act_dims.max()})")
        covered = np.zeros(N, bool)
        for k, src in enumerate(self.sources):
            start, stop = src["rows"]
            if not (0 <= start < stop <= N) or covered[start:stop].any() or np.any(ids[start:stop] != src["task"]):
                self._fail(f"source {k} ({src.get('name')}) has bad rows {src['rows']}")
            covered[start:stop] = True
            if k not in self.task_info[src["task"]]["sources"]:
                self._fail(f"source {k} is missing from the source list of task {src['task']}")
            rebuilt = self.source_dataset(k)  # validates shapes, labels, stats like any dataset
            if fmt.payload_sha256(rebuilt.tensors()) != src["sha256"]:
                self._fail(f"pairs of source {k} ({src.get('name')}) do not match its recorded sha256 {src['sha256'][:12]}…; "
                           "the file was altered, merge the sources again")
        if not covered.all():
            self._fail("some pairs belong to no source")
