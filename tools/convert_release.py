"""Convert the authors' whole release into ``hades-zoo/1`` files (idempotent).

    python tools/convert_release.py [--release ../shared/reference/release] [--out converted-release]

Writes ``OUT/{name}/{revision}.safetensors`` for every file of the release manifest
(for example ``hopper-hades-r-64/authors-main-s0.safetensors``) and ``OUT/index.json``
(name, revision, release path, sha256 of the file written, the authors' figure). A file
already converted from the same pickle (same pickle sha256 in its provenance) is left
alone, so a rerun only does what is missing. Every pickle is checked against the
manifest (git blob id) and read by the restricted unpickler; nothing is evaluated.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hades_zoo import format as fmt  # noqa: E402
from hades_zoo.errors import HadesZooError  # noqa: E402
from hades_zoo.legacy_release import convert_release_file, release_files  # noqa: E402


def out_path(out: Path, name: str, revision: str) -> Path:
    return out / name / f"{revision}.safetensors"


def _already(path: Path, sha256: str) -> bool:
    if not path.is_file():
        return False
    try:
        _, meta = fmt.read(path)
    except HadesZooError:
        return False
    return (meta.get("provenance") or {}).get("pickle_sha256") == sha256


def convert_all(release: Path, out: Path, only=None, log=print) -> list[dict]:
    """Convert every manifest file (or those whose path contains one of ``only``); returns the index rows."""
    rows, done, skipped = [], 0, 0
    for rf in release_files():
        if only and not any(o in rf.path for o in only):
            continue
        ds, _ = convert_release_file(release, rf.path)
        dest = out_path(out, ds.name, rf.revision)
        if _already(dest, rf.sha256):
            skipped += 1
        else:
            ds.save(dest)
            done += 1
        rows.append({"name": ds.name, "revision": rf.revision, "file": str(dest.relative_to(out)),
                     "sha256": fmt.file_sha256(dest), "bytes": dest.stat().st_size, "release_path": rf.path,
                     "env_id": ds.env_id, "task": ds.task, "method": ds.method, "size": ds.size,
                     "dynamics": ds.dynamics, "fitness_last10_gens": rf.authors["fitness_last10_gens"],
                     "metric": rf.authors["metric"]})
    log(f"converted {done}, already there {skipped}, total {len(rows)}")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--release", default=str(REPO.parent / "shared" / "reference" / "release"))
    ap.add_argument("--out", default=str(REPO / "converted-release"))
    ap.add_argument("--only", action="append", help="convert only paths containing this text (repeatable)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    t0 = time.perf_counter()
    try:
        rows = convert_all(Path(args.release), out, args.only)
    except HadesZooError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    fmt.atomic_write(out / "index.json", (json.dumps({"datasets": rows}, indent=1) + "\n").encode())
    print(f"wrote {out}/index.json in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
