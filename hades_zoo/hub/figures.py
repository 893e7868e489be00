"""PNG figures for a published dataset (matplotlib, Agg backend, no display needed).

``fitness_png``: the ES fitness (mean, max, min per generation) from a run's ``metrics.jsonl``;
``dataset_png``: the states and targets of the dataset as heat maps (one row per pair);
``returns_png``: the returns per architecture, mean ± std with one dot per seed;
``images_png``: an image dataset's synthetic images, one column per class.
Each returns the PNG bytes; the image metadata carries no date, so the same inputs give the
same bytes.
"""

from __future__ import annotations

import io

import numpy as np

from hades_zoo.dataset import SyntheticDataset
from hades_zoo.supervised import image_grid_png


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

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


def dataset_png(ds: SyntheticDataset, title: str) -> bytes:
    plt = _plt()
    states = ds.states.reshape(ds.size, -1)
    targets = ds.targets.reshape(ds.size, -1)
    fig, axes = plt.subplots(1, 2, figsize=(8, max(2.5, 0.12 * ds.size + 1.5)), layout="constrained",
                             gridspec_kw={"width_ratios": [max(states.shape[1], 2), max(targets.shape[1], 2)]})
    for ax, arr, name, cmap in ((axes[0], states, "states (normalised obs)", "coolwarm"),
                                (axes[1], targets, "labels" if ds.discrete else "actions", "viridis" if ds.discrete else "coolwarm")):
        lim = float(np.abs(arr).max()) or 1.0
        im = ax.imshow(arr, aspect="auto", cmap=cmap, interpolation="nearest",
                       **({"vmin": 0, "vmax": 1} if ds.discrete and arr is targets else {"vmin": -lim, "vmax": lim}))
        ax.set(title=name, xlabel="dimension", ylabel="pair")
        fig.colorbar(im, ax=ax, fraction=0.08)
    fig.suptitle(title)
    return _png(fig)


def returns_png(evaluation: list[dict], title: str, recorded: float | None = None) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(4, 1.4 * len(evaluation) + 2), 3.5))
    x = np.arange(len(evaluation))
    ax.bar(x, [r["mean"] for r in evaluation], yerr=[r["std"] for r in evaluation], capsize=4, alpha=0.6,
           color=["tab:orange" if r["own"] else "tab:blue" for r in evaluation])
    for i, r in enumerate(evaluation):
        ax.scatter(np.full(len(r["returns"]), i), r["returns"], s=10, color="k", zorder=3)
    if recorded is not None:
        ax.axhline(recorded, ls="--", lw=0.8, color="gray", label="recorded in the file")
        ax.legend(fontsize=8)
    ax.set_xticks(x, [r["arch"] + (" (own)" if r["own"] else "") for r in evaluation], rotation=20, ha="right")
    ax.set(ylabel=f"return ({evaluation[0]['protocol']})" if evaluation else "return", title=title)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def images_png(ds: SyntheticDataset) -> bytes:
    buf = io.BytesIO()
    image_grid_png(ds, buf)
    return buf.getvalue()


__all__ = ["fitness_png", "dataset_png", "returns_png", "images_png"]
