"""The token encoding of a merged dataset (``inputs="tokens"``, ``--encoding tokens``): no padding zeros.

Zero-padding every observation to the largest one makes most inputs of a whole-zoo merge
padding (a CartPole state is 4 values in 700 slots). Here an observation is a *set of
tokens*, as a foundation model would read it:

- a flat observation (brax, classic control): one token per dimension, ``value * w[env, d] +
  e[env, d]``, where ``(env, d)`` is the dimension's id in a per-env vocabulary (hopper's
  dim 3 and CartPole's dim 3 are different words; hopper R and F share theirs);
- an image (MinAtar, ``(10, 10, C)``): one token per cell carrying its channel vector,
  ``W[env] @ channels + e[env, cell]``: 100 tokens.

Tokens beyond a unit's own count are masked out of attention and pooling. The network is
the ``tfm-{layers}x{width}-{act}`` transformer's blocks (pre-norm attention, 4x MLP) over
those tokens, mean-pooled over the valid ones; the multi-task heads (one per unit) sit on
top as for the padded encoding (``hades_zoo.multitask.policy``).
"""

from __future__ import annotations

import re

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from hades_zoo.errors import ConfigError
from hades_zoo.policies import ACTIVATIONS, _dense

_TFM = re.compile(r"^tfm-(\d+)x(\d+)-([a-z_]+)\Z")
DEFAULT_ARCH = "tfm-1x64-gelu"


def layout(specs, env_of_unit) -> tuple[np.ndarray, np.ndarray, int]:
    """``(index (U, L, C), valid (U, L), n_envs)``: for unit ``u``, token ``l``, channel ``c``, the
    position in the padded flat observation (``-1``: none), and which tokens exist."""
    tokens = [(s.obs_shape[0] * s.obs_shape[1], s.obs_shape[2]) if len(s.obs_shape) == 3 else (int(np.prod(s.obs_shape)), 1)
              for s in specs]  # an image (H, W, C) flattens cell-major: cell l's channel c sits at l * C + c
    L, C = max(n for n, _ in tokens), max(c for _, c in tokens)
    index = -np.ones((len(specs), L, C), np.int32)
    for u, (n, c) in enumerate(tokens):
        index[u, :n, :c] = np.arange(n * c).reshape(n, c)
    return index, (index[..., 0] >= 0), int(max(env_of_unit)) + 1


class TokenTransformer(nn.Module):
    """``(padded obs, unit one-hot) -> out_dim`` through the token encoding (module docstring)."""

    layers: int
    width: int
    out_dim: int
    index: tuple  # (U, L, C) nested tuples (hashable module fields)
    valid: tuple  # (U, L)
    env_of_unit: tuple
    n_envs: int
    activation: str = "gelu"
    heads: int = 4

    @nn.compact
    def __call__(self, obs, task):
        act = ACTIVATIONS[self.activation]
        index, valid = jnp.asarray(self.index), jnp.asarray(self.valid, jnp.float32)
        L, C = index.shape[1:]
        unit = jnp.argmax(task, axis=-1)
        padded = jnp.concatenate([obs, jnp.zeros((*obs.shape[:-1], 1), obs.dtype)], axis=-1)  # slot -1: zero
        pos = index[unit]  # (..., L, C)
        pos = jnp.where(pos < 0, obs.shape[-1], pos)
        vals = jnp.take_along_axis(padded[..., None, :], pos.reshape((*pos.shape[:-2], 1, L * C)), axis=-1)
        vals = vals.reshape((*obs.shape[:-1], L, C))
        env = jnp.asarray(self.env_of_unit)[unit]
        proj = self.param("value", nn.initializers.normal(1.0), (self.n_envs, L, C, self.width))[env]
        embed = self.param("embed", nn.initializers.normal(1.0), (self.n_envs, L, self.width))[env]
        h = jnp.einsum("...lc,...lcw->...lw", vals, proj) / jnp.sqrt(C) + embed
        mask = valid[unit]  # (..., L)
        attn_mask = (mask[..., None, :, None] * mask[..., None, None, :]) > 0
        for _ in range(self.layers):
            h = h + nn.MultiHeadDotProductAttention(num_heads=self.heads)(nn.LayerNorm()(h), mask=attn_mask)
            h = h + _dense(self.width)(act(_dense(4 * self.width)(nn.LayerNorm()(h))))
        pooled = jnp.sum(nn.LayerNorm()(h) * mask[..., None], axis=-2) / jnp.maximum(mask.sum(-1, keepdims=True), 1.0)
        return _dense(self.out_dim, head=True)(pooled)


def make_token_trunk(arch: str | None, out_dim: int, specs, env_of_unit) -> TokenTransformer:
    """The token trunk for ``arch`` (``tfm-{layers}x{width}-{act}``; default ``DEFAULT_ARCH``)."""
    m = _TFM.match((arch or DEFAULT_ARCH).strip().lower())
    if m is None:
        raise ConfigError(f"the token encoding needs a transformer architecture tfm-LAYERSxWIDTH-ACT "
                          f"(e.g. {DEFAULT_ARCH}), got {arch!r}")
    layers, width, act = int(m.group(1)), int(m.group(2)), m.group(3)
    if act not in ACTIVATIONS or width % 4 or layers < 1:
        raise ConfigError(f"architecture {arch!r}: a known activation, layers >= 1 and a width that is a multiple of 4 heads")
    index, valid, n_envs = layout(specs, env_of_unit)
    nested = lambda a: tuple(map(nested, a)) if isinstance(a, np.ndarray) and a.ndim else a.item()
    return TokenTransformer(layers, width, out_dim, nested(index), nested(valid.astype(np.int8)), tuple(env_of_unit),
                            n_envs, act)
