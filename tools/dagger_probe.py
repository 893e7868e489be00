"""Probe: does the student's own rollout (DAgger) fix a ``teacher-env`` student that plays worse than it fits?

Trains the dataset's own recipe (the teacher, SEEDS seeds) and the ``tfm-1x64-gelu`` student through
``teacher-env`` (as a ``generalize`` cell: on MinAtar every rollout state of the teacher, 2048 per
step), evaluates both (paper protocol), then ROUNDS times: rolls the student out (one protocol
rollout per seed, ``anchors.rollout_states``), labels those states with each teacher seed, adds them
to the anchors and trains the student STEPS more steps from where it is (a fresh Adam state, 2048
sampled anchors per step, ``multitask.batches.batched_anchor_bc``), and evaluates it again.
``control``: the same rounds without new states (only the extra steps). Prints one JSON line per
stage and, last, all of them.

    PYTHONPATH=$PWD python tools/dagger_probe.py runs/measure/breakout-r0.safetensors 2 2 64 [control]
"""
import dataclasses
import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import hades_zoo
from hades_zoo import anchors as A
from hades_zoo import transfer as T
from hades_zoo.api import evaluate, train
from hades_zoo.multitask.batches import batched_anchor_bc

path, seeds, rounds, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
control = len(sys.argv) > 5 and sys.argv[5] == "control"  # no new states: only more steps, same schedule
t0 = time.time()
ds = hades_zoo.load(path)
teacher = train(ds, seed=0, num_seeds=seeds, transfer="none")
own = evaluate(teacher, protocol="paper", seed=0)
print("teacher", own.returns, flush=True)
st = train(ds, "tfm-1x64-gelu", seed=0, num_seeds=seeds, transfer="teacher-env", teacher=teacher)
res = evaluate(st, protocol="paper", seed=0)
out = {"teacher": own.returns, "rounds": [{"returns": res.returns, "rel": [s / t if t else None for s, t in zip(res.returns, own.returns)],
                                           "anchors": st.info["transfer"]["anchors"], "s": time.time() - t0}]}
print(json.dumps(out["rounds"][-1]), flush=True)
states, targets = T.teacher_targets(ds, "teacher-env", None, teacher)
params = st.params
for r in range(rounds):
    if not control:
        visited = A.rollout_states(dataclasses.replace(st, params=params), seed=100 + r)
        states = np.concatenate([states, visited])
        targets = np.concatenate([targets, A.label(teacher, visited)], axis=1)
    recipe = dataclasses.replace(st.recipe, epochs=steps)
    pool = len(states) - ds.size
    bc = batched_anchor_bc(st.policy, recipe, ds.size, (pool,), 2048, 1)
    keys = jnp.stack([jax.random.fold_in(k, 1000 + r) for k in T.pool_keys(0, seeds)])
    params = jax.block_until_ready(bc(params, keys, jnp.asarray(states), jnp.asarray(targets)))
    res = evaluate(dataclasses.replace(st, params=params), protocol="paper", seed=0)
    out["rounds"].append({"returns": res.returns, "rel": [s / t if t else None for s, t in zip(res.returns, own.returns)],
                          "anchors": pool, "steps": steps, "s": time.time() - t0})
    print(json.dumps(out["rounds"][-1]), flush=True)
print(json.dumps(out))
