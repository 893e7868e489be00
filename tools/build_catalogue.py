"""Regenerate the zoo's catalogue (``hades_zoo/zoo/registry.json``) and its bundled files.

    python tools/build_catalogue.py [--release ../shared/reference/release] [--converted converted-release]
                                    [--results benchmark-results/release-verification.jsonl]

Inputs, nothing typed by hand: the release manifest (``hades_zoo/data/release_manifest.json``:
every authors' file and its CSV row), the converted files (``tools/convert_release.py``, run
here first: idempotent, about a minute), the verified figures (``tools/verify_release.py``'s
JSON lines) and our own engine's entries already in the catalogue (``tools/build_zoo.py`` adds
those, revision ``cpu-vN``).

Per name ``{env-slug}-hades-{r|f}-{D}`` the *headline* variant is the paper's configuration:
brax ``main`` (``no_virtual_batch_norm``) at D64 and ``sweep`` at other D, except walker2d D4,
which exists only as the ``const`` runs; MinAtar ``5k`` (5000 generations, width 512, sampled
actions); Pong-misc ``2k`` (its only runs); MNIST / Fashion-MNIST ``main``. The default revision
is the headline seed with the best verified figure (ties: the lowest seed); the image datasets,
which cannot be verified offline, take the seed with the authors' lowest training loss. The
default of every name is bundled (with our own datasets); every other file is on the hub only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

from convert_release import convert_all  # noqa: E402
from hades_zoo import format as fmt  # noqa: E402
from hades_zoo.catalogue import FORMAT, REGISTRY, ZOO_DIR  # noqa: E402
from hades_zoo.legacy_release import release_files  # noqa: E402


def headline_variant(family: str, env: str, D: int) -> str:
    if family == "brax":
        return "main" if D == 64 else ("const" if env == "walker2d" and D == 4 else "sweep")
    if family == "minatar":
        return "2k" if env == "Pong-misc" else "5k"
    return "main"


def _verified(row: dict | None) -> dict | None:
    if row is None or row.get("status") != "ok":
        return None
    out = {"value": row["mean"], "std": row["std"], "seeds": row["n_seeds"], "protocol": row["protocol"],
           "dynamics": row["dynamics"], "metric": row.get("score") or "return",
           }
    if "current_mean" in row:
        out["current"] = {"value": row["current_mean"], "std": row["current_std"]}
    return out


def authors_entries(converted: Path, results: dict[str, dict]) -> dict[str, dict]:
    """Name -> group of the authors' files (default chosen, paper figure computed)."""
    index = {r["release_path"]: r for r in json.loads((converted / "index.json").read_text())["datasets"]}
    groups: dict[str, dict] = {}
    for rf in release_files():
        row = index[rf.path]
        a = rf.authors
        group = groups.setdefault(row["name"], {
            "env_id": row["env_id"], "task": row["task"], "method": row["method"], "size": row["size"],
            "family": a["family"], "headline": headline_variant(a["family"], a["env"], a["D"]), "revisions": {}})
        ver = results.get(rf.path)
        group["revisions"][rf.revision] = {
            "source": "authors", "where": "hub", "bytes": row["bytes"], "sha256": row["sha256"],
            "variant": rf.variant, "seed": a["seed"], "release_path": rf.path, "dynamics": row["dynamics"],
            "verified": _verified(ver),
            **({"unverified": ver.get("reason")} if ver and ver.get("status") != "ok" else {}),
            "authors": {"value": a["fitness_last10_gens"], "metric": a["metric"], "definition": "fitness_last10_gens",
                        **({"train_accuracy": a["train_accuracy"]} if a.get("train_accuracy") is not None else {})},
        }
    for name, group in groups.items():
        head = {r: e for r, e in group["revisions"].items() if e["variant"] == group["headline"]}
        if not head:
            raise SystemExit(f"error: {name} has no {group['headline']!r} runs; fix headline_variant")
        verified = {r: e for r, e in head.items() if e["verified"]}
        if verified:
            group["default"] = max(sorted(verified, key=lambda r: verified[r]["seed"]),
                                   key=lambda r: verified[r]["verified"]["value"])
            group["default_rule"] = f"the {group['headline']!r} seed with the best verified figure"
        else:  # image datasets: the authors' figure is a training loss, lower is better
            group["default"] = min(sorted(head, key=lambda r: head[r]["seed"]), key=lambda r: head[r]["authors"]["value"])
            group["default_rule"] = f"the {group['headline']!r} seed with the authors' lowest training loss (unverified offline)"
        metric = next(iter(head.values()))["authors"]["metric"]
        if metric == "return":
            vals = [e["authors"]["value"] for e in head.values()]
            group["paper"] = {"value": sum(vals) / len(vals), "metric": "return", "seeds": len(vals),
                              "definition": f"mean of the authors' fitness_last10_gens over the {len(vals)} "
                                            f"{group['headline']!r} seeds"}
        else:
            group["paper"] = None
    return groups


