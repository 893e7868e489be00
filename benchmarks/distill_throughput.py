"""Engine throughput vs the raw simulator, side by side on one machine.

For each env: generations/s and env-steps/s of the engine's jitted generation, the
raw batched env-step throughput of the same env at the same batch size (random
actions, `lax.scan` + `vmap`, no policy), their ratio (goal >= 0.7) and the share
of a generation spent in behaviour cloning.

    python -m benchmarks.distill_throughput [--envs CartPole-v1 hopper] [--popsize 64] [--quick]

Side by side against an older checkout, at the very config of each file (issue 21):

    git worktree add /tmp/base BASE_COMMIT
    python -m benchmarks.distill_throughput --configs distill/presets/cartpole.toml \
        tools/zoo_configs/hopper-r-cpu.toml --baseline /tmp/base [--rounds 2]

Each side runs in its own process (``PYTHONPATH`` = that checkout), alternately, ``--rounds``
times per config; a side's figure is its fastest generation (the least disturbed by other
jobs on a shared machine), its CPU seconds beside it. The measuring code is this file's, so
the older checkout needs only the engine's API (build_config, make_problem, make_chunk).

Each speed lever alone and all together against the config as is, in one process (the robust
A/B on a shared machine; figures and ratios side by side):

    python -m benchmarks.distill_throughput --configs distill/presets/cartpole.toml \
        --levers skip-reset search-bc=25 [early-exit] [unroll=2] [--calls 6] [--at-generation G]

One process against N processes on this machine (``distill run --num-processes N``, one device
each, joined over loopback): on CPU one XLA program runs its small fusions (brax's physics) on
one core, so a second process is the way to the second core. Alternately, ``--rounds`` times:

    python -m benchmarks.distill_throughput --configs tools/zoo_configs/hopper-r-cpu.toml --processes 2

The rollouts taken apart (the engine's rollouts; the env with and without brax's episode and
auto-reset wrappers; the physics alone; the policies' forward pass; init + BC), CPU seconds per
generation:

    python -m benchmarks.distill_throughput --configs tools/zoo_configs/hopper-r-cpu.toml --env-split 100

What fewer BC steps during the search cost: the final recipe's return of the ES mean at equal
generations, with and without, same seeds:

    python -m benchmarks.distill_throughput --quality Acrobot-v1 --search-bc-steps 0 25 50 \
        --seeds 0 1 2 --generations 100 --every 20 [--skip-reset]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from importlib.metadata import version

import jax
import jax.numpy as jnp

from benchmarks.common import Contention
from distill.config import build_config
from distill.distributed import free_port, join, to_host
from distill.engine import init_state, make_chunk
from distill.tasks import env_steps_per_generation, make_problem
from hades_zoo import envs
from hades_zoo.bc import make_bc


def _timed(fn, *args, repeats=2):
    """Seconds of one call, the fastest of ``repeats`` after a warm-up (least disturbed by other jobs)."""
    jax.block_until_ready(fn(*args))  # compile + warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best


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


def bc_seconds(problem, repeats: int = 2) -> float:
    """Seconds to behaviour-clone one generation's policies (popsize x rollouts) on a
    dataset of ``cfg.size`` pairs, alone: the numerator of the BC share."""
    cfg = problem.cfg
    bc = jax.jit(jax.vmap(make_bc(problem.policy, cfg.bc_recipe), in_axes=(0, None, None)))
    params = jax.lax.map(problem.policy.init, jax.random.split(jax.random.PRNGKey(0), cfg.popsize * cfg.rollouts))
    targets = jnp.zeros((cfg.size, cfg.spec.action_dim))
    return _timed(bc, params, jnp.zeros((cfg.size, cfg.spec.obs_dim)), targets, repeats=repeats)


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
    bc_s = bc_seconds(problem)
    row = {"env": cfg.env, "popsize": popsize, "size": size, "batch_envs": batch, "generation_s": gen_s,
           "generations_per_s": 1 / gen_s, "engine_env_steps_per_s": steps / gen_s,
           "raw_env_steps_per_s": raw, "ratio": steps / gen_s / raw, "bc_share": bc_s / gen_s}
    print(f"{cfg.env:>12} P={popsize:<5} D={size:<4} {1 / gen_s:8.3f} gen/s  engine {steps / gen_s:12,.0f} steps/s  "
          f"raw {raw:12,.0f} steps/s  ratio {row['ratio']:.2f} (goal >= 0.7)  BC share {row['bc_share']:.2f}")
    return row


def scaling(env_id: str, popsizes, sizes, n_steps=None) -> list[dict]:
    """Population sweep at the preset's size, then dataset-size sweep at the first population."""
    base_size = 4 if envs.get_spec(env_id).family == "gymnax" else 64
    rows = [dict(measure(env_id, p, base_size, n_steps), sweep="popsize") for p in popsizes]
    rows += [dict(measure(env_id, popsizes[0], d, n_steps), sweep="size") for d in sizes if d != base_size]
    return rows


