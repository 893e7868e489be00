"""Pre-train one policy on the merged datasets of several envs, then fine-tune it per env.

    python examples/pretrain_finetune.py [--hopper FILE] [--variant V] [--seeds 4] [--pretrain-epochs N]
                                         [--finetune-steps 20] [--finetune-lr X] [--merged FILE] [--out FILE]
                                         [--eval-repeats 1]

Merges the bundled CartPole, MountainCarContinuous and Acrobot datasets (plus a hopper
dataset with ``--hopper``, e.g. the authors' HaDES-R file converted by
``hades-zoo import-legacy``), pre-trains one multi-task policy on all of them,
evaluates it zero-shot in every env, then fine-tunes a copy per env with a few
full-batch BC steps on that env's own pairs and evaluates again. Every number is a
mean over ``--seeds`` policies (one vmap), each env under its dataset's own protocol.

With ``--merged`` the pre-training and zero-shot scores are exactly ``hades-zoo train-multitask
FILE --seeds N [--eval-repeats R]`` (the same ``train_multitask`` and ``evaluate_multitask(compare=True)`` calls,
seed 0), so one run gives the multi-task table and the fine-tuned column. ``--out`` appends one
JSON line per source as it is scored (its zero-shot ``TaskScore`` and its fine-tuned returns),
then a summary line with the timing.
"""

from __future__ import annotations

import argparse
import json
import time

import hades_zoo
from hades_zoo.multitask import DEFAULT_VARIANT, VARIANTS, evaluate_multitask, finetune
from hades_zoo.multitask.scoring import below, warnings
from hades_zoo.scores import normalised_score


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hopper", default=None, help="an imported hopper .safetensors to merge as well")
    parser.add_argument("--merged", default=None, help="a merged file (hades-zoo merge) instead of the default sources")
    parser.add_argument("--variant", default=DEFAULT_VARIANT, choices=sorted(VARIANTS))
    parser.add_argument("--arch", default=None, help="architecture (default: the widest of the datasets' recipes)")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--pretrain-epochs", type=int, default=None, help="default: the merged recipe's")
    parser.add_argument("--finetune-steps", type=int, default=20)
    parser.add_argument("--finetune-lr", type=float, default=None, help="default: the pre-training learning rate")
    parser.add_argument("--out", default=None, help="JSON lines: one per source as scored, then a summary")
    parser.add_argument("--eval-repeats", type=int, default=1,
                        help="evaluation seeds per trained seed, for every score (train-multitask's --eval-repeats)")
    args = parser.parse_args(argv)

    sources = ["cartpole-hades-r-4", "mountaincar-continuous-hades-r-4", "acrobot-hades-r-4"]
    if args.hopper:
        sources.append(args.hopper)
    t0 = time.perf_counter()
    merged = hades_zoo.load_merged(args.merged) if args.merged else hades_zoo.merge(sources)
    trained = hades_zoo.train_multitask(merged, args.arch, variant=args.variant, num_seeds=args.seeds,
                                        epochs=args.pretrain_epochs)
    print(f"pre-trained {trained.arch} ({args.variant}, {trained.recipe.epochs} steps, lr {trained.recipe.lr:g}) on "
          f"{', '.join(merged.env_ids)}: {merged.size} pairs, {args.seeds} seeds")
    t_eval = time.perf_counter()
    zero_shot = evaluate_multitask(trained, compare=True, repeats=args.eval_repeats)
    print(f"{'source':<36} {'single-task':>12} {'zero-shot':>10} {'fine-tuned':>11}  ({args.finetune_steps} steps; "
          f"normalised in brackets: random 0, single-task 1)")

    def emit(row: dict) -> None:
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")

    index = {merged.source_label(k): k for k in range(len(merged.sources))}
    t1 = time.perf_counter()
    for name, score in zero_shot.items():
        t2 = time.perf_counter()
        tuned = hades_zoo.evaluate(finetune(trained, name, steps=args.finetune_steps, lr=args.finetune_lr),
                                   repeats=args.eval_repeats)
        norm = lambda x: normalised_score(x, score.single_task.mean, score.random.mean)
        print(f"{name:<36} {score.single_task.mean:>12.1f} {score.result.mean:>10.1f} ({norm(score.result.mean):.2f}) "
              f"{tuned.mean:>11.1f} ({norm(tuned.mean):.2f})", flush=True)
        emit({"phase": "source", "source": name, "anchors": trained.anchor_pools.get(index[name]), **score.to_json(),
              "finetuned_mean": tuned.mean, "finetuned_returns": tuned.returns,
              "finetuned_relative": norm(tuned.mean), "finetune_s": round(time.perf_counter() - t2, 1)})
    for line in warnings(zero_shot):
        print(line, flush=True)
    timing = {**{k: round(v, 3) for k, v in trained.timing.items()}, "zero_shot_eval_s": round(t1 - t_eval, 1),
              "finetune_s": round(time.perf_counter() - t1, 1), "total_s": round(time.perf_counter() - t0, 1)}
    emit({"phase": "done", "seeds": trained.seeds, "eval_repeats": args.eval_repeats, "arch": trained.arch, "config": vars(trained.config),
          "recipe": trained.recipe.to_dict(), "below_0.9": below(zero_shot), "timing": timing})
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
