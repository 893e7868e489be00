"""What drawing one BC step's anchor samples costs: a permutation of each pool against top-k of random bits.

    python -m benchmarks.anchor_sampler [--seeds 8] [--batch 273] [--pools 22x2048,8x65536] [--repeats 10]

``anchor_sampler`` takes ``--batch`` anchors without replacement from each source's pool, every step and
seed. ``jax.random.choice(replace=False)`` draws them by permuting the whole pool (a sort of it);
``hades_zoo.multitask.batches.random_subset`` takes the top ``batch`` of as many random 32-bit draws, the
same law. The default pools are the whole zoo's under the default variant (22 sources of 2048 anchors, 8
MinAtar sources with every rollout frame, 65,536). Prints seconds per step for both, their ratio, and
one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp

from hades_zoo.multitask.batches import random_subset


def per_step(draw, pools: list[int], batch: int, seeds: int, repeats: int) -> float:
    """Seconds per step of ``seeds`` seeds drawing ``batch`` of every pool (jitted, vmapped, after compiling)."""
    def step(key):
        keys = jax.random.split(key, len(pools))
        return jnp.concatenate([draw(keys[k], p, batch) for k, p in enumerate(pools)])

    run = jax.jit(jax.vmap(step))
    jax.block_until_ready(run(jax.random.split(jax.random.PRNGKey(0), seeds)))
    t0 = time.perf_counter()
    for i in range(repeats):
        jax.block_until_ready(run(jax.random.split(jax.random.PRNGKey(i + 1), seeds)))
    return (time.perf_counter() - t0) / repeats


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--batch", type=int, default=273, help="anchors per source and step (the whole zoo's auto)")
    ap.add_argument("--pools", default="22x2048,8x65536", help="COUNTxSIZE,...: the sources' anchor pools")
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args(argv)
    pools = [int(size) for part in args.pools.split(",") for count, size in [part.split("x")] for _ in range(int(count))]
    permute = per_step(lambda k, p, t: jax.random.choice(k, p, (t,), replace=False), pools, args.batch, args.seeds, args.repeats)
    top_k = per_step(random_subset, pools, args.batch, args.seeds, args.repeats)
    print(f"{len(pools)} pools ({args.pools}), {args.batch} per pool, {args.seeds} seeds: permutation {permute:.4f} s per step, "
          f"top-k {top_k:.4f} s per step, x{permute / top_k:.1f}", flush=True)
    print(json.dumps({"pools": args.pools, "batch": args.batch, "seeds": args.seeds, "repeats": args.repeats,
                      "permutation_s_per_step": round(permute, 5), "top_k_s_per_step": round(top_k, 5),
                      "ratio": round(permute / top_k, 2)}))


if __name__ == "__main__":
    main()
