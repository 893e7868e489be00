"""How far one evaluation key moves an 8-seed mean: the same trained seeds, scored under evaluation seeds 0-5.

    python noise.py humanoid-hades-r-64 asterix-minatar-hades-r-16 asterix-minatar-hades-f-16 humanoid-hades-f-64

Each dataset's own recipe, 8 seeds (``train(name, seed=0, num_seeds=8)``, the single-task references of
``train-multitask --seeds 8``), its own protocol; writes ``noise.json``: {dataset: [8-seed mean under key 0..5]}.
(2026-12-03 20:04-20:07 UTC, 2 cores beside nothing; hades-zoo of 2f6394b.)
"""
import json
import sys
import time

import numpy as np

from hades_zoo.api import evaluate, train

out = {}
for name in sys.argv[1:]:
    t = time.time()
    trained = train(name, seed=0, num_seeds=8)
    means = []
    for key in range(6):
        r = evaluate(trained, seed=key)
        means.append(float(np.mean(r.returns)))
        print(name, "evaluation seed", key, round(means[-1], 2), [round(x, 1) for x in r.returns], f"{time.time() - t:.0f}s", flush=True)
    out[name] = means
    json.dump(out, open("noise.json", "w"), indent=1)
