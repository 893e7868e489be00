"""What every benchmark shares: the machine it ran on, fresh-process timing, output files.

A benchmark is a function ``run(quick: bool, out: Path) -> Result``. ``Result.figures``
are the numbers it printed (name -> value, unit, goal), ``Result.rows`` its table, and
``Result.plots`` the PNGs it wrote under ``out``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("hades-zoo", "jax", "jaxlib", "flax", "optax", "evosax", "brax", "gymnax", "mujoco")


@dataclasses.dataclass
class Figure:
    name: str
    value: float | None
    unit: str
    goal: str = ""  # e.g. ">= 100" (empty: no goal, reported as measured)
    met: bool | None = None


@dataclasses.dataclass
class Result:
    name: str
    figures: list[Figure] = dataclasses.field(default_factory=list)
    rows: list[dict] = dataclasses.field(default_factory=list)
    plots: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    seeds: list[int] = dataclasses.field(default_factory=list)

    def figure(self, name: str, value, unit: str = "", goal: str = "", met: bool | None = None) -> None:
        value = None if value is None else float(value)
        fig = Figure(name, value, unit, goal, met)
        self.figures.append(fig)
        shown = "n/a" if value is None else f"{value:,.4g}"
        verdict = "" if met is None else ("  [goal met]" if met else "  [goal NOT met]")
        print(f"  {self.name}: {name} = {shown} {unit}{f'  (goal {goal})' if goal else ''}{verdict}", flush=True)


def installed_versions(packages) -> dict:
    """Installed version of each package that is present: stated beside every figure."""
    versions = {}
    for p in packages:
        try:
            versions[p] = version(p)
        except PackageNotFoundError:
            pass
    return versions


def hardware() -> dict:
    """CPU model, cores, accelerator and library versions: stated in every output."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import jax

    versions = installed_versions(PACKAGES)
    dev = jax.devices()[0]
    return {"cpu": cpu, "cores": os.cpu_count(), "accelerator": None if dev.platform == "cpu" else dev.device_kind,
            "jax_backend": dev.platform, "python": platform.python_version(), "versions": versions}


def python_in_fresh_process(code: str, env: dict | None = None, timeout: float = 1800) -> tuple[float, dict]:
    """Run ``code`` in a new interpreter; it must print one JSON object as its last line.
    Returns (wall seconds including interpreter start and imports, that object)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=REPO)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"fresh process failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, json.loads(proc.stdout.strip().splitlines()[-1])


def timed(fn, *args, repeats: int = 2):
    """Seconds per call of a jitted ``fn`` after one compile + warm-up call."""
    import jax

    jax.block_until_ready(fn(*args))
    t0 = time.perf_counter()
    for _ in range(repeats):
        out = fn(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - t0) / repeats


def markdown(results: list[Result], info: dict, command: str) -> str:
    accel = info["accelerator"] or "none (CPU only)"
    lines = [f"Command: `{command}`  ", f"Date: {info['date']}  ",
             f"Hardware: {info['cpu']}, {info['cores']} cores, accelerator: {accel}  ",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()), "",
             "| benchmark | figure | value | unit | goal | met |", "|---|---|---|---|---|---|"]
    for r in results:
        for f in r.figures:
            shown = "n/a" if f.value is None else f"{f.value:,.4g}"
            met = "" if f.met is None else ("yes" if f.met else "**no**")
            lines.append(f"| {r.name} | {f.name} | {shown} | {f.unit} | {f.goal} | {met} |")
    for r in results:
        if r.notes:
            lines += ["", f"**{r.name}**: " + " ".join(r.notes)]
    return "\n".join(lines) + "\n"


def write_outputs(out: Path, results: list[Result], info: dict, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    doc = {"command": command, **info, "benchmarks": [dataclasses.asdict(r) for r in results]}
    (out / "results.json").write_text(json.dumps(doc, indent=1) + "\n")
    (out / "results.md").write_text(markdown(results, info, command))


def savefig(fig, out: Path, name: str, result: Result) -> None:
    path = out / name
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    result.plots.append(name)
