"""Data views for other frameworks: numpy arrays, a ``torch`` Dataset, a ``datasets.Dataset``.

One row per pair, the same columns for a merged multi-task dataset and for a single
dataset (one task, one source), so that a training loop written for one reads the other:

  ``states``       (O,) float32  the pair's state in its source's normalised space, flattened
                                 (merged: zero-padded to the largest observation)
  ``targets``      (A,) float32  continuous action, or the discrete label row
  ``obs_mask``, ``action_mask``  1 on the pair's own dims
  ``task``, ``source``   int     task id (one env view) and source index
  ``env``, ``source_name`` str   (``datasets`` only) the env id and the source's label

``torch`` is an optional extra (``pip install hades-zoo[torch]``): only ``to_torch`` needs
it, and says so in one error line if it is missing.
"""

from __future__ import annotations

import numpy as np

from hades_zoo.errors import ConfigError

COLUMNS = ("states", "targets", "obs_mask", "action_mask", "task", "source")


def columns(states, targets, obs_mask, action_mask, task, source) -> dict[str, np.ndarray]:
    """The numpy view: every column as one array with the pairs on axis 0."""
    n = len(states)
    out = {"states": np.asarray(states, np.float32).reshape(n, -1), "targets": np.asarray(targets, np.float32).reshape(n, -1),
           "obs_mask": np.asarray(obs_mask, np.float32).reshape(n, -1),
           "action_mask": np.asarray(action_mask, np.float32).reshape(n, -1),
           "task": np.asarray(task, np.int64).reshape(n), "source": np.asarray(source, np.int64).reshape(n)}
    return out


def single_columns(ds) -> dict[str, np.ndarray]:
    """The numpy view of a single ``SyntheticDataset`` (task 0, source 0)."""
    n = ds.size
    targets = np.asarray(ds.targets, np.float32).reshape(n, -1)
    states = np.asarray(ds.states, np.float32).reshape(n, -1)
    zeros = np.zeros(n, np.int64)
    return columns(states, targets, np.ones_like(states), np.ones_like(targets), zeros, zeros)


def to_torch(cols: dict[str, np.ndarray]):
    """A ``torch.utils.data.Dataset`` over ``cols``: item ``i`` is a dict of tensors; the whole
    columns are ``.tensors``. Wrap it in a ``DataLoader`` for minibatches."""
    try:
        import torch  # optional extra: only this view needs it
    except ImportError:
        raise ConfigError("to_torch needs PyTorch, an optional extra: pip install 'hades-zoo[torch]' (or pip install torch)") from None

    class PairDataset(torch.utils.data.Dataset):
        """The pairs as tensors: ``len()`` pairs, item ``i`` a dict of the columns' row ``i``."""

        def __init__(self, tensors):
            self.tensors = tensors

        def __len__(self):
            return len(self.tensors["states"])

        def __getitem__(self, i):
            return {k: v[i] for k, v in self.tensors.items()}

    return PairDataset({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in cols.items()})


def to_hf_dataset(cols: dict[str, np.ndarray], env_ids, source_names):
    """A ``datasets.Dataset`` with the columns plus, per row, its ``env`` id and ``source_name``
    (``env_ids`` per task, ``source_names`` per source)."""
    import datasets  # heavy (pyarrow, pandas): only this view reads it

    data = {k: list(v) if v.ndim > 1 else v for k, v in cols.items()}
    data["env"] = [env_ids[t] for t in cols["task"]]
    data["source_name"] = [source_names[s] for s in cols["source"]]
    return datasets.Dataset.from_dict(data).with_format("numpy")
