"""``merge``: several single-task datasets (objects, names, paths or merged files) into one
``MultiTaskDataset`` (``hades_zoo.multitask.dataset`` holds the format), and ``load_merged``.

One task per env *view*: sources of one env with the same normalisation share a task,
another normalisation gets a task of its own. Provenance (name, revision, sha256 of the
tensors and of the file, location) is recorded per source.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hades_zoo import format as fmt
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import ConfigError, CorruptDatasetError, IncompatibleDatasetError
from hades_zoo.multitask.dataset import KIND, MultiTaskDataset, _label, _norm_stats
from hades_zoo.sources import _looks_like_path, bundled_origin, load


def _file_format(path: Path) -> str | None:
    """The ``format`` metadata of a safetensors file, read from its header only."""
    try:
        return (fmt.read_header(path).get("__metadata__") or {}).get("format")
    except (OSError, CorruptDatasetError):
        return None  # fmt.read reports it precisely


def _provenance(ds: SyntheticDataset, given) -> dict:
    """name, revision, sha256 (of the tensors, as in the file's own metadata), file sha256, location.

    A location names no directory of the machine that merged: a bundled file is ``hades_zoo/zoo/<file>``, a
    local one its file name (its ``file_sha256`` identifies it), so two merges of the same sources are the
    same bytes on any checkout and a shared merged file shows nobody's paths."""
    name, revision, file_sha, location = ds.name, None, None, ds.source
    if (origin := bundled_origin(ds)) is not None:
        _, revision, entry = origin
        file_sha, location = entry["sha256"], f"hades_zoo/zoo/{entry['file']}"
    elif ds.source and os.path.isfile(ds.source):
        file_sha, location = fmt.file_sha256(ds.source), os.path.basename(ds.source)
    if isinstance(given, (str, os.PathLike)):
        given = os.path.basename(os.fspath(given)) if os.path.isfile(os.fspath(given)) else str(given)
    else:
        given = None
    return {"name": name, "revision": revision, "sha256": fmt.payload_sha256(ds.tensors()),
            "file_sha256": file_sha, "location": location, "given": given}


def _expand(items) -> list[tuple[SyntheticDataset, dict]]:
    """(dataset, provenance) of every source, loading names/paths and flattening merged inputs."""
    paths = [Path(os.fspath(x)) for x in items if isinstance(x, (str, os.PathLike)) and _looks_like_path(os.fspath(x))]
    versions = {str(p): _file_format(p) for p in paths if p.is_file()}
    if len(set(versions.values())) > 1:
        listing = ", ".join(f"{p} is {v or 'not hades-zoo'}" for p, v in versions.items())
        raise IncompatibleDatasetError(
            f"cannot merge files of different format versions ({listing}); re-export each with this hades-zoo "
            f"(format {fmt.FORMAT_VERSION!r}: hades-zoo import-legacy or distill) before merging")
    out = []
    for x in items:
        if isinstance(x, MultiTaskDataset):
            out += [(x.source_dataset(k), {key: v for key, v in s.items() if key not in ("task", "rows", "metadata")})
                    for k, s in enumerate(x.sources)]
            continue
        if isinstance(x, (str, os.PathLike)):
            text = os.fspath(x)
            if _looks_like_path(text) and Path(text).is_file() and _is_merged_file(Path(text)):
                out += _expand([MultiTaskDataset.load(text)])
                continue
            ds = load(text)
        elif isinstance(x, SyntheticDataset):
            ds = x
        else:
            raise ConfigError(f"merge takes datasets, names or paths, got {type(x).__name__}")
        if not ds.kind.acts_in_env:
            raise ConfigError(f"{_label(ds)} is a {ds.task} dataset; merge combines RL datasets (one task per env) only")
        out.append((ds, _provenance(ds, x)))
    return out


def _is_merged_file(path: Path) -> bool:
    try:
        return (fmt.read_header(path).get("__metadata__") or {}).get("kind") == KIND
    except (OSError, CorruptDatasetError):
        return False


def _pad(x: np.ndarray, n: int) -> np.ndarray:
    """(D, ...) -> (D, n) float32: flattened, zero-padded on the right."""
    flat = x.reshape(x.shape[0], -1).astype(np.float32)
    return np.pad(flat, ((0, 0), (0, n - flat.shape[1])))


def _view(ds: SyntheticDataset) -> tuple:
    """What makes two sources one task: the env and the space its states live in."""
    m, v = _norm_stats(ds)
    return ds.env_id, ds.obs_norm, m.tobytes(), v.tobytes()


def merge(datasets: Sequence, name: str | None = None) -> MultiTaskDataset:
    """Merge single-task datasets (objects, catalog names, paths, or merged datasets) into one.

    Args:
        datasets: two or more sources. Sources of the same env become one task and
            must normalise observations the same way (kind and constant stats).
        name: *optional*, defaults to the source names joined by ``+``.

    Returns:
        A ``MultiTaskDataset``; ``.save(path)`` writes it, ``load_merged(path)`` reads it.
        Sources of one env normalised differently become separate tasks (input views).

    Raises:
        ConfigError: fewer than two sources, or a source given twice.
        IncompatibleDatasetError: files of different format versions.

    Example:
        >>> merged = hades_zoo.merge(["cartpole-hades-r-4", "acrobot-hades-r-4"])
        >>> merged.env_ids
        ['CartPole-v1', 'Acrobot-v1']
    """
    if isinstance(datasets, (str, os.PathLike, SyntheticDataset, MultiTaskDataset)):
        datasets = [datasets]
    items = _expand(list(datasets))
    if len(items) < 2:
        raise ConfigError(f"merge needs at least two datasets, got {len(items)}; pass two or more names or paths")
    seen: dict[tuple, str] = {}
    task_of: dict[tuple, int] = {}
    task_info: list[dict] = []
    for ds, prov in items:
        same = (prov["sha256"], ds.method, json.dumps(ds.recipe.to_dict(), sort_keys=True))  # Freeway R and F: same
        if same in seen:  # pairs (the search never left its start), other recipes: two datasets
            raise ConfigError(f"{_label(ds)} is given twice (same pairs and recipe as {seen[same]}); pass each dataset once")
        seen[same] = _label(ds)
        if _view(ds) not in task_of:  # one env, one normalisation: one task (its states' space)
            task_of[_view(ds)] = len(task_info)
            task_info.append({"env_id": ds.env_id, "obs_norm": ds.obs_norm, "protocol": ds.protocol.to_dict(),
                              "sources": [], "_first": ds})
    O = max(ds.spec.obs_dim for ds, _ in items)
    A = max(ds.spec.action_dim for ds, _ in items)
    T = len(task_info)
    cols: dict[str, list] = {k: [] for k in ("states", "targets", "tasks", "obs_mask", "action_mask")}
    sources, row = [], 0
    for k, (ds, prov) in enumerate(items):
        t, spec, D = task_of[_view(ds)], ds.spec, ds.size
        cols["states"].append(_pad(ds.states, O))
        cols["targets"].append(_pad(ds.targets, A))
        cols["tasks"].append(np.repeat(np.eye(T, dtype=np.float32)[t][None], D, 0))
        cols["obs_mask"].append(_pad(np.ones((D, spec.obs_dim), np.float32), O))
        cols["action_mask"].append(_pad(np.ones((D, spec.action_dim), np.float32), A))
        sources.append({**prov, "task": t, "rows": [row, row + D], "metadata": ds.metadata})
        task_info[t]["sources"].append(k)
        row += D
    obs_mean, obs_var = np.zeros((T, O), np.float32), np.ones((T, O), np.float32)
    for t, info in enumerate(task_info):
        m, v = _norm_stats(info.pop("_first"))
        obs_mean[t, : m.size], obs_var[t, : v.size] = m, v
    return MultiTaskDataset(
        **{k: np.concatenate(v) for k, v in cols.items()}, obs_mean=obs_mean, obs_var=obs_var,
        task_info=task_info, sources=sources, name=name or " + ".join(_label(ds) for ds, _ in items),
    )


def load_merged(path_or_datasets) -> MultiTaskDataset:
    """A merged dataset from its file, or merged on the fly from a list of sources."""
    if isinstance(path_or_datasets, MultiTaskDataset):
        return path_or_datasets
    if isinstance(path_or_datasets, (list, tuple)):
        return merge(path_or_datasets)
    path = Path(os.fspath(path_or_datasets))
    if not path.is_file():
        raise CorruptDatasetError(f"{path}: no such merged dataset file; create one with hades-zoo merge A B -o {path}")
    return MultiTaskDataset.load(path)
