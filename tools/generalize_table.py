"""The README's issue-18 table from benchmark-results/generalize-transfer/<dataset>/<arch>.<transfers>[.select].json
(written by tools/measure_generalize.sh): relative return (mean) per architecture of the default grid,
plain BC, through the teacher, and through the teacher with the student's recipe chosen by held-out
agreement (``--select agreement``, or ``agreement-lr``: the lr only; where a cell has both, ``agreement``), per dataset; "not measured" where no JSON has the cell; and each
cell's seconds (teacher, student and evaluation).

    python tools/generalize_table.py [benchmark-results/generalize-transfer]
"""
import json
import pathlib
import sys

from hades_zoo.grid import DEFAULT_ARCHS

DATASETS = ("hopper-r0", "hopper-f0", "walker2d-r0", "halfcheetah-r0", "breakout-r0", "cartpole-r4")  # the acceptance's
root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "benchmark-results/generalize-transfer")
cells, refs = {}, {}
for f in sorted(root.glob("*/*.json")):
    d = json.loads(f.read_text())
    if "reference" not in d:  # cost/: `hades-zoo train` outputs, not grid cells
        continue
    key = f.parent.name
    refs.setdefault(key, d["reference"])
    for r in d["rows"]:
        select = (r.get("student") or {}).get("select", "none")
        cells[key, r["arch"], r["transfer"] if select == "none" else r["transfer"] + "+select"] = r


def fmt(r):
    if r is None:
        return "not measured"
    extra = "" if r["transfer"] in ("none", "teacher") else f", {r['transfer']}"
    if (r.get("student") or {}).get("select", "none") != "none":
        extra += f", lr {r['student']['lr']:g}, {r['student']['epochs']} steps"
        extra += " (lr only: agreement-lr)" if r["student"]["select"] == "agreement-lr" else ""
    return f"{r['relative']:.2f} ({r['mean']:.0f}){extra}"


print("| dataset (own recipe, return) | architecture | plain BC | through the teacher | teacher, recipe by agreement | seconds: plain, teacher, agreement |")
print("|---|---|---|---|---|---|")
for k in [*DATASETS, *sorted(set(refs) - set(DATASETS))]:
    if k not in refs:
        print(f"| {k} | every architecture | not measured | not measured | not measured | |")
        continue
    ref = refs[k]
    for a in dict.fromkeys([*DEFAULT_ARCHS, *(a for kk, a, _ in cells if kk == k)]):
        plain = cells.get((k, a, "none"))
        teach = next((cells[k, a, t] for t in ("teacher", "teacher-env", "teacher-fresh", "teacher-fixed") if (k, a, t) in cells), None)
        sel = next((cells[k, a, t + "+select"] for t in ("teacher", "teacher-env") if (k, a, t + "+select") in cells), None)
        secs = ", ".join("-" if r is None else f"{r['seconds']:.0f}" for r in (plain, teach, sel))
        print(f"| {k} ({ref['arch']}, {ref['mean']:.0f}) | {a} | {fmt(plain)} | {fmt(teach)} | {fmt(sel)} | {secs} |")
