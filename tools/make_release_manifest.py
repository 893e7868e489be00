"""Write ``hades_zoo/data/release_manifest.json`` from the authors' results table and release.

Maintainer tool, run once when the mirror of the release changes:

    python tools/make_release_manifest.py ../shared/reference

For every row of ``original_results.csv`` whose file is in ``release/`` it records the
file's git blob id (the CSV's ``git_blob`` column, checked against the bytes), its
sha256 and size, and the authors' configuration and recorded fitness from the CSV.
Conversion (``hades_zoo.legacy_release``) refuses any file that disagrees with it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hades_zoo.legacy_release import MANIFEST, SOURCE, git_blob_id  # noqa: E402

_INT = ("D", "seed", "width", "bc_epochs", "generations", "popsize", "rollouts", "init_seed")
_FLOAT = ("final_fitness", "fitness_last10_gens", "final_max_fitness", "best_fitness_ever", "train_accuracy")
_BOOL = ("greedy_act",)


def _typed(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if k in ("path", "status", "git_blob"):
            continue
        if v == "":
            out[k] = None
        elif k in _INT:
            out[k] = int(v)
        elif k in _FLOAT:
            out[k] = float(v)
        elif k in _BOOL:
            out[k] = v == "True"
        else:
            out[k] = v
    return out


def main(reference: str) -> None:
    ref = Path(reference)
    release = ref / "release"
    files = {}
    with open(ref / "original_results.csv", newline="") as f:
        for row in csv.DictReader(f):
            path = release / row["path"]
            if not path.is_file():
                continue
            data = path.read_bytes()
            blob = git_blob_id(data)
            if blob != row["git_blob"]:
                raise SystemExit(f"error: {row['path']}: git blob {blob} differs from the CSV's {row['git_blob']}")
            files[row["path"]] = {"git_blob": blob, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                                  "authors": _typed(row)}
    head = {"source": SOURCE, "licence": "Apache-2.0",
            "note": "one entry per data_final.pkl of the authors' release; 'authors' is its row of original_results.csv"}
    lines = [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    body = ",\n".join(f"  {json.dumps(p)}: {json.dumps(e)}" for p, e in sorted(files.items()))
    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    MANIFEST.write_text("{\n" + "\n".join(lines) + '\n "files": {\n' + body + "\n }\n}\n")
    print(f"wrote {MANIFEST.relative_to(REPO)}: {len(files)} files")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(REPO.parent / "shared" / "reference"))
