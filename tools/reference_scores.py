"""Measure the random policy's return for every (env, protocol, dynamics) the catalogue uses (resumable).

    nice -n 19 python tools/reference_scores.py [--seeds 8]

Writes ``hades_zoo/data/reference_scores.json``, which the cards read for their scale: the random
policy (zero logits / zero means with sampled actions: a uniform categorical, or N(0, 1) per
action dim clipped to [-1, 1]; ``hades_zoo.scores.random_return``) under the protocol and
dynamics each dataset is evaluated with, ``--seeds`` evaluation seeds. Entries already in the
file are kept, so a rerun measures only what is missing. The solved thresholds are the
Gymnasium ``reward_threshold`` of the classic-control envs (gymnax's ports keep their rewards);
brax and MinAtar define none. Image datasets: chance accuracy, 1 / classes, needs no rollout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

OUT = REPO / "hades_zoo" / "data" / "reference_scores.json"
SOLVED = {"CartPole-v1": 475.0, "Acrobot-v1": -100.0, "MountainCar-v0": -110.0, "MountainCarContinuous-v0": 90.0}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import hades_zoo
    from hades_zoo import catalogue
    from hades_zoo._runtime import enable_compilation_cache
    from hades_zoo.reference import key
    from hades_zoo.scores import random_return

    enable_compilation_cache()
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    data.update(generated_by="python tools/reference_scores.py", solved=SOLVED,
                solved_source="Gymnasium reward_threshold (classic control); brax and MinAtar define none")
    rand = data.setdefault("random", {})
    bundled = [f"{r['name']}@{r['revision']}" for r in catalogue.all_revisions() if r["where"] == "bundled"]
    for name in bundled:
        ds = hades_zoo.load(name)
        k = key(ds.env_id, ds.protocol.name, ds.dynamics)
        if k in rand:
            continue
        t0 = time.perf_counter()
        if ds.task != "rl":
            rand[k] = {"value": 1.0 / ds.spec.n_classes, "metric": "accuracy", "definition": "chance: 1 / classes"}
        else:
            res = random_return(ds, num_seeds=args.seeds)
            rand[k] = {"value": res.mean, "std": res.std, "seeds": args.seeds, "protocol": ds.protocol.name,
                       "dynamics": ds.dynamics}
        OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        print(f"{k}: {rand[k]['value']:.4g} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
