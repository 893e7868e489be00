"""Time to an agent: `hades_zoo.load` + behaviour cloning vs brax's own PPO trainer.

Both sides run in fresh processes, compile included. HaDES: load a bundled hopper
dataset, behaviour-clone one policy, take its first action in a reset env; cold (empty
JAX compilation cache) and warm (cache filled). The return of that recipe is measured
over 8 BC seeds with the greedy `episodes` protocol (untimed). PPO: brax 0.14.2's
`brax.training.agents.ppo.train` with its published hopper settings, evaluated with
brax's deterministic evaluator (greedy full episodes from reset: the same definition),
stopped at the first evaluation that reaches the HaDES return, or at the time cap.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.common import Result, python_in_fresh_process, savefig

GOAL_RATIO = 100.0  # PPO wall time / HaDES wall time
GOAL_WARM_S = 3.0

HADES_CODE = """
import json, time
t0 = time.perf_counter()
from hades_zoo.cli import enable_compilation_cache
enable_compilation_cache()
import jax, hades_zoo
from hades_zoo import envs
t_import = time.perf_counter()
ds = hades_zoo.load({name!r})
t_load = time.perf_counter()
trained = hades_zoo.train(ds, num_seeds=1)
jax.block_until_ready(trained.params)
t_train = time.perf_counter()
env = envs.make(ds.env_id)
obs, _ = jax.jit(env.reset)(jax.random.PRNGKey(0))
t_env = time.perf_counter()
action, _ = jax.block_until_ready(trained.act(obs, trained.reset_state()))  # state: running normalisation too
t_act = time.perf_counter()
out = {{"import_s": t_import - t0, "load_s": t_load - t_import, "train_s": t_train - t_load,
        "env_reset_s": t_env - t_train, "first_action_s": t_act - t_env, "in_process_s": t_act - t0}}
if {evaluate!r}:
    res = hades_zoo.evaluate(hades_zoo.train(ds, num_seeds={seeds}), protocol="episodes")
    out.update(mean=res.mean, std=res.std, returns=res.returns)
print(json.dumps(out))
"""

# brax's published hopper PPO settings (brax training notebook; measurements.md)
PPO_FULL = dict(num_timesteps=50_000_000, num_evals=200, reward_scaling=10, episode_length=1000,
                normalize_observations=True, action_repeat=1, unroll_length=20, num_minibatches=32,
                num_updates_per_batch=8, discounting=0.97, learning_rate=3e-4, entropy_cost=1e-3,
                num_envs=1024, batch_size=512, seed=0)
PPO_QUICK = dict(PPO_FULL, num_timesteps=2_000, num_evals=2, episode_length=50, unroll_length=5, num_minibatches=2,
                 num_updates_per_batch=1, num_envs=8, batch_size=8, num_eval_envs=4)

PPO_CODE = """
import json, time
t0 = time.perf_counter()
import jax, jax.numpy as jnp
if not hasattr(jax, "device_put_replicated"):
    # brax 0.14.2 calls jax.device_put_replicated, removed in jax 0.10: stack once per device.
    jax.device_put_replicated = lambda x, devices: jax.tree.map(
        lambda a: jax.device_put(jnp.stack([jnp.asarray(a)] * len(devices))), x)
from brax import envs
from brax.training.agents.ppo import train as ppo
kw = {kw!r}
target, cap = {target!r}, {cap!r}
curve = []
class Stop(Exception):
    pass
def progress(steps, metrics):
    wall = time.perf_counter() - t0
    ret = float(metrics["eval/episode_reward"])
    curve.append({{"env_steps": int(steps), "wall_s": wall, "return": ret}})
    if steps > 0 and (ret >= target or wall >= cap):
        raise Stop
env = envs.get_environment("hopper", backend="positional")
try:
    ppo.train(environment=env, progress_fn=progress, deterministic_eval=True, **kw)
except Stop:
    pass
