"""Architecture specs -> flax modules, and the policy heads behaviour cloning trains.

A *network* is any flax module mapping a flat observation batch ``(..., obs_dim)``
to ``(..., out_dim)``: action means for continuous envs, logits for discrete ones.
``Policy`` adds what the paper adds around it: a learned, state-independent
``log_std`` for a Gaussian, or a categorical over logits. The log-std lives
beside the network's own parameters (``{"net": ..., "log_std": ...}``) so that the
network's parameter paths, and therefore its initialisation from a given key,
match the authors' ``Dense_0/Dense_1/Dense_2`` exactly.

Architecture strings (``parse_arch``; their grammar and checks live in ``hades_zoo.archs``):
  ``mlp-{depth}x{width}-{act}``      plain MLP, e.g. ``mlp-2x512-tanh``
  ``resmlp-{blocks}x{width}-{act}``  residual MLP blocks with layer norm
  ``attn-{layers}x{width}-{act}``    self-attention over observation features (the published ``attn-1x64-gelu``)
  ``tfm-{layers}x{width}-{act}``     a transformer over observation tokens (one per dim, or per image cell)
                                     with a learned dimension embedding, one observation token (a
                                     projection of the whole observation), pre-norm blocks, a pooled head
  ``conv-{channels}-{act}``           small conv-net for image observations (MinAtar)
  ``cnn-{channels}x{width}-{act}``    the authors' MNIST CNN: conv 3x3 SAME -> act -> dense(width)
                                     -> act -> dense, flax default inits, biases U(0, 0.05)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from hades_zoo.archs import ACTIVATION_NAMES, ARCH_EXAMPLES, check_arch, n_params  # noqa: F401 (re-exported)
from hades_zoo.errors import ConfigError

ACTIVATIONS: dict[str, Callable] = {  # keys: archs.ACTIVATION_NAMES
    "relu": nn.relu,
    "tanh": nn.tanh,
    "gelu": nn.gelu,
    "elu": nn.elu,
    "silu": nn.silu,
    "swish": nn.silu,
    "leaky_relu": nn.leaky_relu,
}

def _gram_schmidt(z: jax.Array) -> jax.Array:
    """Orthonormal columns of a tall ``z`` with a positive R diagonal: the same Q as
    ``qr(z)`` followed by the sign fix of ``jax.random.orthogonal``, computed with
    reorthogonalised classical Gram-Schmidt (plain XLA ops, no LAPACK call)."""
    n = z.shape[1]
    idx = jnp.arange(n)

    def _column(j, q):
        v = jax.lax.dynamic_index_in_dim(z, j, axis=1, keepdims=False)
        mask = (idx < j).astype(z.dtype)
        for _ in range(2):  # the second pass restores orthogonality lost to rounding
            v = v - q @ ((q.T @ v) * mask)
        return q.at[:, j].set(v / jnp.linalg.norm(v))

    return jax.lax.fori_loop(0, n, _column, jnp.zeros_like(z))


def orthogonal(scale: float):
    """``jax.nn.initializers.orthogonal`` (same normal draw, same matrix up to rounding).

    On CPU the QR runs as Gram-Schmidt: jaxlib's LAPACK QR deadlocks when batched
    or nested in the engine's loops (vmapped over a population inside ``lax.scan``).
    """

    def init(key, shape, dtype=jnp.float32):
        n_rows, n_cols = math.prod(shape) // shape[-1], shape[-1]
        z = jax.random.normal(key, (max(n_rows, n_cols), min(n_rows, n_cols)), dtype)
        if jax.default_backend() == "cpu":
            q = _gram_schmidt(z)
        else:
            q, r = jnp.linalg.qr(z)
            q = q * jnp.sign(jnp.diagonal(r))[None, :]
        if n_rows < n_cols:
            q = q.T
        return (jnp.asarray(scale, dtype) * q).reshape(shape)

    return init


_HIDDEN_INIT = orthogonal(math.sqrt(2))
_HEAD_INIT = orthogonal(0.01)
_ZEROS = nn.initializers.constant(0.0)
assert tuple(ACTIVATIONS) == ACTIVATION_NAMES  # archs checks the names without flax


def _dense(features: int, head: bool = False) -> nn.Dense:
    return nn.Dense(features, kernel_init=_HEAD_INIT if head else _HIDDEN_INIT, bias_init=_ZEROS)


class MLP(nn.Module):
    """The paper's network: ``Dense -> act`` per hidden layer, then a small-init head."""

    hidden: Sequence[int]
    out_dim: int
    activation: str = "tanh"

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        for width in self.hidden:
            x = act(_dense(width)(x))
        return _dense(self.out_dim, head=True)(x)


