"""Does a policy driven by hand with ``act`` do what ``evaluate`` says? (issue 17's acceptance check)

    python tools/check_act.py [DATASET] [--seeds 8] [--json]

DATASET defaults to the authors' hopper HaDES-R D64 seed-0 file (converted from
``../shared/reference/release``; running observation normalisation, paper-brax protocol,
2023 dynamics). For each of ``--seeds`` BC seeds it measures:

- ``evaluate``: the library's jitted rollout under the dataset's protocol;
- ``hand``: the same protocol written as a user writes it, a Python loop over
  ``trained.act(obs, state)`` and ``env.step`` with the keys ``evaluate`` uses;
- ``greedy``: how a user deploys: one env, greedy actions, one episode, state carried;
- ``frozen``: the same single-env greedy episode with ``trained.freeze()`` (no state).

Acceptance: ``hand`` within 5 % of ``evaluate``, and ``greedy`` >= 1500 on the hopper file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import jax  # noqa: E402
import numpy as np  # noqa: E402

HOPPER_R = "results/ICLR/brax/no_virtual_batch_norm/distill/hopper/D64/seed0/data_final.pkl"


def hand_loop(trained, index: int, key, protocol, *, stateless: bool = False) -> float:
    """The evaluation protocol as a user writes it: reset a batch of ``protocol.n_envs`` envs,
    then ``act`` + ``step`` in Python, with the keys ``evaluate`` uses for seed ``index`` (so on
    a stable env the returns agree up to float rounding). ``stateless``: ``act(obs)`` alone."""
    env = trained.env()
    reset, step = jax.jit(jax.vmap(env.reset)), jax.jit(jax.vmap(env.step))
    sample = protocol.sample_actions
    if stateless:
        act = jax.jit(lambda obs, state, k: (trained.act(obs, key=k if sample else None, index=index), state))
    else:
        act = jax.jit(lambda obs, state, k: trained.act(obs, state, key=k if sample else None, index=index))
    n, steps = protocol.n_envs, protocol.steps_for(env.spec)
    key_reset, key_run = jax.random.split(key)
    obs, env_state = reset(jax.random.split(key_reset, n))
    state = trained.reset_state(index)
    # the per-step keys as evaluate draws them, split up front in one call: per-step splits in
    # Python cost as much as the env step itself
    pairs = jax.vmap(jax.random.split)(jax.random.split(key_run, steps))
    key_acts = np.asarray(pairs[:, 0])
    key_envs = np.asarray(jax.vmap(lambda k: jax.random.split(k, n))(pairs[:, 1]))
    ep_ret, done_sum, done_n = np.zeros(n), 0.0, 0
    first, last = np.full(n, np.nan), np.zeros(n)
    for t in range(steps):
        action, state = act(obs, state, key_acts[t])
        obs, env_state, reward, done = step(key_envs[t], env_state, action)
        ep_ret += np.asarray(reward)
        done = np.asarray(done)
        first = np.where(done & np.isnan(first), ep_ret, first)
        last = np.where(done, ep_ret, last)
        done_sum, done_n = done_sum + ep_ret[done].sum(), done_n + done.sum()
        ep_ret[done] = 0.0
        if protocol.metric == "first_episode" and not np.isnan(first).any():
            break  # every env has finished its first episode: the rest cannot change the metric
    if protocol.metric == "first_episode":
        return float(np.where(np.isnan(first), ep_ret, first).mean())
    if protocol.metric == "last_completed":
        return float(last.mean())
    return float(done_sum / done_n) if done_n else float(ep_ret.mean())


def _dataset(arg: str | None):
    from hades_zoo.sources import load

    if arg:
        return load(arg)
    from hades_zoo.legacy_release import convert_release_file

    ds, _ = convert_release_file(REPO.parent / "shared" / "reference" / "release", HOPPER_R)
    return ds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", nargs="?", help="name or path (default: the authors' hopper HaDES-R D64 seed 0)")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0, help="BC and evaluation seed")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import hades_zoo
    from hades_zoo.recipe import Protocol

    t0 = time.perf_counter()
    ds = _dataset(args.dataset)
    trained = hades_zoo.train(ds, num_seeds=args.seeds, seed=args.seed)
    result = hades_zoo.evaluate(trained, seed=args.seed)
    keys = jax.random.split(jax.random.PRNGKey(args.seed), trained.num_seeds)
    hand = [hand_loop(trained, i, keys[i], trained.protocol) for i in range(trained.num_seeds)]
    deploy = Protocol("one-env-greedy-episode", 1, None, False, "first_episode")
    greedy = [hand_loop(trained, i, keys[i], deploy) for i in range(trained.num_seeds)]
    frozen_policy = trained.freeze(seed=args.seed)
    frozen = [hand_loop(frozen_policy, i, keys[i], deploy, stateless=True) for i in range(trained.num_seeds)]
    rel = abs(np.mean(hand) - result.mean) / abs(result.mean)
    out = {"dataset": ds.name, "env": ds.env_id, "obs_norm": ds.obs_norm, "dynamics": ds.dynamics,
           "protocol": result.protocol, "seeds": trained.seeds,
           "evaluate": result.returns, "hand": hand, "greedy_single_env": greedy, "frozen_single_env": frozen,
           "evaluate_mean": result.mean, "hand_mean": float(np.mean(hand)), "hand_rel_diff": float(rel),
           "greedy_mean": float(np.mean(greedy)), "frozen_mean": float(np.mean(frozen)),
           "wall_s": round(time.perf_counter() - t0, 1)}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{ds.name} [{ds.env_id}, {ds.obs_norm} normalisation, {ds.dynamics} dynamics], {trained.num_seeds} seeds")
        for label, key in (("evaluate", "evaluate"), ("hand loop over act", "hand"),
                           ("single-env greedy (state)", "greedy_single_env"),
                           ("single-env greedy (frozen)", "frozen_single_env")):
            vals = out[key]
            print(f"  {label:28s} {np.mean(vals):8.1f} ± {np.std(vals):6.1f}   " + " ".join(f"{v:.0f}" for v in vals))
        print(f"  hand vs evaluate: {100 * rel:.2f} % apart; wall {out['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
