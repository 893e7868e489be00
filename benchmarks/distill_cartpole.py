"""`distill run --env CartPole-v1 --method r --size 4` with the default preset, timed as a
user runs it (fresh process, compile included, empty compilation cache).

Goal (issue 4): >= 475 in under 3 minutes on 2 CPU cores, and the dataset then trains a
different architecture (mlp-1x64-relu) to >= 450.

    python -m benchmarks.distill_cartpole
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(args, env):
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env)
    if proc.returncode:
        raise SystemExit(proc.stderr)
    return time.perf_counter() - t0, proc.stdout


def main():
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, HADES_ZOO_JAX_CACHE=str(Path(tmp) / "jax"))
        out = Path(tmp) / "run"
        wall, _ = _run(["-m", "distill", "run", "--env", "CartPole-v1", "--method", "r", "--size", "4",
                        "--out", str(out), "--no-progress"], env)
        eval_wall, stdout = _run(["-m", "distill", "eval", str(out), "--json"], env)
        own = json.loads(stdout)
        other_wall, stdout = _run(["-m", "hades_zoo", "train", str(out / "mean.safetensors"), "--arch", "mlp-1x64-relu",
                                   "--seeds", "8", "--json"], env)
        other = json.loads(stdout)
        gens = sum(1 for _ in open(out / "metrics.jsonl"))
    print(f"distill run: {wall:.1f} s wall for {gens} generations (goal < 180 s)")
    print(f"distill eval: {own['value']:.1f} ± {own['std']:.1f} over {own['seeds']} seeds (goal >= 475), {eval_wall:.1f} s")
    print(f"mlp-1x64-relu: {other['mean']:.1f} ± {other['std']:.1f} over 8 seeds (goal >= 450), {other_wall:.1f} s")
    print(json.dumps({"benchmark": "distill_cartpole", "run_s": wall, "generations": gens, "return": own["value"],
                      "other_arch_return": other["mean"], "ratio_time_to_goal": wall / 180}))


if __name__ == "__main__":
    main()
