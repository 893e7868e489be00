"""Architecture strings: their grammar, parameter count and checks, without flax.

``check_arch(spec, out_dim, obs_shape)`` validates a string such as ``mlp-2x512-tanh``
(form, activation, image shape, ``hades_zoo.bounds`` size limits) and returns its parts;
``hades_zoo.policies.parse_arch`` builds the flax network from them. Kept apart so that
reading a dataset file (``hades-zoo info``) checks its recipe without importing flax or jax.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple, Sequence

from hades_zoo import bounds
from hades_zoo.errors import ConfigError

ACTIVATION_NAMES = ("relu", "tanh", "gelu", "elu", "silu", "swish", "leaky_relu")  # policies.ACTIVATIONS' keys
_ARCH_RE = re.compile(r"^(mlp|resmlp|attn|tfm|cnn)-(\d+)x(\d+)-([a-z_]+)\Z|^(conv)-(\d+)-([a-z_]+)\Z", re.ASCII)
ARCH_EXAMPLES = ("mlp-2x512-tanh", "mlp-4x256-relu", "resmlp-2x256-relu", "tfm-1x64-gelu", "attn-1x64-gelu", "conv-16-relu", "cnn-16x128-relu")




class Arch(NamedTuple):
    """The parts of an architecture string: ``conv``: width = channels, depth 1."""

    kind: str
    depth: int
    width: int
    act: str


def check_arch(spec: str, out_dim: int, obs_shape: Sequence[int] = ()) -> Arch:
    """The parts of a valid architecture string, or a ``ConfigError`` naming the problem."""
    m = _ARCH_RE.match(spec.strip().lower()) if isinstance(spec, str) else None
    if m is None:
        raise ConfigError(
            f"unknown architecture spec {spec!r}; use one of the forms {', '.join(ARCH_EXAMPLES)}"
        )
    if m.group(5):
        channels, act = _int(m.group(6)), m.group(7)
        if len(obs_shape) != 3:
            raise ConfigError(f"architecture {spec!r} needs image observations (H, W, C), got shape {tuple(obs_shape)}")
        _check_act(act, spec)
        bounds.check_network(spec, 1, channels, n_params("conv", 1, channels, obs_shape, out_dim))
        return Arch("conv", 1, channels, act)
    kind, depth, width, act = m.group(1), _int(m.group(2)), _int(m.group(3)), m.group(4)
    _check_act(act, spec)
    if width < 1 or (kind != "mlp" and depth < 1):
        raise ConfigError(f"architecture {spec!r}: width and depth must be positive")
    bounds.check_network(spec, 1 if kind == "cnn" else depth, max(depth, width) if kind == "cnn" else width,
                         n_params(kind, depth, width, obs_shape, out_dim))
    if kind == "cnn" and len(obs_shape) != 3:
        raise ConfigError(f"architecture {spec!r} needs image observations (H, W, C), got shape {tuple(obs_shape)}")
    if kind in ("attn", "tfm") and width % 4:
        raise ConfigError(f"architecture {spec!r}: attention width must be a multiple of 4 heads")
    return Arch(kind, depth, width, act)


def _int(digits: str) -> int:
    """An architecture number; past 18 digits only "too large" matters (and ``int`` of a
    5000-digit string raises ValueError)."""
    return int(digits) if len(digits) <= 18 else 10**18


def n_params(kind: str, depth: int, width: int, obs_shape: Sequence[int], out_dim: int) -> int:
    """Parameter count of an architecture string's network, in closed form (no tracing), so
    that ``bounds.MAX_PARAMS`` is checked before anything reaches XLA. ``conv``: width =
    channels; ``cnn``: depth = channels. tests/test_bounds.py checks it against ``init``."""
    obs_dim = math.prod(obs_shape)
    h, w, c = tuple(obs_shape) if len(obs_shape) == 3 else (1, 1, obs_dim)

    def dense(n_in, n_out):
        return n_in * n_out + n_out

    if kind == "mlp":  # closed form: a list of `depth` widths would take minutes at depth 10^8 (tests/test_fuzz.py)
        if depth == 0:
            return dense(obs_dim, out_dim)
        return dense(obs_dim, width) + (depth - 1) * dense(width, width) + dense(width, out_dim)
    if kind == "resmlp":
        return dense(obs_dim, width) + depth * (2 * width + 2 * dense(width, width)) + dense(width, out_dim)
    if kind == "attn":
        per_layer = 2 * width + 4 * dense(width, width) + 2 * width + 2 * dense(width, width)
        return dense(1, width) + obs_dim * width + depth * per_layer + dense(width, out_dim)
    if kind == "tfm":
        tokens = dense(c, width) + h * w * width if len(obs_shape) == 3 else 2 * obs_dim * width
        tokens += dense(obs_dim, width)  # the observation token
        per_layer = 2 * width + 4 * dense(width, width) + 2 * width + dense(width, 4 * width) + dense(4 * width, width)
        return tokens + depth * per_layer + 2 * width + dense(2 * width, 4 * width) + dense(4 * width, out_dim)
    if kind == "conv":
        return dense(9 * c, width) + dense(h * w * width, 128) + dense(128, out_dim)
    if kind == "cnn":
        return dense(9 * c, depth) + dense(h * w * depth, width) + dense(width, out_dim)
    raise ConfigError(f"no parameter count for architecture kind {kind!r}")


def _check_act(act: str, spec: str) -> None:
    if act not in ACTIVATION_NAMES:
        raise ConfigError(f"architecture {spec!r}: unknown activation {act!r}; use one of {', '.join(ACTIVATION_NAMES)}")
