"""Why does a source of a merged dataset fall under its own recipe? Per source and per seed:
how far the multi-task student is from its own teacher, and where.

    python examples/multitask_diagnose.py hopper4.safetensors --seeds 8 --out diag.json [--run LABEL=VARIANT,key=value]

Trains the variant (default ``anchored``; ``key=value`` as in ``multitask_ablation.py``) and,
for every source and every seed ``i``, measures the student's disagreement with teacher seed
``i`` (the source's own recipe, the anchors' labeller): the RMS difference of their action
means (continuous) or the mean total-variation distance of their action distributions
(discrete), on

- ``pairs``: the source's own distilled states;
- ``held-out``: fresh data anchors, drawn as the training anchors but with another seed;
- ``teacher-visits``: the states the teacher visits in its env (one protocol rollout per seed);
- ``student-visits``: the states the student itself visits (where it acts);

and the per-source BC loss the student ends at on its pairs (``loss``), how far the visited
states lie from the distilled ones (``*_visits_dist``), with the returns of student and teacher
per seed. One JSON object per run, appended to ``--out``.
"""

from __future__ import annotations

import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from hades_zoo.anchors import _batched_visits, data_states, label
from hades_zoo.api import evaluate
from hades_zoo.multitask import train_multitask
from hades_zoo.multitask.policy import packed_states

import multitask_ablation  # same directory: one_run_parser, one_run


def per_seed_visits(trained, seed: int) -> np.ndarray:
    """(seeds, steps * envs, O): what each seed of ``trained`` visits under its dataset's protocol."""
    ds = trained.dataset
    spec = ds.spec
    fn = _batched_visits(spec.env_id, trained.policy, ds.protocol, ds.norm, trained.dynamics or ds.dynamics)
    mean = jnp.zeros(spec.obs_shape) if ds.obs_mean is None else jnp.asarray(ds.obs_mean)
    var = jnp.ones(spec.obs_shape) if ds.obs_var is None else jnp.asarray(ds.obs_var)
    keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 1), trained.num_seeds)
    out = np.asarray(fn(keys, trained.params, mean, var), np.float32)
    return out.reshape(trained.num_seeds, -1, int(np.prod(spec.obs_shape)))


def disagreement(student, teacher, states: np.ndarray, discrete: bool, clip: bool = True) -> list[float]:
    """Per seed: student seed i vs teacher seed i on ``states`` ((M, O), or (seeds, M, O) per seed);
    continuous action means clipped to the action range [-1, 1] first (``clip``): beyond it the env
    sees the same action (brax hopper: 60 % of its teachers' outputs are outside)."""
    if states.ndim == 2:
        a, b = label(student, states), label(teacher, states)
    else:
        a = np.stack([label(student, s)[i] for i, s in enumerate(states)])
        b = np.stack([label(teacher, s)[i] for i, s in enumerate(states)])
    if discrete:
        return [float(v) for v in 0.5 * np.abs(a - b).sum(-1).mean(-1)]
    if clip:
        a, b = np.clip(a, -1, 1), np.clip(b, -1, 1)
    return [float(v) for v in np.sqrt(((a - b) ** 2).mean((-1, -2)))]


def nearest(visits: np.ndarray, states: np.ndarray) -> list[float]:
    """Per seed: the median over visited states of the distance to the nearest distilled state,
    in units of the per-dim std of the distilled states (the data anchors' noise)."""
    x = np.asarray(states, np.float32).reshape(len(states), -1)
    std = np.maximum(x.std(0), 0.1)
    out = []
    for v in visits:
        v = v[:: max(1, len(v) // 1024)] / std
        d = np.sqrt(((v[:, None, :] - (x / std)[None]) ** 2).sum(-1)).min(1)
        out.append(float(np.median(d)))
    return out


def main(argv=None) -> None:
    parser = multitask_ablation.one_run_parser(__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--held-out", type=int, default=2048)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    merged, label_, cfg, overrides = multitask_ablation.one_run(args)
    t0 = time.perf_counter()
    trained = train_multitask(merged, overrides.get("arch"), config=cfg, seed=args.seed, num_seeds=args.seeds,
                              epochs=overrides.get("epochs"), lr=overrides.get("lr"))
    params = trained.params
    states_all = packed_states(merged, cfg.unit)
    losses = jax.vmap(trained.policy.task_losses, in_axes=(0, None, None))(params, jnp.asarray(states_all), jnp.asarray(merged.targets))[0]
    rng = np.random.default_rng(args.seed + 12345)
    row = {"label": label_, "config": vars(trained.config), "seeds": args.seeds, "timing": trained.timing, "per_source": {}}
    for k in range(len(merged.sources)):
        name = merged.source_label(k)
        student, teacher = trained.source(k), trained.teachers[k]
        ds = student.dataset
        disc = bool(ds.spec.discrete)
        unit = k if cfg.unit == "source" else merged.sources[k]["task"]
        held = data_states(ds.states, args.held_out, rng, cfg.anchor_scale)
        s_ret, t_ret = evaluate(student, seed=args.seed), evaluate(teacher, seed=args.seed)
        t_visits, s_visits = per_seed_visits(teacher, args.seed), per_seed_visits(student, args.seed)
        rec = {"loss": [float(v) for v in np.asarray(losses)[:, unit]],
               "pairs": disagreement(student, teacher, ds.states.reshape(len(ds.states), -1), disc),
               "held_out": disagreement(student, teacher, held, disc),
               "teacher_visits": disagreement(student, teacher, t_visits, disc),
               "student_visits": disagreement(student, teacher, s_visits, disc),
               "held_out_unclipped": disagreement(student, teacher, held, disc, clip=False),
               "student_visits_unclipped": disagreement(student, teacher, s_visits, disc, clip=False),
               # how far what each seed visits lies from the source's own states (per-dim std units, nearest pair)
               "student_visits_dist": nearest(s_visits, ds.states), "teacher_visits_dist": nearest(t_visits, ds.states),
               "student_returns": list(map(float, s_ret.returns)), "teacher_returns": list(map(float, t_ret.returns))}
        row["per_source"][name] = rec
        print(f"{name}:", flush=True)
        for key, vals in rec.items():
            print(f"  {key:<16}" + " ".join(f"{v:9.3f}" for v in vals), flush=True)
    row["seconds"] = round(time.perf_counter() - t0, 1)
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
