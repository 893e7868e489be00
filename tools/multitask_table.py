"""The README's per-source multi-task table from JSON lines of ``hades-zoo train-multitask --out``
or ``examples/pretrain_finetune.py --out``: one row per source, in the order scored.

    python tools/multitask_table.py benchmarks/reference/multitask/zoo-pretrain.jsonl

Columns: the multi-task mean (lowest to highest seed), the source's own recipe on the same seeds,
the random policy, the normalised score (random 0, own recipe 1) and, where the file has them,
the fine-tuned mean and its normalised score, and, for a run with ``--eval-repeats N`` (N > 1), the
normalised score under each evaluation seed alone (lowest to highest): how far one key moves it. A last
line counts the sources under 0.9.
"""

from __future__ import annotations

import argparse
import json
import math


def _num(x: float) -> str:
    return f"{x:.1f}" if abs(x) < 1e5 else f"{x:.0f}"


def _rel(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


def table(rows: list[dict]) -> list[str]:
    tuned = any("finetuned_mean" in r for r in rows)
    keys = max((len(r.get("relative_by_key") or ()) for r in rows), default=0)
    head = "| source | anchors | multi-task (lowest to highest seed) | own recipe | random | normalised |"
    head += " fine-tuned | normalised |" if tuned else ""
    head += f" one evaluation seed alone ({keys}) |" if keys > 1 else ""
    out = [head, "|---" * (head.count("|") - 1) + "|"]
    for r in rows:
        line = (f"| {r['source']} | {r.get('anchors', '')} | {_num(r['mean'])} ({_num(min(r['returns']))} to "
                f"{_num(max(r['returns']))}) | {_num(r['single_task_mean'])} | {_num(r['random_mean'])} | {_rel(r.get('relative'))} |")
        if tuned:
            line += f" {_num(r['finetuned_mean'])} | {_rel(r.get('finetuned_relative'))} |"
        if keys > 1:
            each = [x for x in r.get("relative_by_key") or () if x is not None and not math.isnan(x)]
            line += f" {_rel(min(each))} to {_rel(max(each))} |" if each else " - |"
        out.append(line)
    scored = [r for r in rows if r.get("relative") is not None and not math.isnan(r["relative"])]
    low = [r["source"] for r in scored if r["relative"] < 0.9]
    out.append(f"\n{len(scored)} sources scored, {len(low)} under 0.9{': ' + ', '.join(low) if low else ''}.")
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jsonl")
    args = parser.parse_args(argv)
    with open(args.jsonl) as f:
        rows = [row for row in map(json.loads, f) if row.get("phase") == "source"]
    print("\n".join(table(rows)))


if __name__ == "__main__":
    main()
