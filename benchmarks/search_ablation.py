"""The search-ablation table of issue 21: one row per distill run, kept whether the run worked or not.

    python -m benchmarks.search_ablation RUN_DIR ... --out benchmark-results/search-ablation

Per run it reads ``config.toml`` and ``metrics.jsonl`` (so a run still going or stopped early is
summarised as far as it got), plus an optional ``final_eval.json`` written beside them (the
scores of the mean dataset with the target architecture and protocol, made with
``hades-zoo train ... --json``). It writes ``ablation.json``/``ablation.csv``/``ablation.md``
(the table) and ``<run>.png`` (the fitness curve) under ``--out``. Why a script and not a
notebook: the table is a deliverable, so it must be rebuilt by one command from the run dirs.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from distill.config import read_toml

COLUMNS = ("run", "env", "method", "size", "arch", "strategy", "popsize", "sigma", "es_lr", "rollouts",
           "fitness_envs", "fitness_steps", "common_keys", "init", "generations_done", "wall_min",
           "env_steps_M", "s_per_gen_last", "fitness_mean_last", "fitness_max_ever", "final_eval", "final_eval_std",
           "final_eval_arch", "final_eval_protocol")


def summarise(run: Path) -> dict:
    cfg = read_toml(run / "config.toml")
    rows = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines() if ln.strip()] \
        if (run / "metrics.jsonl").exists() else []
    fp = cfg.get("fitness_protocol", {})
    walls = sorted({r["wall_s"] for r in rows})
    # seconds per generation over the last chunk (the first chunk includes compilation)
    last = [r for r in rows if r["wall_s"] == walls[-1]] if walls else []
    s_per_gen = (walls[-1] - walls[-2]) / len(last) if len(walls) >= 2 else None
    row = {
        "run": run.name, "env": cfg["env"], "method": cfg["method"], "size": cfg["size"],
        "arch": cfg.get("recipe", {}).get("arch"), "strategy": cfg["strategy"], "popsize": cfg["popsize"],
        "sigma": cfg["sigma"], "es_lr": cfg["es_lr"], "rollouts": cfg["rollouts"],
        "fitness_envs": fp.get("n_envs"), "fitness_steps": fp.get("n_steps"), "common_keys": cfg.get("common_keys"),
        "init": cfg["init"], "generations_done": len(rows),
        "wall_min": round(walls[-1] / 60, 1) if walls else None,
        "env_steps_M": round(rows[-1]["env_steps"] / 1e6, 2) if rows else None,
        "s_per_gen_last": round(s_per_gen, 1) if s_per_gen else None,
        "fitness_mean_last": round(rows[-1]["fitness_mean"], 1) if rows else None,
        "fitness_max_ever": round(max(r["fitness_max"] for r in rows), 1) if rows else None,
        "final_eval": None, "final_eval_std": None, "final_eval_arch": None, "final_eval_protocol": None,
    }
    ev = run / "final_eval.json"
    if ev.exists():
        e = json.loads(ev.read_text())
        row.update(final_eval=round(e["mean"], 1), final_eval_std=round(e["std"], 1), final_eval_arch=e["arch"],
                   final_eval_protocol=e["protocol"] if isinstance(e["protocol"], str) else e["protocol"].get("name"))
    return row, rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("benchmark-results/search-ablation"))
    ap.add_argument("--keep", action="store_true",
                    help="keep the rows already in --out/ablation.json of runs not given (their run dirs are gone)")
    args = ap.parse_args(argv)
    from hades_zoo.hub.figures import fitness_png

    args.out.mkdir(parents=True, exist_ok=True)
    given = {run.name for run in args.runs}
    old = json.loads((args.out / "ablation.json").read_text()) if args.keep and (args.out / "ablation.json").exists() else []
    table = [r for r in old if r["run"] not in given]
    for run in args.runs:
        row, rows = summarise(run)
        table.append(row)
        (args.out / f"{run.name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        if rows:
            (args.out / f"{run.name}.png").write_bytes(fitness_png(rows, f"{run.name}: {row['env']} D={row['size']} {row['strategy']}"))
    (args.out / "ablation.json").write_text(json.dumps(table, indent=1) + "\n")
    with open(args.out / "ablation.csv", "w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS)
        w.writeheader()
        w.writerows(table)
    md = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    md += ["| " + " | ".join("" if r[c] is None else str(r[c]) for c in COLUMNS) + " |" for r in table]
    (args.out / "ablation.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
