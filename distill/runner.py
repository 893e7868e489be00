"""The Python loop around the jitted chunks: logging, datasets, checkpoints, resume.

Per chunk: run ``cfg.chunk`` generations under one jit -> append their metrics to
``metrics.jsonl`` -> write ``mean.safetensors``/``best.safetensors`` -> write the
checkpoint (atomic). A run killed anywhere resumes from the last checkpoint with
the same chunk boundaries, so it ends bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
import time
from pathlib import Path

import jax
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

import hades_zoo
from distill import checkpoint, rundir
from distill.distributed import SINGLE, Session, agree, to_host
from distill.config import DistillConfig, read_toml
from distill.engine import best_dataset, init_state, make_chunk, mean_dataset, population_sharding
from distill.tasks import env_steps_per_generation, get_task, make_problem, to_dataset
from hades_zoo import progress as hz_progress  # `progress` is run()'s on/off flag
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import ConfigError

CONFIG, METRICS, COMMAND = "config.toml", "metrics.jsonl", "command.txt"


def run(cfg: DistillConfig, out: Path, *, command: str | None = None, resume: bool = False, progress: bool = True,
        stop_after: int | None = None, session: Session = SINGLE, generations: int | None = None) -> Path:
    """Run (or resume) a distillation into ``out``; returns the path of the mean dataset.

    ``stop_after``: stop after that many generations of this call (tests, chunked GPU jobs).
    ``generations`` (resume only): raise the run's total to this many generations (the one
    change of config a resume accepts; ``distill resume --generations``).
    ``session``: with several processes (``distill.distributed.join``) every process runs
    every chunk, and process 0 alone writes ``out`` (and holds its lock); the others read it.
    """
    out = Path(out)
    with rundir.lock(out, enabled=session.is_main):
        return _run(cfg, out, command, resume, progress, stop_after, session, generations)


def _check_resumable(cfg: DistillConfig, recorded: dict | None, out: Path, generation: int, extend: int | None) -> DistillConfig:
    """The config to resume with: ``config.toml`` as the checkpoint recorded it, with ``generations``
    raised by ``extend`` (never lowered); any other change is refused."""
    if recorded is not None:
        now = cfg.to_dict()
        # a key the recorded config lacks (a field added since the run began) holds its default
        recorded = {**{f.name: f.default for f in dataclasses.fields(DistillConfig)
                       if f.default is not dataclasses.MISSING}, **recorded}
        changed = sorted(k for k in set(now) | set(recorded) if k != "generations" and now.get(k) != recorded.get(k))
        if changed:
            k = changed[0]
            raise ConfigError(f"{out / CONFIG}: {k} is {now.get(k)!r} but the run was made with {recorded.get(k)!r}"
                              f"{f' (and {len(changed) - 1} more)' if len(changed) > 1 else ''}; a run's config cannot "
                              "change on resume: restore config.toml, or start a new run with `distill run`")
        if extend is None and now["generations"] != recorded["generations"]:
            raise ConfigError(f"{out / CONFIG}: generations is {now['generations']} but the run was made with "
                              f"{recorded['generations']}; restore it, or extend the run with "
                              f"`distill resume {out} --generations {now['generations']}`")
    if extend is not None:
        if extend < cfg.generations:
            how = (f"; to stop earlier, resume with --stop-after {extend - generation}" if extend > generation
                   else f" (it has run {generation} generations already)")
            raise ConfigError(f"--generations {extend} is below the run's {cfg.generations}: resume can only extend a "
                              f"run{how}")
        cfg = dataclasses.replace(cfg, generations=extend)
    return cfg


def _run(cfg, out, command, resume, progress, stop_after, session, extend) -> Path:
    writer = session.is_main
    command = command or " ".join(shlex.quote(a) for a in ["distill", *sys.argv[1:]])
    population_sharding(cfg.popsize)  # a population the devices cannot split is refused before any file is written
    if not resume:
        if extend is not None:
            raise ConfigError("generations= extends a resumed run; set generations in the config of a new run")
        if (out / checkpoint.CHECKPOINT).exists():
            raise ConfigError(f"{out} already holds a run; continue it with `distill resume {out}` or pick a new --out")
    elif (out / COMMAND).exists():
        command = (out / COMMAND).read_text().strip()  # provenance names the command that started the run
    problem = make_problem(cfg)
    key, state = init_state(problem)
    generation, extra = 0, {"wall_s": 0.0, "command": command}
    if resume and (out / checkpoint.CHECKPOINT).exists():
        key, state, generation, extra = checkpoint.load(out, state)
    # (killed before its first checkpoint: a resume starts from generation 0)
    if resume:
        cfg = _check_resumable(cfg, extra.get("config"), out, generation, extend)
    extra = {**extra, "config": cfg.to_dict()}
    agree(session, generation, "the generation to start from")
    key, state = _canonical((key, state))
    rows = rundir.read_metrics(out / METRICS, generation, warn=writer)
    if writer:  # every file whole (atomic, umask), written once the config has passed every check
        out.mkdir(parents=True, exist_ok=True)
        if not resume or extend is not None or not (out / CONFIG).exists():
            rundir.write_text(out / CONFIG, cfg.to_toml())
        if not resume:
            rundir.write_text(out / COMMAND, command + "\n")
        rundir.write_text(out / METRICS, rundir.metrics_text(rows))
    steps_per_gen = env_steps_per_generation(cfg)
    chunks = {}
    wall0, t_start = extra["wall_s"], time.perf_counter()
    best = max([r["fitness_max"] for r in rows], default=float("-inf"))
    bar = _progress(progress and writer, cfg, generation)
    target = cfg.generations if stop_after is None else min(cfg.generations, generation + stop_after)
    try:
        while generation < target:
            # Fixed chunk boundaries (multiples of cfg.chunk): resume runs the very same programs.
            n = min(cfg.chunk - generation % cfg.chunk, cfg.generations - generation)
            if n not in chunks:
                chunks[n] = make_chunk(problem, n)
                if session.distributed:  # compile here, then start together (see Session.barrier)
                    chunks[n] = chunks[n].lower(key, state).compile()
                    session.barrier(f"chunk-{n}")
            (key, state), metrics = chunks[n](key, state)
            key, state = _canonical((key, state))
            metrics = to_host(metrics)
            if int(metrics["nan"].sum()) and writer:
                _warn_nan(int(metrics["nan"].sum()))
            wall = wall0 + time.perf_counter() - t_start
            generation += n
            best = max(best, float(metrics["fitness_max"].max()))
            if not writer:
                continue
            for i in range(n):
                g = generation - n + i + 1
                rows.append({"generation": g, "fitness_mean": float(metrics["fitness_mean"][i]),
                             "fitness_max": float(metrics["fitness_max"][i]), "fitness_min": float(metrics["fitness_min"][i]),
                             "wall_s": round(wall, 3), "env_steps": g * steps_per_gen})
            rundir.write_text(out / METRICS, rundir.metrics_text(rows))
            for name, tree in (("mean", mean_dataset(problem, state)), ("best", best_dataset(problem, state))):
                to_dataset(problem, tree, cfg, generation, extra["command"]).save(out / f"{name}.safetensors")
            checkpoint.save(out, key, state, generation, {**extra, "wall_s": wall})
            if bar is not None:
                bar[0].update(bar[1], completed=generation, best=best, mean=float(metrics["fitness_mean"][-1]))
            else:  # --no-progress: one plain line per chunk (hades_zoo.progress; nothing under --quiet)
                hz_progress.note(f"generation {generation}/{cfg.generations}: fitness mean "
                                 f"{float(metrics['fitness_mean'][-1]):.4g}, best so far {best:.4g}, {wall:.0f} s")
    finally:
        if bar is not None:
            bar[0].stop()
    finish = get_task(cfg.task).finish
    if writer and finish is not None:
        finish(out)
    return out / "mean.safetensors"


def _canonical(tree):
    """Host round trip: strong-typed arrays, exactly as a checkpoint restores them, so an
    uninterrupted run and a resumed one call the very same compiled chunk."""
    return jax.tree.map(jax.numpy.asarray, to_host(tree))


def _warn_nan(n: int) -> None:
    print(f"warning: {n} candidate evaluations returned NaN (counted as worst)", file=sys.stderr)


def _progress(enabled: bool, cfg: DistillConfig, start: int):
    if not enabled:
        return None
    prog = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("gen {task.completed}/{task.total}"),
                    TextColumn("best {task.fields[best]:.%(d)df} mean {task.fields[mean]:.%(d)df}" % {"d": get_task(cfg.task).digits}),
                    TimeElapsedColumn(), TimeRemainingColumn(), transient=False)
    prog.start()
    what = get_task(cfg.task).describe(cfg)
    task = prog.add_task(what, total=cfg.generations, completed=start,
                         best=float("nan"), mean=float("nan"))
    return prog, task


def done_line(run_dir: Path, path: Path) -> str:
    """What ``distill run``/``resume`` print at the end: the file, the last generation's fitness and
    the next command to run."""
    rows = rundir.read_metrics(Path(run_dir) / METRICS)
    if not rows:
        return f"done: {path}; next: distill eval {run_dir}"
    last, best = rows[-1], max(r["fitness_max"] for r in rows)
    return (f"done: {path} (generation {last['generation']}, fitness mean {last['fitness_mean']:.4g}, best {best:.4g}); "
            f"next: distill eval {run_dir}")


def load_run_config(run_dir: Path) -> DistillConfig:
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a distill run directory (no {CONFIG})")
    try:
        return DistillConfig(**read_toml(path))
    except (TypeError, ConfigError) as e:
        raise ConfigError(f"{path}: {e}") from None


def evaluate_run(run_dir: Path, seeds: int | None = None, which: str = "mean") -> SyntheticDataset:
    """Evaluate the run's dataset over many seeds and record the result in its metadata (holding the
    run directory's lock: it rewrites a file a running ``distill run`` would also write)."""
    run_dir = Path(run_dir)
    load_run_config(run_dir)  # not a run directory: refused before a lock file is made
    with rundir.lock(run_dir):
        return _evaluate_run(run_dir, seeds, which)


def _evaluate_run(run_dir: Path, seeds: int | None, which: str) -> SyntheticDataset:
    cfg = load_run_config(run_dir)
    path = run_dir / f"{which}.safetensors"
    if not path.is_file():
        raise ConfigError(f"{run_dir}: no {path.name} yet; run `distill resume {run_dir}` first")
    ds = SyntheticDataset.load(path)
    seeds = seeds or cfg.eval_seeds
    result = hades_zoo.evaluate(hades_zoo.train(ds, num_seeds=seeds), seed=0)
    rec = {"value": result.mean, "std": result.std, "seeds": seeds, "protocol": result.protocol,
           "returns": result.returns, "definition": f"mean over {seeds} BC seeds of the {result.protocol} protocol"}
    ds = ds.replace(recorded_return=rec)
    ds.save(path)
    return ds


__all__ = ["run", "evaluate_run", "load_run_config", "to_dataset"]
