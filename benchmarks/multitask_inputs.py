"""What a multi-task BC step costs under each input encoding, side by side in one run.

    python -m benchmarks.multitask_inputs zoo.safetensors [--steps 4] [--anchors 2048] [--batch 273]

The same merged file, network width and batch layout as ``train_multitask`` builds them (every pair, then per
source ``--batch`` of its ``--anchors`` anchors, each block with its source's one-hot; the values are random, the
cost does not depend on them), 1 seed, timed after compiling:

  padded           every observation in the first slots of the largest (the default's input)
  disjoint, dense  each task's view in slots of its own, the first layer over all of them (``ViewLayer``
                   without row blocks: a row pays the sum of the views' widths)
  disjoint, blocks the same weights, each block of one source's rows through its own view's kernel block
                   (what ``train_multitask`` runs: ``hades_zoo.multitask.batches.batch_blocks``)

With ``--seeds N`` (N > 1) it then times ``disjoint, blocks`` for N seeds: all vmapped at once (what
``train_multitask`` runs) against ``jax.lax.map`` chunks of ``--chunks`` seeds (``batched_anchor_bc``'s ``chunk``).

Prints one line per encoding (seconds per step, ratio to padded), one per seed chunk, and one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from hades_zoo.bc import init_params
from hades_zoo.multitask import load_merged, make_multitask_policy
from hades_zoo.multitask.batches import batch_blocks, batched_anchor_bc
from hades_zoo.multitask.policy import VARIANTS, packed_states
from hades_zoo.recipe import InitSpec, Recipe, joint_recipe


def time_steps(policy, recipe, states, targets, n_pairs, pools, batch, steps, seeds=1, chunk=None) -> tuple[float, float]:
    """(compile s, s per step) of ``steps`` BC steps of ``seeds`` seeds (``chunk`` at a time; None: all at once)."""
    bc = batched_anchor_bc(policy, dataclasses.replace(recipe, epochs=steps), n_pairs, pools, batch, chunk)
    params = init_params(policy, InitSpec(), [jax.random.PRNGKey(i) for i in range(seeds)])
    keys = jnp.stack([jax.random.PRNGKey(100 + i) for i in range(seeds)])
    targets = jnp.repeat(targets, seeds, 0)
    t0 = time.perf_counter()
    jax.block_until_ready(bc(params, keys, states, targets))
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(bc(params, keys, states, targets))
    return compile_s, (time.perf_counter() - t0) / steps


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("merged")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--anchors", type=int, default=2048, help="anchors per source (the pool a batch samples from)")
    ap.add_argument("--batch", type=int, default=273, help="anchors per source and step (the whole zoo's auto)")
    ap.add_argument("--arch", default=None, help="default: the sources' joint recipe's")
    ap.add_argument("--seeds", type=int, default=1, help="N > 1: also time N seeds at once against --chunks")
    ap.add_argument("--chunks", default="1,2,4", help="seeds per lax.map chunk to time beside all at once")
    args = ap.parse_args(argv)
    merged = load_merged(args.merged)
    base = joint_recipe(Recipe.from_dict(s["metadata"]["recipe"]) for s in merged.sources)
    recipe = dataclasses.replace(base, arch=args.arch or base.arch)
    rng = np.random.default_rng(0)
    pairs = packed_states(merged)
    O, pools = merged.obs_dim, (args.anchors,) * len(merged.sources)
    blocks = [np.concatenate([rng.normal(size=(p, O)).astype(np.float32) * merged.obs_mask[merged.source_ids == k][:1],
                              np.repeat(pairs[merged.source_ids == k][:1, O:], p, 0)], 1) for k, p in enumerate(pools)]
    states = jnp.asarray(np.concatenate([pairs, *blocks]))
    targets = jnp.asarray(rng.uniform(-1, 1, (1, len(states), merged.action_dim)).astype(np.float32))
    units = np.asarray(states[:, O:]).argmax(1)
    out = {"merged": merged.name or args.merged, "sources": len(merged.sources), "pairs": merged.size, "arch": recipe.arch,
           "anchors_per_source": args.anchors, "anchor_batch": args.batch, "steps": args.steps, "encodings": {}}
    padded_s = None
    for name, inputs, use_blocks in (("padded", "padded", False), ("disjoint, dense", "disjoint", False),
                                     ("disjoint, blocks", "disjoint", True)):
        policy = make_multitask_policy(merged, recipe.arch, dataclasses.replace(VARIANTS["anchored"], inputs=inputs))
        if use_blocks:
            policy = dataclasses.replace(policy, blocks=batch_blocks(units, merged.size, pools, args.batch))
        compile_s, step_s = time_steps(policy, recipe, states, targets, merged.size, pools, args.batch, args.steps)
        padded_s = padded_s or step_s
        width = sum(dict(zip(policy.net.views, policy.obs_dims)).values()) if inputs == "disjoint" else O
        print(f"{name:18s} input width {width:5d}  {step_s:6.3f} s per step and seed  x{step_s / padded_s:.2f} of padded "
              f"(compile {compile_s:.0f} s)", flush=True)
        out["encodings"][name] = {"input_width": width, "s_per_step": round(step_s, 4), "ratio_to_padded": round(step_s / padded_s, 3),
                                  "compile_s": round(compile_s, 1)}
    if args.seeds > 1:  # the row-block policy from the loop above, N seeds: all vmapped at once, then in chunks
        out["seeds"], out["seed_chunks"], all_s = args.seeds, {}, None
        for chunk in [None] + [int(c) for c in args.chunks.split(",")]:
            compile_s, step_s = time_steps(policy, recipe, states, targets, merged.size, pools, args.batch, args.steps,
                                           args.seeds, chunk)
            all_s = all_s or step_s
            label = "all" if chunk is None else str(chunk)
            print(f"{args.seeds} seeds, chunks of {label:>3s}: {step_s:6.3f} s per step  x{step_s / all_s:.2f} of all at once "
                  f"(compile {compile_s:.0f} s)", flush=True)
            out["seed_chunks"][label] = {"s_per_step": round(step_s, 4), "ratio_to_all": round(step_s / all_s, 3),
                                         "compile_s": round(compile_s, 1)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