class ResidualMLP(nn.Module):
    """Pre-norm residual blocks: a different inductive bias from the plain MLP."""

    blocks: int
    width: int
    out_dim: int
    activation: str = "relu"

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        x = _dense(self.width)(x)
        for _ in range(self.blocks):
            h = nn.LayerNorm()(x)
            h = _dense(self.width)(act(_dense(self.width)(h)))
            x = x + h
        return _dense(self.out_dim, head=True)(act(x))


class FeatureAttention(nn.Module):
    """Treats each observation feature as a token (value embedding + learned
    position), applies self-attention blocks, mean-pools: no MLP at all on the
    raw observation vector."""

    layers: int
    width: int
    out_dim: int
    activation: str = "gelu"
    heads: int = 4

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        n = x.shape[-1]
        value = nn.Dense(self.width, kernel_init=nn.initializers.normal(1.0))(x[..., None])
        pos = self.param("pos", nn.initializers.normal(0.02), (n, self.width))
        h = value + pos
        for _ in range(self.layers):
            h = h + nn.MultiHeadDotProductAttention(num_heads=self.heads)(nn.LayerNorm()(h))
            h = h + _dense(self.width)(act(_dense(self.width)(nn.LayerNorm()(h))))
        return _dense(self.out_dim, head=True)(act(h.mean(axis=-2)))


EMBED_STD = 0.3


class ObsTransformer(nn.Module):
    """A small transformer over observation tokens: token ``d`` of a flat observation is
    ``x_d * value_d + embed_d`` (its own scale per dim: a dim's number means nothing
    without knowing which dim it is); an image ``(H, W, C)`` gives one token per cell,
    ``Dense(C)`` plus the cell's embedding. Beside them sits one *observation token*, a linear
    projection of the whole observation plus its own embedding (a CLS token that starts from
    the observation). Pre-norm blocks (attention, then a 4x MLP), a final layer norm; the head
    reads the observation token beside the mean of the dim tokens, through an MLP
    (``Dense(4 x width) -> act -> small-init Dense``).

    The dimension embedding starts at std ``EMBED_STD`` (0.3), the value at 1: a token is then
    led by its value where the distilled pairs lie (|x| of a few units) yet keeps its dim's
    identity near 0, where the layer norm would otherwise reduce ``x_d * value_d`` to its sign.
    Plain BC, 8 seeds of tfm-1x64-gelu: CartPole R-4 424 -> 438, Acrobot R-4 -170 -> -112
    (embedding std 1.0 -> 0.3).

    The head's hidden layer lets the pooled dims interact (mean pooling alone sums per-token
    features): through the teacher (issue 18, 4 seeds) it took hopper R from 0.72 to 0.95 of the
    teacher and CartPole R-4 to 1.00. Per-dim tokens alone still fitted the tanh teachers of the
    other brax datasets poorly (hopper F 0.35, walker2d R 0.68, halfcheetah R 0.78) and plain BC
    stayed short (CartPole R-4 0.83, Acrobot R-4 0.89): the observation token gives attention
    and the head the whole observation at once (README "The transformer's observation token")."""

    layers: int
    width: int
    out_dim: int
    activation: str = "gelu"
    image_shape: Sequence[int] = ()
    heads: int = 4

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        lead = x.shape[:-1]
        x = x.reshape((-1, x.shape[-1]))
        if len(self.image_shape) == 3:
            cells = x.reshape((-1, self.image_shape[0] * self.image_shape[1], self.image_shape[2]))
            h = _dense(self.width)(cells)
        else:
            value = self.param("value", nn.initializers.normal(1.0), (x.shape[-1], self.width))
            h = x[..., None] * value
        h = h + self.param("embed", nn.initializers.normal(EMBED_STD), (h.shape[-2], self.width))
        obs = nn.Dense(self.width, kernel_init=nn.initializers.lecun_normal(),
                       bias_init=nn.initializers.normal(EMBED_STD), name="obs")(x)
        h = jnp.concatenate([obs[:, None, :], h], axis=-2)
        for _ in range(self.layers):
            h = h + nn.MultiHeadDotProductAttention(num_heads=self.heads)(nn.LayerNorm()(h))
            h = h + _dense(self.width)(act(_dense(4 * self.width)(nn.LayerNorm()(h))))
        h = nn.LayerNorm()(h)
        pooled = jnp.concatenate([h[:, 0], h[:, 1:].mean(axis=-2)], axis=-1)
        out = _dense(self.out_dim, head=True)(act(_dense(4 * self.width)(pooled)))
        return out.reshape((*lead, self.out_dim))


