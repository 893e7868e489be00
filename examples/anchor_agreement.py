"""Where does an anchored student leave its teacher? One discrete source, no merge, measured per seed.

    python examples/anchor_agreement.py SOURCE [--seeds 4] [--eval-seeds 8] [--out runs.jsonl] \
        --run "LABEL[,key=value...]" ...

The teacher is the source's own recipe (``train(ds)``, the multi-task anchors' teacher). Each
``--run`` trains a student the way the multi-task ``anchored`` variant trains one source's head,
without the merge: a fresh network (random init) behaviour-cloned on the source's pairs plus
``anchors`` states labelled by the teacher seed of the same index (softmax of its logits). Keys:
``arch``, ``lr``, ``epochs``, ``grad_clip`` (``none``: no clip) set its recipe (default: the
zoo's, ``mlp-2x512-tanh``, lr 0.005, 400 steps, clip 0.5); ``anchors`` (default 2048);
``states`` ``env`` (the teacher's rollout states, the default's for MinAtar), ``data`` (noise
around the pairs) or ``mixup`` (convex combinations of two pairs' states); ``labels`` ``soft``
(the default's: cross-entropy to the softmax of the teacher's logits), ``hard`` (to its argmax,
one-hot), ``kd`` (distillation at temperature ``temp``: cross-entropy between the softmax of the
teacher's and of the student's logits, both divided by ``temp``, on the anchors; the pairs keep
their own labels) or ``logits`` (squared error between the student's and the teacher's logits,
each less its mean over actions); ``batch`` anchors per step (``0``: all of them every
step; ``n``: a fresh sample of ``n`` per step and seed, as the multi-task ``anchor_batch``); ``init`` ``random`` or ``teacher``
(the teacher's own initialisation: for an F source its fixed one); ``dagger`` rounds (roll the
student out, label the states it visits, add them, train again).

Per run and seed it records:

- the return under the source's own protocol for ``--eval-seeds`` evaluation seeds (the
  teacher's likewise), so that the reference's own spread over evaluation seeds is known;
- agreement with the teacher: the share of states where the student's argmax is the teacher's
  (``greedy``) and the mean overlap ``sum_a min(p_student, p_teacher)`` of their action
  distributions (``sampled``: the chance that the two, coupled, sample the same action), on its
  training anchors, on fresh states of the teacher's own rollouts (another rollout seed), and on
  the states the student visits itself;
- the teacher's confidence (mean largest action probability) on its own and on the student's states.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hades_zoo.agent import TrainedPolicy
from hades_zoo.anchors import _batched_apply, _batched_visits, batched_bc_per_seed, data_states
from hades_zoo.api import evaluate, train
from hades_zoo.bc import init_params, optimizer
from hades_zoo import load
from hades_zoo.policies import make_policy
from hades_zoo.recipe import InitSpec, get_protocol
from hades_zoo.scores import normalised_score, random_return

ZOO = {"arch": "mlp-2x512-tanh", "lr": 0.005, "epochs": 400, "grad_clip": 0.5}
DEFAULTS = {**ZOO, "anchors": 2048, "states": "env", "labels": "soft", "temp": 1.0, "batch": 0, "init": "random", "dagger": 0}
FRESH_SEED = 7  # the rollout seed of the held-out teacher states (the anchors take seed 0, as make_anchors)


def parse_run(text: str):
    label_, *parts = text.split(",")
    opts = dict(DEFAULTS)
    for kv in parts:
        key, _, value = kv.partition("=")
        if key not in DEFAULTS:
            raise SystemExit(f"error: unknown key {key!r} in --run {text!r}; use {', '.join(DEFAULTS)}")
        if key == "grad_clip":
            opts[key] = None if value == "none" else float(value)
        else:
            opts[key] = type(DEFAULTS[key])(value)
    return label_, opts


def visits(trained: TrainedPolicy, seed: int) -> np.ndarray:
    """``(seeds, steps * envs, O)``: the states each seed visits in one protocol rollout (its own
    dynamics), in the dataset's space; ``anchors.visited_states`` pools these over seeds."""
    ds = trained.dataset
    fn = _batched_visits(ds.spec.env_id, trained.policy, ds.protocol, ds.norm, trained.dynamics or ds.dynamics)
    keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 1), trained.num_seeds)
    x = fn(keys, trained.params, jnp.asarray(trained.norm_state.mean), jnp.asarray(trained.norm_state.var))
    return np.asarray(x, np.float32).reshape(trained.num_seeds, -1, ds.spec.obs_dim)


def probs(trained: TrainedPolicy, states: np.ndarray) -> np.ndarray:
    """``(seeds, M, A)``: each seed's action distribution on its own row of ``states`` ``(seeds, M, O)``
    (or on shared states ``(M, O)``)."""
    if states.ndim == 2:
        return np.asarray(jax.nn.softmax(_batched_apply(trained.policy)(trained.params, jnp.asarray(states)), -1))
    out = jax.vmap(trained.policy.__call__)(trained.params, jnp.asarray(states))
    return np.asarray(jax.nn.softmax(out, -1))


