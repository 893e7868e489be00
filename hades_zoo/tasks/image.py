"""The ``image-classification`` task: image specs, protocols, the real data and a classifier's accuracy.

A HaDES image dataset is a ``SyntheticDataset`` with ``task="image-classification"``:
``states`` (D, H, W, C) synthetic images in normalised pixel space, ``labels``
(D, n_classes) target distributions, ``obs_mean``/``obs_var`` the pixel
normalisation (pixels scaled to [0, 1], then standardised with the mean and
variance of the real train split, one scalar broadcast to the image shape); its
``env_id`` is the image dataset id (stored as ``dataset_id``). Training a
classifier on it is behaviour cloning with the cross-entropy loss (the client's
own ``hades_zoo.train``, ``hades_zoo.bc``); ``evaluate`` reports the accuracy on the real test split.
The random-real baseline is ``hades_zoo.supervised.random_real``; the image grid figure
``hades_zoo.hub.figures.image_grid_png``.

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
from importlib.metadata import PackageNotFoundError, version

import numpy as np

from hades_zoo import format as fmt
from hades_zoo.errors import ConfigError, DatasetNotCachedError, MissingDependencyError, UnknownEnvError, close_matches
from hades_zoo.recipe import IMAGE_RECIPE, EvalResult
from hades_zoo.tasks.base import Task, TaskCard

KIND = "image-classification"
SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class ImageSpec:
    """What a dataset for this image task must look like: the fields the client's training
    code reads of any spec (``env_id``, ``obs_shape``, ``action_dim`` = classes, ``discrete``:
    labels), and where the real images come from."""

    env_id: str  # the image dataset id
    source: str  # "sklearn" | "hf"
    obs_shape: tuple[int, ...]
    action_dim: int
    pixel_max: float
    hf_path: str | None = None
    classes: tuple[str, ...] = ()
    discrete: bool = True  # targets are label distributions

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


def get_image_protocol(protocol, spec=None) -> ImageProtocol:
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
            from sklearn.datasets import load_digits  # heavy (scipy), and only the digits task reads it
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
    package = "scikit-learn" if spec.source == "sklearn" else "datasets"
    try:
        return {package: version(package)}
    except PackageNotFoundError:
        return {}


def _pixels(images: np.ndarray, spec: ImageSpec) -> np.ndarray:
    return (np.asarray(images, np.float32) / spec.pixel_max).reshape((-1, *spec.obs_shape))


def _read_hf(spec: ImageSpec, path: str):
    try:
        import datasets  # heavy (pyarrow, pandas), and only the MNIST-like tasks read it
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
    import jax  # with the classifiers: reading an image dataset's metadata needs no jax

    return jax.jit(jax.vmap(policy, in_axes=(0, None)))


def accuracies(trained, split: str = "test", *, batch: int = 2048) -> np.ndarray:
    """Accuracy of every trained seed on a split of the real data (normalised with the dataset's stats)."""
    import jax.numpy as jnp  # with the classifiers, as in _batched_logits

    ds = trained.dataset
    x, y = load_splits(ds.env_id, ds.extra.get("data_path"))[split]
    fn = _batched_logits(trained.policy)
    correct = np.zeros(trained.num_seeds)
    for start in range(0, len(x), batch):
        logits = fn(trained.params, trained.normalize(x[start : start + batch]))
        correct += np.asarray(jnp.sum(jnp.argmax(logits, -1) == y[start : start + batch], axis=-1))
    return correct / len(x)


def evaluate(trained, env=None, *, protocol=None, seed: int = 0, dynamics=None) -> EvalResult:
    """``hades_zoo.evaluate`` for image datasets: one real-split accuracy per seed (no env,
    no seed, no dynamics involved)."""
    name = (trained.info.get("dataset") or {}).get("name") or trained.env_id
    if env is not None:
        raise ConfigError(f"{name} is an image dataset, scored on its real test split; drop env={env!r}")
    if trained.dataset is None:
        raise ConfigError(f"{name}: a loaded image classifier is scored through its dataset; "
                          "train it again with hades_zoo.train(dataset)")
    proto = get_image_protocol(trained.dataset.protocol if protocol is None else protocol)
    accs = accuracies(trained, proto.split)
    return EvalResult(trained.dataset.env_id, proto.name, [float(a) for a in accs])


def _summary(ds, kind: str, own: dict) -> str:
    spec = ds.spec
    if not own["returns"]:  # not verifiable here: no real test split offline
        return (
            f"{ds.size} synthetic images ({ds.size // spec.n_classes} per class) for `{ds.env_id}` ({spec.backend}), made "
            f"by HaDES dataset distillation with {kind} (Lupu et al., ICLR 2024). Its test accuracy was not measured "
            "for this card (no copy of the real test split where it was published); `hades-zoo train` measures it "
            "where one is present. The file is a `hades-zoo/1` safetensors file read by the `hades-zoo` client.")
    return (
        f"{ds.size} synthetic images ({ds.size // spec.n_classes} per class) for `{ds.env_id}` ({spec.backend}), made "
        f"by HaDES dataset distillation with {kind} (Lupu et al., ICLR 2024): a `{own['arch']}` classifier trained "
        f"from scratch on these {ds.size} images alone reaches a test accuracy of {own['mean']:.4f} ± {own['std']:.4f} "
        f"over {len(own['returns'])} seeds. The file is a `{fmt.FORMAT_VERSION}` safetensors file read by the "
        "`hades-zoo` client, which trains any architecture on it in seconds.")


TASK = Task(
    kind=KIND, id_key="dataset_id", get_spec=get_image_spec, get_protocol=get_image_protocol,
    default_recipe=lambda spec: IMAGE_RECIPE, evaluate=evaluate, ident=lambda ident: {"task": KIND, "dataset_id": ident},
    card=TaskCard(item="image", category=KIND, tag="dataset-distillation", digits=3, figure="images", summary=_summary,
                  protocol_text=lambda p: f"`{p.name}` (the real {p.split} split)", score="test accuracy",
                  baseline="chance", scale_protocol=lambda ds, own: ds.protocol.name, protocol_note=".",
                  intended_use="Ten synthetic images are a distillation benchmark, not a substitute for the real training set."),
)
