"""The generalisation matrix: how well one dataset trains other architectures and recipes.

``generalize(dataset, archs, lrs, epochs, num_seeds=4)`` behaviour-clones every
(architecture, learning rate, epochs) cell with the client's own ``train`` (all
seeds of a cell in one ``vmap``; one compile per architecture and recipe, the
evaluation compile shared by every recipe of an architecture), evaluates it with
the dataset's protocol and reports its return relative to the dataset's *own*
recipe trained and evaluated on the same seeds: the ratio where that return is
positive, else the normalised score (random policy 0, own recipe 1; see
``hades_zoo.scores``). ``to_markdown`` gives the table the dataset cards carry,
``plot`` a heatmap.

Each cell is measured with plain BC and through the dataset's own teacher
(``transfer=("none", "teacher")`` by default; ``hades_zoo.transfer``), side by side:
the paper's claim (plain BC) and what teacher transfer makes of it. The teacher is the
reference itself (same seeds), trained once for the whole grid.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import numpy as np

from hades_zoo.api import _as_dataset, evaluate, train
from hades_zoo.errors import ConfigError
from hades_zoo.policies import parse_arch
from hades_zoo.progress import phase
from hades_zoo.recipe import EvalResult
from hades_zoo.scores import needs_random, random_return, relative_score

# widths 64-1024, depths 1-4, relu/tanh/gelu, and two non-MLPs (residual, a transformer over observation tokens)
DEFAULT_ARCHS = (
    "mlp-1x64-tanh", "mlp-2x64-relu", "mlp-2x256-tanh", "mlp-2x256-gelu", "mlp-3x512-relu",
    "mlp-4x256-tanh", "mlp-2x1024-tanh", "resmlp-2x256-relu", "tfm-1x64-gelu",
)
GRID_TRANSFERS = ("none", "teacher", "teacher-fixed", "teacher-env", "teacher-fresh")


@dataclasses.dataclass(frozen=True)
class GridRow:
    arch: str
    lr: float
    epochs: int
    result: EvalResult
    relative: float
    seconds: float = 0.0
    transfer: str = "none"  # how the cell trained: plain BC, or through the teacher (``GRID_TRANSFERS``)
    student: dict | None = None  # through a teacher: the lr and steps the student trained with, and ``select``

    @property
    def mean(self) -> float:
        return self.result.mean

    def to_json(self) -> dict:
        return {"arch": self.arch, "lr": self.lr, "epochs": self.epochs, "transfer": self.transfer, "mean": self.mean,
                "std": self.result.std, "returns": self.result.returns, "relative": self.relative,
                "seconds": round(self.seconds, 2), **({} if self.student is None else {"student": self.student})}


@dataclasses.dataclass
class GeneralizationResult:
    dataset: str
    env: str
    protocol: str
    reference: GridRow  # the dataset's own recipe, same seeds
    random: EvalResult | None  # the random policy, where the score is normalised
    rows: list[GridRow]
    seconds: float = 0.0

    @property
    def score(self) -> str:
        return "normalized" if self.random is not None else "ratio"

    def to_json(self) -> dict:
        return {"dataset": self.dataset, "env": self.env, "protocol": self.protocol, "score": self.score,
                "seeds": len(self.reference.result.returns), "reference": self.reference.to_json(),
                "random_mean": None if self.random is None else self.random.mean,
                "rows": [r.to_json() for r in self.rows], "seconds": round(self.seconds, 1)}

    def _columns(self) -> list[tuple[float, int, str]]:
        order = {t: i for i, t in enumerate(GRID_TRANSFERS)}
        return sorted({(r.lr, r.epochs, r.transfer) for r in self.rows}, key=lambda c: (c[0], c[1], order[c[2]]))

    def _archs(self) -> list[str]:
        return list(dict.fromkeys(r.arch for r in self.rows))

    def matrix(self) -> np.ndarray:
        """``relative`` as (architectures, (lr, epochs, transfer) columns), NaN where not trained."""
        archs, cols = self._archs(), self._columns()
        out = np.full((len(archs), len(cols)), np.nan)
        for r in self.rows:
            out[archs.index(r.arch), cols.index((r.lr, r.epochs, r.transfer))] = r.relative
        return out

    def to_markdown(self, layout: str = "rows") -> str:
        """The table for a dataset card: one row per cell (``rows``), or architectures x
        (lr, steps, plain BC / teacher) with ``relative (mean)`` in each cell (``matrix``)."""
        if layout not in ("rows", "matrix"):
            raise ConfigError(f"unknown table layout {layout!r}; use 'rows' or 'matrix'")
        ref = self.reference
        kind = "return / own recipe's" if self.score == "ratio" else "normalised score (random 0, own recipe 1)"
        lines = [(f"Own recipe ({ref.arch}, lr {ref.lr:g}, {ref.epochs} steps): {ref.mean:.1f} ± {ref.result.std:.1f} "
                  f"({len(ref.result.returns)} seeds, {self.protocol}); relative = {kind}."), "",
                 "| architecture | lr | steps | training | return | relative |", "|---|---|---|---|---|---|"]
        if layout == "rows":
            lines += [f"| {r.arch} | {r.lr:g} | {r.epochs} | {_TRANSFER_TEXT[r.transfer]} | {r.mean:.1f} ± {r.result.std:.1f} "
                      f"| {r.relative:.2f} |" for r in self.rows]
            return "\n".join(lines)
        cols, cells = self._columns(), {(r.arch, r.lr, r.epochs, r.transfer): r for r in self.rows}
        lines[2:] = ["| architecture | " + " | ".join(f"lr {lr:g}, {ep} steps, {_TRANSFER_TEXT[t]}" for lr, ep, t in cols)
                     + " |", "|---|" + "---|" * len(cols)]
        for arch in self._archs():
            row = [cells.get((arch, *c)) for c in cols]
            lines.append(f"| {arch} | " + " | ".join("" if r is None else f"{r.relative:.2f} ({r.mean:.0f})" for r in row) + " |")
        return "\n".join(lines)

    def plot(self, path) -> None:
        """A heatmap of ``relative`` (architectures x recipes), written as PNG."""
        import matplotlib  # matplotlib (a second to import) loads with the first figure

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # matplotlib (a second to import) loads with the first figure

        mat, archs, cols = self.matrix(), self._archs(), self._columns()
        fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(cols), 1.0 + 0.45 * len(archs)))
        im = ax.imshow(mat, cmap="viridis", vmin=0.0, vmax=max(1.0, float(np.nanmax(mat)) if np.isfinite(mat).any() else 1.0),
                       aspect="auto")
        ax.set_xticks(range(len(cols)), [f"lr {lr:g}\n{ep} steps\n{_TRANSFER_TEXT[t]}" for lr, ep, t in cols])
        ax.set_yticks(range(len(archs)), archs)
        for i in range(len(archs)):
            for j in range(len(cols)):
                if np.isfinite(mat[i, j]):
                    ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", color="w" if mat[i, j] < 0.6 else "k")
        ax.set_title(f"{self.dataset}: {'return ratio' if self.score == 'ratio' else 'normalised score'} "
                     f"vs own recipe ({self.reference.mean:.1f})", fontsize=9)
        fig.colorbar(im, ax=ax)
        fig.tight_layout()
        try:
            fig.savefig(path, dpi=110)
        except OSError as e:
            raise ConfigError(f"cannot write the heatmap {path} ({e.strerror or e}); check the directory") from None
        finally:
            plt.close(fig)


_TRANSFER_TEXT = {"none": "plain BC", "teacher": "teacher", "teacher-fixed": "teacher-fixed", "teacher-env": "teacher-env",
                  "teacher-fresh": "teacher-fresh"}


def _check_grid(ds, archs, lrs, epochs, transfers):
    if not archs or not lrs or not epochs or not transfers:
        raise ConfigError("the grid needs at least one architecture, learning rate, epochs value and transfer")
    for t in transfers:
        if t not in GRID_TRANSFERS:
            raise ConfigError(f"unknown transfer {t!r} for the grid; use one or more of {', '.join(GRID_TRANSFERS)}")
    for a in archs:
        parse_arch(a, ds.spec.action_dim, ds.spec.obs_shape)  # raises ConfigError naming the bad spec
    for lr in lrs:
        if not (float(lr) > 0 and np.isfinite(float(lr))):
            raise ConfigError(f"learning rates must be positive numbers, got {lr}")
    for ep in epochs:
        if int(ep) < 1 or int(ep) != ep:
            raise ConfigError(f"epochs must be whole numbers >= 1, got {ep}")


def generalize(
    dataset,
    archs: Sequence[str] | None = None,
    lrs: Sequence[float] | None = None,
    epochs: Sequence[int] | None = None,
    *,
    num_seeds: int = 4,
    seed: int = 0,
    protocol=None,
    transfer: Sequence[str] = ("none", "teacher"),
    anchors: int | None = None,
    select: str = "none",
    progress: Callable[[GridRow], None] | None = None,
) -> GeneralizationResult:
    """Train and evaluate the grid ``archs x lrs x epochs x transfer``, ``num_seeds`` seeds per cell in one vmap.

    Args:
        dataset: a ``SyntheticDataset``, catalog name or path.
        archs: *optional*, defaults to ``DEFAULT_ARCHS``.
        lrs, epochs: *optional*, default to the dataset's own recipe values (one column).
        num_seeds, seed: as ``train``; every cell and the reference use the same seeds.
        protocol: *optional*, defaults to the dataset's own.
        transfer: how each cell trains, one row per entry: ``"none"`` (plain BC), ``"teacher"``,
            ``"teacher-fixed"``, ``"teacher-env"``, ``"teacher-fresh"`` (``hades_zoo.train``'s ``transfer``); default both plain BC and teacher.
            The teacher is the reference, trained once. ``anchors``, ``select``: as ``train``'s
            (``select`` for the teacher cells; a row's ``student`` has the lr and steps the student
            trained with: 3 times the column's for ``teacher``, or those ``select`` chose).
        progress: *optional* callback given each finished row.

    Example:
        >>> res = hades_zoo.generalize("cartpole-hades-r-4", ["mlp-1x64-relu", "resmlp-1x64-tanh"], num_seeds=2)
        >>> print(res.to_markdown())
    """
    t0 = time.perf_counter()
    ds = _as_dataset(dataset)
    archs = list(DEFAULT_ARCHS if archs is None else archs)
    lrs = [float(x) for x in ([ds.recipe.lr] if lrs is None else lrs)]
    epochs = [int(x) for x in ([ds.recipe.epochs] if epochs is None else epochs)]
    transfers = [transfer] if isinstance(transfer, str) else list(dict.fromkeys(transfer))
    _check_grid(ds, archs, lrs, epochs, transfers)
    if num_seeds < 1:
        raise ConfigError(f"num_seeds must be >= 1, got {num_seeds}")
    proto = ds.kind.get_protocol(ds.protocol if protocol is None else protocol, ds.spec)
    teacher = train(ds, seed=seed, num_seeds=num_seeds, transfer="none")
    own = evaluate(teacher, protocol=proto, seed=seed)
    rand = random_return(ds, proto, seed=seed, num_seeds=num_seeds) if needs_random(own.mean) else None
    rand_mean = None if rand is None else rand.mean
    reference = GridRow(ds.recipe.arch, ds.recipe.lr, ds.recipe.epochs, own, relative_score(own.mean, own.mean, rand_mean),
                        time.perf_counter() - t0)
    rows = []
    cells = [(arch, lr, ep, t) for arch in archs for lr in lrs for ep in epochs for t in transfers]
    for k, (arch, lr, ep, t) in enumerate(cells, 1):
        with phase("grid", f"cell {k} of {len(cells)} ({arch}, lr {lr:g}, {ep} steps, {_TRANSFER_TEXT[t]})"):
            t1 = time.perf_counter()
            trained = train(ds, arch, seed=seed, num_seeds=num_seeds, epochs=ep, lr=lr, transfer=t, anchors=anchors,
                            select="none" if t == "none" else select, teacher=None if t == "none" else teacher)
            res = evaluate(trained, protocol=proto, seed=seed)
            student = None if t == "none" else {"lr": trained.recipe.lr, "epochs": trained.recipe.epochs, "select": select,
                                                "anchors": trained.info["transfer"]["anchors"],
                                                **{k: v for k, v in trained.info["transfer"].items() if k == "anchor_batch"}}
            row = GridRow(arch, lr, ep, res, relative_score(res.mean, own.mean, rand_mean), time.perf_counter() - t1, t,
                          student)
        rows.append(row)
        if progress is not None:
            progress(row)
    name = ds.name or ds.source or ds.env_id
    return GeneralizationResult(name, ds.env_id, own.protocol, reference, rand, rows, time.perf_counter() - t0)