def agreement(student, teacher, states) -> dict:
    ps, pt = probs(student, states), probs(teacher, states)
    greedy = (ps.argmax(-1) == pt.argmax(-1)).mean(-1)
    sampled = np.minimum(ps, pt).sum(-1).mean(-1)
    return {"greedy": [round(float(g), 4) for g in greedy], "sampled": [round(float(s), 4) for s in sampled],
            "teacher_conf": round(float(pt.max(-1).mean()), 4), "student_conf": round(float(ps.max(-1).mean()), 4)}


def returns(trained, eval_seeds) -> np.ndarray:
    """``(eval seeds, seeds)`` returns under the dataset's own protocol."""
    proto = get_protocol(trained.dataset.protocol, trained.dataset.spec)
    return np.array([evaluate(trained, protocol=proto, seed=e).returns for e in eval_seeds])


def anchor_points(ds, teacher, opts, rng) -> np.ndarray:
    n = opts["anchors"]
    if opts["states"] == "env":
        pooled = visits(teacher, 0).reshape(-1, ds.spec.obs_dim)
        return pooled[np.random.default_rng(0).choice(len(pooled), size=n, replace=len(pooled) < n)]
    x = np.asarray(ds.states, np.float32).reshape(ds.size, -1)
    if opts["states"] == "data":
        return data_states(x, n, rng)
    if opts["states"] == "mixup":
        lam = rng.uniform(size=(n, 1)).astype(np.float32)
        return lam * x[rng.integers(len(x), size=n)] + (1 - lam) * x[rng.integers(len(x), size=n)]
    raise SystemExit(f"error: states must be env, data or mixup, got {opts['states']!r}")


def make_fit(policy, recipe, opts, pairs, pair_targets):
    """``fit(params0, points, logits) -> params``: full-batch BC of every seed on the pairs and the
    anchors ``points`` with the teacher's ``logits`` ``(seeds, M, A)``, under ``opts["labels"]``."""
    kind, temp, batch = opts["labels"], opts["temp"], opts["batch"]
    if kind in ("soft", "hard") and not batch:
        bc = batched_bc_per_seed(policy, recipe)

        def fit(params0, points, logits):
            labels = jax.nn.softmax(logits, -1) if kind == "soft" else jax.nn.one_hot(jnp.argmax(logits, -1), logits.shape[-1])
            states = jnp.concatenate([pairs, points])
            targets = jnp.concatenate([jnp.repeat(pair_targets[None], logits.shape[0], 0), labels], axis=1)
            return jax.block_until_ready(bc(params0, states, targets))
        return fit
    if kind not in ("soft", "hard", "kd", "logits"):
        raise SystemExit(f"error: labels must be soft, hard, kd or logits, got {kind!r}")
    tx = optimizer(recipe)
    A = pair_targets.shape[-1]

    def loss(params, points, logits):
        lp = jax.nn.log_softmax(policy(params, pairs), -1)
        n_pairs = jnp.sum(pair_targets)  # labelled pairs (a zero row is unused, as bc_loss)
        pair_sum = -jnp.sum(pair_targets * lp)
        out = policy(params, points)
        if kind in ("soft", "hard"):
            labels = jax.nn.softmax(logits, -1) if kind == "soft" else jax.nn.one_hot(jnp.argmax(logits, -1), A)
            per_row = -jnp.sum(labels * jax.nn.log_softmax(out, -1), -1)
        elif kind == "kd":
            per_row = -jnp.sum(jax.nn.softmax(logits / temp, -1) * jax.nn.log_softmax(out / temp, -1), -1)
        else:
            centred = (out - out.mean(-1, keepdims=True)) - (logits - logits.mean(-1, keepdims=True))
            per_row = jnp.sum(centred**2, -1)
        return (pair_sum + jnp.sum(per_row)) / ((n_pairs + len(points)) * A)

    def one(params, key, points, logits):
        def step(carry, k):
            params, opt = carry
            x, z = points, logits
            if batch:  # a fresh sample of the anchors, the mean over it an unbiased estimate of the full one
                idx = jax.random.choice(k, len(points), (batch,), replace=False)
                x, z = points[idx], logits[idx]
            updates, opt = tx.update(jax.grad(loss)(params, x, z), opt, params)
            return (optax.apply_updates(params, updates), opt), None
        return jax.lax.scan(step, (params, tx.init(params)), jax.random.split(key, recipe.epochs))[0][0]

    run = jax.jit(jax.vmap(one, in_axes=(0, 0, None, 0)))
    keys = jax.random.split(jax.random.PRNGKey(1), 64)  # per seed: the anchor samples of each step
    return lambda params0, points, logits: jax.block_until_ready(run(params0, keys[: logits.shape[0]], points, logits))


