"""``hades-zoo merge`` and ``train-multitask`` (registered on the main group by ``hades_zoo.cli``)."""

from __future__ import annotations

import json
import math
import time

import click

from hades_zoo._runtime import enable_compilation_cache, quiet_option, stdout_to_stderr
from hades_zoo.progress import phase


def _fmt(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


def _kinds(setting: str, kinds: dict, reasons: dict) -> str:
    """``auto: env anchors where data anchors are known to fail, for A, B (why); C (why); data anchors
    for the rest`` (or just the setting)."""
    if setting != "auto":
        return f"{setting} anchors"
    groups: dict = {}
    for name, kind in kinds.items():
        if kind == "env":
            groups.setdefault(reasons[name], []).append(name)
    if not groups:
        return "auto: data anchors for every source, no env step"
    env = "; ".join(f"{', '.join(names)} ({why})" for why, names in groups.items())
    rest = "; data anchors for the rest" if "data" in kinds.values() else ""
    return f"auto: env anchors where data anchors are known to fail, for {env}{rest}"


def _anchor_batch(value: str | None):
    if value is None or value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither 'auto' nor an integer", param_hint="--anchor-batch") from None


def merged_info(merged) -> dict:
    """``hades-zoo info`` of a merged file: sizes, and one line per task and per source."""
    tasks = {f"task {t}": f"{info['env_id']} ({info['obs_norm']} normalisation, sources {info['sources']})"
             for t, info in enumerate(merged.task_info)}
    sources = {f"source {k}": f"{merged.source_label(k)}: task {s['task']}, rows {s['rows'][0]}-{s['rows'][1]}, "
               f"revision {s.get('revision')}, sha256 {s['sha256'][:12]}… verified" for k, s in enumerate(merged.sources)}
    return {"kind": "multitask", "name": merged.name, "source": merged.source, "size": merged.size,
            "n_tasks": merged.n_tasks, "n_sources": len(merged.sources), "obs_dim": merged.obs_dim,
            "action_dim": merged.action_dim, "shapes": {k: list(v.shape) for k, v in merged.tensors().items()},
            "padding": round(1.0 - float(merged.obs_mask.mean()), 4), **tasks, **sources}


@click.command("merge", help="Merge datasets of several envs (names, paths or merged files) into one multi-task file.")
@click.argument("datasets", nargs=-1, required=True)
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Output .safetensors file.")
@click.option("--name", default=None, help="Name stored in the file (default: the source names joined by '+').")
def merge_cmd(datasets, out, name):
    from hades_zoo.multitask.merging import merge  # jax and flax load with the command, not with `hades-zoo list`

    merged = merge(list(datasets), name=name)
    digest = merged.save(out)
    click.echo(f"wrote {out} ({merged.size} pairs, {merged.n_tasks} tasks, padded to {merged.obs_dim} observation and "
               f"{merged.action_dim} action dims, sha256 {digest[:12]}…)")
    for t, info in enumerate(merged.task_info):
        spec = merged.task_spec(t)
        names = ", ".join(str(merged.sources[k]["name"]) for k in info["sources"])
        click.echo(f"  task {t}: {spec.env_id} (obs {spec.obs_dim}, {spec.action_dim} "
                   f"{'discrete actions' if spec.discrete else 'continuous action dims'}, {info['obs_norm']} normalisation) <- {names}")


@click.command("train-multitask", help="Train one policy on a merged dataset (or on several datasets merged on the fly) "
               "and evaluate it in every task's env, against each dataset's own single-task recipe.")
@click.argument("merged", nargs=-1, required=True)
@click.option("--arch", default=None, help="Architecture (default: the widest of the sources' recipes).")
@click.option("--variant", default=None, help="Multi-task variant (hades_zoo.multitask.VARIANTS): zero-pad, onehot-balanced, "
              "embedding-balanced, heads-balanced, heads-only-balanced, heads-only-grad, heads-only-standardize, "
              "disjoint-balanced, anchored-onehot, anchored (default: env anchors for MinAtar and fixed-init sources and the other sources of their envs, "
              "each env view in input slots of its own, twice the recipe's steps), anchored-padded (the default before: zero-padded "
              "inputs, the recipe's steps), anchored-data (no env step for any source), anchored-env.")
@click.option("--conditioning", default=None, type=click.Choice(["none", "onehot", "embedding"]), help="Override: task input.")
@click.option("--heads", default=None, type=click.Choice(["shared", "per-task"]), help="Override: output heads.")
@click.option("--balance", default=None, type=click.Choice(["pair", "task", "grad"]), help="Override: loss weighting.")
@click.option("--task-norm", default=None, type=click.Choice(["none", "standardize"]), help="Override: per-task input standardisation.")
@click.option("--anchors", default=None, type=click.IntRange(0), help="Override: teacher-labelled anchor states per dataset (0: none).")
@click.option("--anchor-states", default=None, type=click.Choice(["data", "env", "auto"]),
              help="Override: anchors around the datasets' states (data, no env step), from the states each dataset's "
                   "own policy visits in its env (env), or env for MinAtar and fixed-init (F) sources and the other sources of their envs, data for the rest (auto, the default's).")
@click.option("--anchor-batch", default=None,
              help="Override: anchors per source that one BC step takes (0: all, full batch; N: a fresh sample of N per "
                   "source and step; auto, the default's: all up to 8 sources of 2048, per-source samples beyond).")
@click.option("--anchor-pool", default=None, type=click.Choice(["fixed", "auto"]),
              help="Override: every source takes --anchors anchors (fixed), or a MinAtar source with env anchors keeps every "
                   "state of its teachers' rollouts (auto, the default's).")
@click.option("--student-rounds", default=None, type=click.IntRange(0),
              help="Override: rounds that roll out the student, label the states it visits with each env-anchored "
                   "source's teacher, add them to its anchors and train again (DAgger; each round costs the rollouts "
                   "and the steps again).")
@click.option("--unit", default=None, type=click.Choice(["source", "task"]),
              help="Override: one task id, head and log-std per merged dataset (source) or per env view (task).")
@click.option("--encoding", default=None, type=click.Choice(["padded", "disjoint", "tokens"]),
              help="Override: observations zero-padded to the largest (padded), each env view in slots of its own, one "
                   "first-layer block per view (disjoint), or as "
                   "(dimension id, value) tokens for a transformer, one per MinAtar cell (tokens; arch tfm-1x64-gelu).")
@click.option("--epochs", default=None, type=click.IntRange(1), help="BC steps (default: the most of the sources' recipes, times the variant's steps_factor: 2 for the default).")
@click.option("--lr", default=None, type=click.FloatRange(min=0, min_open=True), help="BC learning rate (default: the smallest).")
@click.option("--protocol", default=None, help="Evaluation protocol for every task (default: each task's own; 'paper' resolves per env).")
@click.option("--seeds", default=8, show_default=True, type=click.IntRange(1, 4096), help="Policies trained at once (vmap).")
@click.option("--seed", default=0, show_default=True, type=int, help="Base seed for init and evaluation.")
@click.option("--eval-repeats", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Evaluation seeds per trained seed (--seed, --seed + 1, ...), for the multi-task, single-task and random "
                   "scores alike: each seed's score is their mean (the same protocol, less evaluation noise).")
@click.option("--compare/--no-compare", default=True, show_default=True,
              help="Also train each dataset's own single-task recipe (same protocol and seeds): single_task_mean, relative.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False),
              help="JSON lines file: one line per source appended as soon as it is evaluated (partial results survive), "
                   "then the summary line.")
@quiet_option
def train_multitask_cmd(merged, arch, variant, conditioning, heads, balance, task_norm, anchors, anchor_states, anchor_batch, anchor_pool, student_rounds,
                        unit, encoding, epochs, lr,
                        protocol, seeds, seed, eval_repeats, compare, as_json, out_path):
    from hades_zoo.multitask.merging import load_merged  # jax and flax load with the command, not with `hades-zoo list`
    from hades_zoo.anchors import AUTO_ENV_REASONS
    from hades_zoo.multitask.scoring import below, evaluate_multitask, no_scale, warnings
    from hades_zoo.multitask.train import source_anchor_kinds, train_multitask

    t0 = time.perf_counter()
    enable_compilation_cache()
    with stdout_to_stderr():
        with phase("loading", ", ".join(merged)):
            data = load_merged(merged[0] if len(merged) == 1 else list(merged))
        trained = train_multitask(data, arch, variant=variant, task_conditioning=conditioning, heads=heads, balance=balance,
                                  task_norm=task_norm, anchors=anchors, anchor_states=anchor_states,
                                  anchor_batch=_anchor_batch(anchor_batch), anchor_pool=anchor_pool, student_rounds=student_rounds,
                                  unit=unit, inputs=encoding,
                                  seed=seed, num_seeds=seeds, epochs=epochs, lr=lr)
        kinds = {data.source_label(k): v for k, v in trained.anchor_kinds.items()}
        pools = {data.source_label(k): n for k, n in trained.anchor_pools.items()}
        reasons = {data.source_label(k): AUTO_ENV_REASONS.get(why) for k, (_, why) in source_anchor_kinds(data, trained.config.anchor_states).items()}

        def emit(row: dict) -> None:
            if out_path:
                with open(out_path, "a") as f:
                    f.write(json.dumps(row) + "\n")

        emit({"phase": "trained", "dataset": data.name or data.source, "arch": trained.arch, "config": vars(trained.config),
              "seeds": trained.seeds, "anchor_states": kinds, "anchors": pools, "timing": {k: round(v, 3) for k, v in trained.timing.items()},
              "elapsed_s": round(time.perf_counter() - t0, 1)})
        on_score = lambda name, s: emit({"phase": "source", "source": name, "anchor_states": kinds.get(name),
                                         "anchors": pools.get(name), **s.to_json(),
                                         "elapsed_s": round(time.perf_counter() - t0, 1)})
        scores = evaluate_multitask(trained, protocol=protocol, seed=seed, compare=compare, on_score=on_score,
                                    repeats=eval_repeats)
    rel = [s.relative for s in scores.values() if s.relative is not None and not math.isnan(s.relative)]
    out = {
        "dataset": data.name or data.source, "tasks": data.env_ids, "arch": trained.arch,
        "config": {k: v for k, v in vars(trained.config).items()}, "recipe": trained.recipe.to_dict(),
        "seeds": trained.seeds, "eval_repeats": eval_repeats,
        "per_source": {name: {**s.to_json(), **({"anchor_states": kinds[name], "anchors": pools.get(name)} if name in kinds else {})}
                       for name, s in scores.items()},
        "min_relative": min(rel) if rel else None, "below_0.9": below(scores), "no_scale": no_scale(scores),
        "timing": {**{k: round(v, 3) for k, v in trained.timing.items()}, "total_s": round(time.perf_counter() - t0, 3)},
    }
    emit({"phase": "done", **out})
    for line in warnings(scores):
        click.echo(line, err=True)
    if as_json:
        click.echo(json.dumps(out))
        return
    cfg, batch = trained.config, trained.timing.get("anchor_batch")
    click.echo(f"{out['dataset']}: {trained.arch}, conditioning {cfg.conditioning}, {'one head per ' + cfg.unit if cfg.heads == 'per-task' else 'shared head'}, "
               f"{cfg.inputs} inputs, balance {cfg.balance}, task_norm {cfg.task_norm}, {_pool_text(cfg.anchors, pools)} "
               f"{f'({batch} of them per BC step) ' if batch else ''}({_kinds(cfg.anchor_states, kinds, reasons)}); {len(trained.seeds)} seeds, {out['timing']['total_s']:.1f} s")
    click.echo(f"  {'source':<36} {'env':<24} {'multi-task':>18} {'single-task':>12} {'random':>9} {'normalised':>10}")
    for name, s in scores.items():
        single = None if s.single_task is None else s.single_task.mean
        rand = None if s.random is None else s.random.mean
        click.echo(f"  {name:<36} {s.env:<24} {s.result.mean:>9.2f} ± {s.result.std:<6.2f} "
                   f"{_fmt(single):>12} {_fmt(rand):>9} {_fmt(s.relative):>10}")


def _pool_text(anchors: int, pools: dict) -> str:
    """``2048 anchors per source`` and the sources that keep more (``anchor_pool="auto"``)."""
    more = [f"{name} {n}" for name, n in pools.items() if n != anchors]
    return f"{anchors} anchors per source" + (f" ({', '.join(more)}: every rollout state)" if more else "")


COMMANDS = (merge_cmd, train_multitask_cmd)
