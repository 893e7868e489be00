"""The README's issue-18 table from benchmark-results/generalize-transfer/<dataset>/<arch>.<transfers>.json
(written by tools/measure_generalize.sh): relative return (mean) per architecture, plain BC and
through the teacher, per dataset, and each cell's seconds (training and evaluation).

    python tools/generalize_table.py [benchmark-results/generalize-transfer]
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "benchmark-results/generalize-transfer")
cells, refs = {}, {}
for f in sorted(root.glob("*/*.json")):
    d = json.loads(f.read_text())
    key = f.parent.name
    refs.setdefault(key, d["reference"])
    for r in d["rows"]:
        cells[key, r["arch"], r["transfer"]] = r
keys = sorted({k for k, _, _ in cells})
archs = list(dict.fromkeys(a for _, a, _ in cells))
print("| dataset (own recipe, return) | architecture | plain BC | through the teacher | seconds: plain, teacher |")
print("|---|---|---|---|---|")
for k in keys:
    ref = refs[k]
    for a in archs:
        plain = cells.get((k, a, "none"))
        teach = next((cells[k, a, t] for t in ("teacher", "teacher-env", "teacher-fresh", "teacher-fixed") if (k, a, t) in cells), None)
        if plain is None and teach is None:
            continue
        fmt = lambda r: "not measured" if r is None else f"{r['relative']:.2f} ({r['mean']:.0f})" + (
            "" if r["transfer"] in ("none", "teacher") else f", {r['transfer']}")
        secs = ", ".join("-" if r is None else f"{r['seconds']:.0f}" for r in (plain, teach))
        print(f"| {k} ({ref['arch']}, {ref['mean']:.0f}) | {a} | {fmt(plain)} | {fmt(teach)} | {secs} |")
