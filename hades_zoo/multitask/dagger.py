"""Student rounds (DAgger): anchors where the multi-task student goes, labelled by each source's teacher.

Env anchors are the states a source's *teacher* visits. On the whole zoo the student copies its
teachers there almost exactly (Breakout F and SpaceInvaders F: argmax agreement 1.000 on their
anchors; reacher: mean squared error 0.0013) and still loses return (0.77, 0.83, and reacher
-267 against -153): its own small errors take it to states no teacher visited, where it was never
told what to do, and the errors compound (Ross, Gordon and Bagnell 2011, "A Reduction of Imitation
Learning and Structured Prediction to No-Regret Online Learning"). A round rolls out every
env-anchored source's view of the trained student (one protocol rollout per seed, as the teachers'),
labels the visited states with the source's teacher, adds them to that source's anchors and trains
the student again on the grown set. The step's cost stays the same (per-source anchor batches,
``hades_zoo.multitask.batches``); a round costs the rollouts and ``epochs`` more steps.
"""

from __future__ import annotations

import numpy as np

from hades_zoo import progress
from hades_zoo.anchors import draw_states, label, rollout_states


def student_anchors(trained, k: int, n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Source ``k``'s student-visited states (at most ``n``, drawn from every seed's rollout) and its
    teacher's labels: ``(states (m, O_k), labels (seeds, m, A_k))``, in the source's normalised space."""
    states = rollout_states(trained.source(k), seed=seed)
    if len(states) > n:
        states = draw_states(states, n, seed)
    return states, label(trained.teachers[k], states)


def grow_anchors(trained, states: np.ndarray, targets: np.ndarray, pools: tuple[int, ...], *, n_pairs: int,
                 seed: int = 0):
    """Every env-anchored source's block of anchors grown by ``student_anchors`` (as many as it has).

    ``states`` (n_pairs + sum(pools), O + T) and ``targets`` (seeds, rows, A) are laid out as
    ``train_multitask`` builds them: the pairs, then one block per source. Returns the new
    ``(states, targets, pools)`` in the same layout."""
    merged = trained.dataset
    O, A = merged.obs_dim, merged.action_dim
    out_s, out_t, out_p = [states[:n_pairs]], [targets[:, :n_pairs]], []
    start, n = n_pairs, len(pools)
    for k, pool in enumerate(pools):
        block_s, block_t = states[start:start + pool], targets[:, start:start + pool]
        start += pool
        out_s.append(block_s), out_t.append(block_t)
        if trained.anchor_kinds.get(k) != "env":
            out_p.append(pool)
            continue
        with progress.phase("student round", f"source {k + 1} of {n} ({merged.source_label(k)}): its student's "
                                             f"rollouts, labelled by its teacher"):
            new, labels = student_anchors(trained, k, pool, seed=seed)
        unit_cols = np.repeat(block_s[:1, O:], len(new), 0)  # the source's unit one-hot, as its other anchors
        out_s.append(np.concatenate([np.pad(new, ((0, 0), (0, O - new.shape[1]))), unit_cols], axis=1))
        out_t.append(np.pad(labels, ((0, 0), (0, 0), (0, A - labels.shape[-1]))))
        out_p.append(pool + len(new))
    return np.concatenate(out_s), np.concatenate(out_t, axis=1), tuple(out_p)
