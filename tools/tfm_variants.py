"""Plain BC of variants of the transformer policy (``hades_zoo.policies.ObsTransformer``), 8 seeds per
dataset, evaluated with the dataset's protocol: how issue 18's third pass chose the transformer's
head. Each variant is a JSON object: ``name`` and any field of ``Variant`` below.

    PYTHONPATH=$PWD python tools/tfm_variants.py cartpole-hades-r-4,acrobot-hades-r-4 \\
        '[{"name":"linear head","head":"lin"},{"name":"MLP head (main)"},{"name":"MLP tokens","token":"mlp","head":"lin"}]'

``Variant(token="lin", head="mlp")`` is main's ``tfm-1x64-gelu`` (same structure, its own parameter names).
"""
import json
import sys
import time

import flax.linen as nn
import numpy as np

import hades_zoo
from hades_zoo.policies import _ZEROS, ACTIVATIONS, _dense, orthogonal


class Variant(nn.Module):
    width: int
    out_dim: int
    token: str = "lin"  # lin: x_d * value_d + embed_d; mlp: Dense(act(x_d * value_d + embed_d))
    head: str = "mlp"  # lin: Dense; mlp: Dense(4 width) -> act -> Dense; mlpres: pooled + MLP(pooled) -> Dense
    value_std: float = 1.0
    embed_std: float = 0.3
    res_init: float = -1.0  # >= 0: the residual branches' output layers start at this orthogonal gain (0: zeros)
    final_ln: bool = True
    heads: int = 4

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS["gelu"]
        lead, d = x.shape[:-1], x.shape[-1]
        x = x.reshape((-1, d))
        value = self.param("value", nn.initializers.normal(self.value_std), (d, self.width))
        embed = self.param("embed", nn.initializers.normal(self.embed_std), (d, self.width))
        h = x[..., None] * value + embed
        if self.token == "mlp":
            h = _dense(self.width)(act(h))
        if self.res_init < 0:
            h = h + nn.MultiHeadDotProductAttention(num_heads=self.heads)(nn.LayerNorm()(h))
            h = h + _dense(self.width)(act(_dense(4 * self.width)(nn.LayerNorm()(h))))
        else:
            ki = _ZEROS if self.res_init == 0 else orthogonal(self.res_init)
            h = h + nn.MultiHeadDotProductAttention(num_heads=self.heads, out_kernel_init=ki)(nn.LayerNorm()(h))
            h = h + nn.Dense(self.width, kernel_init=ki, bias_init=_ZEROS)(act(_dense(4 * self.width)(nn.LayerNorm()(h))))
        pooled = (nn.LayerNorm()(h) if self.final_ln else h).mean(axis=-2)
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
            trained = hades_zoo.train(ds, Variant(64, ds.spec.action_dim, **v), num_seeds=seeds, transfer="none")
            r = hades_zoo.evaluate(trained)
            print(f"{name:<20} {label:<24} plain BC {np.mean(r.returns):8.1f} {np.round(r.returns, 0).tolist()} "
                  f"{time.time() - t:.0f}s", flush=True)
