"""Which way of training one policy on merged datasets wins: the README's ablation and diagnosis tables.

    python examples/multitask_ablation.py MERGED [--run LABEL=VARIANT[,key=value...]] ... [--seeds 4]
                                          [--seed 0] [--out runs.jsonl]

Trains every ``--run`` (default: every variant of ``hades_zoo.multitask.VARIANTS``) on the
merged dataset (a merged file, or several sources joined by ``+``) with the same seeds and
scores every *source* through its view under its own protocol, with the normalised score:
the random policy 0, the source's own single-task recipe (same seeds, same protocol) 1.
``key=value`` overrides the variant's ``MultiTaskConfig`` fields (``unit=task``,
``anchors=2048``) or sets ``arch``, ``epochs`` and ``lr``. The single-task references and
random returns are computed once and shared by every run. With ``--out``, every result is
one JSON line appended as soon as it is measured, and runs already there are skipped:
run the same command again to resume.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

from hades_zoo.api import evaluate, train
from hades_zoo.multitask import DEFAULT_VARIANT, VARIANTS, evaluate_multitask, load_merged, train_multitask
from hades_zoo.recipe import get_protocol
from hades_zoo.scores import normalised_score, random_return

TRAIN_KEYS = ("arch", "epochs", "lr")
MERGED_HELP = "a merged .safetensors (hades-zoo merge A B ... -o FILE), or sources joined by '+'"


def parse_run(text: str) -> tuple[str, str, dict]:
    """``LABEL=VARIANT[,key=value...]`` (or just ``VARIANT``) -> (label, variant, overrides)."""
    label, _, rest = text.partition("=")
    if rest.split(",")[0] not in VARIANTS:  # no label: VARIANT[,key=value...] names itself
        label, rest = text, text
    parts = rest.split(",")
    variant, overrides = parts[0], {}
    for kv in parts[1:]:
        key, _, value = kv.partition("=")
        field = {f.name: f for f in dataclasses.fields(VARIANTS[DEFAULT_VARIANT])}.get(key)
        kind = field.type if field is not None else {"arch": "str", "epochs": "int", "lr": "float"}.get(key)
        if kind is None:
            raise SystemExit(f"error: unknown override {key!r} in --run {text!r}; use a MultiTaskConfig field or {TRAIN_KEYS}")
        as_int = lambda v: int(v) if v.lstrip("-").isdigit() else v  # "int | str" (anchor_batch): a number or "auto"
        overrides[key] = {"int": int, "float": float, "int | str": as_int}.get(str(kind), str)(value)
    return label, variant, overrides


def run_config(variant: str, overrides: dict):
    """The variant's ``MultiTaskConfig`` with a run's overrides, less ``TRAIN_KEYS`` (those go to training)."""
    return dataclasses.replace(VARIANTS[variant], **{k: v for k, v in overrides.items() if k not in TRAIN_KEYS})


def load(text: str):
    """A merged file, or the sources of ``A+B+...`` merged on the fly."""
    return load_merged(text.split("+") if "+" in text and not os.path.isfile(text) else text)


def one_run_parser(doc: str) -> argparse.ArgumentParser:
    """``MERGED [--run LABEL=VARIANT[,key=value...]] [--seeds 8]``: the arguments of a script about one
    run (``multitask_cost.py``, ``multitask_diagnose.py``), read back by ``one_run``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("merged", help=MERGED_HELP)
    parser.add_argument("--run", default=DEFAULT_VARIANT, help="LABEL=VARIANT[,key=value...]")
    parser.add_argument("--seeds", type=int, default=8)
    return parser


def one_run(args) -> tuple:
    """``(merged, label, config, overrides)`` of ``one_run_parser``'s ``args``."""
    label, variant, overrides = parse_run(args.run)
    return load(args.merged), label, run_config(variant, overrides), overrides


