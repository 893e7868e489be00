"""Does a source hold when it shares the network with others? Controlled screens that train
every source's teacher and anchors once and reuse them in every run.

    python examples/multitask_share.py --focus A,B,... [--others C,D,...] [--seeds 2] [--out runs.jsonl] \
        --run "LABEL=SUBSET[,key=value...]" ...

``SUBSET`` is ``focus`` (the focus sources merged alone), ``all`` (focus and others merged) or
some of them joined by ``+``.
``key=value``: ``arch``, ``lr``, ``epochs``, ``grad_clip`` (``none`` for no clip) set the BC recipe
(default: the subset's joint recipe, as ``train_multitask``); any ``MultiTaskConfig`` field
(``conditioning=onehot``, ``anchor_batch=273``) overrides the default variant. Every focus source
is scored through its view under its own protocol and normalised (random 0, its own recipe 1:
the anchors' teachers, same seeds). The others are trained beside them only, with data
anchors (no env step), and not scored in their envs: their final loss stands for their fit.
Every run also records, per source and at the end of training, its loss and the norm of its
weighted gradient on the shared layers (every layer but the heads), on all pairs and 256 of
each source's anchors: how well it fits and how hard it pulls on the trunk. ``dagger=N``: N
rounds that roll the student out through each focus source's view, label the states it visits
by that source's teachers, add them to its anchors and train again. One JSON line per run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from hades_zoo.anchors import anchor_states, batched_bc_per_seed, label, visited_states
from hades_zoo.api import evaluate, train
from hades_zoo.bc import init_params
from hades_zoo.multitask import VARIANTS, merge
from hades_zoo.multitask.batches import anchor_batch as resolve_anchor_batch, batched_anchor_bc
from hades_zoo.multitask.policy import make_multitask_policy, packed_states
from hades_zoo.multitask.train import MultiTaskTrained, source_anchor_kinds
from hades_zoo.recipe import InitSpec, Recipe, get_protocol, joint_recipe
from hades_zoo.scores import normalised_score, random_return

RECIPE_KEYS = ("arch", "lr", "epochs", "grad_clip")
SCRIPT_KEYS = ("dagger",)  # rounds: roll the student out, label its states by the teachers, add them, train again
DIAG_ANCHORS = 256


def parse_run(text: str):
    label_, _, rest = text.partition("=")
    subset, *parts = rest.split(",")
    fields = {f.name: f for f in dataclasses.fields(VARIANTS["anchored"])}
    recipe, cfg = {}, {}
    for kv in parts:
        key, _, value = kv.partition("=")
        if key in SCRIPT_KEYS:
            recipe[key] = int(value)
        elif key in RECIPE_KEYS:
            recipe[key] = {"arch": str, "lr": float, "epochs": int}.get(key, lambda v: None if v == "none" else float(v))(value)
        elif key in fields:
            cfg[key] = int(value) if value.lstrip("-").isdigit() else value
        else:
            raise SystemExit(f"error: unknown key {key!r} in --run {text!r}")
    return label_, subset, recipe, cfg


def make_teachers(names, focus, seed, seeds, pool):
    """Per source name: (teacher, anchor kind, anchor states, labels (seeds, K, A_src))."""
    both = merge(list(names))
    kinds = source_anchor_kinds(both, "auto")
    rng, out = np.random.default_rng(seed), {}
    for k in range(len(both.sources)):
        name = both.source_label(k)
        kind = kinds[k][0] if name in focus else "data"
        t0 = time.perf_counter()
        teacher = train(both.source_dataset(k), seed=seed, num_seeds=seeds)
        points = anchor_states(teacher, pool, kind, seed=seed, rng=rng)
        out[name] = (teacher, kind, points, label(teacher, points))
        print(f"  teacher {name}: {kind} anchors, {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def references(teachers, focus, seed, seeds):
    refs, randoms = {}, {}
    for name in focus:
        teacher = teachers[name][0]
        ds = teacher.dataset
        proto = get_protocol(ds.protocol, ds.spec)
        own = evaluate(teacher, protocol=proto, seed=seed)
        if ds.env_id not in randoms:
            randoms[ds.env_id] = random_return(ds, proto, seed=seed, num_seeds=seeds)
        tol = max(float(np.std(own.returns)), float(np.std(randoms[ds.env_id].returns)))
        refs[name] = {"single_task_mean": own.mean, "single_task_returns": own.returns,
                      "random_mean": randoms[ds.env_id].mean, "tol": tol}
        print(f"  reference {name}: {own.mean:.2f} (random {randoms[ds.env_id].mean:.2f})", flush=True)
    return refs


def shared_norms(policy, params, states, targets):
    """Per unit: its loss and the norm of its weighted gradient on the shared layers (all but the
    per-unit heads and log-std), for one seed's parameters (``balance="task"``: every unit weighs 1/n)."""
    losses, counts = policy.task_losses(params, states, targets)
    T, A = policy.n_tasks, policy.action_max
    jac = jax.jacrev(lambda p: policy.task_losses(p, states, targets)[0])(params)
    sq = jnp.zeros(T)
    for path, leaf in jax.tree_util.tree_flatten_with_path(jac)[0]:
        keys = jax.tree_util.keystr(path)
        if "log_std" in keys or leaf.shape[-1] == T * A:  # the heads: the last layer's T blocks of A outputs
            continue
        sq = sq + jnp.sum(leaf.reshape(T, -1) ** 2, axis=1)
    present = (counts > 0).astype(jnp.float32)
    return np.asarray(losses), np.asarray(present / jnp.maximum(jnp.sum(present), 1.0) * jnp.sqrt(sq))


