"""A trained policy on disk: one ``.safetensors`` file that acts without its dataset.

``trained.save("policy.safetensors")`` (``save_policy``) / ``hades_zoo.load_policy(path)``
(``hades_zoo.agent``, which builds the ``TrainedPolicy`` from this module's reader). The file is a dataset
file's sibling, written and read by ``hades_zoo.format`` (atomic write, payload sha256, format
version, size bound), so it has the same integrity checks. Tensors:

- ``params/<path>``: each network parameter, the BC seeds stacked on axis 0
  (``params/net/params/Dense_0/kernel``, ``params/log_std``);
- ``norm/mean``, ``norm/var``, ``norm/count``: the observation statistics (a frozen policy's
  per seed), absent for ``none``.

``__metadata__`` (``kind: policy``): ``policy`` (architecture, observation shape, action size,
env, task, dynamics, seeds, the dataset's name/revision/sha256, the measured return, frozen
statistics' origin), ``recipe``, ``protocol``, ``obs_norm`` and ``versions``, checked by
``schema.PolicyMeta``. Only architecture strings can be saved: a custom flax module is code.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version

import jax
import jax.numpy as jnp
import numpy as np

from hades_zoo import format as fmt
from hades_zoo.errors import ConfigError

KIND = "policy"


def _flatten(tree, prefix: str) -> dict[str, np.ndarray]:
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        keys = [str(getattr(p, "key", getattr(p, "idx", p))) for p in path]
        out["/".join([prefix, *keys])] = np.asarray(leaf)
    return out


def unflatten(tensors: dict[str, np.ndarray], prefix: str) -> dict:
    tree: dict = {}
    for name, arr in tensors.items():
        if not name.startswith(prefix + "/"):
            continue
        node = tree
        *parents, leaf = name[len(prefix) + 1:].split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = jnp.asarray(arr)
    return tree


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("hades-zoo", "jax", "jaxlib", "flax"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def save_policy(trained, path: str | os.PathLike) -> str:
    """Write ``trained`` atomically; returns the sha256 of the file written."""
    if not isinstance(trained.arch, str) or trained.arch == "random":
        raise ConfigError(f"only policies of an architecture string can be saved, this one is {trained.arch!r} "
                          "(a custom flax module is code: save its params with flax.serialization instead)")
    tensors = _flatten(trained.params, "params")
    if trained.norm.kind != "none":
        tensors.update({f"norm/{k}": np.asarray(v, np.float32) for k, v in trained.norm_state._asdict().items()})
    info = trained.info
    spec = trained.spec
    policy = {
        "arch": trained.arch, "obs_shape": list(spec.obs_shape), "action_dim": int(trained.policy.action_dim),
        "discrete": bool(trained.policy.discrete), "env_id": trained.env_id, "task": trained.task,
        "dynamics": trained.dynamics, "seeds": [int(s) for s in trained.seeds], "frozen": trained.frozen,
        "dataset": {k: v for k, v in (info.get("dataset") or {}).items() if v is not None},
        "returns": info.get("returns"),
    }
    meta = {"kind": KIND, "name": (info.get("dataset") or {}).get("name"), "policy": policy,
            "recipe": trained.recipe.to_dict(), "protocol": trained.protocol.to_dict(),
            "obs_norm": trained.norm.to_dict(), "versions": {**(info.get("versions") or {}), **_versions()}}
    return fmt.write(path, tensors, meta)