def config_generation_times(path: str, repeats: int, session=None) -> dict:
    """Seconds (wall and CPU) of each of ``repeats`` generations of the config file ``path``, as is
    (one generation per call: ``chunk`` only sets how many a jitted call scans), after a warm-up.
    ``session`` (``distill.distributed.join``): one of several processes, as ``distill run`` runs
    them (compiled, then started together)."""
    from hades_zoo._runtime import enable_compilation_cache

    enable_compilation_cache()  # a side's second round skips XLA
    env = tomllib.loads(Path(path).read_text()).get("env") or Path(path).stem  # presets/<slug>.toml
    cfg = dataclasses.replace(build_config(env, path), chunk=1)
    problem = make_problem(cfg)
    key, state = init_state(problem)
    chunk = make_chunk(problem, 1)
    t0 = time.perf_counter()
    if session is not None and session.distributed:
        chunk = chunk.lower(key, state).compile()
        session.barrier("compiled")
    (key, state), m = chunk(key, state)
    jax.block_until_ready(m)
    compile_s, walls, cpus, fitness = time.perf_counter() - t0, [], [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        (key, state), m = chunk(key, state)
        jax.block_until_ready(m)
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
        fitness.append(float(to_host(m["fitness_mean"])[0]))
    return {"config": path, "env": cfg.env, "first_call_s": compile_s, "wall_s": walls, "cpu_s": cpus,
            "fitness_mean": fitness, "env_steps_per_generation": env_steps_per_generation(cfg)}


def profile_config(path: str, repeats: int = 3) -> dict:
    """One generation of the config file ``path`` taken apart, each part jitted alone and timed
    (fastest of ``repeats``): the whole generation; init + BC of every candidate's policies; their
    rollouts under the fitness protocol (policy inference + env); the raw env at the same batch with
    random actions; ES ask + tell. The parts overlap (a generation is one XLA program), so they
    need not add up."""
    from distill.engine import make_inner_train
    from hades_zoo.rollout import make_evaluate

    env = tomllib.loads(Path(path).read_text()).get("env") or Path(path).stem
    cfg = dataclasses.replace(build_config(env, path), chunk=1)
    p = make_problem(cfg)
    key, state = init_state(p)
    chunk = make_chunk(p, 1)
    row = {"config": path, "env": cfg.env, "arch": cfg.bc_recipe.arch, "popsize": cfg.popsize, "size": cfg.size,
           "generation_s": _timed(lambda k, s: chunk(k, s)[1]["fitness_mean"], key, state, repeats=repeats)}
    population, _ = p.es.ask(key, state, p.es_params)
    keys = jax.random.split(key, cfg.popsize)
    train = jax.jit(jax.vmap(make_inner_train(p)))
    row["init_bc_s"] = _timed(train, keys, population, repeats=repeats)
    params = train(keys, population)
    evaluate = make_evaluate(cfg.env, p.policy, cfg.protocol, cfg.obs_norm)
    rollouts = jax.jit(jax.vmap(jax.vmap(evaluate, in_axes=(0, 0, None, None)), in_axes=(0, 0, None, None)))
    rkeys = jax.random.split(key, cfg.popsize * cfg.rollouts).reshape(cfg.popsize, cfg.rollouts, -1)
    row["rollout_s"] = _timed(rollouts, rkeys, params, p.obs_mean, p.obs_var, repeats=repeats)
    batch, n_steps = cfg.popsize * cfg.rollouts * cfg.protocol.n_envs, cfg.protocol.steps_for(cfg.spec)
    row["raw_env_s"] = batch * n_steps / raw_env_steps_per_s(cfg.env, batch, n_steps)
    ask_tell = jax.jit(lambda k, s: p.es.tell(k, p.es.ask(k, s, p.es_params)[0], jnp.zeros(cfg.popsize), s, p.es_params)[0])
    row["ask_tell_s"] = _timed(ask_tell, key, state, repeats=repeats)
    print(f"{path}: generation {row['generation_s']:.3f} s | init+BC {row['init_bc_s']:.3f} | rollouts (policy + env) "
          f"{row['rollout_s']:.3f} | raw env, same batch {row['raw_env_s']:.3f} | ask+tell {row['ask_tell_s']:.4f}", flush=True)
    return row


def env_split(path: str, n_steps: int = 100, rounds: int = 3) -> dict:
    """Where a generation's rollouts go, for the config file ``path``: each part jitted alone at the
    engine's batch (popsize x rollouts x envs), ``n_steps`` steps, then all called alternately
    ``rounds`` times (CPU seconds, fastest call, scaled to the protocol's steps per generation):

    - rollouts: the engine's own (``make_evaluate``: policy + env + normalisation + score bookkeeping),
      with the policies behaviour-cloned on the first population;
    - env: ``envs.make(env).step`` with random actions (what ``raw_env_s`` of ``--profile`` times),
      and ``Env.step_no_reset`` (what ``fitness_reset = false`` steps);
    - brax only: the upstream env without brax's ``EpisodeWrapper``/``AutoResetWrapper`` (its step:
      physics + observation, reward, termination), and the physics alone (``pipeline_step``);
    - policy: the forward pass of the batch's different policies alone;
    - init + BC of the whole population (not scaled).

    The differences are what the wrappers, the env's own obs/reward code and the rollout's
    bookkeeping cost."""
    from distill.engine import make_inner_train
    from hades_zoo._runtime import unrolled_threefry
    from hades_zoo.envs import to_env_action
    from hades_zoo.rollout import make_evaluate

    unrolled_threefry()
    env_id = tomllib.loads(Path(path).read_text()).get("env") or Path(path).stem
    cfg = dataclasses.replace(build_config(env_id, path), chunk=1)
    p = make_problem(cfg)
    batch, full = cfg.popsize * cfg.rollouts * cfg.protocol.n_envs, cfg.protocol.steps_for(cfg.spec)
    env, spec = envs.make(cfg.env), cfg.spec
    key, state = init_state(p)
    population, _ = p.es.ask(key, state, p.es_params)
    train = jax.jit(jax.vmap(make_inner_train(p)))
    params = train(jax.random.split(key, cfg.popsize), population)
    evaluate = make_evaluate(cfg.env, p.policy, dataclasses.replace(cfg.protocol, n_steps=n_steps), cfg.obs_norm)
    rollouts = jax.jit(jax.vmap(jax.vmap(evaluate, in_axes=(0, 0, None, None)), in_axes=(0, 0, None, None)))
    rkeys = jax.random.split(key, cfg.popsize * cfg.rollouts).reshape(cfg.popsize, cfg.rollouts, -1)

    def random_actions(step, reset):  # n_steps of ``step(keys, state, action) -> (state, reward)`` on the batch
        def run(key):
            s = reset(jax.random.split(key, batch))

            def _step(c, k):
                s, total = c
                a = jax.random.uniform(k, (batch, spec.action_dim), minval=-1, maxval=1)
                if spec.discrete:
                    a = jax.random.randint(k, (batch,), 0, spec.action_dim)
                s, r = step(jax.random.split(k, batch), s, a)  # fresh keys every step, as in a rollout
                return (s, total + r.sum()), None

            return jax.lax.scan(_step, (s, 0.0), jax.random.split(key, n_steps))[0][1]

        return jax.jit(run)

    def ours(step):  # an ``Env`` step on the batch
        return lambda keys, s, a: (lambda o, s, r, d: (s, r))(*jax.vmap(step)(keys, s, a))

    parts = {"rollouts (policy + env + bookkeeping)": (rollouts, (rkeys, params, p.obs_mean, p.obs_var)),
             "env (envs.make: with wrappers)": (random_actions(ours(env.step), lambda k: jax.vmap(env.reset)(k)[1]),
                                                (key,))}
    if env.step_no_reset is not None:  # what fitness_reset = false steps
        parts["env without its auto-reset (step_no_reset)"] = (random_actions(
            ours(env.step_no_reset), lambda k: jax.vmap(env.reset)(k)[1]), (key,))
    if spec.family == "brax":
        bare = env.upstream.env.env  # AutoResetWrapper(EpisodeWrapper(the brax env))

        def bare_step(keys, s, a):
            s = jax.vmap(bare.step)(s, to_env_action(spec, a))
            return s, s.reward

        def physics(keys, s, a):
            s = jax.vmap(bare.pipeline_step)(s, to_env_action(spec, a))
            return s, s.q[:, 0]

        parts["env without brax's wrappers"] = (random_actions(bare_step, jax.vmap(bare.reset)), (key,))
        parts["physics alone (pipeline_step)"] = (random_actions(physics, lambda k: jax.vmap(bare.reset)(k).pipeline_state), (key,))
    flat = jax.tree.map(lambda x: x.reshape(batch // cfg.protocol.n_envs, *x.shape[2:]), params)

    @jax.jit
    def policy_only(key):  # each policy on its envs' observations, n_steps times
        def _step(obs, k):
            a = jax.vmap(lambda pr, o: p.policy.act(k, pr, o, False))(flat, obs)
            return obs + 1e-3 * jnp.sum(a, axis=-1, keepdims=True) if a.ndim == 3 else obs + 1e-3 * a[..., None], None

        obs = jax.random.normal(key, (batch // cfg.protocol.n_envs, cfg.protocol.n_envs, spec.obs_dim))
        return jax.lax.scan(_step, obs, jax.random.split(key, n_steps))[0]

    parts["policy forward alone"] = (policy_only, (key,))
    parts["init + BC (whole population)"] = (train, (jax.random.split(key, cfg.popsize), population))
    for fn, args in parts.values():
        jax.block_until_ready(fn(*args))  # compile
    cpu = {name: [] for name in parts}
    for i in range(rounds):
        for name in (list(parts) if i % 2 == 0 else list(parts)[::-1]):
            fn, args = parts[name]
            c = time.process_time()
            jax.block_until_ready(fn(*args))
            cpu[name].append(time.process_time() - c)
    row = {"config": path, "env": cfg.env, "batch_envs": batch, "steps_timed": n_steps, "steps_per_generation": full,
           "load_avg_1min": os.getloadavg()[0], "parts_cpu_s_per_generation": {}}
    for name, v in cpu.items():
        s = min(v) * (1 if name.startswith("init") else full / n_steps)
        row["parts_cpu_s_per_generation"][name] = s
        print(f"{path} | {name:<40} | {s:8.3f} CPU s per generation", flush=True)
    return row


def threefry_ab(path: str, n: int) -> dict:
    """The unrolled-threefry lever alone, in one process: the generation compiled with JAX's rolled
    CPU lowering and with the unrolled one, called alternately ``n`` times each (a shared
    machine's load drifts between processes; here both see the same drift)."""
    from hades_zoo import _runtime

    env = tomllib.loads(Path(path).read_text()).get("env") or Path(path).stem
    cfg = dataclasses.replace(build_config(env, path), chunk=1)
    p = make_problem(cfg)
    key, state = init_state(p)
    chunks = {}
    for name in ("rolled", "unrolled"):
        if name == "rolled":
            _runtime._OURS["threefry"] = True  # make_chunk then keeps JAX's lowering
        else:
            _runtime._OURS.pop("threefry", None)
            _runtime.unrolled_threefry()
        chunks[name] = make_chunk(p, 1)
        jax.block_until_ready(chunks[name](key, state)[1])
    times = {name: [] for name in chunks}
    for i in range(n):
        for name in (("rolled", "unrolled") if i % 2 == 0 else ("unrolled", "rolled")):
            t, c = time.perf_counter(), time.process_time()
            out = chunks[name](key, state)[1]
            jax.block_until_ready(out)
            times[name].append((time.perf_counter() - t, time.process_time() - c, float(out["fitness_mean"][0])))
    row = {"config": path, "env": cfg.env, "calls": n}
    for name, v in times.items():
        row[f"{name}_wall_min_s"] = min(x[0] for x in v)
        row[f"{name}_cpu_min_s"] = min(x[1] for x in v)
        row[f"{name}_cpu_median_s"] = sorted(x[1] for x in v)[n // 2]
        row[f"{name}_fitness_mean"] = v[0][2]
    row["cpu_speedup_min"] = row["rolled_cpu_min_s"] / row["unrolled_cpu_min_s"]
    row["cpu_speedup_median"] = row["rolled_cpu_median_s"] / row["unrolled_cpu_median_s"]
    print(f"{path}: threefry rolled {row['rolled_cpu_min_s']:.3f} CPU s (median {row['rolled_cpu_median_s']:.3f}), "
          f"unrolled {row['unrolled_cpu_min_s']:.3f} (median {row['unrolled_cpu_median_s']:.3f}): "
          f"x{row['cpu_speedup_min']:.2f} (median x{row['cpu_speedup_median']:.2f}), same fitness: "
          f"{row['rolled_fitness_mean'] == row['unrolled_fitness_mean']}", flush=True)
    return row


LEVERS = {  # name -> (what it is, exact: the same fitness as without it)
    "early-exit": ("a first_episode rollout stops once every env's first episode has ended "
                   "(hades_zoo.rollout.EARLY_EXIT, off by default)", True),
    "skip-reset": ("fitness_reset = false: the fitness rollouts step without the auto-reset "
                   "(config change: same arithmetic, not bit-identical)", False),
    "search-bc": ("search_bc_steps = K: BC steps per candidate during the search (config change)", False),
    "unroll": ("rollout scan unrolled K steps per loop trip (hades_zoo.rollout.SCAN_UNROLL)", True),
}


def _parse_levers(specs) -> dict:
    """``NAME=K`` (``early-exit`` alone) -> {name: K}."""
    levers = {}
    for spec in specs:
        name, _, value = spec.partition("=")
        if name in ("early-exit", "skip-reset") and not value:
            value = "1"
        if name not in LEVERS or not value.isdigit() or int(value) < 1:
            raise SystemExit(f"error: --levers takes NAME=K (or early-exit, skip-reset) with NAME one of {', '.join(LEVERS)} "
                             f"and K >= 1, got {spec!r}")
        levers[name] = int(value)
    return levers


def _lever_chunk(path: str, levers: dict):
    """The config's one-generation program with ``levers`` applied and no other (each read when it is
    traced): without any, the engine as it was before issue 21's levers."""
    from hades_zoo import rollout

    env = tomllib.loads(Path(path).read_text()).get("env") or Path(path).stem
    cfg = dataclasses.replace(build_config(env, path), chunk=1)
    if "search-bc" in levers:
        cfg = dataclasses.replace(cfg, search_bc_steps=levers["search-bc"])
    if "skip-reset" in levers:
        cfg = dataclasses.replace(cfg, fitness_reset=False)
    rollout.SCAN_UNROLL, rollout.EARLY_EXIT = levers.get("unroll", 1), "early-exit" in levers
    try:
        p = make_problem(cfg)
        key, state = init_state(p)
        chunk = make_chunk(p, 1)
        jax.block_until_ready(chunk(key, state))  # compiled while the lever is set
    finally:
        rollout.SCAN_UNROLL, rollout.EARLY_EXIT = 1, False
    return cfg, chunk, key, state


def levers_ab(path: str, levers: dict, n: int, at_generation: int = 0) -> dict:
    """Each lever alone and all of them together against none (the config as is, the engine as it
    was before them), in one process: every variant compiled once, then all called alternately
    (order reversed every round) ``n`` times on the same generation, so that all see the same drift
    of a shared machine's load. A variant's figure is its fastest call (CPU seconds, the robust one
    under load, and wall) and its median. ``at_generation``: that generation of the run without
    levers is the one timed (the early exit gains where episodes end early, so it depends on when)."""
    variants = {"as is": {}, **{f"{k}={v}": {k: v} for k, v in levers.items()}}
    if len(levers) > 1:
        variants["all: " + " ".join(f"{k}={v}" for k, v in levers.items())] = dict(levers)
    progs = {}
    for name, lv in variants.items():
        t0 = time.perf_counter()
        progs[name] = _lever_chunk(path, lv)
        print(f"  {path}: {name} compiled + first call {time.perf_counter() - t0:.1f} s", flush=True)
    if at_generation:
        cfg, chunk, key, state = progs["as is"]
        fit = []
        for _ in range(at_generation):
            (key, state), m = chunk(key, state)
            fit.append(float(m["fitness_mean"][0]))
        print(f"  {path}: timing generation {at_generation + 1} (fitness mean of the last {min(5, len(fit))} "
              f"generations: {[round(f, 1) for f in fit[-5:]]})", flush=True)
        progs = {name: (c, ch, key, state) for name, (c, ch, _, _) in progs.items()}
    times = {name: [] for name in progs}
    for i in range(n):
        for name in (list(progs) if i % 2 == 0 else list(progs)[::-1]):
            cfg, chunk, key, state = progs[name]
            t, c = time.perf_counter(), time.process_time()
            m = chunk(key, state)[1]
            jax.block_until_ready(m)
            times[name].append((time.perf_counter() - t, time.process_time() - c, float(m["fitness_mean"][0])))
    row = {"config": path, "env": progs["as is"][0].env, "calls": n, "at_generation": at_generation,
           "load_avg_1min": os.getloadavg()[0],
           "variants": []}
    base = None
    for name, v in times.items():
        cpu = sorted(x[1] for x in v)
        r = {"variant": name, "cpu_min_s": cpu[0], "cpu_median_s": cpu[n // 2], "wall_min_s": min(x[0] for x in v),
             "generations_per_cpu_s": 1 / cpu[0], "generations_per_s": 1 / min(x[0] for x in v),
             "fitness_mean": v[0][2]}
        base = base or r
        r["speedup_cpu_min"] = base["cpu_min_s"] / r["cpu_min_s"]
        r["speedup_cpu_median"] = base["cpu_median_s"] / r["cpu_median_s"]
        r["speedup_wall_min"] = base["wall_min_s"] / r["wall_min_s"]
        r["same_fitness"] = r["fitness_mean"] == base["fitness_mean"]
        row["variants"].append(r)
        print(f"{path} | {name:<28} | {r['cpu_min_s']:7.3f} CPU s (median {r['cpu_median_s']:.3f}) | "
              f"{r['generations_per_cpu_s']:7.3f} gen/CPU-s | wall min {r['wall_min_s']:7.3f} s = {r['generations_per_s']:.3f} gen/s | "
              f"x{r['speedup_cpu_min']:.2f} CPU (median x{r['speedup_cpu_median']:.2f}, wall x{r['speedup_wall_min']:.2f}) | "
              f"fitness {r['fitness_mean']:.3f}{' (same)' if r['same_fitness'] else ''}", flush=True)
    return row


def search_quality(env: str, steps: list[int], seeds: list[int], generations: int, every: int, out: Path,
                   eval_seeds: int = 8, skip_reset: bool = False) -> list[dict]:
    """The rollouts taken apart (the engine's rollouts; the env with and without brax's episode and
auto-reset wrappers; the physics alone; the policies' forward pass; init + BC), CPU seconds per
generation:

    python -m benchmarks.distill_throughput --configs tools/zoo_configs/hopper-r-cpu.toml --env-split 100

What fewer BC steps during the search cost: the env's preset run with ``search_bc_steps`` = each of
    ``steps`` (0: the recipe's own), same seeds, and every ``every`` generations the ES mean's dataset
    trained with the *final* recipe (the dataset's own, ``eval_seeds`` BC seeds) and scored under its
    protocol: the return at equal generations, and the search's own fitness beside it. ``skip_reset``:
    every variant but 0 also runs its fitness rollouts with ``fitness_reset = false``."""
    import hades_zoo
    from distill.runner import run as run_distillation
    from hades_zoo._runtime import enable_compilation_cache
    from hades_zoo.dataset import SyntheticDataset

    enable_compilation_cache()  # each resumed stretch compiles its chunk again: read it back
    rows = []
    for seed in seeds:
        for k in steps:
            cfg = build_config(env, seed=seed, generations=generations, search_bc_steps=k, chunk=every,
                               fitness_reset=not (skip_reset and k))
            run_dir = Path(out) / f"{cfg.spec.slug}-bc{k}{'' if cfg.fitness_reset else '-noreset'}-s{seed}"
            search_cpu = 0.0  # CPU seconds of the search alone (compiles included), not of the evaluations
            for g in range(every, generations + 1, every):
                cpu0 = time.process_time()
                run_distillation(cfg, run_dir, resume=g > every, progress=False, stop_after=every,
                                 command=f"search_quality {env} search_bc_steps={k} seed={seed}")
                search_cpu += time.process_time() - cpu0
                ds = SyntheticDataset.load(run_dir / "mean.safetensors")
                result = hades_zoo.evaluate(hades_zoo.train(ds, num_seeds=eval_seeds), seed=0)
                fit = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()][-1]
                row = {"env": cfg.env, "seed": seed, "search_bc_steps": k or cfg.bc_recipe.epochs, "fitness_reset": cfg.fitness_reset,
                       "recipe_epochs": ds.recipe.epochs, "generation": g, "return": result.mean, "return_std": result.std,
                       "search_fitness_mean": fit["fitness_mean"], "cpu_s": search_cpu}
                rows.append(row)
                print(json.dumps(row), flush=True)
    by = {}
    for r in rows:
        by.setdefault((r["search_bc_steps"], r["fitness_reset"], r["generation"]), []).append(r["return"])
    print(f"{env}: final-recipe return of the ES mean (mean over seeds {seeds}, {eval_seeds} BC seeds each)")
    for (k, reset, g), v in sorted(by.items()):
        print(f"  search BC steps {k:>4}{'' if reset else ', no reset'} | generation {g:>4} | {sum(v) / len(v):9.2f} | "
              f"per seed {[round(x, 1) for x in v]}")
    return rows


def side_by_side(configs, baseline: str, rounds: int, repeats: int) -> list[dict]:
    """Generations/s of ``baseline`` (a checkout) and of this one, alternately, per config."""
    here = str(Path(__file__).resolve().parents[1])
    rows = []
    for path in configs:
        sides = {"baseline": [], "this": []}
        for _ in range(rounds):
            for side, root in (("baseline", baseline), ("this", here)):
                env = dict(os.environ, PYTHONPATH=str(Path(root).resolve()))
                proc = subprocess.run([sys.executable, __file__, "--worker", str(Path(path).resolve()), "--repeats",
                                       str(repeats)], env=env, capture_output=True, text=True, cwd=root)
                if proc.returncode:
                    raise SystemExit(f"error: {side} ({root}) failed on {path}:\n{proc.stderr[-2000:]}")
                sides[side].append(json.loads(proc.stdout.strip().splitlines()[-1]))
        row = {"config": path, "env": sides["this"][0]["env"]}
        for side, runs in sides.items():
            row[f"{side}_generation_s"] = min(w for r in runs for w in r["wall_s"])
            row[f"{side}_cpu_s"] = min(c for r in runs for c in r["cpu_s"])
            row[f"{side}_generations_per_s"] = 1 / row[f"{side}_generation_s"]
            row[f"{side}_fitness_mean"] = runs[0]["fitness_mean"]
        row["speedup"] = row["baseline_generation_s"] / row["this_generation_s"]
        row["cpu_speedup"] = row["baseline_cpu_s"] / row["this_cpu_s"]
        row["same_fitness"] = row["baseline_fitness_mean"] == row["this_fitness_mean"]
        print(f"{path}: baseline {row['baseline_generations_per_s']:.3f} gen/s ({row['baseline_cpu_s']:.2f} CPU s), "
              f"this {row['this_generations_per_s']:.3f} gen/s ({row['this_cpu_s']:.2f} CPU s): "
              f"x{row['speedup']:.2f} (CPU x{row['cpu_speedup']:.2f}), same fitness: {row['same_fitness']}", flush=True)
        rows.append(row)
    return rows


def _workers(path: str, n: int, repeats: int) -> dict:
    """One side: ``n`` worker processes of this file (1: a plain one), one CPU device each; the
    figures of process 0 (each process times the same generations; the fitness is all-gathered)."""
    env = dict(os.environ, XLA_FLAGS=" ".join(f for f in os.environ.get("XLA_FLAGS", "").split()
                                              if "force_host_platform_device_count" not in f))
    cmd = [sys.executable, __file__, "--worker", str(Path(path).resolve()), "--repeats", str(repeats)]
    if n > 1:
        where = f"127.0.0.1:{free_port()}"
        cmds = [cmd + ["--coordinator", where, "--num-processes", str(n), "--process-id", str(i)] for i in range(n)]
    else:
        cmds = [cmd]
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
    outs = [p.communicate() for p in procs]
    for i, (p, (_, err)) in enumerate(zip(procs, outs)):
        if p.returncode:
            raise SystemExit(f"error: worker {i} of {n} failed on {path}:\n{err[-2000:]}")
    rows = [json.loads(o.strip().splitlines()[-1]) for o, _ in outs]
    first = rows[0]
    first["cpu_s_all_processes"] = [sum(r["cpu_s"][k] for r in rows) for k in range(len(first["cpu_s"]))]
    return first


def side_by_processes(configs, n: int, rounds: int, repeats: int) -> list[dict]:
    """Generations/s of one process and of ``n`` processes (``distill run --num-processes n`` on
    this machine, population split between them), alternately, per config: what a second core
    buys when one XLA program keeps to one. The fitness must agree (to float rounding: the ES
    update's partial sums are joined across processes)."""
    rows = []
    for path in configs:
        sides = {1: [], n: []}
        for r in range(rounds):
            for k in ((1, n) if r % 2 == 0 else (n, 1)):  # order reversed every round: both see the drift
                load = Contention()
                res = _workers(path, k, repeats)
                load.sample()
                res["contention"] = load.summary()
                sides[k].append(res)
                print(f"  {path}: {k} process(es), round {r + 1}: wall {[round(w, 3) for w in res['wall_s']]} s, "
                      f"CPU (all processes) {[round(c, 3) for c in res['cpu_s_all_processes']]} s, "
                      f"others' CPU at most {res['contention']['others_cores_peak'] or 0:.2f} cores", flush=True)
        row = {"config": path, "env": sides[1][0]["env"], "processes": n}
        for k, name in ((1, "one"), (n, "many")):
            runs = sides[k]
            row[f"{name}_generation_s"] = min(w for r in runs for w in r["wall_s"])
            row[f"{name}_generation_s_median"] = statistics.median(w for r in runs for w in r["wall_s"])
            row[f"{name}_cpu_s"] = min(c for r in runs for c in r["cpu_s_all_processes"])
            row[f"{name}_generations_per_s"] = 1 / row[f"{name}_generation_s"]
            row[f"{name}_fitness_mean"] = runs[0]["fitness_mean"]
            row[f"{name}_first_call_s"] = [r["first_call_s"] for r in runs]
            row[f"{name}_contention"] = [r["contention"] for r in runs]
        row["speedup"] = row["one_generation_s"] / row["many_generation_s"]
        row["speedup_median"] = row["one_generation_s_median"] / row["many_generation_s_median"]
        row["cpu_ratio"] = row["one_cpu_s"] / row["many_cpu_s"]
        a, b = row["one_fitness_mean"], row["many_fitness_mean"]
        row["same_fitness"] = a == b
        row["fitness_max_rel_diff"] = max(abs(x - y) / max(abs(x), 1e-12) for x, y in zip(a, b))
        print(f"{path}: 1 process {row['one_generations_per_s']:.3f} gen/s, {n} processes "
              f"{row['many_generations_per_s']:.3f} gen/s: x{row['speedup']:.2f} (median x{row['speedup_median']:.2f}; "
              f"CPU s per generation, all processes: {row['one_cpu_s']:.2f} vs {row['many_cpu_s']:.2f}); fitness "
              f"{'bit-identical' if row['same_fitness'] else 'max relative difference %.1e' % row['fitness_max_rel_diff']}",
              flush=True)
        rows.append(row)
    return rows


def _accelerated() -> bool:
    return jax.devices()[0].platform != "cpu"


def run(quick: bool, out):
    """The `python -m benchmarks throughput` entry: figures, scaling rows and plots."""
    from benchmarks.common import Result, savefig

    res = Result("throughput", seeds=[0])
    if quick:
        rows = scaling("CartPole-v1", [8], [4, 8], n_steps=50)
    else:
        rows = scaling("CartPole-v1", [64, 256, 1024] + ([4096] if _accelerated() else []), [4, 16, 64, 256])
        rows += [dict(measure("hopper", 64, 64, None), sweep="hopper")]
    res.rows = rows
    for r in rows:
        tag = f"{r['env']} P={r['popsize']} D={r['size']}"
        res.figure(f"{tag}: generations/s", r["generations_per_s"], "gen/s")
        res.figure(f"{tag}: engine env-steps/s", r["engine_env_steps_per_s"], "steps/s")
        res.figure(f"{tag}: ratio engine / raw env-steps/s", r["ratio"], "", ">= 0.7", r["ratio"] >= 0.7)
        res.figure(f"{tag}: BC share of a generation", r["bc_share"], "")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, sweep, key in ((axes[0], "popsize", "popsize"), (axes[1], "size", "size")):
        pts = sorted((r[key], r) for r in rows if r["sweep"] == sweep or (sweep == "size" and r["sweep"] == "popsize"
                                                                        and r["popsize"] == rows[0]["popsize"]))
        xs = [p[0] for p in pts]
        ax.loglog(xs, [p[1]["engine_env_steps_per_s"] for p in pts], "o-", label="engine env-steps/s")
        ax.loglog(xs, [p[1]["raw_env_steps_per_s"] for p in pts], "s--", label="raw env-steps/s (same batch)")
        ax.set_xlabel("population" if key == "popsize" else "dataset size D")
        ax.set_title(f"{rows[0]['env']}: scaling with {'population' if key == 'popsize' else 'D'}")
    axes[0].set_ylabel("env steps / s")
    axes[0].legend(fontsize=8)
    savefig(fig, out, "throughput_scaling.png", res)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", nargs="+", default=["CartPole-v1", "hopper"])
    ap.add_argument("--popsize", type=int, default=64)
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--quick", action="store_true", help="small population and 100-step rollouts (CI smoke)")
    ap.add_argument("--configs", nargs="+", help="config files measured as they are (with --baseline: side by side)")
    ap.add_argument("--baseline", help="an older checkout to measure --configs against (git worktree add DIR REV)")
    ap.add_argument("--rounds", type=int, default=2, help="alternations of the two sides per config")
    ap.add_argument("--repeats", type=int, default=3, help="generations timed per process")
    ap.add_argument("--profile", action="store_true", help="with --configs: one generation taken apart (BC, rollouts, env, ES)")
    ap.add_argument("--env-split", type=int, metavar="STEPS", help="with --configs: the rollouts taken apart (policy, "
                    "wrappers, env code, physics), STEPS steps each, scaled to a generation")
    ap.add_argument("--threefry-ab", type=int, metavar="N", help="with --configs: the threefry lever alone, N calls per side in one process")
    ap.add_argument("--levers", nargs="+", metavar="NAME=K",
                    help=f"with --configs: each lever alone and all together vs the config as is, in one process "
                         f"(NAME: {', '.join(LEVERS)})")
    ap.add_argument("--calls", type=int, default=6, help="with --levers: calls per variant, alternately")
    ap.add_argument("--at-generation", type=int, default=0, help="with --levers: time the generation after this many")
    ap.add_argument("--quality", metavar="ENV", help="fewer BC steps during the search: final-recipe return at equal "
                                                       "generations (with --search-bc-steps, --seeds, --generations)")
    ap.add_argument("--search-bc-steps", nargs="+", type=int, default=[0, 25], help="with --quality (0: the recipe's)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="with --quality")
    ap.add_argument("--skip-reset", action="store_true", help="with --quality: the variants with search BC steps "
                    "also set fitness_reset = false")
    ap.add_argument("--generations", type=int, default=100, help="with --quality")
    ap.add_argument("--every", type=int, default=20, help="with --quality: generations between evaluations")
    ap.add_argument("--out", type=Path, default=Path("benchmark-results/search-bc-quality"), help="with --quality: run dirs")
    ap.add_argument("--processes", type=int, metavar="N", help="with --configs: one process against N processes "
                    "(distill run --num-processes N on this machine), alternately, --rounds times")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--coordinator", help=argparse.SUPPRESS)
    ap.add_argument("--num-processes", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--process-id", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        session = join(args.coordinator, args.num_processes, args.process_id) if args.coordinator else None
        print(json.dumps(config_generation_times(args.worker, args.repeats, session)), flush=True)
        if session is not None:
            session.finish()
        return
    print(json.dumps({"device": str(jax.devices()[0]), "cpu": platform.processor() or platform.machine(),
                      "cores": os.cpu_count(), "versions": {p: version(p) for p in ("jax", "brax", "gymnax", "evosax")}}))
    if args.quality:
        rows = search_quality(args.quality, args.search_bc_steps, args.seeds, args.generations, args.every, args.out,
                              skip_reset=args.skip_reset)
        print(json.dumps({"benchmark": "distill_throughput", "quality": args.quality, "rows": rows}))
        return
    if args.configs:
        if args.levers:
            levers = _parse_levers(args.levers)
            rows = [levers_ab(c, levers, args.calls, args.at_generation) for c in args.configs]
        elif args.env_split:
            rows = [env_split(c, args.env_split, args.repeats) for c in args.configs]
        elif args.profile:
            rows = [profile_config(c, args.repeats) for c in args.configs]
        elif args.threefry_ab:
            rows = [threefry_ab(c, args.threefry_ab) for c in args.configs]
        elif args.processes:
            rows = side_by_processes(args.configs, args.processes, args.rounds, args.repeats)
        elif args.baseline:
            rows = side_by_side(args.configs, args.baseline, args.rounds, args.repeats)
        else:
            rows = [config_generation_times(c, args.repeats) for c in args.configs]
        print(json.dumps({"benchmark": "distill_throughput", "baseline": args.baseline, "rows": rows}))
        return
    rows = [measure(e, 8 if args.quick else args.popsize, args.size or (4 if envs.get_spec(e).family == "gymnax" else 64),
                    100 if args.quick else None) for e in args.envs]
    print(json.dumps({"benchmark": "distill_throughput", "rows": rows}))


if __name__ == "__main__":
    main()
