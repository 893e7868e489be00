"""PNG figures for a published dataset (matplotlib, Agg backend, no display needed).

``fitness_png``: the ES fitness (mean, max, min per generation) from a run's ``metrics.jsonl``;
``dataset_png``: the states and targets of the dataset as heat maps (one row per pair), the
observation dimensions and actions named where the env defines them;
``returns_png``: the returns per architecture, one dot per seed and mean ± std, against reference
lines (random policy, paper, solved threshold, recorded);
``images_png``: an image dataset's synthetic images, one column per class.
Each returns the PNG bytes; the image metadata carries no date, so the same inputs give the
same bytes.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import ConfigError
from hades_zoo.tasks.image import KIND as IMAGE_KIND


MAX_ROWS = 128  # pairs drawn by dataset_png: 17 inches high at most
MAX_IMAGES_PER_CLASS = 10  # rows of images_png's grid


def _plt(force: bool = True):
    import matplotlib  # matplotlib (a second to import) loads with the first figure

    matplotlib.use("Agg", force=force)
    import matplotlib.pyplot as plt  # matplotlib (a second to import) loads with the first figure

    return plt


def _png(fig) -> bytes:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def fitness_png(rows: list[dict], title: str) -> bytes:
    plt = _plt()
    g = np.array([r["generation"] for r in rows])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.fill_between(g, [r["fitness_min"] for r in rows], [r["fitness_max"] for r in rows], alpha=0.25,
                    label="population min-max")
    ax.plot(g, [r["fitness_mean"] for r in rows], marker="." if len(g) < 30 else None, label="population mean")
    ax.plot(g, [r["fitness_max"] for r in rows], lw=0.8, label="best")
    ax.set(xlabel="generation", ylabel="fitness (return)", title=title)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


# Observation dimensions and actions, where the env defines them (gym/gymnax docs, the MuJoCo models).
_OBS_NAMES = {
    "CartPole-v1": ["x", "x'", "angle", "angle'"],
    "Acrobot-v1": ["cos q1", "sin q1", "cos q2", "sin q2", "q1'", "q2'"],
    "Pendulum-v1": ["cos q", "sin q", "q'"],
    "MountainCar-v0": ["position", "velocity"],
    "MountainCarContinuous-v0": ["position", "velocity"],
    "hopper": ["z", "torso", "thigh", "leg", "foot", "vx", "vz", "torso'", "thigh'", "leg'", "foot'"],
    "walker2d": ["z", "torso", "thigh", "leg", "foot", "thigh L", "leg L", "foot L", "vx", "vz", "torso'", "thigh'",
                 "leg'", "foot'", "thigh L'", "leg L'", "foot L'"],
    "halfcheetah": ["z", "torso", "bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot", "vx", "vz", "torso'",
                    "bthigh'", "bshin'", "bfoot'", "fthigh'", "fshin'", "ffoot'"],
}
_ACTION_NAMES = {
    "CartPole-v1": ["left", "right"], "Acrobot-v1": ["-1", "0", "+1"], "MountainCar-v0": ["left", "none", "right"],
    "Pendulum-v1": ["torque"], "MountainCarContinuous-v0": ["force"],
    "hopper": ["thigh", "leg", "foot"], "walker2d": ["thigh", "leg", "foot", "thigh L", "leg L", "foot L"],
    "halfcheetah": ["bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot"],
    "Breakout-MinAtar": ["noop", "left", "right"], "SpaceInvaders-MinAtar": ["noop", "left", "right", "fire"],
    "Asterix-MinAtar": ["noop", "left", "up", "right", "down"], "Freeway-MinAtar": ["noop", "up", "down"],
}


def _label_axis(ax, names, n):
    if names and len(names) == n:
        ax.set_xticks(np.arange(n), names, rotation=60, ha="right", fontsize=7)
        ax.set_xlabel("")


def dataset_png(ds: SyntheticDataset, title: str) -> bytes:
    """One row per pair up to ``MAX_ROWS``; a larger dataset shows ``MAX_ROWS`` evenly spaced pairs
    (said in the title), so the figure stays a few hundred pixels high at any size."""
    plt = _plt()
    rows = np.unique(np.linspace(0, ds.size - 1, min(ds.size, MAX_ROWS)).round().astype(int))
    states = ds.states.reshape(ds.size, -1)[rows]
    targets = ds.targets.reshape(ds.size, -1)[rows]
    if len(rows) < ds.size:
        title = f"{title}; {len(rows)} of {ds.size} pairs shown, evenly spaced"
    fig, axes = plt.subplots(1, 2, figsize=(8, max(2.5, 0.12 * len(rows) + 1.5)), layout="constrained",
                             gridspec_kw={"width_ratios": [max(states.shape[1], 2), max(targets.shape[1], 2)]})
    for ax, arr, name, cmap in ((axes[0], states, "states (normalised obs)", "coolwarm"),
                                (axes[1], targets, "labels" if ds.discrete else "actions", "viridis" if ds.discrete else "coolwarm")):
        lim = float(np.abs(arr).max()) or 1.0
        im = ax.imshow(arr, aspect="auto", cmap=cmap, interpolation="nearest",
                       **({"vmin": 0, "vmax": 1} if ds.discrete and arr is targets else {"vmin": -lim, "vmax": lim}))
        ax.set(title=name, xlabel="dimension", ylabel="pair")
        fig.colorbar(im, ax=ax, fraction=0.08)
    _label_axis(axes[0], _OBS_NAMES.get(ds.env_id), states.shape[1])
    _label_axis(axes[1], _ACTION_NAMES.get(ds.env_id), targets.shape[1])
    fig.suptitle(title)
    return _png(fig)


_REF_STYLE = {"random": ("random policy", "tab:red", ":"), "paper": ("paper", "tab:green", "--"),
              "solved": ("solved threshold", "tab:purple", "-."), "recorded": ("recorded in the file", "gray", "--")}


def returns_png(evaluation: list[dict], title: str, recorded: float | None = None, refs: dict | None = None) -> bytes:
    """One dot per seed and the mean ± std per architecture, against reference lines (random policy, paper,
    solved threshold, the file's recorded figure): no bars from 0, so negative returns read the same way."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(4.5, 1.4 * len(evaluation) + 2.5), 3.5))
    rng = np.random.default_rng(0)  # horizontal jitter only, fixed: the same inputs give the same bytes
    for i, r in enumerate(evaluation):
        color = "tab:orange" if r["own"] else "tab:blue"
        ax.scatter(i + rng.uniform(-0.12, 0.12, len(r["returns"])), r["returns"], s=12, color=color, alpha=0.6, zorder=3)
        ax.errorbar(i + 0.25, r["mean"], yerr=r["std"], fmt="D", color=color, capsize=4, zorder=4)
    lines = {**(refs or {}), "recorded": recorded}
    for key, (label, color, style) in _REF_STYLE.items():
        if lines.get(key) is not None:
            ax.axhline(lines[key], ls=style, lw=1, color=color, label=f"{label} ({lines[key]:.4g})")
    if any(v is not None for v in lines.values()):
        ax.legend(fontsize=7, loc="best")
    ax.set_xticks(np.arange(len(evaluation)), [r["arch"] + (" (own)" if r["own"] else "") for r in evaluation],
                  rotation=20, ha="right")
    ax.set_xlim(-0.6, len(evaluation) - 0.4)
    ax.set(ylabel=f"return ({evaluation[0]['protocol']})" if evaluation else "return", title=title)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def images_png(ds: SyntheticDataset) -> bytes:
    """The image grid, at most ``MAX_IMAGES_PER_CLASS`` rows (the first images of each class)."""
    classes = ds.labels.argmax(1)
    keep = np.concatenate([np.flatnonzero(classes == c)[:MAX_IMAGES_PER_CLASS] for c in np.unique(classes)])
    if len(keep) < ds.size:
        keep = np.sort(keep)
        ds = ds.replace(states=ds.states[keep], labels=ds.labels[keep])
    buf = io.BytesIO()
    image_grid_png(ds, buf)
    return buf.getvalue()


def image_grid_png(dataset, path, *, cell_inches: float = 0.8):
    """Write the dataset's images as a PNG grid (one column per class, its label above
    each image: the class, and the target probability when the label is soft) to
    ``path`` (a path, or a binary file object such as ``io.BytesIO()``); returns ``path``.

    Pixels are shown de-normalised (the real [0, 1] scale), on one grey scale spanning
    [0, 1] and whatever the synthetic images reach beyond it.
    """
    if dataset.kind.card.figure != "images":
        raise ConfigError(f"{dataset.name or 'dataset'} is not an image dataset; an image grid needs task {IMAGE_KIND!r}")
    plt = _plt(force=False)
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


def dataset_figure(ds: SyntheticDataset, title: str) -> bytes:
    """The dataset's own figure: its pairs as heat maps, or its images as a grid (its task's ``card.figure``)."""
    return images_png(ds) if ds.kind.card.figure == "images" else dataset_png(ds, title)


__all__ = ["fitness_png", "dataset_png", "returns_png", "images_png", "image_grid_png", "dataset_figure"]
