"""Publish the whole zoo to a hub: every catalogued file, with its card (idempotent, resumable).

    HF_TOKEN=... python tools/publish_zoo.py [--converted converted-release] [--only TEXT ...] [--org ORG]
                                             [--evaluate [--seeds 8 --archs own,...]] [--dry-run]

The maintainer's command (from a checkout). For every name of ``hades_zoo/zoo/registry.json`` it
publishes each revision to the dataset repo ``<org>/<name>`` under the git tag = the revision
(``authors-main-s1``, ``cpu-v1``), the default revision last, so the repo's ``main`` ends at the
default. The bytes are the catalogue's: bundled files from the package, the others from the
converted release (``tools/convert_release.py`` writes what is missing first); a file whose
sha256 is not the catalogue's is refused. The card's returns are the catalogue's verification
(``benchmark-results/release-verification.jsonl``: 8 BC seeds under the file's protocol and
dynamics; our own datasets: their recorded return) unless ``--evaluate`` measures again
(``distill publish``'s evaluation, the own architecture plus ``--archs``).

Resumable and idempotent through ``distill publish``'s own rule: a tag that already holds these
bytes is left alone (one card download, no upload), so a rerun after a kill publishes only
what is missing; a tag holding other bytes stops the run (no ``--force`` here: move such a tag by
hand with ``distill publish --force``). One line per file.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

RESULTS = REPO / "benchmark-results" / "release-verification.jsonl"


def plan(only=None) -> list[dict]:
    """Every catalogued file to publish, each name's default last."""
    from hades_zoo import catalogue as cat

    out = []
    for name, g in sorted(cat.catalogue().items()):
        revs = sorted(g["revisions"], key=lambda r: (r == g["default"], r))
        for rev in revs:
            e = g["revisions"][rev]
            if only and not any(o in f"{name}@{rev}" or o in (e.get("release_path") or "") for o in only):
                continue
            out.append({"name": name, "revision": rev, **e})
    return out


def file_of(item: dict, converted: Path, release: Path) -> Path:
    """The catalogue's bytes for ``item``: the package's copy, or the converted release's (converted if missing)."""
    from hades_zoo import catalogue as cat
    from hades_zoo import format as fmt
    from hades_zoo.errors import ConfigError

    if item["where"] == "bundled":
        path = cat.bundled_path(item)
    else:
        path = converted / item["name"] / f"{item['revision']}.safetensors"
        if not path.is_file():
            from convert_release import convert_all

            convert_all(release, converted, [item["release_path"]], log=lambda *_: None)
    if not path.is_file() or fmt.file_sha256(path) != item["sha256"]:
        raise ConfigError(f"{item['name']}@{item['revision']}: {path} is missing or is not the catalogue's file "
                          f"(sha256 {item['sha256'][:12]}…); rerun tools/convert_release.py, or tools/build_catalogue.py "
                          "if the conversion changed")
    return path


def recorded_evaluation(item: dict, arch: str, rows: dict) -> list[dict]:
    """The card's returns from the catalogue's verification (no new evaluation)."""
    if item["source"] == "authors":
        r = rows.get(item["release_path"]) or {}
        ok = r.get("status") == "ok"
        returns = [float(x) for x in r.get("returns", [])] if ok else []
        proto = r.get("protocol") or ("test-accuracy" if "mnist" in item["name"] else "?")
        mean, std = (r["mean"], r["std"]) if ok else (math.nan, math.nan)
    else:
        rec = item["recorded_return"]
        returns, proto, mean, std = [float(x) for x in rec.get("returns") or []], rec["protocol"], rec["value"], rec["std"]
    by = ("the zoo's verification (`tools/verify_release.py`, the file's own protocol and dynamics)"
          if item["source"] == "authors" else "`distill eval` when the zoo was built (`tools/build_zoo.py`)")
    return [{"arch": arch, "own": True, "protocol": proto, "mean": mean, "std": std, "returns": returns,
             "relative": 1.0, "score": "ratio", "measured_by": by}]


def publish_all(items: list[dict], converted: Path, release: Path, *, org: str | None = None, evaluate: bool = False,
                seeds: int = 8, archs=("own",), log=print) -> list[dict]:
    from hades_zoo.hub.upload import Source, publish
    from hades_zoo.ids import hub_org

    rows = {}
    if RESULTS.is_file():
        for line in RESULTS.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                rows[r["release_path"]] = r
    org = org or hub_org()
    done = []
    for i, item in enumerate(items, 1):
        t0 = time.perf_counter()
        src = Source.read(file_of(item, converted, release))
        evaluation = None if evaluate else recorded_evaluation(item, src.dataset.recipe.arch, rows)
        res = publish(src, f"{org}/{item['name']}", item["revision"], seeds=seeds, archs=archs, evaluation=evaluation)
        done.append({"name": item["name"], "revision": item["revision"], "status": res.status, "commit": res.commit})
        log(f"[{i}/{len(items)}] {res.status}: {res.repo_id}@{res.revision} ({time.perf_counter() - t0:.1f} s)")
    return done


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--release", default=str(REPO.parent / "shared" / "reference" / "release"))
    ap.add_argument("--converted", default=str(REPO / "converted-release"))
    ap.add_argument("--only", action="append", help="only names@revisions or release paths containing this (repeatable)")
    ap.add_argument("--org", default=None, help="hub org (default $HADES_ZOO_HUB_ORG or hades-zoo)")
    ap.add_argument("--evaluate", action="store_true", help="evaluate again instead of the catalogue's verification")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--archs", default="own", help="with --evaluate: comma-separated architectures")
    ap.add_argument("--dry-run", action="store_true", help="list what would be published and exit")
    args = ap.parse_args(argv)
    from hades_zoo.errors import HadesZooError

    items = plan(args.only)
    if args.dry_run:
        for it in items:
            print(f"{it['name']}@{it['revision']} ({it['where']}, {it['bytes']} bytes)")
        return 0
    try:
        publish_all(items, Path(args.converted), Path(args.release), org=args.org, evaluate=args.evaluate,
                    seeds=args.seeds, archs=tuple(a.strip() for a in args.archs.split(",") if a.strip()))
    except HadesZooError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