print(json.dumps({{"curve": curve}}))
"""


def run(quick: bool, out: Path) -> Result:
    res = Result("time-to-agent", seeds=[0])
    name = "cartpole-hades-r-4" if quick else _dataset_name()  # quick: smoke only, no hopper compile
    cache = out / "jax-cache"
    env = {"HADES_ZOO_JAX_CACHE": str(cache)}
    seeds = 2 if quick else 8
    cold_wall, cold = python_in_fresh_process(HADES_CODE.format(name=name, evaluate=True, seeds=seeds), env)
    warm_wall, warm = python_in_fresh_process(HADES_CODE.format(name=name, evaluate=False, seeds=seeds), env)
    # the cold process also ran the (untimed) evaluation: its wall time up to the first action is in_process_s
    cold_s = cold["in_process_s"] + (warm_wall - warm["in_process_s"])  # + interpreter start, measured warm
    res.figure(f"HaDES {name}: return (greedy episodes, {seeds} BC seeds)", cold["mean"], "return")
    res.figure("HaDES load+train+first action, fresh process, cold", cold_s, "s")
    res.figure("HaDES load+train+first action, fresh process, warm", warm_wall, "s")
    agent_s = warm_wall - warm["env_reset_s"]  # the simulator's own start-up is not ours to count
    res.figure("HaDES warm, without creating + resetting the env", agent_s, "s", f"<= {GOAL_WARM_S}",
               agent_s <= GOAL_WARM_S)
    for k in ("import_s", "load_s", "train_s", "env_reset_s", "first_action_s"):
        res.figure(f"  warm breakdown: {k[:-2]}", warm[k], "s")
    target = cold["mean"]
    cap = 120.0 if quick else 1500.0
    kw = PPO_QUICK if quick else PPO_FULL
    ppo_wall, ppo = python_in_fresh_process(PPO_CODE.format(kw=kw, target=target, cap=cap), timeout=cap + 600)
    curve = ppo["curve"]
    reached = next((p for p in curve if p["env_steps"] > 0 and p["return"] >= target), None)
    best = max((p["return"] for p in curve), default=None)
    res.rows = [{"method": "brax PPO", **p} for p in curve]
    if reached:
        res.figure("PPO time to the HaDES return (fresh process, evals included)", reached["wall_s"], "s")
        res.figure("PPO env steps to the HaDES return", reached["env_steps"], "steps")
        ratio = reached["wall_s"] / cold_s
        res.figure("ratio PPO time / HaDES time (cold)", ratio, "x", f">= {GOAL_RATIO:g}", ratio >= GOAL_RATIO)
        res.figure("ratio PPO time / HaDES time (warm)", reached["wall_s"] / warm_wall, "x")
    else:
        res.figure(f"PPO did not reach {target:.0f} within the cap", cap, "s")
        res.figure("PPO best return within the cap", best, "return")
        res.figure("ratio PPO time / HaDES time (cold), lower bound", ppo_wall / cold_s, "x", f">= {GOAL_RATIO:g}",
                   ppo_wall / cold_s >= GOAL_RATIO)
    res.notes.append(f"PPO settings: {json.dumps({k: v for k, v in kw.items()})}; eval = brax deterministic eval "
                     f"(128 envs, full episodes); time cap {cap:.0f} s; PPO process wall {ppo_wall:.0f} s.")
    _plot(out, res, curve, target, cold_s)
    return res


def _dataset_name() -> str:
    from hades_zoo.catalogue import revision_entry

    for name in ("hopper-hades-r-64", "hopper-hades-f-64"):  # our engine's CPU datasets (what this benchmark measures)
        if revision_entry(name, "cpu-v1"):
            return f"{name}@cpu-v1"
    raise RuntimeError("no bundled hopper dataset in the zoo")


def _plot(out: Path, res: Result, curve: list[dict], target: float, hades_s: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([p["wall_s"] for p in curve], [p["return"] for p in curve], "o-", label="brax PPO (eval return)")
    ax.axhline(target, color="k", ls="--", lw=1, label=f"HaDES return {target:.0f}")
    ax.axvline(hades_s, color="C1", lw=2, label=f"HaDES load+train {hades_s:.1f} s")
    ax.set_xscale("log")
    ax.set_xlabel("wall time, fresh process (s)")
    ax.set_ylabel("hopper return")
    ax.legend(fontsize=8)
    savefig(fig, out, "time_to_agent.png", res)
