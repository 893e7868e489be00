"""What the multi-task behaviour cloning of a merged file costs here, before running it.

    python examples/multitask_cost.py zoo.safetensors --seeds 8 [--steps 2] [--run anchored,anchor_batch=0]

Builds the default variant's network for the merged file and times ``--steps`` BC steps at
the real shape (every pair plus ``anchors`` rows per source, the unit one-hot, one target set
per seed; the values are random, the cost does not depend on them) for 1 seed, after
compiling: full-batch steps, or with per-source anchor batches (``anchor_batch``, ``auto`` in
the default: ``hades_zoo.multitask.batches``) the batched steps, which take every pair and
``anchor_batch`` anchors per source. It extrapolates to the recipe's steps and ``--seeds`` seeds (the
seeds are vmapped, so the cost grows about linearly with them on CPU). Prints one JSON
object: the shape, FLOPs per step, the measured seconds per step and the estimate. The
teachers, evaluations and references come on top (one rollout per seed and source, and per
MinAtar source its env anchors: ``hades-zoo train-multitask --out`` records each).
"""

from __future__ import annotations

import dataclasses
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from hades_zoo.bc import init_params, make_bc
from hades_zoo.multitask import make_multitask_policy
from hades_zoo.multitask.batches import anchor_batch, anchor_sampler
from hades_zoo.multitask.policy import unit_tasks
from hades_zoo.recipe import InitSpec, Recipe, joint_recipe

import multitask_ablation  # same directory: one_run_parser, one_run


def main(argv=None) -> None:
    parser = multitask_ablation.one_run_parser(__doc__)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args(argv)
    merged, _, cfg, overrides = multitask_ablation.one_run(args)
    base = joint_recipe(Recipe.from_dict(s["metadata"]["recipe"]) for s in merged.sources)
    recipe = dataclasses.replace(base, arch=overrides.get("arch", base.arch), epochs=overrides.get("epochs", base.epochs))
    policy = make_multitask_policy(merged, recipe.arch, cfg)
    T, O, A = len(unit_tasks(merged, cfg.unit)), merged.obs_dim, merged.action_dim
    rows = merged.size + len(merged.sources) * int(cfg.anchors)
    rng = np.random.default_rng(0)
    onehot = np.eye(T, dtype=np.float32)[rng.integers(T, size=rows)]
    states = jnp.asarray(np.concatenate([rng.normal(size=(rows, O)).astype(np.float32), onehot], 1))
    targets = jnp.asarray(rng.uniform(-1, 1, (1, rows, A)).astype(np.float32))
    params = init_params(policy, InitSpec(), [jax.random.PRNGKey(0)])
    batch = anchor_batch(cfg, len(merged.sources)) if cfg.anchors else 0
    sample = anchor_sampler(merged.size, (int(cfg.anchors),) * len(merged.sources), batch) if batch else None
    bc = make_bc(policy, dataclasses.replace(recipe, epochs=args.steps), sample)  # full batch without a sampler
    fn = jax.jit(jax.vmap(lambda p, s, t: bc(p, s, t, jax.random.PRNGKey(1)), in_axes=(0, None, 0)))
    t0 = time.perf_counter()
    jax.block_until_ready(fn(params, states, targets))
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(fn(params, states, targets))
    step_s = (time.perf_counter() - t0) / args.steps
    widths = [int(w) for w in recipe.arch.split("-")[1].split("x")[1:]] * int(recipe.arch.split("-")[1].split("x")[0])
    macs = (O + (T if cfg.conditioning == "onehot" else 0)) * widths[0] + sum(a * b for a, b in zip(widths, widths[1:]))
    macs += widths[-1] * (T * A if cfg.heads == "per-task" else A)
    step_rows = merged.size + len(merged.sources) * (batch or int(cfg.anchors))
    out = {"merged": merged.name or merged.source, "sources": len(merged.sources), "pairs": merged.size,
           "anchors_per_source": int(cfg.anchors), "anchor_batch": batch, "rows": rows, "rows_per_step": step_rows, "obs_dim": O, "action_dim": A, "units": T,
           "arch": recipe.arch, "steps": recipe.epochs, "seeds": args.seeds,
           "gflop_per_step_per_seed": round(6 * macs * step_rows / 1e9, 1), "compile_s": round(compile_s, 1),
           "measured_s_per_step_per_seed": round(step_s, 2),
           "bc_estimate_s": round(step_s * recipe.epochs * args.seeds), "bc_estimate_h": round(step_s * recipe.epochs * args.seeds / 3600, 2)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