def references(merged, seeds: int, seed: int, out: str | None, done: dict) -> dict:
    """Per source: its own recipe's return (same seeds) and the random policy's, under its
    protocol; one ``ref:NAME`` line each in ``out`` (resumed from ``done``)."""
    refs, randoms = {}, {r["env"] + r["protocol"]: r["random_mean"] for r in done.values() if r["label"].startswith("ref:")}
    for k in range(len(merged.sources)):
        name = merged.source_label(k)
        if f"ref:{name}" in done:
            refs[name] = done[f"ref:{name}"]
            continue
        ds = merged.source_dataset(k)
        proto = get_protocol(ds.protocol, ds.spec)
        t0 = time.perf_counter()
        own = evaluate(train(ds, seed=seed, num_seeds=seeds), protocol=proto, seed=seed)
        if ds.env_id + proto.name not in randoms:
            randoms[ds.env_id + proto.name] = random_return(ds, proto, seed=seed, num_seeds=seeds).mean
        refs[name] = {"label": f"ref:{name}", "seeds": seeds, "env": ds.env_id, "protocol": proto.name,
                      "single_task_mean": own.mean, "single_task_returns": own.returns,
                      "random_mean": randoms[ds.env_id + proto.name], "seconds": round(time.perf_counter() - t0, 1)}
        _emit(out, refs[name])
        print(f"  reference {name}: {own.mean:.1f} (random {refs[name]['random_mean']:.1f}, "
              f"{refs[name]['seconds']:.0f} s)", flush=True)
    return refs


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("merged", help=MERGED_HELP)
    parser.add_argument("--run", action="append", default=None, help="LABEL=VARIANT[,key=value...] (repeatable)")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="JSON lines file: results appended, finished runs skipped")
    args = parser.parse_args(argv)
    merged = load(args.merged)
    runs = [parse_run(r) for r in (args.run or list(VARIANTS))]
    done = {}
    if args.out and os.path.isfile(args.out):
        with open(args.out) as f:
            done = {row["label"]: row for row in map(json.loads, f) if row.get("seeds") == args.seeds}
    refs = references(merged, args.seeds, args.seed, args.out, done)
    names = list(refs)
    print(f"{merged.name}: {args.seeds} seeds; normalised score per source (random 0, own recipe 1), mean return in brackets")
    print("| run | " + " | ".join(names) + " | min |")
    print("|---|" + "---|" * (len(names) + 1))
    for label, variant, overrides in runs:
        row = done.get(label)
        if row is None:
            t0 = time.perf_counter()
            trained = train_multitask(merged, overrides.get("arch"), config=run_config(variant, overrides),
                                      seed=args.seed, num_seeds=args.seeds, epochs=overrides.get("epochs"), lr=overrides.get("lr"))
            scores = evaluate_multitask(trained, seed=args.seed)
            per = {name: {"mean": s.result.mean, "returns": s.result.returns,
                          "relative": normalised_score(s.result.mean, refs[name]["single_task_mean"], refs[name]["random_mean"])}
                   for name, s in scores.items()}
            row = {"label": label, "variant": variant, "overrides": overrides, "config": vars(trained.config),
                   "arch": trained.arch, "recipe": trained.recipe.to_dict(), "seeds": args.seeds, "per_source": per,
                   "min_relative": min((p["relative"] for p in per.values() if p["relative"] == p["relative"]), default=None),
                   "timing": {k: round(v, 1) for k, v in trained.timing.items()}, "seconds": round(time.perf_counter() - t0, 1)}
            _emit(args.out, row)
        cells = [f"{row['per_source'][n]['relative']:.2f} ({row['per_source'][n]['mean']:.0f})" for n in names]
        print(f"| `{label}` | " + " | ".join(cells) + f" | {row['min_relative']:.2f} |", flush=True)
    print("| own single-task recipe | " + " | ".join(f"1.00 ({refs[n]['single_task_mean']:.0f})" for n in names) + " | |")


def _emit(path, row) -> None:
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