def ours_entries(registry: dict) -> dict[str, dict]:
    """Our engine's revisions already in the catalogue (format 1: migrated to ``cpu-v1`` under ``name/``)."""
    out: dict[str, dict] = {}
    if registry.get("format", 1) == 1:
        for name, e in registry.get("datasets", {}).items():
            old = ZOO_DIR / e["file"]
            new = ZOO_DIR / name / "cpu-v1.safetensors"
            if old.is_file() and not new.is_file():
                new.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(old, new)
            rec = e["recorded_return"]
            out[name] = {"env_id": e["env_id"], "task": e.get("task", "rl"), "method": e["method"], "size": e["size"],
                         "revisions": {"cpu-v1": {
                             "source": "ours", "where": "bundled", "file": f"{name}/cpu-v1.safetensors",
                             "bytes": e["bytes"], "sha256": e["sha256"], "dynamics": "current",
                             "verified": {"value": rec["value"], "std": rec["std"], "seeds": rec["seeds"],
                                          "protocol": rec["protocol"], "dynamics": "current",
                                          "metric": "test accuracy" if e.get("task", "rl") != "rl" else "return",
                                          },
                             "recorded_return": rec, "authors": None}}}
        return out
    for name, g in registry.get("datasets", {}).items():
        revs = {r: e for r, e in g["revisions"].items() if e["source"] == "ours"}
        if revs:
            out[name] = {**{k: g[k] for k in ("env_id", "task", "method", "size")}, "revisions": revs}
    return out


def build(converted: Path, results_file: Path) -> dict:
    results = {}
    for line in results_file.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            results[r["release_path"]] = r  # the latest row of a file wins
    registry = json.loads(REGISTRY.read_text()) if REGISTRY.exists() else {"format": FORMAT, "datasets": {}}
    groups = authors_entries(converted, results)
    for name, g in ours_entries(registry).items():
        if name in groups:
            groups[name]["revisions"].update(g["revisions"])
        else:  # a name only our engine made: its latest cpu-vN is the default
            groups[name] = {**g, "family": "ours", "headline": None, "paper": None,
                            "default": max(g["revisions"], key=lambda r: int(r.split("-v")[-1])),
                            "default_rule": "our engine's latest CPU revision"}
    keep = set()
    for name, g in groups.items():
        d = g["revisions"][g["default"]]
        if d["source"] == "authors":
            d["where"], d["file"] = "bundled", f"{name}/{g['default']}.safetensors"
            dest = ZOO_DIR / d["file"]
            src = converted / name / f"{g['default']}.safetensors"
            if fmt.file_sha256(src) != d["sha256"]:
                raise SystemExit(f"error: {src} changed since {converted}/index.json was written; rerun")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
        keep.update(e["file"] for e in g["revisions"].values() if e["where"] == "bundled")
    for f in ZOO_DIR.rglob("*.safetensors"):  # files no longer bundled
        if str(f.relative_to(ZOO_DIR)) not in keep:
            f.unlink()
    for d in sorted(ZOO_DIR.iterdir()):
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()
    return {"format": FORMAT, "generated_by": "python tools/build_catalogue.py (do not edit by hand)",
            "datasets": {k: groups[k] for k in sorted(groups)}}


def table() -> str:
    """The README's table: one row per name, from the catalogue as it is."""
    registry = json.loads(REGISTRY.read_text())["datasets"]
    def num(x, like=None):
        ref = abs(like if like is not None else x)
        return f"{x:.0f}" if ref >= 100 else f"{x:.1f}" if ref >= 10 else f"{x:.2f}"

    from hades_zoo.reference import random_score

    out = ["| name | default revision | verified (BC seeds) | random policy | paper | verified / paper | revisions | bundled file |",
           "|---|---|---|---|---|---|---|---|"]
    for name, g in sorted(registry.items(), key=lambda kv: (kv[1]["family"], kv[1]["env_id"].lower(), kv[1]["size"], kv[0])):
        d = g["revisions"][g["default"]]
        v = d["verified"]
        acc = v and "accuracy" in v["metric"]
        ver = "unverified (no test split offline)" if not v else (
            f"{v['value']:.3f} ± {v['std']:.3f} ({v['seeds']}, test accuracy)" if acc else f"{num(v['value'])} ± {num(v['std'], v['value'])} ({v['seeds']})")
        paper = g.get("paper")
        ratio = f"{v['value'] / paper['value']:.2f}" if v and paper and paper["value"] else ""
        rnd = random_score(g["env_id"], (v or {}).get("protocol") or ("test-accuracy" if g["task"] != "rl" else ""),
                           d["dynamics"] if g["task"] == "rl" else "current")
        rnd = "" if not rnd else (f"{rnd['value']:.2f}" if g["task"] != "rl" else num(rnd["value"], 1 if abs(rnd["value"]) < 10 else None))
        out.append(f"| {name} | {g['default']} | {ver} | {rnd} | {'' if not paper else num(paper['value'])} | {ratio} | "
                   f"{len(g['revisions'])} | {d['bytes'] / 1000:.1f} kB |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", action="store_true", help="print the README's table from the catalogue and exit")
    ap.add_argument("--release", default=str(REPO.parent / "shared" / "reference" / "release"))
    ap.add_argument("--converted", default=str(REPO / "converted-release"))
    ap.add_argument("--results", default=str(REPO / "benchmark-results" / "release-verification.jsonl"))
    args = ap.parse_args(argv)
    if args.table:
        print(table())
        return 0
    converted = Path(args.converted)
    rows = convert_all(Path(args.release), converted)  # idempotent: writes only what is missing
    fmt.atomic_write(converted / "index.json", (json.dumps({"datasets": rows}, indent=1) + "\n").encode())
    registry = build(converted, Path(args.results))
    REGISTRY.write_text(json.dumps(registry, indent=1, sort_keys=True) + "\n")
    bundled = [e for g in registry["datasets"].values() for e in g["revisions"].values() if e["where"] == "bundled"]
    total = sum(len(g["revisions"]) for g in registry["datasets"].values())
    print(f"catalogue: {len(registry['datasets'])} names, {total} files, {len(bundled)} bundled "
          f"({sum(e['bytes'] for e in bundled) / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
