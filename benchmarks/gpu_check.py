"""The paper-scale check of the engine on one accelerator (issue 22), as one time-boxed script.

Why one script: an accelerator is lent for minutes, with no network, so everything it
must measure runs in one go (<= 5 min), each section under its own time box, and every
step rewrites the results folder so a kill keeps what was measured. Sections:

1. ``device``: the device, jax / brax / ... versions;
2. ``engine``: hopper HaDES-R D64 at the paper preset (``distill/presets/hopper.toml``)
   for ~2 min: fitness per generation, generations/s, and its 10-generation moving mean
   against the authors' seeds 0-2 (``benchmarks/reference/hopper-hades-r-64-authors.json``);
3. ``throughput``: raw batched hopper env-steps/s at the engine's batch, the
   engine/raw ratio and the share of a generation spent in behaviour cloning;
4. ``popsizes``: generations/s at populations 256 / 1024 / 2048 / 4096;
5. ``main-job``: BC + evaluation time of ``hades-zoo train hopper-hades-r-64 --seeds 8``.

    python -m benchmarks gpu [--out benchmark-results/gpu] [--budget 290]
    python -m benchmarks gpu --toy      # CPU rehearsal: CartPole, tiny sizes, figures meaningless

Results (<= 8 files, one folder): ``results.json`` (everything), ``summary.md`` (the
README table), ``fitness.csv`` (per generation: engine, authors, band), ``fitness.png``
and ``log.txt``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.common import installed_versions

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path(__file__).resolve().parent / "reference" / "hopper-hades-r-64-authors.json"
RELEASE_SUBDIR = "results/ICLR/brax/no_virtual_batch_norm/distill/hopper/D64"
PACKAGES = ("jax", "jaxlib", "jax-cuda13-plugin", "jax-cuda13-pjrt", "jax-cuda12-plugin", "jax-cuda12-pjrt", "flax",
            "optax", "chex", "numpy", "brax", "gymnax", "evosax", "mujoco", "mujoco-core", "mujoco-mjx")
WINDOW = 10  # generations in the moving mean
POPSIZES = (256, 1024, 2048, 4096)
# Shares of the global budget per section (the rest is imports and the device section).
SHARES = {"engine": 0.38, "throughput": 0.15, "popsizes": 0.24, "main-job": 0.2}


@dataclasses.dataclass(frozen=True)
class Plan:
    """Sizes of one check: the paper's (accelerator) or the toy's (CPU rehearsal)."""

    env: str
    overrides: dict  # build_config overrides on top of the env's preset
    popsizes: tuple
    main_job: list  # `hades-zoo train` arguments
    toy: bool


def paper_plan() -> Plan:
    return Plan("hopper", {}, POPSIZES, ["hopper-hades-r-64", "--seeds", "8"], toy=False)


def toy_plan(env: str = "CartPole-v1") -> Plan:
    """Every section at tiny sizes (short rollouts, few BC steps): runs on 2 CPU cores."""
    from distill.config import preset

    protocol = {**preset(env).get("fitness_protocol", {}), "n_steps": 16}
    recipe = {**preset(env).get("recipe", {}), "epochs": 5}
    overrides = {"popsize": 4, "norm_envs": 2, "norm_steps": 8, "fitness_protocol": protocol, "recipe": recipe}
    job = ["hopper-hades-r-64", "--seeds", "2"] if env == "hopper" else ["cartpole-hades-r-4", "--seeds", "2"]
    return Plan(env, overrides, (4, 8), job, toy=True)


# ----------------------------------------------------------------------------- results folder

class Results:
    """One results folder, rewritten after every step so that a kill keeps what was measured."""

    def __init__(self, out: Path, plan: Plan, budget: float, command: str):
        self.out, self.plan, self.budget, self.t0 = Path(out), plan, budget, time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        self.doc = {"command": command, "toy": plan.toy, "env": plan.env, "budget_s": budget,
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "sections": {}}
        self.curve: list[dict] = []  # per generation of the engine section
        self.problems: dict = {}  # popsize -> engine Problem, built once (make_problem compiles)
        self.lock = threading.Lock()
        self._log = open(self.out / "log.txt", "w")

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def say(self, msg: str) -> None:
        line = f"[{self.elapsed():6.1f} s] {msg}"
        print(line, flush=True)
        self._log.write(line + "\n")
        self._log.flush()

    def section(self, name: str) -> dict:
        return self.doc["sections"].setdefault(name, {"status": "running"})

    def write(self) -> None:
        with self.lock:
            self.doc["elapsed_s"] = round(self.elapsed(), 1)
            _atomic(self.out / "results.json", json.dumps(self.doc, indent=1, default=_json_default) + "\n")
            _atomic(self.out / "summary.md", summary_markdown(self.doc))
            if self.curve:
                buf = _CsvText()
                w = csv.DictWriter(buf, fieldnames=list(self.curve[0]))
                w.writeheader()
                w.writerows(self.curve)
                _atomic(self.out / "fitness.csv", buf.text)


class _CsvText:
    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text)
    tmp.replace(path)


def _json_default(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


# ----------------------------------------------------------------------------- authors' curves

def make_reference(release: Path, generations: int = 1000) -> dict:
    """The authors' population-mean fitness per generation, seeds 0-2, read from their
    pickles with the restricted unpickler only (``hades_zoo.legacy_pickle``)."""
    from hades_zoo.legacy_pickle import load_legacy_pickle

    seeds = {}
    for s in range(3):
        path = Path(release) / RELEASE_SUBDIR / f"seed{s}" / "data_final.pkl"
        run = load_legacy_pickle(path)
        seeds[str(s)] = {"sha256": run.sha256, "generations_in_pickle": int(run.fitness_over_gen.size),
                         "fitness_over_gen": [round(float(v), 2) for v in run.fitness_over_gen[:generations]]}
        es = run.es_config
    return {"what": "authors' fitness_over_gen (population-mean fitness per generation), hopper HaDES-R D64",
            "source": f"release/{RELEASE_SUBDIR}/seed{{0,1,2}}/data_final.pkl",
            "license": "Apache-2.0, FLAIROx/behaviour-distillation (the authors' released results)",
            "command": "python -m benchmarks.gpu_check --make-reference ../shared/reference/release",
            "es_config": es, "generations": generations, "seeds": seeds}


def reference_curves(path: Path = REFERENCE) -> np.ndarray:
    """(3, G) array of the committed authors' curves."""
    doc = json.loads(Path(path).read_text())
    return np.array([doc["seeds"][s]["fitness_over_gen"] for s in sorted(doc["seeds"])], np.float64)