def run_one(label_, subset, recipe_over, cfg_over, names, focus, teachers, refs, seed, seeds, pool):
    t0 = time.perf_counter()
    chosen = subset.split("+") if "+" in subset else [n for n in names if subset == "all" or n in focus]
    if any(n not in names for n in chosen) or subset not in ("focus", "all") and "+" not in subset:
        raise SystemExit(f"error: the subset is focus, all or sources of --focus and --others joined by +, got {subset!r}")
    m = merge(chosen)
    labels = [m.source_label(k) for k in range(len(m.sources))]
    cfg = dataclasses.replace(VARIANTS["anchored"], **cfg_over)
    base = joint_recipe(Recipe.from_dict(s["metadata"]["recipe"]) for s in m.sources)
    dagger = recipe_over.pop("dagger", 0)
    recipe = dataclasses.replace(base, **recipe_over)
    policy = make_multitask_policy(m, recipe.arch, cfg)
    keys = [jax.random.fold_in(jax.random.PRNGKey(seed), i) for i in range(seeds)]
    params0 = init_params(policy, InitSpec(), keys)
    O, A, n = m.obs_dim, m.action_dim, len(labels)
    anchors = {name: (teachers[name][2], teachers[name][3]) for name in labels}
    batch = resolve_anchor_batch(cfg, n)
    bc_s = 0.0

    def fit(anchors):
        P = len(next(iter(anchors.values()))[0])
        a_states, a_targets = [], []
        for k, name in enumerate(labels):
            points, lab = anchors[name]
            a_states.append(np.concatenate([np.pad(points, ((0, 0), (0, O - points.shape[1]))),
                                            np.repeat(np.eye(n, dtype=np.float32)[k][None], P, 0)], axis=1))
            a_targets.append(np.pad(lab, ((0, 0), (0, 0), (0, A - lab.shape[-1]))))
        states = np.concatenate([packed_states(m), *a_states])
        targets = np.concatenate([np.repeat(m.targets[None], seeds, 0), *a_targets], axis=1)
        if batch:
            bc = batched_anchor_bc(policy, recipe, m.size, (P,) * n, batch)
            bkeys = jnp.stack([jax.random.fold_in(k, 1) for k in keys])
            params = jax.block_until_ready(bc(params0, bkeys, jnp.asarray(states), jnp.asarray(targets)))
        else:
            params = jax.block_until_ready(batched_bc_per_seed(policy, recipe)(params0, jnp.asarray(states), jnp.asarray(targets)))
        return params, states, targets, P

    def as_trained(params):
        return MultiTaskTrained(policy, params, m, recipe, recipe.arch, cfg, [seed + i for i in range(seeds)],
                                {}, {k: teachers[name][0] for k, name in enumerate(labels)},
                                {k: teachers[name][1] for k, name in enumerate(labels)})

    t1 = time.perf_counter()
    params, states, targets, P = fit(anchors)
    for r in range(dagger):  # the student's own visited states, labelled by each seed's teacher, join its anchors
        trained = as_trained(params)
        for k, name in enumerate(labels):
            points, lab = anchors[name]
            if name in focus:
                new = visited_states(trained.source(k), pool, seed=seed + 1 + r)
                new_lab = label(teachers[name][0], new)
            else:  # not rolled out: its own anchors twice, so that every block has the same size
                new, new_lab = teachers[name][2], teachers[name][3]
            anchors[name] = (np.concatenate([points, new]), np.concatenate([lab, new_lab], axis=1))
        params, states, targets, P = fit(anchors)
    bc_s = time.perf_counter() - t1
    print(f"  {label_}: {n} sources, {recipe.arch} lr {recipe.lr} {recipe.epochs} steps clip {recipe.grad_clip}, "
          f"balance {cfg.balance}, anchor batch {batch or 'full'}, {P} anchors per source, {dagger} DAgger rounds; "
          f"BC {bc_s:.0f} s", flush=True)
    # diagnostics: all pairs and the first DIAG_ANCHORS anchors of every source
    rows = np.concatenate([np.arange(m.size)] + [m.size + k * P + np.arange(DIAG_ANCHORS) for k in range(n)])
    diag = [shared_norms(policy, jax.tree.map(lambda x: x[i], params), jnp.asarray(states[rows]),
                         jnp.asarray(targets[i][rows])) for i in range(seeds)]
    loss, pull = (np.mean([d[j] for d in diag], axis=0) for j in range(2))
    trained = as_trained(params)
    per = {}
    for k, name in enumerate(labels):
        row = {"loss": float(loss[k]), "shared_grad": float(pull[k]),
               "shared_share": float(pull[k] / pull.sum()), "anchors": teachers[name][1]}
        if name in focus:
            view = trained.source(k)
            res = evaluate(view, protocol=get_protocol(view.dataset.protocol, view.dataset.spec), seed=seed)
            ref = refs[name]
            row.update(mean=res.mean, returns=res.returns, single_task_mean=ref["single_task_mean"],
                       random_mean=ref["random_mean"],
                       relative=normalised_score(res.mean, ref["single_task_mean"], ref["random_mean"], ref["tol"]))
        per[name] = row
    out = {"label": label_, "subset": subset, "sources": labels, "recipe": recipe.to_dict(), "config": vars(cfg),
           "anchor_batch": batch, "anchors_per_source": P, "dagger": dagger, "seeds": seeds, "per_source": per, "bc_s": round(bc_s, 1),
           "seconds": round(time.perf_counter() - t0, 1)}
    for name in labels:
        p = per[name]
        score = f"{p['relative']:.2f} ({p['mean']:.1f})" if "relative" in p else "-"
        print(f"    {name:<36} {score:>16}  loss {p['loss']:8.3f}  "
              f"shared pull {p['shared_grad']:.3g} ({100 * p['shared_share']:.0f} %)", flush=True)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--focus", required=True, help="comma-separated sources that are scored")
    parser.add_argument("--others", default="", help="comma-separated sources trained beside them (data anchors, not scored)")
    parser.add_argument("--run", action="append", required=True, help="LABEL=SUBSET[,key=value...] (repeatable)")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    parser.add_argument("--anchors", type=int, default=int(VARIANTS["anchored"].anchors), help="anchors per source (the pool)")
    args = parser.parse_args(argv)
    focus = [s for s in args.focus.split(",") if s]
    names = focus + [s for s in args.others.split(",") if s]
    runs = [parse_run(r) for r in args.run]
    pool = args.anchors
    t0 = time.perf_counter()
    teachers = make_teachers(names, set(focus), args.seed, args.seeds, pool)
    refs = references(teachers, focus, args.seed, args.seeds)
    print(f"teachers and references: {time.perf_counter() - t0:.0f} s", flush=True)
    for run in runs:
        row = run_one(*run, names, set(focus), teachers, refs, args.seed, args.seeds, pool)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
