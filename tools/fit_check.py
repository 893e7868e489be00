"""Does a fixed-anchor student fit its teacher? No env return is looked at.

Trains the dataset's own recipe (the teacher, seeds 0..max(SEEDS)), draws the anchors of MODE
(``teacher-env`` or ``teacher-fixed``, as ``train`` does) and 512 held-out anchors
(``transfer.held_out``), then trains ARCH on the pairs plus the labelled anchors at LR for CHUNK x
N full-batch Adam steps, for the student seeds SEEDS only (comma-separated indices: student seed
``i`` initialises from ``fold_in(PRNGKey(0), i)`` and learns from teacher seed ``i``, as in a
``generalize`` cell). After each chunk it prints the agreement loss (``transfer.agreement``) on the
training anchors and the held-out ones, and, for discrete actions, how often the student's argmax
action is the teacher's (anchors, held-out, labelled pairs).

    PYTHONPATH=$PWD python tools/fit_check.py runs/measure/breakout-r0.safetensors tfm-1x64-gelu 0.03 32 4 2
"""
import dataclasses
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import hades_zoo
from hades_zoo import transfer as T
from hades_zoo.bc import init_params, optimizer
from hades_zoo.policies import make_policy
from hades_zoo.recipe import InitSpec

path, arch, lr, chunk, nchunks = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
idx = [int(i) for i in (sys.argv[6] if len(sys.argv) > 6 else "0").split(",")]
mode = sys.argv[7] if len(sys.argv) > 7 else "teacher-env"
t0 = time.time()
ds = hades_zoo.load(path)
teacher = hades_zoo.train(ds, num_seeds=max(idx) + 1, transfer="none")
states, targets = T.teacher_targets(ds, mode, None, teacher, pool="fixed")  # 2048 drawn anchors, full batch (the sixth pass)
held_states, held_labels = T.held_out(teacher, mode)
targets, held_labels = targets[idx], held_labels[idx]
n = ds.size
policy = make_policy(arch, ds.spec.obs_shape, ds.spec.action_dim, ds.spec.discrete)
recipe = dataclasses.replace(ds.recipe, arch=arch, lr=lr, init=InitSpec())
params = init_params(policy, InitSpec(), jnp.stack([jax.random.fold_in(jax.random.PRNGKey(0), i) for i in idx]))
opt = jax.vmap(optimizer(recipe).init)(params)
apply = jax.jit(jax.vmap(policy.__call__, in_axes=(0, None)))
print(f"{mode}: {len(states) - n} anchors + {n} pairs, student seeds {idx}; teacher {ds.recipe.arch}, {time.time() - t0:.0f} s")


def report(done):
    line = (f"{arch} lr {lr:g} steps {done}: agreement loss anchors {np.mean(T.agreement(policy, params, states[n:], targets[:, n:])):.4f}"
            f" held-out {np.mean(T.agreement(policy, params, held_states, held_labels)):.4f}")
    if ds.spec.discrete:
        same = lambda x, y: np.asarray(apply(params, jnp.asarray(x))).argmax(-1) == y.argmax(-1)
        labelled = targets[:, :n].sum(-1) > 0
        line += (f"; argmax as the teacher's: anchors {np.mean(same(states[n:], targets[:, n:])):.3f}"
                 f" held-out {np.mean(same(held_states, held_labels)):.3f} pairs {np.mean(same(states[:n], targets[:, :n])[labelled]):.3f}")
    print(f"{line}; {time.time() - t0:.0f} s", flush=True)


report(0)
steps = T._chunk(policy, recipe, chunk)
for i in range(nchunks):
    params, opt = steps(params, opt, jnp.asarray(states), jnp.asarray(targets))
    report((i + 1) * chunk)
