"""The disjoint encoding (``inputs="disjoint"``, ``--encoding disjoint``): each task's input view in slots of its own.

With zero-padding every task's observation sits in the same first slots, so the whole zoo's MinAtar frames share
the first layer's weights with each other and with every brax and classic-control state (humanoid's 244 values
included); in the whole-zoo screen this pulled Breakout and Asterix down (README, "Why the whole zoo falls").
Here each task (one env view: the R and F sources of one env share it) gets its own slots, so the first layer has
one kernel block per task. ``ViewLayer`` is that layer for MLP trunks; given the static row blocks of a BC batch
(``hades_zoo.multitask.batches.batch_blocks``) it multiplies each block of one source's rows by its own task's
kernel block only, which makes the 2691-wide whole-zoo input cheaper per step than the 700-wide padded one
(``benchmarks/multitask_inputs.py``).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from hades_zoo.errors import ConfigError
from hades_zoo.policies import _HIDDEN_INIT, _ZEROS


def disjoint_inputs(obs, task, obs_dims, views) -> jax.Array:
    """Each view's observation in slots of its own: ``[obs[:d_0] if view 0 | obs[:d_1] if view 1 | ...]``,
    ``sum(view widths)`` inputs, zeros outside a row's own view. Built by slicing, so a row costs its
    width in the input layer and nothing more (a dense (T, O, sum) placement tensor cost O x T x sum per row:
    the MinAtar-only merge's BC did not end in 8 min). ``views[u]``: unit ``u``'s view; units of one view share it."""
    parts = []
    for v in dict.fromkeys(views):
        members = [u for u, w in enumerate(views) if w == v]
        on = jnp.sum(task[..., members], axis=-1, keepdims=True)
        parts.append(on * obs[..., : obs_dims[members[0]]])
    return jnp.concatenate(parts, axis=-1)


class ViewLayer(nn.Module):
    """The first hidden layer over the disjoint input: one ``Dense`` over ``[view 0 | view 1 | ... | cond]``,
    whose kernel is one block of rows per view. With ``blocks`` (static ``(start, rows, unit)`` runs covering
    the batch, ``unit`` -1 for mixed rows: ``hades_zoo.multitask.batches.batch_blocks``) a block of one unit's rows
    is multiplied by its own view's kernel block only, so a row costs its view's width (the whole zoo: 179 inputs
    on average) instead of the sum of all views' (2691), with the same result as without ``blocks``."""

    obs_dims: tuple  # per unit
    views: tuple  # per unit: its view
    width: int

    @nn.compact
    def __call__(self, obs, task, cond=None, blocks=None):
        order = list(dict.fromkeys(self.views))
        widths = [self.obs_dims[self.views.index(v)] for v in order]
        offsets = np.cumsum([0, *widths]).tolist()
        n_cond = 0 if cond is None else cond.shape[-1]
        kernel = self.param("kernel", _HIDDEN_INIT, (offsets[-1] + n_cond, self.width))
        bias = self.param("bias", _ZEROS, (self.width,))
        if blocks is None:
            h = disjoint_inputs(obs, task, self.obs_dims, self.views) @ kernel[: offsets[-1]]
        else:
            if sum(n for _, n, _ in blocks) != obs.shape[0]:
                raise ConfigError(f"row blocks cover {sum(n for _, n, _ in blocks)} rows, the batch has {obs.shape[0]}")
            parts = []
            for start, n, unit in blocks:
                rows = obs[start : start + n]
                if unit < 0:
                    parts.append(disjoint_inputs(rows, task[start : start + n], self.obs_dims, self.views) @ kernel[: offsets[-1]])
                else:
                    v = order.index(self.views[unit])
                    parts.append(rows[:, : widths[v]] @ kernel[offsets[v] : offsets[v] + widths[v]])
            h = jnp.concatenate(parts, axis=0)
        if cond is not None:
            h = h + cond @ kernel[offsets[-1] :]
        return h + bias
