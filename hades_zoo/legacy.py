"""Convert the authors' released ``data_final.pkl`` files into our format.

The pickle is read by ``legacy_pickle`` (a restricted unpickler, never
``pickle.load``). ``--env``/``--method`` must agree with the pickle's own config
(``ENV_NAME``, ``OVERFIT``): a file imported under the wrong env would silently
train nonsense. Layout facts (actions first in the ES vector, fixed MinAtar
labels, normalisation modes, HaDES-F init ``PRNGKey(OVERFIT_SEED)`` under the
2023 ``threefry_partitionable=False``) come from shared/reference/legacy/README.md.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from hades_zoo.dataset import SyntheticDataset
from hades_zoo.envs.specs import EnvSpec, get_spec
from hades_zoo.errors import ConfigError, HadesZooError, IncompatibleDatasetError, LegacyFormatError, UnknownEnvError
from hades_zoo.ids import local_name
from hades_zoo.legacy_pickle import LegacyRun, load_legacy_pickle
from hades_zoo.tasks.image import KIND as IMAGE_KIND, ImageProtocol, get_image_spec
from hades_zoo.recipe import InitSpec, Protocol, Recipe, paper_protocol

# The simulators the authors' 2023 runs used (implied by the pickles, protocol.md).
AUTHORS_VERSIONS = {"brax": {"brax": "0.9.x"}, "gymnax": {"gymnax": "0.0.6"}}
# Config keys never copied into a converted file: the authors' cluster path (a local
# absolute path with a user name) and arrays (stored as tensors where they matter).
_PRIVATE_KEYS = ("FOLDER",)
# The authors' image datasets (config DATASET) -> our image dataset ids.
_IMAGE_DATASETS = {"MNIST": "mnist", "FashionMNIST": "fashion-mnist"}


def _fail(path, msg: str):
    raise LegacyFormatError(f"{path}: {msg}")


def _cfg(run: LegacyRun, key: str, path):
    if key not in run.config:
        _fail(path, f"config has no {key!r}; not an authors' HaDES result pickle")
    return run.config[key]


def _fixed_labels(D: int, n_actions: int) -> np.ndarray:
    """labels[i] = i // (D // n) for i < n * (D // n); trailing states stay unlabelled (zero rows)."""
    per = D // n_actions
    if per == 0:
        raise LegacyFormatError(f"dataset of {D} states cannot hold one per action ({n_actions} actions)")
    labels = np.zeros((D, n_actions), np.float32)
    idx = np.arange(n_actions * per)
    labels[idx, idx // per] = 1.0
    return labels


def _normalize_params(path: Path, env_name: str):
    """``normalize_params/{mean,var}_<env>.npy`` beside the pickle or in a parent dir, if any."""
    for d in [path.parent, *path.parents]:
        m, v = d / "normalize_params" / f"mean_{env_name}.npy", d / "normalize_params" / f"var_{env_name}.npy"
        if m.is_file() and v.is_file():
            return np.load(m, allow_pickle=False), np.load(v, allow_pickle=False)
    return None


def _obs_norm(run: LegacyRun, spec: EnvSpec, path: Path):
    cfg = run.config
    if not cfg.get("CONST_NORMALIZE_OBS", False):
        return ("running" if cfg.get("NORMALIZE_OBS", False) else "none"), None, None
    files = _normalize_params(path, cfg["ENV_NAME"])
    if "OBS_MEAN" in cfg and "OBS_VAR" in cfg:
        mean, var = np.asarray(cfg["OBS_MEAN"], np.float32), np.asarray(cfg["OBS_VAR"], np.float32)
        if files is not None and not (np.array_equal(files[0].reshape(-1), mean.reshape(-1)) and np.array_equal(files[1].reshape(-1), var.reshape(-1))):
            _fail(path, "OBS_MEAN/OBS_VAR in the pickle differ from normalize_params/ beside it; remove the mismatched folder or fix the files")
    elif files is not None:
        mean, var = (np.asarray(a, np.float32) for a in files)
    else:
        _fail(path, "constant observation normalisation but neither OBS_MEAN/OBS_VAR in the config nor a normalize_params/ folder beside the pickle")
    if mean.size != spec.obs_dim or var.size != spec.obs_dim:
        _fail(path, f"normalisation stats have {mean.size} entries, {spec.env_id} observations have {spec.obs_dim}")
    return "const", mean.reshape(spec.obs_shape), var.reshape(spec.obs_shape)


def _protocol(run: LegacyRun, spec: EnvSpec) -> Protocol:
    cfg = run.config
    base = paper_protocol(spec)
    proto = Protocol(base.name, int(cfg.get("NUM_ENVS", base.n_envs)), int(cfg.get("NUM_STEPS", base.n_steps)),
                     not bool(cfg.get("GREEDY_ACT", False)), base.metric)
    return proto if proto == base else Protocol(base.name + "-as-run", proto.n_envs, proto.n_steps, proto.sample_actions, proto.metric)


@contextlib.contextmanager
def _refusing(path):
    """A config value the dataset cannot take (a wrong type, a size over ``hades_zoo.bounds``, an
    unknown activation) becomes a one-line ``LegacyFormatError`` naming the file, at import time."""
    try:
        yield
    except (ConfigError, IncompatibleDatasetError) as e:
        _fail(path, f"the pickle's config cannot make a usable dataset: {e}")
    except (TypeError, ValueError, KeyError, OverflowError) as e:
        if isinstance(e, HadesZooError):  # typed already (LegacyFormatError, ...)
            raise
        _fail(path, f"the pickle's config holds an unusable value ({type(e).__name__}: {str(e)[:200]}); "
              "not an authors' HaDES result pickle")


def convert(path: str | Path, env: str, method: str) -> SyntheticDataset:
    """A ``SyntheticDataset`` from an authors' pickle, checked against ``env`` and ``method``."""
    with _refusing(path):
        return _convert(Path(path), env, method)


def _convert(path: Path, env: str, method: str) -> SyntheticDataset:
    method = method.lower().removeprefix("hades-")
    if method not in ("r", "f"):
        raise LegacyFormatError(f"method must be 'r' or 'f', got {method!r}")
    run = load_legacy_pickle(path)
    if "ENV_NAME" not in run.config and "DATASET" in run.config:  # an image run (MNIST / Fashion-MNIST)
        if method != "r":
            _fail(path, "the authors' image runs are HaDES-R (random init per run); pass --method r")
        return _image_dataset(run, path, env)
    spec = get_spec(env)
    env_name = _cfg(run, "ENV_NAME", path)
    try:
        pickle_spec = get_spec(str(env_name))
    except UnknownEnvError:
        _fail(path, f"the pickle's ENV_NAME {env_name!r} is not a supported env")
    if pickle_spec.env_id != spec.env_id:
        _fail(path, f"the pickle was distilled for {pickle_spec.env_id}, not {spec.env_id}; pass --env {pickle_spec.slug}")
    overfit = bool(run.config.get("OVERFIT", False))
    if overfit != (method == "f"):
        actual = "f" if overfit else "r"
        _fail(path, f"the pickle is a HaDES-{actual.upper()} run (OVERFIT={overfit}), not HaDES-{method.upper()}; pass --method {actual}")
    if run.es_config.get("learn_labels"):
        _fail(path, "runs with learned labels are not supported by this importer")
    D = int(run.es_config.get("dataset_size", 0))
    if D < 1:
        _fail(path, "es_config has no dataset_size")
    vec = np.asarray(run.mean, np.float32).reshape(-1)
    if spec.discrete:
        expected = D * spec.obs_dim
        if vec.size != expected:
            _fail(path, f"ES mean has {vec.size} numbers, {D} states of {spec.env_id} need {expected}")
        states, targets = vec.reshape(D, *spec.obs_shape), {"labels": _fixed_labels(D, spec.action_dim)}
    else:
        n_act = D * spec.action_dim
        expected = n_act + D * spec.obs_dim
        if vec.size != expected:
            _fail(path, f"ES mean has {vec.size} numbers, {D} pairs of {spec.env_id} need {expected}")
        # evosax ParameterReshaper flattens leaves in sorted-key order: actions, then states.
        states, targets = vec[n_act:].reshape(D, *spec.obs_shape), {"actions": vec[:n_act].reshape(D, spec.action_dim)}
    obs_norm, obs_mean, obs_var = _obs_norm(run, spec, path)
    cfg = run.config
    init = InitSpec("fixed", int(cfg.get("OVERFIT_SEED", 0)), False) if overfit else InitSpec()
    depth = int(cfg.get("FFWD_LAYERS", 2))
    recipe = Recipe(
        arch=f"mlp-{depth}x{int(cfg.get('WIDTH', 512))}-{cfg.get('ACTIVATION', 'tanh')}",
        lr=float(cfg["LR"]), epochs=int(cfg["UPDATE_EPOCHS"]),
        # The MinAtar script has its gradient clip commented out (protocol.md).
        grad_clip=None if spec.discrete else float(cfg.get("MAX_GRAD_NORM", 0.5)),
        loss="xent" if spec.discrete else "gaussian-nll", init=init,
    )
    protocol = _protocol(run, spec)
    fitness = np.asarray(run.fitness_over_gen, np.float64)
    return SyntheticDataset(
        states=states, env_id=spec.env_id, method=f"hades-{method}", recipe=recipe, protocol=protocol,
        obs_norm=obs_norm, obs_mean=obs_mean, obs_var=obs_var, name=local_name(spec.slug, f"hades-{method}", D),
        recorded_return={
            "value": float(fitness[-1]),
            "last10": float(fitness[-10:].mean()),
            "protocol": protocol.name,
            "definition": "authors' run: population-mean fitness of the last ES generation (perturbed datasets)",
        },
        provenance={
            "origin": "imported", "source_file": path.name, "pickle_sha256": run.sha256,
            "code": "FLAIROx/behaviour-distillation@a600a5a (Apache-2.0)", "strategy": run.strategy,
            "generations": int(fitness.size), "population": run.es_config.get("popsize"),
            "seed": cfg.get("SEED"), "es_config": _plain_config(run.es_config), "config": _plain_config(cfg),
        },
        versions=AUTHORS_VERSIONS[spec.family], dynamics="2023",
        **targets,
    )


def _plain_config(cfg: dict) -> dict:
    """The scalar entries of an authors' config, without its private ones (``_PRIVATE_KEYS``)."""
    return {k: v for k, v in cfg.items()
            if k not in _PRIVATE_KEYS and (isinstance(v, (str, int, float, bool)) or v is None)}


def convert_image(path: str | Path, dataset: str | None = None) -> SyntheticDataset:
    """An image ``SyntheticDataset`` from an authors' MNIST / Fashion-MNIST pickle (``config['DATASET']``).

    The ES mean holds D images of 28x28x1 in the authors' input space (pixels / 255, no
    standardisation), with fixed one-hot labels ``i // (D // 10)``; the recipe is theirs
    (the CNN, plain SGD lr 0.1, 1000 full-batch steps, random init per run).
    """
    path = Path(path)
    with _refusing(path):
        return _image_dataset(load_legacy_pickle(path), path, dataset)


def _image_dataset(run: LegacyRun, path: Path, dataset: str | None) -> SyntheticDataset:
    cfg = run.config
    name = _IMAGE_DATASETS.get(str(cfg.get("DATASET")))
    if name is None:
        _fail(path, f"config DATASET {cfg.get('DATASET')!r} is not one of {', '.join(_IMAGE_DATASETS)}; not an authors' image run")
    spec = get_image_spec(name)
    if dataset is not None and get_image_spec(dataset).env_id != spec.env_id:
        _fail(path, f"the pickle was distilled for {spec.env_id}, not {dataset}; pass --env {spec.env_id}")
    if run.es_config.get("learn_labels"):
        _fail(path, "runs with learned labels are not supported by this importer")
    if cfg.get("NET") != "CNN" or float(cfg.get("MOMENTUM", 0)) != 0 or not cfg.get("NORMALIZE", False):
        _fail(path, "only the authors' CNN / plain-SGD / pixels-over-255 image runs are supported")
    D = int(run.es_config.get("dataset_size", 0))
    vec = np.asarray(run.mean, np.float32).reshape(-1)
    if D < spec.n_classes or vec.size != D * spec.obs_dim:
        _fail(path, f"ES mean has {vec.size} numbers, {D} images of {spec.env_id} need {D * spec.obs_dim}")
    recipe = Recipe(arch=f"cnn-16x{int(cfg['WIDTH'])}-{cfg.get('ACTIVATION', 'relu')}", lr=float(cfg["LR"]),
                    epochs=int(cfg["UPDATE_EPOCHS"]), grad_clip=None, loss="xent", optimizer="sgd")
    fitness = np.asarray(run.fitness_over_gen, np.float64)
    return SyntheticDataset(
        states=vec.reshape(D, *spec.obs_shape), labels=_fixed_labels(D, spec.n_classes), env_id=spec.env_id, task=IMAGE_KIND,
        method="hades-r", recipe=recipe, protocol=ImageProtocol(), obs_norm="none",
        name=local_name(spec.slug, "hades-r", D // spec.n_classes, unit="ipc"),
        recorded_return={
            "value": float(fitness[-1]), "last10": float(fitness[-10:].mean()), "protocol": "train-loss",
            "definition": "authors' run: population-mean training-set cross-entropy loss of the last ES generation "
                          "(minimised; no test-set figure was recorded)",
        },
        provenance={
            "origin": "imported", "source_file": path.name, "pickle_sha256": run.sha256,
            "code": "FLAIROx/behaviour-distillation@a600a5a (Apache-2.0)", "strategy": run.strategy,
            "generations": int(fitness.size), "population": run.es_config.get("popsize"), "seed": cfg.get("SEED"),
            "es_config": _plain_config(run.es_config), "config": _plain_config(cfg),
        },
    )
