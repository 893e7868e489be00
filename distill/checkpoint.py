"""Atomic checkpoints of a run (safetensors, never pickle).

The ES state's leaves are stored under their index in ``jax.tree.leaves`` order;
restoring fills a freshly built state of the same run, so a file from another
config (different leaf count, shapes or dtypes) is refused rather than misread.
The metadata carries ``sha256``, the payload hash of the dataset format
(``hades_zoo.format.payload_sha256``), verified on load: a flipped bit is refused,
never resumed. (Checkpoints written before the hash existed load unverified.)
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as st_load

from hades_zoo.errors import ConfigError, CorruptDatasetError
from hades_zoo.format import atomic_write, payload_sha256, read_header, safetensors_bytes

CHECKPOINT = "checkpoint.safetensors"


def save(run_dir: Path, key, state, generation: int, extra: dict) -> None:
    tensors = {f"leaf_{i:04d}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(state))}
    tensors["key"] = np.asarray(jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else key)
    meta = {"generation": str(generation), "extra": json.dumps(extra, sort_keys=True), "sha256": payload_sha256(tensors)}
    atomic_write(run_dir / CHECKPOINT, safetensors_bytes(tensors, meta))


def load(run_dir: Path, template_state):
    """``(key, state, generation, extra)`` from ``run_dir``, shaped like ``template_state``."""
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise ConfigError(f"{run_dir}: no {CHECKPOINT}; the run never reached its first checkpoint, start it again with `distill run`")
    data = path.read_bytes()
    try:
        tensors = st_load(data)
        header = read_header(data, path)
    except (SafetensorError, ValueError) as e:  # CorruptDatasetError from read_header is a ValueError
        raise CorruptDatasetError(f"{path}: checkpoint is unreadable ({e}); delete the run directory and start again") from None
    meta = header.get("__metadata__") or {}
    if "sha256" in meta and meta["sha256"] != payload_sha256(tensors):
        raise CorruptDatasetError(f"{path}: checkpoint fails its sha256 (the file was damaged after it was written); "
                                  "it cannot be resumed: restore it from a copy, or start the run again")
    try:
        generation, extra = int(meta["generation"]), json.loads(meta["extra"])
        if not (meta["generation"].isascii() and isinstance(extra, dict)):
            raise ValueError
    except (KeyError, ValueError):
        raise CorruptDatasetError(f"{path}: checkpoint metadata is damaged; start the run again") from None
    leaves, treedef = jax.tree.flatten(template_state)
    names = {f"leaf_{i:04d}" for i in range(len(leaves))} | {"key"}
    if set(tensors) != names:
        raise ConfigError(f"{path}: checkpoint has {len(tensors) - 1} state arrays, this config needs {len(leaves)}")
    restored = []
    for i, leaf in enumerate(leaves):
        arr = tensors[f"leaf_{i:04d}"]
        if arr.shape != np.shape(leaf) or arr.dtype != np.asarray(leaf).dtype:
            raise ConfigError(f"{path}: state array {i} is {arr.dtype}{arr.shape}, expected {np.asarray(leaf).dtype}{np.shape(leaf)}")
        restored.append(jax.numpy.asarray(arr))
    return jax.numpy.asarray(tensors["key"]), jax.tree.unflatten(treedef, restored), generation, extra
