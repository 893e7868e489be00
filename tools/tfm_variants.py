"""Plain BC of variants of the transformer policy (``hades_zoo.policies.ObsTransformer``), 8 seeds per
dataset, evaluated with the dataset's protocol: how issue 18's third pass chose the transformer's
head, and its fourth pass the observation token. Each variant is a JSON object: ``name`` and any
field of ``Variant`` below.

    PYTHONPATH=$PWD python tools/tfm_variants.py cartpole-hades-r-4,acrobot-hades-r-4 \\
        '[{"name":"no obs token","obs":"none"},{"name":"obs token, concat (main)"},{"name":"obs token, cls","obs":"cls"}]'

``Variant()`` (its defaults) is main's ``tfm-1x64-gelu`` (same structure and parameter names, so the
same initial parameters: ``tests/test_train.py`` checks it); ``Variant(obs="none")`` is the
transformer before issue 18's fourth pass. ``tools/screen_transfer.py`` takes these fields under
``"tfm"`` to screen a variant through the teacher.
"""
import json
import sys
import time

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

import hades_zoo
from hades_zoo.policies import _ZEROS, ACTIVATIONS, EMBED_STD, _dense, orthogonal


class Variant(nn.Module):
    width: int
    out_dim: int
    token: str = "lin"  # lin: x_d * value_d + embed_d; mlp: Dense(act(x_d * value_d + embed_d))
    head: str = "mlp"  # lin: Dense; mlp: Dense(4 width) -> act -> Dense; mlpres: pooled + MLP(pooled) -> Dense
    # the observation token (a linear projection of the whole observation plus its own embedding) and what the
    # head reads: none: no such token, the mean of the dim tokens; mean: the mean of all tokens; cls: the
    # observation token alone; concat: the observation token beside the mean of the dim tokens
    obs: str = "concat"
    act: str = "gelu"
    layers: int = 1
    value_std: float = 1.0
    embed_std: float = EMBED_STD
    res_init: float = -1.0  # >= 0: the residual branches' output layers start at this orthogonal gain (0: zeros)
    final_ln: bool = True
    heads: int = 4

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS[self.act]
        lead, d = x.shape[:-1], x.shape[-1]
        x = x.reshape((-1, d))
        value = self.param("value", nn.initializers.normal(self.value_std), (d, self.width))
        embed = self.param("embed", nn.initializers.normal(self.embed_std), (d, self.width))
        h = x[..., None] * value + embed
        if self.token == "mlp":
            h = _dense(self.width)(act(h))
        if self.obs != "none":
            tok = nn.Dense(self.width, kernel_init=nn.initializers.lecun_normal(),
                           bias_init=nn.initializers.normal(self.embed_std), name="obs")(x)
            h = jnp.concatenate([tok[:, None, :], h], axis=-2)
        for _ in range(self.layers):
            if self.res_init < 0:
                h = h + nn.MultiHeadDotProductAttention(num_heads=self.heads)(nn.LayerNorm()(h))
                h = h + _dense(self.width)(act(_dense(4 * self.width)(nn.LayerNorm()(h))))
            else:
                ki = _ZEROS if self.res_init == 0 else orthogonal(self.res_init)
                h = h + nn.MultiHeadDotProductAttention(num_heads=self.heads, out_kernel_init=ki)(nn.LayerNorm()(h))
                h = h + nn.Dense(self.width, kernel_init=ki, bias_init=_ZEROS)(act(_dense(4 * self.width)(nn.LayerNorm()(h))))
        h = nn.LayerNorm()(h) if self.final_ln else h
        if self.obs == "cls":
            pooled = h[:, 0]
        elif self.obs == "concat":
            pooled = jnp.concatenate([h[:, 0], h[:, 1:].mean(axis=-2)], axis=-1)
        else:
            pooled = h.mean(axis=-2)
        out = _dense(self.out_dim, head=True)  # built first, as in ObsTransformer: flax names submodules in build order
        if self.head == "mlp":
            pooled = act(_dense(4 * self.width)(pooled))
        elif self.head == "mlpres":
            pooled = pooled + _dense(self.width)(act(_dense(4 * self.width)(pooled)))
        return out(pooled).reshape((*lead, self.out_dim))


if __name__ == "__main__":
    names, variants = sys.argv[1].split(","), json.loads(sys.argv[2])
    seeds = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    for name in names:
        ds = hades_zoo.load(name)
        for v in variants:
            v = dict(v)
            label, t = v.pop("name"), time.time()
            trained = hades_zoo.train(ds, Variant(v.pop("width", 64), ds.spec.action_dim, **v), num_seeds=seeds, transfer="none")
            r = hades_zoo.evaluate(trained)
            print(f"{name:<20} {label:<24} plain BC {np.mean(r.returns):8.1f} {np.round(r.returns, 0).tolist()} "
                  f"{time.time() - t:.0f}s", flush=True)
