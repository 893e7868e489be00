"""Rebuild the bundled zoo from the presets: ``python tools/build_zoo.py [NAME ...]`` (from a checkout).

The maintainer's tool, not installed: the engine writes the client's package data only through
it. Each entry is distilled with ``distill run`` semantics (preset + method) into
``runs/NAME`` (resumed if a checkpoint is there), evaluated over the preset's ``eval_seeds``
(the value `hades-zoo train NAME@cpu-v1 --seeds 8` reproduces), checked against its floor, then
written (under the zoo's own name) into this checkout's ``hades_zoo/zoo/NAME/cpu-v1.safetensors``
and catalogued in ``registry.json`` as the revision ``cpu-v1`` (source ``ours``, bundled; the
name's default unless the authors' release has a file for it: ``tools/build_catalogue.py``).
Files built before the tool moved here record their command as ``python -m distill.zoo NAME``.

``--from FILE NAME`` bundles a run's dataset file instead of distilling (a long run stopped at a
chunk end: its mean dataset is what ``distill run --generations N`` of the same config ends
with). ``RECIPE`` names the recipe a bundled file states when the search trained a smaller
policy than the one the file is for (issue 21: hopper searched with 2x64, bundled for the
paper's 2x512; the recorded return is then that policy's).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's hades_zoo and distill, whatever is installed

from distill.config import build_config  # noqa: E402
from distill.runner import evaluate_run, run  # noqa: E402
from hades_zoo import format as fmt  # noqa: E402
from hades_zoo.dataset import SyntheticDataset  # noqa: E402

ZOO_DIR = ROOT / "hades_zoo" / "zoo"
REGISTRY = ZOO_DIR / "registry.json"
CONFIGS = Path(__file__).resolve().parent / "zoo_configs"
PRESETS = ROOT / "distill" / "presets"

# name -> (env, method, minimum recorded return to be bundled, config file or None for the preset);
# image datasets: env None (the config names task and dataset), the floor is a test accuracy
ZOO = {
    "cartpole-hades-r-4": ("CartPole-v1", "r", 475.0, None),
    "cartpole-hades-f-4": ("CartPole-v1", "f", 475.0, None),
    "acrobot-hades-r-4": ("Acrobot-v1", "r", -100.0, None),
    "acrobot-hades-f-4": ("Acrobot-v1", "f", -100.0, None),
    "pendulum-hades-r-4": ("Pendulum-v1", "r", -200.0, None),
    "pendulum-hades-f-4": ("Pendulum-v1", "f", -200.0, None),
    "pendulum-hades-r-16": ("Pendulum-v1", "r", -200.0, ROOT / "distill" / "zoo_configs" / "issue21" / "pendulum-d16-r-openes.toml"),
    "mountaincar-continuous-hades-r-4": ("MountainCarContinuous-v0", "r", 90.0, None),
    "mountaincar-continuous-hades-f-4": ("MountainCarContinuous-v0", "f", 90.0, None),
    "hopper-hades-r-64": ("hopper", "r", 1000.0, CONFIGS / "hopper-r-cpu.toml"),
    "hopper-hades-f-64": ("hopper", "f", 1000.0, CONFIGS / "hopper-cpu.toml"),
    "digits-hades-r-1ipc": (None, "r", 0.85, PRESETS / "digits.toml"),
    "hopper-hades-r-4": ("hopper", "r", 1500.0, ROOT / "distill" / "zoo_configs" / "issue21" / "hopper-d4-snes-2x64.toml"),
}
RECIPE = {"hopper-hades-r-4": {"arch": "mlp-2x512-tanh"}}  # the paper's policy; the search used 2x64 (transfer holds)
REVISION = "cpu-v1"


class BelowFloor(Exception):
    """A distilled dataset that does not reach its floor is never bundled."""


def build(name: str, runs: Path, source: Path | None = None) -> dict:
    env, method, floor, config_file = ZOO[name]
    if source is not None:
        ds = SyntheticDataset.load(source)
    else:
        cfg = build_config(env, config_file and str(config_file), method=method)
        out = runs / name
        command = f"python tools/build_zoo.py {name}"
        if (out / "checkpoint.safetensors").exists():
            run(cfg, out, resume=True, command=command)
        else:
            run(cfg, out, command=command)
        ds = evaluate_run(out)
    if source is not None or name in RECIPE:
        import hades_zoo

        ds = ds.replace(recipe=dataclasses.replace(ds.recipe, **RECIPE.get(name, {})))
        seeds = ds.provenance["config"]["eval_seeds"]
        result = hades_zoo.evaluate(hades_zoo.train(ds, num_seeds=seeds), seed=0)
        ds = ds.replace(recorded_return={"value": result.mean, "std": result.std, "seeds": seeds, "protocol": result.protocol,
                                         "returns": result.returns,
                                         "definition": f"mean over {seeds} BC seeds of the {result.protocol} protocol"})
    value = ds.recorded_return["value"]
    if value < floor:
        raise BelowFloor(f"{name}: recorded return {value:.1f} is below the floor {floor}; not bundled (run dir {out})")
    dest = ZOO_DIR / name / f"{REVISION}.safetensors"
    dest.parent.mkdir(parents=True, exist_ok=True)
    ds.replace(name=name).save(dest)  # the run named it NAME-local: the zoo's copy has the zoo's name
    rec = ds.recorded_return
    group = {"env_id": ds.env_id, "task": ds.task, "method": ds.method, "size": ds.size}
    return group, {"source": "ours", "where": "bundled", "file": f"{name}/{REVISION}.safetensors",
                   "bytes": dest.stat().st_size, "sha256": fmt.file_sha256(dest), "dynamics": "current",
                   "verified": {"value": rec["value"], "std": rec["std"], "seeds": rec["seeds"], "protocol": rec["protocol"],
                                "dynamics": "current", "metric": "return" if ds.task == "rl" else "test accuracy"},
                   "recorded_return": rec, "authors": None}


def main(argv=None) -> None:
    names = list(argv if argv is not None else sys.argv[1:])
    source = None
    if names[:1] == ["--from"]:
        if len(names) != 3:
            raise SystemExit("error: --from FILE takes one NAME: python tools/build_zoo.py --from FILE NAME")
        source, names = Path(names[1]), names[2:]
    names = names or list(ZOO)
    failed = []
    unknown = [n for n in names if n not in ZOO]
    if unknown:
        raise SystemExit(f"unknown zoo entries {unknown}; known: {list(ZOO)}")
    for name in names:
        try:
            group, entry = build(name, Path("runs"), source)
        except BelowFloor as e:
            print(e, file=sys.stderr)
            failed.append(name)
            continue
        # read right before writing: another build may have pinned its entry meanwhile
        registry = json.loads(REGISTRY.read_text()) if REGISTRY.exists() else {"format": 2, "datasets": {}}
        g = registry["datasets"].setdefault(name, {**group, "family": "ours", "headline": None, "paper": None,
                                                   "default": REVISION, "default_rule": "our engine's latest CPU revision",
                                                   "revisions": {}})
        g["revisions"][REVISION] = entry
        REGISTRY.write_text(json.dumps(registry, indent=1, sort_keys=True) + "\n")
        print(f"bundled {name}@{REVISION}: {entry['recorded_return']['value']:.2f}")
    if failed:
        raise SystemExit(f"not bundled (below their floors): {', '.join(failed)}")


if __name__ == "__main__":
    main()