def moving_mean(x: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """Trailing mean over the last ``window`` generations (fewer at the start), last axis."""
    c = np.cumsum(np.asarray(x, np.float64), axis=-1)
    n = c.shape[-1]
    idx = np.arange(n)
    lo = idx - window
    prev = np.where(lo >= 0, np.take(c, np.clip(lo, 0, None), axis=-1), 0.0)
    return (c - prev) / np.minimum(idx + 1, window)


def authors_band(ref: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Band at generations 1..n: min..max over seeds of the authors' moving means, widened
    on each side by the standard deviation over seeds of their fitness at that generation."""
    n = min(n, ref.shape[1])
    ma = moving_mean(ref[:, :n])
    spread = ref[:, :n].std(axis=0)
    return ma.min(0) - spread, ma.max(0) + spread


def compare(fitness: list[float], ref: np.ndarray) -> dict:
    """The acceptance figure: share of generations where the engine's moving mean lies in the band."""
    f = np.asarray(fitness, np.float64)
    n = min(f.size, ref.shape[1])
    if n == 0:
        return {"generations_compared": 0, "verdict": "no generations"}
    ma = moving_mean(f[:n])
    lo, hi = authors_band(ref, n)
    inside = (ma >= lo) & (ma <= hi)
    outside = [int(g) + 1 for g in np.flatnonzero(~inside)]
    return {"generations_compared": n, "inside_share": float(inside.mean()), "outside_generations": outside[:50],
            "verdict": "inside" if inside.all() else "outside",
            "engine_moving_mean_last": float(ma[-1]), "band_last": [float(lo[-1]), float(hi[-1])],
            "authors_mean_last": float(ref[:, n - 1].mean())}


# ----------------------------------------------------------------------------- sections

def section_device(res: Results) -> None:
    import jax

    sec = res.section("device")
    versions = installed_versions(PACKAGES)
    devs = jax.devices()
    dev = devs[0]
    mem = None
    try:
        stats = dev.memory_stats() or {}
        mem = stats.get("bytes_limit")
    except Exception:  # noqa: BLE001 - CPU devices and some plugins have no memory stats
        pass
    commit = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    sec.update(status="done", platform=dev.platform, device_kind=dev.device_kind, device_count=len(devs),
               memory_bytes=mem, python=platform.python_version(), machine=platform.machine(), cores=os.cpu_count(),
               versions=versions, commit=commit, jax_modules={m: _module_path(m) for m in ("jax", "brax", "mujoco")})
    res.say(f"device: {len(devs)} x {dev.device_kind} ({dev.platform}); "
            + ", ".join(f"{k} {v}" for k, v in versions.items()))
    res.write()


def _module_path(name: str) -> str | None:
    mod = sys.modules.get(name)
    return getattr(mod, "__file__", None) and str(Path(mod.__file__).parent)


def _config(plan: Plan, popsize: int | None = None):
    import dataclasses as dc

    from distill.config import build_config

    overrides = dict(plan.overrides)
    if popsize is not None:
        overrides["popsize"] = popsize
    return dc.replace(build_config(plan.env, **overrides), chunk=1)


def _run_generations(res: Results, problem, deadline: float, max_gens: int | None, on_gen) -> dict:
    """Jitted single generations until ``deadline`` (stops early when the next one would
    not fit), ``on_gen(g, metrics, seconds)`` after each. First call includes compilation."""
    import jax

    from distill.engine import init_state, make_chunk

    key, state = _canonical(init_state(problem))
    chunk = make_chunk(problem, 1)
    times, g = [], 0
    while max_gens is None or g < max_gens:
        t = time.perf_counter()
        (key, state), metrics = chunk(key, state)
        key, state = _canonical((key, state))
        metrics = jax.tree.map(lambda x: float(np.asarray(x)[0]), metrics)
        times.append(time.perf_counter() - t)
        g += 1
        on_gen(g, metrics, times[-1])
        # at least two generations: the first one compiles, the second is the first timed one
        if len(times) >= 2 and time.perf_counter() + float(np.median(times[1:])) > deadline:
            break
    steady = times[1:]
    return {"generations": g, "first_generation_s": times[0],
            "generation_s": float(np.median(steady)) if steady else None,
            "generations_per_s": 1.0 / float(np.median(steady)) if steady else None}


def _canonical(tree):
    """Host round trip to strong-typed arrays, as ``distill.runner`` does between chunks:
    without it the weakly typed initial state makes generation 2 compile a second program."""
    import jax

    return jax.tree.map(lambda x: jax.numpy.asarray(np.asarray(x)), tree)


def section_engine(res: Results, plan: Plan, seconds: float) -> dict:
    from distill.tasks import env_steps_per_generation, make_problem

    sec = res.section("engine")
    deadline = time.perf_counter() + seconds
    cfg = _config(plan)
    sec.update(config=cfg.to_dict(), time_box_s=round(seconds, 1))
    t = time.perf_counter()
    problem = res.problems[cfg.popsize] = make_problem(cfg)
    sec["make_problem_s"] = time.perf_counter() - t
    ref = reference_curves()
    fitness: list[float] = []
    t_start = time.perf_counter()

    def on_gen(g, m, dt):
        fitness.append(m["fitness_mean"])
        ma = moving_mean(np.asarray(fitness))[-1]
        row = {"generation": g, "wall_s": round(time.perf_counter() - t_start, 3), "generation_s": round(dt, 4),
               "fitness_mean": round(m["fitness_mean"], 3), "fitness_max": round(m["fitness_max"], 3),
               "fitness_min": round(m["fitness_min"], 3), "nan": int(m["nan"]), "moving_mean": round(float(ma), 3)}
        if g <= ref.shape[1]:
            lo, hi = authors_band(ref, g)
            row.update({f"authors_seed{s}": ref[s, g - 1] for s in range(ref.shape[0])})
            row.update(band_lo=round(float(lo[-1]), 3), band_hi=round(float(hi[-1]), 3),
                       inside=bool(lo[-1] <= ma <= hi[-1]))
        res.curve.append(row)
        sec.update(generations=g, comparison=compare(fitness, ref))
        if g == 1 or g % 10 == 0:
            res.say(f"engine: gen {g} fitness mean {m['fitness_mean']:.1f} (moving mean {ma:.1f}) {dt:.2f} s")
        res.write()

    timing = _run_generations(res, problem, deadline, None, on_gen)
    steps = env_steps_per_generation(cfg)
    sec.update(timing, status="done", env_steps_per_generation=steps,
               engine_env_steps_per_s=steps * timing["generations_per_s"] if timing["generations_per_s"] else None)
    c = sec["comparison"]
    res.say(f"engine: {timing['generations']} generations, {timing['generations_per_s'] or 0:.3f} gen/s (first, with "
            f"compile: {timing['first_generation_s']:.1f} s); moving mean vs authors' band: {c['verdict']} "
            f"({c.get('inside_share', 0):.0%} of {c['generations_compared']} generations)")
    plot_fitness(res)
    res.write()
    return sec


def section_throughput(res: Results, plan: Plan, engine: dict) -> None:
    from benchmarks.distill_throughput import bc_seconds, raw_env_steps_per_s
    from distill.tasks import make_problem

    sec = res.section("throughput")
    cfg = _config(plan)
    batch = cfg.popsize * cfg.rollouts * cfg.protocol.n_envs
    n_steps = cfg.protocol.steps_for(cfg.spec)
    sec.update(batch_envs=batch, steps=n_steps)
    raw = raw_env_steps_per_s(cfg.env, batch, n_steps)
    sec["raw_env_steps_per_s"] = raw
    eng = engine.get("engine_env_steps_per_s")
    sec["ratio"] = eng / raw if eng else None
    res.say(f"throughput: raw {raw:,.0f} env-steps/s at {batch} envs x {n_steps} steps; engine {eng or 0:,.0f}; "
            f"ratio {sec['ratio'] or 0:.2f} (goal >= 0.7)")
    res.write()
    bc = bc_seconds(res.problems.get(cfg.popsize) or make_problem(cfg))
    sec["bc_s"] = bc
    gen_s = engine.get("generation_s")
    sec["bc_share"] = bc / gen_s if gen_s else None
    sec["status"] = "done"
    res.say(f"throughput: BC of {cfg.popsize * cfg.rollouts} policies {bc:.3f} s = "
            f"{sec['bc_share'] or 0:.2f} of a generation")
    res.write()


def section_popsizes(res: Results, plan: Plan, seconds: float, engine: dict) -> None:
    from distill.tasks import make_problem

    sec = res.section("popsizes")
    deadline = time.perf_counter() + seconds
    rows = sec.setdefault("rows", [])
    main_pop = engine.get("config", {}).get("popsize")
    last = None  # the last measured row, to predict the next size's cost
    for p in plan.popsizes:
        if p == main_pop and engine.get("generations_per_s"):
            rows.append({"popsize": p, "generations_per_s": engine["generations_per_s"],
                         "first_generation_s": engine["first_generation_s"], "from": "engine section"})
            res.write()
            continue
        left = deadline - time.perf_counter()
        if last and last["generation_s"]:
            # setup and compilation do not grow with the population; the generations do (at most linearly)
            fixed = last["make_problem_s"] + last["first_generation_s"] - last["generation_s"]
            predicted = fixed + 3 * last["generation_s"] * p / last["popsize"]
            if predicted > left:
                rows.append({"popsize": p, "skipped": f"predicted {predicted:.0f} s > {left:.0f} s left"})
                res.say(f"popsizes: P={p} skipped (predicted {predicted:.0f} s > {left:.0f} s left)")
                res.write()
                continue
        t = time.perf_counter()
        problem = make_problem(_config(plan, p))
        make_s = time.perf_counter() - t
        timing = _run_generations(res, problem, deadline, 3, lambda *a: None)
        del problem
        last = {"popsize": p, **timing, "make_problem_s": make_s, "section_s": time.perf_counter() - t}
        rows.append(last)
        res.say(f"popsizes: P={p} {timing['generations_per_s'] or 0:.3f} gen/s (first {timing['first_generation_s']:.1f} s)")
        res.write()
    sec["status"] = "done"
    res.write()


def section_main_job(res: Results, plan: Plan, seconds: float) -> None:
    """``hades-zoo train`` in fresh processes: cold (empty compilation cache), then warm."""
    sec = res.section("main-job")
    deadline = time.perf_counter() + seconds
    cmd = [sys.executable, "-m", "hades_zoo", "train", *plan.main_job, "--json"]
    sec["command"] = "hades-zoo train " + " ".join(plan.main_job)
    with tempfile.TemporaryDirectory() as cache:
        # This process still holds jax's preallocated accelerator pool (75 %): the child allocates on demand.
        env = {**os.environ, "HADES_ZOO_JAX_CACHE": cache, "HF_HUB_OFFLINE": "1", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
        for run in ("cold", "warm"):
            left = deadline - time.perf_counter()
            if left < 5:
                sec[run] = {"skipped": "time box"}
                break
            t = time.perf_counter()
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=left, env=env, cwd=REPO)
            except subprocess.TimeoutExpired:
                sec[run] = {"timed_out_after_s": round(left, 1)}
                res.say(f"main-job: {run} run timed out after {left:.0f} s")
                break
            wall = time.perf_counter() - t
            if proc.returncode:
                sec[run] = {"returncode": proc.returncode, "stderr_tail": proc.stderr[-1500:]}
                res.say(f"main-job: {run} run failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
                break
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            sec[run] = {"wall_s": wall, "timing": out["timing"], "mean": out["mean"], "std": out["std"],
                        "recorded_return": out.get("recorded_return"), "protocol": out["protocol"], "seeds": len(out["seeds"])}
            tm = out["timing"]
            res.say(f"main-job: {run}: BC {tm.get('bc_s', 0):.2f} s + evaluation {tm.get('eval_s', 0):.2f} s "
                    f"(process {wall:.1f} s), return {out['mean']:.1f} +- {out['std']:.1f}")
            res.write()
    sec["status"] = "done"
    res.write()


# ----------------------------------------------------------------------------- outputs

def plot_fitness(res: Results) -> None:
    if not res.curve:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ref = reference_curves()
    g = np.array([r["generation"] for r in res.curve])
    n = min(int(g.max()) + WINDOW, ref.shape[1])
    x = np.arange(1, n + 1)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    lo, hi = authors_band(ref, n)
    ax.fill_between(x, lo, hi, color="tab:orange", alpha=0.2, label="authors' band (moving means +- spread)")
    for s in range(ref.shape[0]):
        ax.plot(x, ref[s, :n], color="tab:orange", lw=0.6, alpha=0.6, label="authors, seeds 0-2" if s == 0 else None)
    ax.plot(g, [r["fitness_mean"] for r in res.curve], color="tab:blue", lw=0.6, alpha=0.6, label="engine")
    ax.plot(g, [r["moving_mean"] for r in res.curve], color="tab:blue", lw=1.8, label=f"engine, {WINDOW}-gen moving mean")
    ax.set_xlabel("generation")
    ax.set_ylabel("population-mean fitness")
    ax.set_title(f"{res.plan.env} HaDES-R D64, paper preset{' (TOY: meaningless)' if res.plan.toy else ''}")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(res.out / "fitness.png", dpi=110)
    plt.close(fig)


def _fmt(v, spec=",.3g"):
    return "n/a" if v is None else format(v, spec)


def summary_markdown(doc: dict) -> str:
    s = doc["sections"]
    dev, eng, thr = s.get("device", {}), s.get("engine", {}), s.get("throughput", {})
    comp = eng.get("comparison", {})
    lines = [f"Command: `{doc['command']}`  ", f"Date: {doc['date']}{'  (TOY run: figures meaningless)' if doc['toy'] else ''}  ",
             f"Device: {dev.get('device_count', '?')} x {dev.get('device_kind', '?')} ({dev.get('platform', '?')}), "
             + ", ".join(f"{k} {v}" for k, v in dev.get("versions", {}).items()) + "  ",
             f"Elapsed: {doc.get('elapsed_s', 0):.0f} s of a {doc['budget_s']:.0f} s budget", "",
             "| section | figure | value |", "|---|---|---|"]

    def row(sec, name, value):
        lines.append(f"| {sec} | {name} | {value} |")

    if eng:
        row("engine", "generations run (time box)", f"{eng.get('generations', 0)} ({eng.get('time_box_s', '?')} s)")
        row("engine", "first generation incl. compile", f"{_fmt(eng.get('first_generation_s'), '.1f')} s")
        row("engine", "generations/s", _fmt(eng.get("generations_per_s")))
        row("engine", "engine env-steps/s", _fmt(eng.get("engine_env_steps_per_s")))
        if comp.get("generations_compared"):
            row("engine", f"{WINDOW}-gen moving mean vs authors' band",
                f"**{comp['verdict']}** ({comp['inside_share']:.0%} of {comp['generations_compared']} generations inside)")
            row("engine", "last moving mean / authors' band",
                f"{comp['engine_moving_mean_last']:.1f} / [{comp['band_last'][0]:.1f}, {comp['band_last'][1]:.1f}]")
    if thr:
        row("throughput", f"raw env-steps/s ({thr.get('batch_envs')} envs)", _fmt(thr.get("raw_env_steps_per_s")))
        row("throughput", "engine / raw (goal >= 0.7)", _fmt(thr.get("ratio"), ".2f"))
        row("throughput", "BC share of a generation", _fmt(thr.get("bc_share"), ".2f"))
    for r in s.get("popsizes", {}).get("rows", []):
        row("popsizes", f"P={r['popsize']} generations/s",
            r.get("skipped") or f"{_fmt(r.get('generations_per_s'))} (first {_fmt(r.get('first_generation_s'), '.1f')} s)")
    job = s.get("main-job", {})
    for run in ("cold", "warm"):
        r = job.get(run)
        if r and "timing" in r:
            t = r["timing"]
            row("main-job", f"`{job['command']}` ({run})",
                f"BC {t.get('bc_s', 0):.2f} s + eval {t.get('eval_s', 0):.2f} s; process {r['wall_s']:.1f} s")
        elif r:
            row("main-job", f"`{job.get('command')}` ({run})", json.dumps(r)[:120])
    for name, sec in s.items():
        if sec.get("status") != "done":
            row(name, "status", sec.get("status"))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- driver

def _guard(res: Results, name: str, fn, *args):
    """Run a section; a failure is recorded and the check goes on to the next one."""
    res.say(f"== {name}")
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - one failing section must not lose the others
        import traceback

        sec = res.section(name)
        sec.update(status="failed", error=f"{type(e).__name__}: {e}"[:2000], traceback=traceback.format_exc()[-3000:])
        res.say(f"{name} FAILED: {type(e).__name__}: {str(e)[:300]}")
        res.write()
        return sec


def _watchdog(res: Results, budget: float):
    """At the global budget, record which section was cut and exit: the folder stays valid.
    Returns the function that disarms it (in-process callers, e.g. the tests, live on)."""
    def fire(reason):
        for sec in res.doc["sections"].values():
            if sec.get("status") == "running":
                sec["status"] = f"cut by {reason}"
        res.say(f"stopped: {reason}")
        try:
            plot_fitness(res)
        finally:
            res.write()
            os._exit(124)

    timer = threading.Timer(budget, fire, args=(f"the {budget:.0f} s global time box",))
    timer.daemon = True
    timer.start()
    previous = signal.signal(signal.SIGTERM, lambda *_: fire("SIGTERM"))

    def disarm():
        timer.cancel()
        signal.signal(signal.SIGTERM, previous)

    return disarm


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks gpu", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "benchmark-results" / "gpu", help="results folder (default: %(default)s)")
    ap.add_argument("--budget", type=float, default=None, help="global time box in s (default: 290; toy: 180)")
    ap.add_argument("--engine-s", type=float, default=None,
                    help=f"time box of the engine section (default: {SHARES['engine']:.0%} of the budget); it always runs 2 generations")
    ap.add_argument("--toy", action="store_true", help="CPU rehearsal: tiny sizes, CartPole unless --env; figures meaningless")
    ap.add_argument("--env", default=None, help="toy only: env of the rehearsal (e.g. hopper for the real simulator path)")
    ap.add_argument("--sections", nargs="+", default=["engine", "throughput", "popsizes", "main-job"],
                    choices=["engine", "throughput", "popsizes", "main-job"])
    ap.add_argument("--make-reference", type=Path, metavar="RELEASE", default=None,
                    help=f"write {REFERENCE.name} from the authors' release folder and exit")
    args = ap.parse_args(argv)
    if args.make_reference:
        REFERENCE.parent.mkdir(parents=True, exist_ok=True)
        REFERENCE.write_text(json.dumps(make_reference(args.make_reference), separators=(",", ":")) + "\n")
        print(f"wrote {REFERENCE} ({REFERENCE.stat().st_size} bytes)")
        return 0
    if args.env and not args.toy:
        ap.error("--env only applies to --toy (the accelerator check is hopper at the paper preset)")
    plan = toy_plan(args.env or "CartPole-v1") if args.toy else paper_plan()
    budget = args.budget or (180.0 if args.toy else 290.0)
    command = "python -m benchmarks gpu " + " ".join(argv if argv is not None else sys.argv[1:])
    res = Results(args.out, plan, budget, command.strip())
    disarm = _watchdog(res, budget)
    try:
        _run_sections(res, plan, budget, args.sections, args.engine_s or SHARES["engine"] * budget)
    finally:
        disarm()
    return 0


def _run_sections(res: Results, plan: Plan, budget: float, sections: list[str], engine_s: float) -> None:
    res.say(f"gpu check{' (TOY)' if plan.toy else ''}: {plan.env}, budget {budget:.0f} s -> {res.out}")
    _guard(res, "device", section_device, res)
    left = lambda: budget - res.elapsed()  # noqa: E731
    engine = {}
    if "engine" in sections:
        engine = _guard(res, "engine", section_engine, res, plan, engine_s) or {}
    if "throughput" in sections:
        _guard(res, "throughput", section_throughput, res, plan, engine)
    if "popsizes" in sections:
        # whatever the earlier sections left over goes to the population sweep, keeping the main job's share
        share = max(SHARES["popsizes"] * budget, left() - SHARES["main-job"] * budget - 5)
        _guard(res, "popsizes", section_popsizes, res, plan, min(share, left() - 5), engine)
    if "main-job" in sections:
        _guard(res, "main-job", section_main_job, res, plan, left() - 3)
    res.say(f"done in {res.elapsed():.0f} s; results in {res.out}")
    res.write()


if __name__ == "__main__":
    sys.exit(main())