class ConvNet(nn.Module):
    """A small conv-net for image observations, given flat and reshaped here."""

    image_shape: Sequence[int]
    channels: int
    out_dim: int
    activation: str = "relu"

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        lead = x.shape[:-1]
        img = x.reshape((-1, *self.image_shape))
        h = act(nn.Conv(self.channels, (3, 3), kernel_init=_HIDDEN_INIT, bias_init=_ZEROS)(img))
        h = h.reshape((h.shape[0], -1))
        h = act(_dense(128)(h))
        return _dense(self.out_dim, head=True)(h).reshape((*lead, self.out_dim))


class AuthorsCNN(nn.Module):
    """The behaviour-distillation authors' MNIST classifier (shared/reference/release/README.md):
    ``Conv(channels, 3x3, SAME) -> act -> flatten -> Dense(width) -> act -> Dense(out)``; flax's
    default kernel inits, bias init uniform(0.05) on the conv and the hidden dense."""

    image_shape: Sequence[int]
    channels: int
    width: int
    out_dim: int
    activation: str = "relu"

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        lead = x.shape[:-1]
        h = act(nn.Conv(self.channels, (3, 3), padding="SAME", bias_init=nn.initializers.uniform(0.05))(
            x.reshape((-1, *self.image_shape))))
        h = act(nn.Dense(self.width, bias_init=nn.initializers.uniform(0.05))(h.reshape((h.shape[0], -1))))
        return nn.Dense(self.out_dim)(h).reshape((*lead, self.out_dim))


def parse_arch(spec: str, out_dim: int, obs_shape: Sequence[int] = ()) -> nn.Module:
    """Build the network an architecture string names (``hades_zoo.archs`` checks it first)."""
    a = check_arch(spec, out_dim, obs_shape)
    if a.kind == "conv":
        return ConvNet(tuple(obs_shape), a.width, out_dim, a.act)
    if a.kind == "mlp":
        return MLP((a.width,) * a.depth, out_dim, a.act)
    if a.kind == "cnn":
        return AuthorsCNN(tuple(obs_shape), a.depth, a.width, out_dim, a.act)
    if a.kind == "resmlp":
        return ResidualMLP(a.depth, a.width, out_dim, a.act)
    if a.kind == "tfm":
        return ObsTransformer(a.depth, a.width, out_dim, a.act, tuple(obs_shape) if len(obs_shape) == 3 else ())
    return FeatureAttention(a.depth, a.width, out_dim, a.act)


@dataclasses.dataclass(frozen=True)
class Policy:
    """A network plus its action distribution; hashable so jitted builders can cache on it.

    ``discrete``: categorical over ``net`` logits; else a diagonal Gaussian with
    mean ``net(obs)`` and a learned state-independent ``log_std`` (init 0).
    """

    net: nn.Module
    obs_dim: int
    action_dim: int
    discrete: bool

    def init(self, key: jax.Array) -> dict:
        params = {"net": self.net.init(key, jnp.zeros((self.obs_dim,), jnp.float32))}
        if not self.discrete:
            params["log_std"] = jnp.zeros((self.action_dim,), jnp.float32)
        return params

    def __call__(self, params: dict, obs: jax.Array) -> jax.Array:
        return self.net.apply(params["net"], obs)

    def log_prob(self, params: dict, obs: jax.Array, target: jax.Array) -> jax.Array:
        """Continuous: Gaussian log-density summed over action dims, per pair."""
        mean = self(params, obs)
        log_std = params["log_std"]
        z = (target - mean) * jnp.exp(-log_std)
        return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)

    def act(self, key: jax.Array, params: dict, obs: jax.Array, sample: bool = True) -> jax.Array:
        """An action for ``obs``: sampled (the paper's eval) or the mode (greedy)."""
        out = self(params, obs)
        if self.discrete:
            return jax.random.categorical(key, out) if sample else jnp.argmax(out, axis=-1)
        if not sample:
            return out
        return out + jnp.exp(params["log_std"]) * jax.random.normal(key, out.shape)


def make_policy(model, obs_shape: Sequence[int], action_dim: int, discrete: bool) -> Policy:
    """A ``Policy`` from an architecture string or any flax module (obs -> out)."""
    obs_dim = int(math.prod(obs_shape))
    if isinstance(model, str):
        model = parse_arch(model, action_dim, obs_shape)
    elif not isinstance(model, nn.Module):
        raise ConfigError(
            f"model must be an architecture string (e.g. {ARCH_EXAMPLES[0]!r}) or a flax.linen.Module, "
            f"got {type(model).__name__}"
        )
    return Policy(model, obs_dim, action_dim, discrete)