def train_student(ds, teacher, opts, seed: int, seeds: int):
    rng = np.random.default_rng(seed)
    policy = make_policy(opts["arch"], ds.spec.obs_shape, ds.spec.action_dim, True)
    init = teacher.recipe.init if opts["init"] == "teacher" else InitSpec()
    recipe = dataclasses.replace(ds.recipe, arch=opts["arch"], lr=opts["lr"], epochs=opts["epochs"],
                                 grad_clip=opts["grad_clip"], init=init)
    keys = [jax.random.fold_in(jax.random.PRNGKey(seed), i) for i in range(seeds)]
    params0 = init_params(policy, init, keys)
    points = anchor_points(ds, teacher, opts, rng)
    logits = _batched_apply(teacher.policy)(teacher.params, jnp.asarray(points))
    pairs = jnp.asarray(np.asarray(ds.states, np.float32).reshape(ds.size, -1))
    fit = make_fit(policy, recipe, opts, pairs, jnp.asarray(ds.targets, jnp.float32))
    student = TrainedPolicy(policy, fit(params0, jnp.asarray(points), logits), ds, recipe, opts["arch"],
                            list(range(seed, seed + seeds)))
    for r in range(opts["dagger"]):
        new = visits(student, seed + 1 + r).reshape(-1, ds.spec.obs_dim)
        new = new[np.random.default_rng(seed + 1 + r).choice(len(new), size=opts["anchors"], replace=False)]
        points = np.concatenate([points, new])
        logits = jnp.concatenate([logits, _batched_apply(teacher.policy)(teacher.params, jnp.asarray(new))], axis=1)
        student = dataclasses.replace(student, params=fit(params0, jnp.asarray(points), logits))
    return student, points


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("--run", action="append", required=True, help="LABEL[,key=value...] (repeatable)")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-seeds", type=int, default=8, help="evaluation seeds 0..N-1 for every policy")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    ds = load(args.source)
    eval_seeds = list(range(args.eval_seeds))
    teacher = train(ds, seed=args.seed, num_seeds=args.seeds)
    ref = returns(teacher, eval_seeds)
    rand = random_return(ds, seed=args.seed, num_seeds=args.seeds)
    fresh = visits(teacher, FRESH_SEED)
    pt = probs(teacher, fresh)
    teacher_row = {"returns": ref.round(3).tolist(), "mean": float(ref.mean()), "mean_eval_seed0": float(ref[0].mean()),
                   "spread_over_eval_seeds": float(ref.mean(1).std()), "random_mean": rand.mean,
                   "conf_on_own_states": round(float(pt.max(-1).mean()), 4),
                   "share_conf_below_0.9": round(float((pt.max(-1) < 0.9).mean()), 4),
                   "distinct_states": int(len(np.unique(fresh.reshape(-1, fresh.shape[-1]).round(3), axis=0)))}
    tol = max(float(np.std(ref.mean(0))), float(np.std(rand.returns)))
    print(f"teacher {args.source}: {ref.mean():.2f} over {len(eval_seeds)} evaluation seeds "
          f"(per evaluation seed {', '.join(f'{m:.1f}' for m in ref.mean(1))}); random {rand.mean:.2f}; "
          f"confidence {teacher_row['conf_on_own_states']}; {time.perf_counter() - t0:.0f} s", flush=True)
    for text in args.run:
        label_, opts = parse_run(text)
        t1 = time.perf_counter()
        student, points = train_student(ds, teacher, opts, args.seed, args.seeds)
        bc_s = time.perf_counter() - t1
        got = returns(student, eval_seeds)
        own = visits(student, FRESH_SEED)
        row = {"label": label_, "source": args.source, "opts": opts, "seeds": args.seeds, "eval_seeds": len(eval_seeds),
               "teacher": teacher_row, "returns": got.round(3).tolist(), "mean": float(got.mean()),
               "relative": normalised_score(float(got.mean()), float(ref.mean()), rand.mean, tol),
               "relative_eval_seed0": normalised_score(float(got[0].mean()), float(ref[0].mean()), rand.mean, tol),
               "agree_anchors": agreement(student, teacher, points[:4096]),
               "agree_teacher_states": agreement(student, teacher, fresh),
               "agree_student_states": agreement(student, teacher, own),
               "bc_s": round(bc_s, 1), "seconds": round(time.perf_counter() - t1, 1)}
        a, f, s = row["agree_anchors"], row["agree_teacher_states"], row["agree_student_states"]
        print(f"  {label_}: {row['mean']:.2f} ({row['relative']:.2f}; eval seed 0 alone {row['relative_eval_seed0']:.2f}); "
              f"greedy agreement anchors {np.mean(a['greedy']):.3f}, teacher's states {np.mean(f['greedy']):.3f}, "
              f"own states {np.mean(s['greedy']):.3f}; sampled {np.mean(a['sampled']):.3f} / {np.mean(f['sampled']):.3f} / "
              f"{np.mean(s['sampled']):.3f}; BC {bc_s:.0f} s", flush=True)
        if args.out:
            with open(args.out, "a") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
