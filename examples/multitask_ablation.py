"""Which way of training one policy on merged datasets wins: the README's ablation table.

    python examples/multitask_ablation.py MERGED.safetensors [--variants a,b,...] [--seeds 4] [--seed 0] [--json]

Trains every variant of ``hades_zoo.multitask.VARIANTS`` (or the ones given) on the
merged dataset with the same seeds, evaluates each task under its dataset's own
protocol, and prints each task's score relative to the dataset's own single-task
recipe trained and evaluated on the same seeds (the ratio where that return is
positive, else the normalised score: random policy 0, own recipe 1). The single-task
references are computed once and shared by every variant.
"""

from __future__ import annotations

import argparse
import json
import time

from hades_zoo.multitask import load_merged
from hades_zoo.multitask import DEFAULT_VARIANT, VARIANTS, evaluate_multitask, train_multitask
from hades_zoo.scores import relative_score


def describe(cfg) -> str:
    parts = [f"task input {cfg.conditioning}", f"{cfg.heads} head{'s' if cfg.heads == 'per-task' else ''}",
             f"balance {cfg.balance}"]
    if cfg.inputs != "padded":
        parts.append(f"{cfg.inputs} inputs")
    if cfg.task_norm != "none":
        parts.append(f"task_norm {cfg.task_norm}")
    if cfg.anchors:
        parts.append(f"{cfg.anchors} anchors" + (" from env rollouts" if cfg.anchor_states == "env" else ""))
    return ", ".join(parts)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("merged", help="a merged .safetensors (hades-zoo merge A B ... -o FILE)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated VARIANTS keys")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="one JSON object per variant instead of the table")
    args = parser.parse_args(argv)
    merged = load_merged(args.merged)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    short = {env: env.split("-")[0].replace("Continuous", "Cont.") for env in merged.env_ids}
    refs = None
    if not args.json:
        print(f"{merged.name}: {args.seeds} seeds, relative to each dataset's own recipe")
        print("| variant | " + " | ".join(short.values()) + " | min |")
        print("|---|" + "---|" * (len(short) + 1))
    for name in variants:
        t0 = time.perf_counter()
        trained = train_multitask(merged, variant=name, seed=args.seed, num_seeds=args.seeds)
        scores = evaluate_multitask(trained, seed=args.seed, compare=refs is None)
        if refs is None:
            refs = {env: (s.single_task.mean, None if s.random is None else s.random.mean) for env, s in scores.items()}
        rel = {env: relative_score(s.result.mean, *refs[env]) for env, s in scores.items()}
        if args.json:
            print(json.dumps({"variant": name, "config": vars(trained.config), "arch": trained.arch,
                              "per_task": {env: {"mean": s.result.mean, "returns": s.result.returns,
                                                 "single_task_mean": refs[env][0], "random_mean": refs[env][1],
                                                 "relative": rel[env]} for env, s in scores.items()},
                              "min_relative": min(rel.values()), "seconds": round(time.perf_counter() - t0, 1)}),
                  flush=True)
        else:
            cells = [f"{rel[env]:.2f} ({s.result.mean:.0f})" for env, s in scores.items()]
            star = " (default)" if name == DEFAULT_VARIANT else ""
            print(f"| `{name}`{star}: {describe(trained.config)} | " + " | ".join(cells) + f" | {min(rel.values()):.2f} |",
                  flush=True)
    if not args.json and refs:
        print("| own single-task recipe | " + " | ".join(f"1.00 ({refs[env][0]:.0f})" for env in short) + " | |")


if __name__ == "__main__":
    main()
