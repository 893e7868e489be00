"""Evaluate every converted file of the authors' release with our client (resumable).

    nice -n 19 python tools/verify_release.py [--results benchmark-results/release-verification.jsonl] [--limit N]

For each release file (headline files first: brax ``main`` D64 R/F seed 0 of the 8 envs,
MinAtar ``5k`` D16 R/F seed 0, then their other seeds, then the rest), it converts the
pickle (manifest check + restricted unpickler), behaviour-clones 8 seeds with the
dataset's own recipe and init, and evaluates them under the protocol and dynamics the
file was distilled with (2023). Envs whose dynamics changed since are also scored on
today's env (``current_*``), with the same trained policies. One JSON line per file is
appended to ``--results``: verified mean/std, the file's ``fitness_last10_gens``, their
ratio, seconds, the code commit. Files already in the results are skipped, so killing
and restarting it loses at most the file in progress. humanoid/humanoidstandup use 4
seeds by default (``--heavy-seeds``), as the 2-core CPU forces, and say so in their row.

MNIST / Fashion-MNIST need the real test split, which is not available offline: their
row says ``unverified`` unless a copy is in the HF cache (or ``--image-data`` points to one).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

HEAVY = ("humanoid", "humanoidstandup")
BRAX8 = ("ant", "halfcheetah", "hopper", "humanoid", "humanoidstandup", "inverted_double_pendulum", "reacher", "walker2d")


def priority(rf) -> tuple:
    """Headline files first (seed 0, then other seeds), then every other variant."""
    a = rf.authors
    headline = (rf.variant == "main" and a["family"] == "brax") or (rf.variant == "5k" and a["family"] == "minatar")
    tier = (0 if a["seed"] == 0 else 1) if headline else 2 + (a["family"] == "mnist")
    heavy = a["env"] in HEAVY  # cheap envs first inside a tier: more rows per hour
    return tier, heavy, rf.variant, a["env"], a["method"], a["D"], a["seed"]


def commit() -> str:
    """The code's commit: ``HADES_ZOO_COMMIT`` when set (a run from a snapshot of the code), else git's HEAD."""
    if os.environ.get("HADES_ZOO_COMMIT"):
        return os.environ["HADES_ZOO_COMMIT"]
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
        return out.stdout.strip() or os.environ.get("HADES_ZOO_COMMIT", "unknown")
    except OSError:
        return os.environ.get("HADES_ZOO_COMMIT", "unknown")


def done_paths(results: Path) -> set[str]:
    if not results.is_file():
        return set()
    out = set()
    for line in results.read_text().splitlines():
        try:
            out.add(json.loads(line)["release_path"])
        except (json.JSONDecodeError, KeyError):
            continue  # a line cut by a kill: the file is redone
    return out


def verify_one(rf, release: Path, seeds: int, image_data: str | None) -> dict:
    import hades_zoo
    from hades_zoo import envs
    from hades_zoo.errors import HadesZooError
    from hades_zoo.legacy_release import convert_release_file

    t0 = time.perf_counter()
    ds, _ = convert_release_file(release, rf.path)
    a = rf.authors
    row = {"release_path": rf.path, "name": ds.name, "revision": rf.revision, "env": ds.env_id, "method": ds.method,
           "D": a["D"], "seed": a["seed"], "variant": rf.variant, "protocol": ds.protocol.name,
           "dynamics": ds.dynamics, "fitness_last10_gens": a["fitness_last10_gens"], "metric": a["metric"]}
    if ds.task != "rl":
        from hades_zoo.tasks.image import load_splits

        if image_data:
            ds = ds.replace(extra={**ds.extra, "data_path": image_data})
        try:
            load_splits(ds.env_id, image_data)  # before training: offline there is no test split to score on
            res = hades_zoo.evaluate(hades_zoo.train(ds, num_seeds=seeds))
        except HadesZooError as e:
            row.update(status="unverified", reason=f"no real test split offline ({type(e).__name__})",
                       train_accuracy_authors=a.get("train_accuracy"), seconds=round(time.perf_counter() - t0, 1))
            return row
        row.update(status="ok", n_seeds=seeds, returns=res.returns, mean=res.mean, std=res.std, score="test accuracy",
                   seconds=round(time.perf_counter() - t0, 1))
        return row
    trained = hades_zoo.train(ds, num_seeds=seeds)
    res = hades_zoo.evaluate(trained)
    ref = a["fitness_last10_gens"]
    row.update(status="ok", n_seeds=seeds, returns=[round(r, 3) for r in res.returns], mean=res.mean, std=res.std,
               ratio=(res.mean / ref) if ref else None)
    if ds.env_id in envs.CHANGED_2023:
        cur = hades_zoo.evaluate(trained, dynamics="current")
        row.update(current_mean=cur.mean, current_std=cur.std, current_returns=[round(r, 3) for r in cur.returns])
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def summary(results: Path) -> str:
    """A markdown table of the rows so far, files below 0.85x their ``fitness_last10_gens`` flagged."""
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()] if results.is_file() else []
    out = ["| file | mean ± std (seeds) | fitness_last10_gens | ratio | today's dynamics | |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("status") != "ok":
            out.append(f"| {r.get('name', '')}@{r.get('revision', '')} | {r.get('status')}: {r.get('reason') or r.get('error')} | | | | |")
            continue
        ratio = r.get("ratio")
        cur = f"{r['current_mean']:.1f} ± {r['current_std']:.1f}" if "current_mean" in r else ""
        flag = "below 0.85x" if ratio is not None and ratio < 0.85 else ("above 1.15x" if ratio and ratio > 1.15 else "")
        out.append(f"| {r['name']}@{r['revision']} | {r['mean']:.2f} ± {r['std']:.2f} ({r['n_seeds']}) | "
                   f"{r['fitness_last10_gens']:.2f} | {'' if ratio is None else f'{ratio:.3f}'} | {cur} | {flag} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--release", default=str(REPO.parent / "shared" / "reference" / "release"))
    ap.add_argument("--results", default=str(REPO / "benchmark-results" / "release-verification.jsonl"),
                    help="JSON-lines file to resume from and append to (default: the committed one)")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--heavy-seeds", type=int, default=4, help="BC seeds for humanoid and humanoidstandup")
    ap.add_argument("--limit", type=int, default=None, help="stop after this many files")
    ap.add_argument("--only", action="append", help="only release paths containing this text (repeatable)")
    ap.add_argument("--image-data", default=None, help="a local copy of MNIST/Fashion-MNIST (parquet folder)")
    ap.add_argument("--summary", action="store_true", help="print the results so far as a markdown table and exit")
    args = ap.parse_args(argv)
    if args.summary:
        print(summary(Path(args.results)))
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never wait on a network that is not there

    from hades_zoo._runtime import enable_compilation_cache
    from hades_zoo.legacy_release import release_files

    enable_compilation_cache()
    results = Path(args.results)
    results.parent.mkdir(parents=True, exist_ok=True)
    done = done_paths(results)
    todo = sorted((rf for rf in release_files() if rf.path not in done
                   and (not args.only or any(o in rf.path for o in args.only))), key=priority)
    if args.limit is not None:
        todo = todo[: args.limit]
    code = commit()
    print(f"{len(done)} done, {len(todo)} to do -> {results}", flush=True)
    for i, rf in enumerate(todo):
        seeds = args.heavy_seeds if rf.authors["env"] in HEAVY else args.seeds
        try:
            row = verify_one(rf, Path(args.release), seeds, args.image_data)
        except Exception as e:  # noqa: BLE001 - one bad file must not stop a run of hours
            row = {"release_path": rf.path, "status": "error", "error": f"{type(e).__name__}: {e}"}
        if rf.authors["env"] in HEAVY and row.get("status") == "ok" and seeds < args.seeds:
            row["note"] = f"{seeds} BC seeds, not {args.seeds}: CPU time (2 cores)"
        row.update(commit=code, host=f"{platform.machine()} {os.cpu_count()} cpus", when=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        with open(results, "a") as f:
            f.write(json.dumps(row) + "\n")
        ratio = row.get("ratio")
        print(f"[{i + 1}/{len(todo)}] {rf.path}: {row.get('status')} mean {row.get('mean')} "
              f"ratio {ratio if ratio is None else round(ratio, 3)} in {row.get('seconds')} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
