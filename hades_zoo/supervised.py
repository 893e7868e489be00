"""The image task's baseline: random real images as a dataset (method ``random-real``).

The image task itself (specs, real splits, protocols, a classifier's accuracy) is
``hades_zoo.tasks.image``; its picture is ``hades_zoo.hub.figures.image_grid_png``.
"""

from __future__ import annotations

import numpy as np

from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import ConfigError
from hades_zoo.ids import format_id
from hades_zoo.recipe import IMAGE_RECIPE, ObsNorm, Recipe
from hades_zoo.tasks.image import KIND, ImageProtocol, load_splits


def random_real(dataset: str, per_class: int, seed: int = 0, *, data_path: str | None = None, recipe: Recipe | None = None):
    """The baseline: ``per_class`` random real train images of each class, as a dataset."""
    splits = load_splits(dataset, data_path)
    spec = splits.spec
    x, y = splits["train"]
    fewest = int(np.bincount(y, minlength=spec.n_classes).min())
    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or not 1 <= per_class <= fewest:
        raise ConfigError(f"{spec.env_id}: images per class must be a whole number from 1 to {fewest} (the fewest "
                          f"train images of a class), got {per_class!r}")
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in range(spec.n_classes)])
    mean, var = splits.pixel_stats()
    norm = ObsNorm("const")
    states = norm.normalize(x[idx], norm.init_state(spec.obs_shape, mean, var)).astype(np.float32)
    labels = np.eye(spec.n_classes, dtype=np.float32)[y[idx]]
    return SyntheticDataset(states=states, labels=labels, env_id=spec.env_id, task=KIND, method="random-real",
                            recipe=recipe or IMAGE_RECIPE, protocol=ImageProtocol(), obs_norm="const", obs_mean=mean,
                            obs_var=var, name=format_id(spec.slug, "random-real", per_class, unit="ipc"),
                            provenance={"train_indices": idx.tolist(), "seed": seed, "source": splits.source},
                            extra={"data_path": data_path} if data_path else {})


__all__ = ["random_real"]
