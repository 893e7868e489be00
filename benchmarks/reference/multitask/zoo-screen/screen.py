"""Whole-zoo screen: cached teachers/anchors, BC variants, eval of chosen sources (commands.sh).

With START=N: start from the e800 run's weights at N steps and first add every source's student rollout
states, labelled by its (retrained, same-seed) teacher, to its anchors: a student round (DAgger)."""
import dataclasses, json, os, sys, time
import numpy as np, jax, jax.numpy as jnp
import hades_zoo
from hades_zoo.multitask.merging import load_merged
from hades_zoo.multitask.policy import VARIANTS, make_multitask_policy, packed_states
from hades_zoo.multitask.train import make_anchors, MultiTaskTrained
from hades_zoo.multitask.batches import anchor_batch, batched_anchor_bc
from hades_zoo.recipe import Recipe, InitSpec, joint_recipe, get_protocol
from hades_zoo.bc import init_params
from hades_zoo.api import evaluate

S = int(os.environ.get("SEEDS", 2)); OUT = os.environ.get("OUT", ".")  # the merged zoo.safetensors, the caches and the results
variant = sys.argv[1]; over = dict(kv.split("=") for kv in sys.argv[2:])
merged = load_merged(f"{OUT}/zoo.safetensors")
cfg = VARIANTS["anchored-padded"]  # the default when these screens ran (zero-padded inputs, the recipe's steps)
cache = f"{OUT}/anchors-s{S}.npz"; tj = f"{OUT}/teachers-s{S}.json"
names = [merged.source_label(k) for k in range(len(merged.sources))]
pick = [n for n in names if any(x in n for x in os.environ.get("PICK", "reacher,humanoid,walker2d,asterix,breakout,spaceinvaders-minatar-hades-f,hopper-hades-f,inverted-double-pendulum-hades-f,halfcheetah-hades-r,acrobot-hades-r").split(","))]
if not os.path.exists(cache):
    t = time.time()
    teachers, st, tg, pools = make_anchors(merged, cfg, seed=0, num_seeds=S)
    np.savez(cache, states=st, targets=tg, pools=np.array(pools))
    tr = {}
    for k, n in enumerate(names):
        if n in pick:
            r = evaluate(teachers[k]); tr[n] = r.returns; print("teacher", n, r.mean, flush=True)
    json.dump(tr, open(tj, "w")); print("anchors+teachers", time.time() - t, flush=True)
z = np.load(cache); a_states, a_targets, pools = z["states"], z["targets"], tuple(int(p) for p in z["pools"])
teacher_returns = json.load(open(tj))
base = joint_recipe(Recipe.from_dict(s["metadata"]["recipe"]) for s in merged.sources)
recipe = dataclasses.replace(base, epochs=int(over.pop("epochs", base.epochs)), lr=float(over.pop("lr", base.lr)))
arch = over.pop("arch", base.arch); recipe = dataclasses.replace(recipe, arch=arch)
cfg = dataclasses.replace(cfg, **over)
policy = make_multitask_policy(merged, arch, cfg)
seeds = list(range(S))
params0 = init_params(policy, InitSpec(), [jax.random.fold_in(jax.random.PRNGKey(0), i) for i in seeds])
states = np.concatenate([packed_states(merged, cfg.unit), a_states])
targets = np.concatenate([np.repeat(merged.targets[None], S, 0), a_targets], axis=1)
batch = anchor_batch(cfg, pools)
if os.environ.get("START"):  # a student round (DAgger) from e800's weights at START steps
    from hades_zoo.anchors import rollout_states, label, draw_states
    from hades_zoo.api import train
    _z = np.load(f"{OUT}/params-e800-{os.environ.get('START','400')}.npz"); leaves = [_z[f"arr_{i}"] for i in range(len(_z.files))]
    params0 = jax.tree.unflatten(jax.tree.structure(params0), [jnp.asarray(l) for l in leaves])
    trained0 = MultiTaskTrained(policy, params0, merged, recipe, arch, cfg, seeds)
    n_pairs = merged.size
    blocks_s, blocks_t, new_pools = [], [], []
    start = n_pairs
    td = time.time()
    for k, n in enumerate(names):
        old_s = a_states[start - n_pairs: start - n_pairs + pools[k]]; old_t = a_targets[:, start - n_pairs: start - n_pairs + pools[k]]
        start += pools[k]
        view = trained0.source(k)
        vs = rollout_states(view, seed=0)
        vs = vs if len(vs) <= pools[k] else draw_states(vs, pools[k], 0)
        teacher = train(merged.source_dataset(k), seed=0, num_seeds=S)
        lab = label(teacher, vs)
        O_, T_, A_ = policy.obs_max, policy.n_tasks, merged.action_dim
        ps = np.concatenate([np.pad(vs, ((0, 0), (0, O_ - vs.shape[1]))), np.repeat(old_s[:1, O_:], len(vs), 0)], axis=1)
        blocks_s += [old_s, ps]; blocks_t += [old_t, np.pad(lab, ((0, 0), (0, 0), (0, A_ - lab.shape[-1])))]
        new_pools.append(pools[k] + len(vs))
        print(f"dagger {n}: +{len(vs)} student states ({time.time()-td:.0f}s)", flush=True)
    a_states = np.concatenate(blocks_s); a_targets = np.concatenate(blocks_t, axis=1); pools = tuple(new_pools)
    states = np.concatenate([packed_states(merged, cfg.unit), a_states])
    targets = np.concatenate([np.repeat(merged.targets[None], S, 0), a_targets], axis=1)
    batch = anchor_batch(cfg, pools)
