"""Image classification: the real data, a classifier's test accuracy, image grids.

A HaDES image dataset is a ``SyntheticDataset`` with ``task="image-classification"``:
``states`` (D, H, W, C) synthetic images in normalised pixel space, ``labels``
(D, n_classes) target distributions, ``obs_mean``/``obs_var`` the pixel
normalisation (pixels scaled to [0, 1], then standardised with the mean and
variance of the real train split, one scalar broadcast to the image shape); its
``env_id`` is the image dataset id (stored as ``dataset_id``). Training a
classifier on it is behaviour cloning with the cross-entropy loss (the client's
own ``hades_zoo.train``); ``evaluate`` reports the accuracy on the real test split.

Real data (``load_splits``), fixed splits (the test split is never seen by distillation):
  ``digits``         scikit-learn's bundled 8x8 digits (1797 images, pixels 0..16), split by
                     index: test = ``i % 5 == 0`` (360), train = ``i % 5 == 1`` (360: the real
                     images a synthetic set starts from, the baseline's draws, the pixel
                     statistics), held-out = the other 1077 (the distillation fitness: the
                     largest split, as the search overfits a small one)
  ``mnist``          ``datasets.load_dataset("ylecun/mnist")`` (28x28, pixels 0..255): the
                     published test split; held-out = every 6th train image (10 000), train = the rest
  ``fashion-mnist``  ``datasets.load_dataset("zalando-datasets/fashion_mnist")``, same layout
The ``datasets`` sources honour the Hugging Face cache (``HF_HOME``) and offline mode
(``HF_HUB_OFFLINE=1``); ``data_path`` reads a local copy (a folder of parquet files
with ``image`` and ``label`` columns, train and test splits) instead.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path

import numpy as np

from hades_zoo.errors import ConfigError, DatasetNotCachedError, MissingDependencyError, UnknownEnvError, close_matches
from hades_zoo.recipe import EvalResult, ObsNorm, Recipe, default_recipe

TASK = "image-classification"
SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class ImageSpec:
    """What a dataset for this image task must look like. Named like ``EnvSpec``
    (``env_id``, ``obs_shape``, ``action_dim`` = classes, ``discrete``) so the client's
    training code serves both tasks unchanged."""

    env_id: str  # the image dataset id
    source: str  # "sklearn" | "hf"
    obs_shape: tuple[int, ...]
    action_dim: int
    pixel_max: float
    hf_path: str | None = None
    classes: tuple[str, ...] = ()
    family: str = "image"
    discrete: bool = True
    minatar: bool = False
    episode_length: int = 0

    @property
    def slug(self) -> str:
        return self.env_id

    @property
    def obs_dim(self) -> int:
        return int(np.prod(self.obs_shape))

    @property
    def n_classes(self) -> int:
        return self.action_dim

    @property
    def backend(self) -> str:
        return "scikit-learn" if self.source == "sklearn" else "hf-datasets"



_DIGITS = tuple(str(i) for i in range(10))
_FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
IMAGE_DATASETS = {
    s.env_id: s
    for s in [
        ImageSpec("digits", "sklearn", (8, 8, 1), 10, 16.0, classes=_DIGITS),
        ImageSpec("mnist", "hf", (28, 28, 1), 10, 255.0, "ylecun/mnist", _DIGITS),
        ImageSpec("fashion-mnist", "hf", (28, 28, 1), 10, 255.0, "zalando-datasets/fashion_mnist", _FASHION),
    ]
}


def get_image_spec(name: str) -> ImageSpec:
    """Look an image dataset up by id (``digits``, ``mnist``, ``fashion-mnist``/``fashion_mnist``)."""
    key = str(name).strip().lower().replace("_", "-")
    if key in IMAGE_DATASETS:
        return IMAGE_DATASETS[key]
    raise UnknownEnvError(f"unknown image dataset {name!r}.{close_matches(key, IMAGE_DATASETS)} "
                          f"Supported: {', '.join(IMAGE_DATASETS)}.")


@dataclasses.dataclass(frozen=True)
class ImageProtocol:
    """How an image dataset is scored: accuracy on a split of the real data."""

    name: str = "test-accuracy"
    split: str = "test"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def get_image_protocol(protocol) -> ImageProtocol:
    """``None``/``paper``/``test``/``test-accuracy`` -> the real test split; ``val`` -> the held-out split."""
    if isinstance(protocol, ImageProtocol):
        return protocol
    if isinstance(protocol, dict):
        protocol = protocol.get("split", protocol.get("name"))
    name = {None: "test", "paper": "test", "test-accuracy": "test", "val-accuracy": "val", "held-out": "val"}.get(protocol, protocol)
    if name not in ("test", "val"):
        raise ConfigError(f"unknown protocol {protocol!r} for an image dataset; use test (the real test split, default) or val")
    return ImageProtocol(f"{name}-accuracy", name)


# -- the real data ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class Splits:
    """Real images (N, H, W, C) float32 in [0, 1] and int32 labels, per split."""

    spec: ImageSpec
    x: dict
    y: dict
    source: str

    def __getitem__(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
        return self.x[split], self.y[split]

    def pixel_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """The normalisation every image of the task goes through: the train split's
        pixel mean and variance, broadcast to the image shape."""
        x = self.x["train"]
        shape = self.spec.obs_shape
        return np.full(shape, x.mean(), np.float32), np.full(shape, x.var(), np.float32)


def load_splits(dataset: str, data_path: str | None = None) -> Splits:
    """The fixed train / held-out ("val") / test splits of an image dataset (cached per process).

    Raises:
        UnknownEnvError: not a supported image dataset.
        MissingDependencyError: scikit-learn or datasets is not installed.
        DatasetNotCachedError: offline (or the hub unreachable) and not in the HF cache.
        ConfigError: ``data_path`` does not hold a usable dataset.
    """
    spec = get_image_spec(dataset)
    return _load_splits(spec.env_id, os.fspath(data_path) if data_path else None)


@functools.lru_cache(maxsize=4)
def _load_splits(dataset: str, data_path: str | None) -> Splits:
    spec = IMAGE_DATASETS[dataset]
    if spec.source == "sklearn" and data_path is None:
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise MissingDependencyError("the digits dataset ships with scikit-learn: pip install scikit-learn") from None
        raw = load_digits()
        images, labels = raw.images, raw.target
        idx = np.arange(len(images)) % 5
        parts = {"test": idx == 0, "train": idx == 1, "val": idx >= 2}
        x = {k: _pixels(images[m], spec) for k, m in parts.items()}
        y = {k: labels[m].astype(np.int32) for k, m in parts.items()}
        return Splits(spec, x, y, "sklearn.datasets.load_digits")
    path = data_path or spec.hf_path
    (x_train, y_train), (x_test, y_test) = _read_hf(spec, path)
    held = np.arange(len(x_train)) % 6 == 0
    x = {"train": _pixels(x_train[~held], spec), "val": _pixels(x_train[held], spec), "test": _pixels(x_test, spec)}
    y = {"train": y_train[~held], "val": y_train[held], "test": y_test}
    return Splits(spec, x, y, f"datasets.load_dataset({path!r})")


def source_versions(spec: ImageSpec) -> dict:
    """The version of the library the real images come from (recorded in a dataset)."""
    from importlib.metadata import PackageNotFoundError, version

    package = "scikit-learn" if spec.source == "sklearn" else "datasets"
    try:
        return {package: version(package)}
    except PackageNotFoundError:
        return {}


def _pixels(images: np.ndarray, spec: ImageSpec) -> np.ndarray:
    return (np.asarray(images, np.float32) / spec.pixel_max).reshape((-1, *spec.obs_shape))


def _read_hf(spec: ImageSpec, path: str):
    try:
        import datasets
    except ImportError:
        raise MissingDependencyError(f"{spec.env_id} is read with the datasets library: pip install datasets") from None
    where = f"{spec.env_id} ({path})"
    try:
        dd = datasets.load_dataset(path)
    except ConnectionError as e:
        raise DatasetNotCachedError(
            f"{where}: not in the Hugging Face cache ({os.environ.get('HF_HOME', '~/.cache/huggingface')}) and the hub "
            f"cannot be reached ({e}); run once online (unset HF_HUB_OFFLINE) or set data_path to a local copy") from None
    except (FileNotFoundError, ValueError) as e:
        raise ConfigError(f"{where}: datasets.load_dataset cannot read it ({type(e).__name__}: {e}); check the id or "
                          f"data_path (a folder of parquet files with image and label columns)") from None
    missing = [s for s in ("train", "test") if s not in dd]
    if missing:
        raise ConfigError(f"{where}: no {' and no '.join(missing)} split (found {', '.join(dd)}); the image task needs both")
    out = []
    for split in ("train", "test"):
        part = dd[split]
        image_col = next((c for c in ("image", "img") if c in part.column_names), None)
        if image_col is None or "label" not in part.column_names:
            raise ConfigError(f"{where}: split {split} needs 'image' and 'label' columns, has {part.column_names}")
        cols = part.with_format("numpy")
        x, y = np.asarray(cols[image_col]), np.asarray(cols["label"]).astype(np.int32)
        if x.ndim == 3:
            x = x[..., None]
        if tuple(x.shape[1:]) != spec.obs_shape:
            raise ConfigError(f"{where}: split {split} holds images of shape {tuple(x.shape[1:])}, {spec.env_id} has {spec.obs_shape}")
        if y.size and (y.min() < 0 or y.max() >= spec.n_classes):
            raise ConfigError(f"{where}: split {split} has labels outside 0..{spec.n_classes - 1}")
        out.append((x, y))
    return out


# -- classifiers trained on a dataset ------------------------------------------------------------
@functools.lru_cache(maxsize=16)
def _batched_logits(policy):
    import jax

    return jax.jit(jax.vmap(policy, in_axes=(0, None)))


def accuracies(trained, split: str = "test", *, batch: int = 2048) -> np.ndarray:
    """Accuracy of every trained seed on a split of the real data (normalised with the dataset's stats)."""
    import jax.numpy as jnp

    ds = trained.dataset
    x, y = load_splits(ds.env_id, ds.extra.get("data_path"))[split]
    fn = _batched_logits(trained.policy)
    correct = np.zeros(trained.num_seeds)
    for start in range(0, len(x), batch):
        logits = fn(trained.params, trained.normalize(x[start : start + batch]))
        correct += np.asarray(jnp.sum(jnp.argmax(logits, -1) == y[start : start + batch], axis=-1))
    return correct / len(x)


def evaluate(trained, protocol=None):
    """``hades_zoo.evaluate`` for image datasets: one real-split accuracy per seed."""
    proto = get_image_protocol(trained.dataset.protocol if protocol is None else protocol)
    accs = accuracies(trained, proto.split)
    return EvalResult(trained.dataset.env_id, proto.name, [float(a) for a in accs])


def random_real(dataset: str, per_class: int, seed: int = 0, *, data_path: str | None = None, recipe: Recipe | None = None):
    """The baseline: ``per_class`` random real train images of each class, as a dataset."""
    from hades_zoo.dataset import SyntheticDataset
    from hades_zoo.ids import format_id

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
    return SyntheticDataset(states=states, labels=labels, env_id=spec.env_id, task=TASK, method="random-real",
                            recipe=recipe or default_recipe(spec), protocol=ImageProtocol(), obs_norm="const", obs_mean=mean,
                            obs_var=var, name=format_id(spec.slug, "random-real", per_class, unit="ipc"),
                            provenance={"train_indices": idx.tolist(), "seed": seed, "source": splits.source},
                            extra={"data_path": data_path} if data_path else {})


# -- pictures ------------------------------------------------------------------------------------
def image_grid_png(dataset, path, *, cell_inches: float = 0.8):
    """Write the dataset's images as a PNG grid (one column per class, its label above
    each image: the class, and the target probability when the label is soft) to
    ``path`` (a path, or a binary file object such as ``io.BytesIO()``); returns ``path``.

    Pixels are shown de-normalised (the real [0, 1] scale), on one grey scale spanning
    [0, 1] and whatever the synthetic images reach beyond it.
    """
    if getattr(dataset, "task", "rl") != TASK:
        raise ConfigError(f"{dataset.name or 'dataset'} is not an image dataset; an image grid needs task {TASK!r}")
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    spec = dataset.spec
    images = dataset.states.astype(np.float64)
    if dataset.obs_norm == "const":
        images = dataset.norm.denormalize(images, dataset.norm.init_state(spec.obs_shape, dataset.obs_mean, dataset.obs_var))
    classes = dataset.labels.argmax(1)
    ncols = spec.n_classes
    rows_per_class = np.bincount(classes, minlength=ncols)
    nrows = max(int(rows_per_class.max()), 1)
    lo, hi = min(0.0, float(images.min())), max(1.0, float(images.max()))
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell_inches * ncols, (cell_inches + 0.25) * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    filled = np.zeros(ncols, int)
    names = spec.classes or tuple(str(i) for i in range(ncols))
    for img, c, label in zip(images, classes, dataset.labels):
        ax = axes[filled[c], c]
        filled[c] += 1
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else np.clip(img, 0, 1), cmap="gray", vmin=lo, vmax=hi,
                  interpolation="nearest")
        ax.set_title(names[c] if label.max() > 0.999 else f"{names[c]} {label.max():.2f}", fontsize=7)
    fig.suptitle(f"{dataset.name or dataset.env_id}: {dataset.size} images", fontsize=8)
    fig.tight_layout()
    if isinstance(path, (str, os.PathLike)):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path


__all__ = ["TASK", "ImageSpec", "IMAGE_DATASETS", "get_image_spec", "ImageProtocol", "get_image_protocol", "Splits",
           "load_splits", "accuracies", "evaluate", "random_real", "image_grid_png"]
