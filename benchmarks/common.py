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
import resource
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


class Contention:
    """How much of the machine *other* processes took while a benchmark ran.

    The 1-minute load average is recorded (issue 20 asks for it), but the benchmark's own
    processes keep every core busy, so on an idle 2-core machine it reads about 2 by itself and
    cannot say whether anything else ran. What does say it is the CPU time the whole machine
    spent (``/proc/stat``) minus this process tree's own (``getrusage`` of itself and its waited-for
    children): the cores that others used. Sample it around every timed process; a run is
    *contended* when others used more than ``OTHERS_PER_CORE`` of each core in any interval.
    """

    OTHERS_PER_CORE = 0.1

    def __init__(self):
        self.cores = os.cpu_count() or 1
        self.load = [os.getloadavg()[0]]
        self.others: list[float] = []  # cores used by other processes, one value per sampled interval
        self._last = self._now()

    @staticmethod
    def _now() -> tuple[float, float | None, float]:
        busy = None
        try:  # Linux only: user nice system idle iowait irq softirq steal (guest is inside user)
            with open("/proc/stat") as f:
                ticks = [int(v) for v in f.readline().split()[1:9]]
            busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            pass
        own = sum(getattr(resource.getrusage(who), field) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                  for field in ("ru_utime", "ru_stime"))
        return time.monotonic(), busy, own

    def sample(self) -> None:
        self.load.append(os.getloadavg()[0])
        now = self._now()
        (t0, busy0, own0), (t1, busy1, own1) = self._last, now
        if busy0 is not None and busy1 is not None and t1 - t0 >= 1.0:  # shorter intervals are tick noise
            self.others.append(max(0.0, (busy1 - busy0) - (own1 - own0)) / (t1 - t0))
        self._last = now

    @property
    def contended(self) -> bool | None:
        """None where /proc/stat is missing (not Linux): then nothing is known."""
        return max(self.others) > self.OTHERS_PER_CORE * self.cores if self.others else None

    def summary(self) -> dict:
        return {"load_min": min(self.load), "load_peak": max(self.load), "load_samples": self.load,
                "others_cores_mean": sum(self.others) / len(self.others) if self.others else None,
                "others_cores_peak": max(self.others, default=None), "cores": self.cores, "contended": self.contended}

    def note(self) -> str:
        peak = max(self.others, default=None)
        others = ("other processes' CPU not measurable here" if peak is None else
                  f"other processes used at most {peak:.2f} of {self.cores} cores in any interval")
        verdict = {True: "CONTENDED: absolute times are inflated; ratios compare processes run side by side.",
                   False: "uncontended.", None: "contention unknown."}[self.contended]
        return (f"Load average {min(self.load):.2f}-{max(self.load):.2f} on {self.cores} cores (this benchmark's own "
                f"processes included); {others}: {verdict}")


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