t = time.time()
from hades_zoo.bc import make_bc_steps, optimizer
from hades_zoo.multitask.batches import anchor_sampler
CH = int(os.environ.get("CHUNK", recipe.epochs))
bc_policy = policy
if policy.net.view_width:  # inputs=disjoint: each source's rows through its own view only, as train_multitask
    from hades_zoo.multitask.batches import batch_blocks
    bc_policy = dataclasses.replace(policy, blocks=batch_blocks(states[:, policy.obs_max:].argmax(1), merged.size, pools, batch))
run = make_bc_steps(bc_policy, recipe, CH, anchor_sampler(merged.size, pools, batch))
tx = optimizer(recipe)
step = jax.jit(jax.vmap(lambda p, o, k, s, y: run(p, o, s, y, k), in_axes=(0, 0, 0, None, 0)))
params, opt = params0, jax.vmap(tx.init)(params0)
S_, T_ = jnp.asarray(states), jnp.asarray(targets)
for c in range(recipe.epochs // CH):
    keys = jnp.stack([jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(0), i), 1), c) for i in seeds])
    params, opt = jax.block_until_ready(step(params, opt, keys, S_, T_))
    print(f"chunk {c+1}: {(c+1)*CH} steps, {time.time()-t:.0f}s", flush=True)
    if c + 1 < recipe.epochs // CH: np.savez(f"{OUT}/params-{variant}-{(c+1)*CH}.npz", *[np.asarray(l) for l in jax.tree.leaves(params)])
bc_s = time.time() - t; print(f"{variant}: bc {bc_s:.0f}s batch {batch} steps {recipe.epochs} arch {arch}", flush=True)
# diagnostics: per-source std and anchor fit (MSE or argmax agreement on its anchors)
O, T = policy.obs_max, policy.n_tasks
diag = {}
start = merged.size
for k, n in enumerate(names):
    rows = np.arange(start, start + pools[k]); start += pools[k]
    rows = rows[np.random.default_rng(k).choice(len(rows), min(1024, len(rows)), replace=False)]
    x = jnp.asarray(states[rows]); disc = policy.task_discrete[k]; A = policy.action_dims[k]
    fit = []
    for i in seeds:
        p = jax.tree.map(lambda l: l[i], params)
        out = np.asarray(policy(p, x[:, :O], x[:, O:O + T]))[:, :A]; y = targets[i][rows][:, :A]
        fit.append(float((out.argmax(-1) == y.argmax(-1)).mean()) if disc else float(((out - y) ** 2).mean()))
    std = None if disc else float(np.exp(np.asarray(params["log_std"])[:, k, :A]).mean())
    diag[n] = {"fit": float(np.mean(fit)), "std": std}
trained = MultiTaskTrained(policy, params, merged, recipe, arch, cfg, seeds)
res = {}
for k, n in enumerate(names):
    if n not in pick: continue
    r = evaluate(trained.source(k)); tr = teacher_returns[n]
    rnd = None
    res[n] = {"returns": r.returns, "teacher": tr, **diag[n]}
    print(f"{n:36s} mt {r.mean:10.1f} teacher {np.mean(tr):10.1f} ratio {r.mean/np.mean(tr) if np.mean(tr) else float('nan'):6.2f}  fit {diag[n]['fit']:.4f} std {diag[n]['std']}", flush=True)
json.dump({"variant": variant, "over": sys.argv[2:], "bc_s": bc_s, "diag": diag, "res": res}, open(f"{OUT}/screen-{variant}.json", "w"))
