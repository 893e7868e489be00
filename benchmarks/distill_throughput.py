"""Engine throughput vs the raw simulator, side by side on one machine.

For each env: generations/s and env-steps/s of the engine's jitted generation, the
raw batched env-step throughput of the same env at the same batch size (random
actions, `lax.scan` + `vmap`, no policy), their ratio (goal >= 0.7) and the share
of a generation spent in behaviour cloning.

    python -m benchmarks.distill_throughput [--envs CartPole-v1 hopper] [--popsize 64] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from importlib.metadata import version

import jax
import jax.numpy as jnp

from distill.config import build_config
from distill.engine import env_steps_per_generation, init_state, make_chunk, make_problem
from hades_zoo import envs
from hades_zoo.train import make_bc


def _timed(fn, *args, repeats=2):
    jax.block_until_ready(fn(*args))  # compile + warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        out = fn(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - t0) / repeats


def raw_env_steps_per_s(env_id: str, batch: int, n_steps: int) -> float:
    env = envs.make(env_id)
    spec = env.spec

    @jax.jit
    def rollout(key):
        obs, state = jax.vmap(env.reset)(jax.random.split(key, batch))

        def _step(carry, key):
            state, total = carry
            if spec.discrete:
                a = jax.random.randint(key, (batch,), 0, spec.action_dim)
            else:
                a = jax.random.uniform(key, (batch, spec.action_dim), minval=-1, maxval=1)
            _, state, r, _ = jax.vmap(env.step)(jax.random.split(key, batch), state, a)
            return (state, total + r.sum()), None

        (_, total), _ = jax.lax.scan(_step, (state, 0.0), jax.random.split(key, n_steps))
        return total

    return batch * n_steps / _timed(rollout, jax.random.PRNGKey(0))


def measure(env_id: str, popsize: int, size: int, n_steps: int | None) -> dict:
    overrides = {"fitness_protocol": {"n_envs": 4, "n_steps": n_steps}} if n_steps else {}
    cfg = build_config(env_id, popsize=popsize, size=size, **overrides)
    cfg = dataclasses.replace(cfg, chunk=1)
    problem = make_problem(cfg)
    key, state = init_state(problem)
    chunk = make_chunk(problem, 1)
    gen_s = _timed(lambda k, s: chunk(k, s)[1]["fitness_mean"], key, state)
    steps = env_steps_per_generation(cfg)
    batch = cfg.popsize * cfg.rollouts * cfg.protocol.n_envs
    raw = raw_env_steps_per_s(cfg.env, batch, cfg.protocol.steps_for(cfg.spec))
    bc = jax.jit(jax.vmap(make_bc(problem.policy, cfg.bc_recipe), in_axes=(0, None, None)))
    params = jax.lax.map(problem.policy.init, jax.random.split(jax.random.PRNGKey(0), cfg.popsize * cfg.rollouts))
    targets = jnp.zeros((size, cfg.spec.action_dim))
    bc_s = _timed(bc, params, jnp.zeros((size, cfg.spec.obs_dim)), targets)
    row = {"env": cfg.env, "popsize": popsize, "size": size, "batch_envs": batch, "generation_s": gen_s,
           "generations_per_s": 1 / gen_s, "engine_env_steps_per_s": steps / gen_s,
           "raw_env_steps_per_s": raw, "ratio": steps / gen_s / raw, "bc_share": bc_s / gen_s}
    print(f"{cfg.env:>12} P={popsize:<5} D={size:<4} {1 / gen_s:8.3f} gen/s  engine {steps / gen_s:12,.0f} steps/s  "
          f"raw {raw:12,.0f} steps/s  ratio {row['ratio']:.2f} (goal >= 0.7)  BC share {row['bc_share']:.2f}")
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", nargs="+", default=["CartPole-v1", "hopper"])
    ap.add_argument("--popsize", type=int, default=64)
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--quick", action="store_true", help="small population and 100-step rollouts (CI smoke)")
    args = ap.parse_args(argv)
    print(json.dumps({"device": str(jax.devices()[0]), "cpu": platform.processor() or platform.machine(),
                      "cores": os.cpu_count(), "versions": {p: version(p) for p in ("jax", "brax", "gymnax", "evosax")}}))
    rows = [measure(e, 8 if args.quick else args.popsize, args.size or (4 if envs.get_spec(e).family == "gymnax" else 64),
                    100 if args.quick else None) for e in args.envs]
    print(json.dumps({"benchmark": "distill_throughput", "rows": rows}))


if __name__ == "__main__":
    main()
