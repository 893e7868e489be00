"""`hades-zoo train` on a 64-pair hopper dataset, end to end in a fresh process.

Goal (issue 3): under 60 s on 2 CPU cores, compile included. Runs the CLI twice:
cold (empty JAX compilation cache) and warm (persistent cache filled by the first run).

    python -m benchmarks.train_e2e [--dataset FILE] [--seeds 8]

Without --dataset it imports the authors' hopper-R-D64-seed0 from ../shared/reference/legacy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LEGACY = REPO.parent / "shared" / "reference" / "legacy" / "hopper-R-D64-seed0.pkl"


def _cli(args, env):
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "hades_zoo", *args], capture_output=True, text=True, env=env)
    if proc.returncode:
        raise SystemExit(proc.stderr)
    return time.perf_counter() - t0, proc.stdout


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=None)
    ap.add_argument("--seeds", type=int, default=8)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, HADES_ZOO_JAX_CACHE=str(Path(tmp) / "jax"))
        dataset = args.dataset
        if dataset is None:
            if not LEGACY.exists():
                raise SystemExit(f"no --dataset given and {LEGACY} is absent")
            dataset = str(Path(tmp) / "hopper.safetensors")
            _cli(["import-legacy", str(LEGACY), "--env", "hopper", "--method", "r", "-o", dataset], env)
        results = {}
        for label in ("cold", "warm"):
            wall, out = _cli(["train", dataset, "--seeds", str(args.seeds), "--json"], env)
            res = json.loads(out)
            results[label] = {"wall_s": round(wall, 2), "mean": round(res["mean"], 1), "timing": res["timing"]}
            print(f"{label}: {wall:.1f} s wall (fresh process), return {res['mean']:.1f}, timing {res['timing']}")
    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "versions": {p: version(p) for p in ("jax", "flax", "brax")}, "seeds": args.seeds}
    print(json.dumps({"benchmark": "train_e2e", "goal_s": 60, "results": results, **info}))
    print(f"ratio cold/goal: {results['cold']['wall_s'] / 60:.2f} (<= 1 meets the goal)")


if __name__ == "__main__":
    main()
