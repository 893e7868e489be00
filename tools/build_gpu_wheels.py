"""Build the wheel folder the accelerator check carries: what the target machine lacks, nothing more.

Why: the lent accelerator has no network and its own jax (0.11.2 with the CUDA 13 plugin,
outside our ``jax<0.11`` pin), flax, optax, chex, numpy, safetensors, rich, matplotlib and
imageio. The simulators and what they import at run time must travel as cp312 manylinux
x86_64 wheels, installed there with ``pip install --no-index --no-deps --target`` so that
nothing touches its jax. Shipping a package the target already has would shadow its copy,
so the list below is the import closure of the check (traced with ``sys.modules`` on this
host) minus the target's packages, pinned to the versions this project is tested with.

    python tools/build_gpu_wheels.py [--out gpu-wheels] [--limit-mib 64]

Prints the wheels, their total size plus the tracked working tree's, and the device command.
Exit 2 when a wheel is missing from the registry or the total is over the limit.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# name==version: who imports it (the check's import closure minus the target's packages)
WHEELS = {
    "brax==0.14.2": "hades_zoo.envs (hopper & co.)",
    "mujoco==4.0.0": "brax.base (the namespace package's __init__)",
    "mujoco-core==4.0.0": "mujoco (the compiled bindings; manylinux_2_28 only)",
    "mujoco-mjx==3.17.0": "brax (mujoco.mjx)",
    "glfw==2.11.0": "mujoco.glfw, imported by mujoco's __init__",
    "trimesh==5.2.0": "mujoco.mjx._src.mesh",
    "jaxopt==0.8.5": "brax.generalized.constraint",
    "gymnax==1.0.1": "hades_zoo.envs (classic control, MinAtar)",
    "gymnasium==1.3.0": "gymnax.environments.spaces",
    "farama-notifications==0.0.6": "gymnasium",
    "cloudpickle==3.1.3": "gymnasium (and jax, optionally)",
    "six==1.17.0": "gymnax.utils.load_mnist (python-dateutil 4 no longer brings it)",
    "seaborn==0.13.2": "gymnax.environments.misc.pong (imported by gymnax's registry)",
    "pandas==3.1.1": "seaborn",
    "evosax==0.3.2": "distill.strategies",
    "click==8.5.1": "hades_zoo.cli (the main-job section runs `hades-zoo train`)",
}
# What the target has (issue 22) and what comes with it; never shipped.
TARGET_HAS = ("jax", "jaxlib", "jax-cuda13-plugin", "flax", "optax", "chex", "numpy", "scipy", "safetensors", "rich",
              "matplotlib", "imageio", "absl-py", "etils", "pyyaml", "typing-extensions", "pillow", "msgpack")
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_27_x86_64", "manylinux_2_28_x86_64")
DEVICE_COMMAND = ("pip install -q --no-index --no-deps --target /tmp/gpu-site gpu-wheels/*.whl && "
                  "PYTHONPATH=$PWD:/tmp/gpu-site timeout -k 10 320 python -m benchmarks gpu --out $OUT/gpu")


def download(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--python-version", "3.12", "--only-binary=:all:", "--no-deps",
           "--implementation", "cp", "--abi", "cp312", "--abi", "abi3", "--abi", "none", "--dest", str(out)]
    for p in PLATFORMS:
        cmd += ["--platform", p]
    proc = subprocess.run(cmd + list(WHEELS), capture_output=True, text=True)
    if proc.returncode:
        last = [ln for ln in proc.stderr.splitlines() if ln.startswith("ERROR")] or proc.stderr.splitlines()[-1:]
        raise SystemExit(f"error: pip download failed: {' '.join(last)}; check the registry mirror (pip config list)")
    wanted = {w.split("==")[0].replace("-", "_").lower() for w in WHEELS}
    return sorted(p for p in out.glob("*.whl") if p.name.split("-")[0].lower() in wanted)


def tracked_bytes() -> int:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return sum((REPO / f).stat().st_size for f in files.split("\0") if f and (REPO / f).is_file())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "gpu-wheels", help="wheel folder (default: %(default)s, git-ignored)")
    ap.add_argument("--limit-mib", type=float, default=64.0, help="what may travel with the working tree")
    args = ap.parse_args(argv)
    shadowing = [w for w in WHEELS if w.split("==")[0].lower() in TARGET_HAS]
    if shadowing:
        print(f"error: {', '.join(shadowing)} would shadow the target's own copy; remove it from WHEELS", file=sys.stderr)
        return 2
    wheels = download(args.out)
    names = {p.name.split("-")[0].replace("_", "-").lower() for p in wheels}
    missing = [w for w in WHEELS if w.split("==")[0].lower() not in names]
    for p in wheels:
        print(f"{p.stat().st_size / 2**20:7.2f} MiB  {p.name}")
    total = sum(p.stat().st_size for p in wheels)
    tree = tracked_bytes()
    print(f"{total / 2**20:7.2f} MiB  {len(wheels)} wheels in {args.out}")
    print(f"{tree / 2**20:7.2f} MiB  tracked working tree")
    print(f"{(total + tree) / 2**20:7.2f} MiB  together (limit {args.limit_mib:g} MiB)")
    print(f"device command (carry {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}):\n  {DEVICE_COMMAND}")
    if missing:
        print(f"error: no wheel downloaded for {', '.join(missing)}; check that cp312 manylinux builds exist", file=sys.stderr)
        return 2
    if total + tree > args.limit_mib * 2**20:
        print(f"error: {(total + tree) / 2**20:.1f} MiB is over the {args.limit_mib:g} MiB limit; drop a wheel or "
              "shrink the tree", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
