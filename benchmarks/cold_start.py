"""Cold start: import, first load, first train (compile) and the cached re-run.

Fresh processes, as a user meets them. ``hades-zoo train NAME --json`` is run twice
against one empty JAX persistent compilation cache (``HADES_ZOO_JAX_CACHE``): the
first run compiles, the second finds every program in the cache. A third process
measures `import hades_zoo`, the first `load` and the in-process cost of a second
`train` of the same shapes (jit cache, no compile at all).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import REPO, Result, python_in_fresh_process

GOAL_TRAIN_S = 60.0  # issue 3: `hades-zoo train` on a 64-pair hopper dataset, fresh process

API_CODE = """
import json, time
t0 = time.perf_counter()
import hades_zoo
t1 = time.perf_counter()
ds = hades_zoo.load({name!r})
t2 = time.perf_counter()
import jax
jax.block_until_ready(hades_zoo.train(ds, num_seeds=8).params)
t3 = time.perf_counter()
jax.block_until_ready(hades_zoo.train(ds, num_seeds=8, seed=1).params)
t4 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "first_load_s": t2 - t1, "first_train_s": t3 - t2, "second_train_s": t4 - t3}}))
"""


def _cli_train(name: str, seeds: int, env: dict) -> tuple[float, dict]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "hades_zoo", "train", name, "--seeds", str(seeds), "--json"],
                          capture_output=True, text=True, env=env, cwd=REPO)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return wall, json.loads(proc.stdout)


def run(quick: bool, out: Path) -> Result:
    import os

    from benchmarks.time_to_agent import _dataset_name

    res = Result("cold-start", seeds=[0])
    name = "cartpole-hades-r-4" if quick else _dataset_name()
    env = {**os.environ, "HADES_ZOO_JAX_CACHE": str(out / "jax-cache-cold-start")}
    for label in ("cold (empty compilation cache)", "warm (persistent compilation cache)"):
        wall, doc = _cli_train(name, 8, env)
        goal = f"<= {GOAL_TRAIN_S:g}" if label.startswith("cold") and not quick else ""
        res.figure(f"`hades-zoo train {name} --seeds 8`, {label}", wall, "s", goal,
                   wall <= GOAL_TRAIN_S if goal else None)
        for k, v in doc["timing"].items():
            res.figure(f"  {label.split()[0]} breakdown: {k}", v, "s")
        res.rows.append({"run": label, "wall_s": wall, "return": doc["mean"], **doc["timing"]})
    _, api = python_in_fresh_process(API_CODE.format(name=name), {"HADES_ZOO_JAX_CACHE": "off"})
    res.figure("import hades_zoo", api["import_s"], "s")
    res.figure(f"first load({name})", api["first_load_s"], "s")
    res.figure("first train, 8 seeds (compile included)", api["first_train_s"], "s")
    res.figure("second train, same shapes (jit cache)", api["second_train_s"], "s")
    res.figure("compile share of the first train", 1 - api["second_train_s"] / api["first_train_s"], "")
    return res
