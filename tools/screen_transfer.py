"""Screen variants of fresh-anchor teacher transfer (``hades_zoo.transfer.FreshOpts``) on one dataset.

Per variant: the held-out agreement with the teacher on data anchors (no env: what
``select="agreement"`` looks at), the agreement on the states the teacher visits in its env
(a diagnostic only: raw means, and the clipped actions the env applies), and with ``eval`` the
paper-protocol return. How the default of ``transfer="teacher"`` was chosen (issue 18):

    PYTHONPATH=$PWD python tools/screen_transfer.py hopper-r0.safetensors resmlp-2x256-relu 4 \
        '[{"name":"base"},{"name":"winner","steps":600,"schedule":"cosine","mixup":0.5,"scales":[0.5,1,2]}]' eval

Each variant is a JSON object: ``name``, optional ``arch``, ``steps``, ``lr``, ``n`` (anchors per
step, 512), ``tfm`` (the fields of a ``tools/tfm_variants.py`` ``Variant``, trained in place of
the arch string's network, which still names the recipe) and any ``FreshOpts`` field. Seeds and inits are ``hades_zoo.train``'s (seed 0).
"""
import sys, time, json, dataclasses
import numpy as np, jax, jax.numpy as jnp
import hades_zoo
from hades_zoo import anchors as A, transfer as T
from hades_zoo.policies import make_policy
from hades_zoo.bc import init_params
from hades_zoo.recipe import InitSpec
from tfm_variants import Variant  # tools/, the script's own folder, is first on sys.path

path, arch0, seeds = sys.argv[1], sys.argv[2], int(sys.argv[3])
variants = json.loads(sys.argv[4])  # list of dicts: {name, steps, lr, n, opts..}
do_eval = len(sys.argv) > 5 and sys.argv[5] == "eval"
ds = hades_zoo.load(path)
t0 = time.time()
teacher = hades_zoo.train(ds, num_seeds=seeds, transfer="none")
print(f"teacher {time.time()-t0:.0f}s log_std {np.asarray(teacher.params['log_std']).round(2).tolist() if 'log_std' in teacher.params else ''}", flush=True)
held_s, held_l = T.held_out(teacher, "teacher")
vis = A.visited_states(teacher, 2048, seed=7)
vis_l = A.label(teacher, vis)
spec = ds.spec
x = np.asarray(ds.states, np.float32).reshape(ds.size, -1); sd = np.maximum(x.std(0), 0.1)
def nn_dist(p):
    d = ((p[:, None, :] - x[None]) / sd) ** 2
    return np.sqrt(d.sum(-1).min(1))
print("nn-dist (std units) visited: median %.2f p90 %.2f; held-out anchors: median %.2f p90 %.2f; pairs-to-pairs %.2f" % (
    np.median(nn_dist(vis)), np.percentile(nn_dist(vis), 90), np.median(nn_dist(held_s)), np.percentile(nn_dist(held_s), 90),
    np.median(np.sort(np.sqrt((((x[:, None] - x[None]) / sd) ** 2).sum(-1)), 1)[:, 1])), flush=True)
print("teacher |mean| on visited: mean %.2f, frac >1: %.2f" % (np.abs(vis_l).mean(), (np.abs(vis_l) > 1).mean()), flush=True)
print("visited per-dim mean/std in pair-std units:", np.round((vis.mean(0) - x.mean(0)) / sd, 2).tolist(), np.round(vis.std(0) / sd, 2).tolist(), flush=True)
keys = [jax.random.fold_in(jax.random.PRNGKey(0), i) for i in range(seeds)]
if do_eval:
    te = hades_zoo.evaluate(teacher, protocol="paper")
    print("teacher return", np.round(te.returns, 0).tolist(), float(np.mean(te.returns)), flush=True)
for v in variants:
    v = dict(v)
    arch = v.pop("arch", arch0)
    tfm = v.pop("tfm", None)  # the fields of a tools/tfm_variants.py Variant, trained in place of arch's network
    net = arch if tfm is None else Variant(tfm.pop("width", 64), spec.action_dim, **tfm)
    pol = make_policy(net, spec.obs_shape, spec.action_dim, spec.discrete)
    p0 = init_params(pol, InitSpec(), keys)
    name = v.pop("name"); steps = v.pop("steps", ds.recipe.epochs); lr = v.pop("lr", ds.recipe.lr); n = v.pop("n", 512)
    if "scales" in v: v["scales"] = tuple(v["scales"])
    opts = T.FreshOpts(**v)
    rec = dataclasses.replace(ds.recipe, arch=arch, epochs=steps, lr=lr, init=InitSpec())
    t1 = time.time()
    fn, (k, *rest) = T.fresh_bc(pol, rec, teacher, n, 0, opts)
    params = jax.block_until_ready(fn(p0, k, *rest))
    dt = time.time() - t1
    ho = T.agreement(pol, params, held_s, held_l); vi = T.agreement(pol, params, vis, vis_l)
    out = np.asarray(jax.vmap(pol.__call__, in_axes=(0, None))(params, jnp.asarray(vis)))
    clip = np.mean((np.clip(out, -1, 1) - np.clip(vis_l, -1, 1)) ** 2, axis=(1, 2)) if not spec.discrete else vi
    line = f"{name:<28} {dt:5.0f}s held {np.mean(ho):.4f} visited {np.mean(vi):.4f} clipped {np.mean(clip):.4f} per-seed clipped {np.round(clip,3).tolist()}"
    if do_eval:
        st = dataclasses.replace(teacher, policy=pol, params=params, recipe=rec, arch=arch, teacher=None)
        r = hades_zoo.evaluate(st, protocol="paper")
        line += f" return {np.mean(r.returns):.0f} {np.round(r.returns,0).tolist()}"
    print(line, flush=True)
