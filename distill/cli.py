"""``distill``: run, resume and evaluate HaDES distillations."""

from __future__ import annotations

import contextlib
import functools
import json
import shlex
import sys
import traceback
from pathlib import Path

import click
import numpy as np

import hades_zoo
from distill.config import build_config
from distill.distributed import free_port, join, start_local
from distill.publish import publish as publish_dataset
from distill.runner import done_line, evaluate_run, load_run_config
from distill.runner import run as run_distillation
from hades_zoo._runtime import enable_compilation_cache, quiet_option, run_cli, stdout_to_stderr
from hades_zoo.errors import ConfigError, HadesZooError
from hades_zoo.redact import scrub
from hades_zoo.supervised import random_real


@click.group(help="HaDES behaviour distillation: evolve a tiny dataset that trains an agent. Add --debug for tracebacks.")
def cli():
    pass


def distributed_options(f):
    """Options of a run spread over several JAX processes (one per host, or per accelerator)."""
    opts = [
        click.option("--coordinator", default=None, metavar="HOST:PORT",
                     help="Several processes: the address of process 0 (a free port on its host); every process gets the same."),
        click.option("--num-processes", type=click.IntRange(1), default=None, help="Several processes: how many."),
        click.option("--process-id", type=click.IntRange(0), default=None, help="Several processes: this one's id, 0..N-1."),
        click.option("--distributed", is_flag=True,
                     help="Several processes, found by JAX: SLURM's srun, mpirun, TPU pods, or JAX_COORDINATOR_ADDRESS."),
        click.option("--join-timeout", type=click.FloatRange(1), default=300, show_default=True,
                     help="Seconds to wait for every process to join."),
        click.option("--peer-timeout", type=click.FloatRange(1), default=60, show_default=True,
                     help="Seconds a silent process is tolerated before the others stop."),
        click.option("--local-processes", type=click.IntRange(1, 64), default=None, metavar="N",
                     help="Run as N processes on this host, joined over 127.0.0.1 (this one is process 0 and "
                     "starts the others). On CPU one process keeps brax's physics on one core: N processes use N "
                     "cores. Not with --coordinator, --num-processes, --process-id or --distributed."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


LAUNCH_OPTIONS = ("--coordinator", "--num-processes", "--process-id", "--join-timeout", "--peer-timeout",
                  "--local-processes")


def _without(argv: list[str], options: tuple[str, ...], flags: tuple[str, ...] = ()) -> list[str]:
    """``argv`` less the value-taking ``options`` (``--opt V`` and ``--opt=V``) and the ``flags``."""
    args, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in options:
            skip = True
        elif a in flags or a.split("=", 1)[0] in options:
            pass
        else:
            args.append(a)
    return args


def _recorded_command() -> str:
    """The command line for the datasets' provenance, without the per-process launch options
    (process 0's ``--process-id 0`` would not reproduce anything), so one process and several
    record the same recipe."""
    args = _without(sys.argv[1:], LAUNCH_OPTIONS, ("--distributed",))
    return scrub(" ".join(shlex.quote(a) for a in ["distill", *args]))  # no local paths or user name in provenance


@contextlib.contextmanager
def _session(out, coordinator, num_processes, process_id, distributed, join_timeout, peer_timeout, local_processes=None):
    """Join the other processes (if any) before anything touches a device; on an error, tell
    them and leave at once with the CLI's one line (a normal exit would wait on them).
    ``local_processes``: start them here first (``distill.distributed.start_local``)."""
    children = []
    if local_processes is not None and local_processes > 1:
        if distributed or coordinator is not None or num_processes is not None or process_id is not None:
            raise ConfigError("--local-processes starts and joins its own processes on this host; leave out "
                              "--coordinator, --num-processes, --process-id and --distributed (or drop --local-processes)")
        coordinator, num_processes, process_id = "127.0.0.1:%d" % free_port(), local_processes, 0
        children = start_local(_without(sys.argv[1:], ("--local-processes",)), coordinator, local_processes)
    session = join(coordinator, num_processes, process_id, auto=distributed, join_timeout=join_timeout,
                   peer_timeout=peer_timeout)
    if session.distributed:
        session.hint = (f"the last checkpoint in {out} is intact: start every process again with "
                        f"`distill resume {out}` and the same launch options")
    try:
        # gloo prints its connections on fd 1: keep stdout for the one `done:` line
        with stdout_to_stderr() if session.distributed else contextlib.nullcontext():
            yield session
    except BaseException as e:
        if not session.distributed:
            raise
        if "--debug" in sys.argv:
            traceback.print_exc()
        session.relay_failure()  # a peer that failed first (and broke our collective) says why
        if isinstance(e, HadesZooError):
            session.fail(str(e), code=2)
        if "gloo" in str(e).lower():  # a collective whose peer vanished (connection reset)
            session.fail(f"process {session.process_id} of {session.num_processes}: a collective with the other "
                         f"processes failed, one of them was killed or crashed ({str(e).splitlines()[0][:300]})")
        first = (str(e).splitlines() or [""])[0]
        session.fail(f"process {session.process_id}: unexpected {type(e).__name__}: {first} (rerun with --debug for "
                     "the traceback)", code=1)
    else:
        session.finish()
        for child in children:  # they left through the same shutdown barrier
            child.wait()


@cli.command(help="Start a distillation run into --out.")
@click.option("--task", type=click.Choice(["rl", "image-classification"]), default=None,
              help="rl (default): state-action pairs for an env; image-classification: images for --dataset.")
@click.option("--env", default=None, help="Env id or slug, e.g. CartPole-v1, hopper (or set env in --config).")
@click.option("--dataset", default=None, help="Image task: digits (bundled with scikit-learn), mnist, fashion-mnist.")
@click.option("--method", type=click.Choice(["r", "f"]), default=None, help="HaDES-R (random inits) or HaDES-F (fixed init).")
@click.option("--size", type=click.IntRange(1), default=None, help="Number of state-action pairs (image task: images per class).")
@click.option("--generations", type=click.IntRange(1), default=None)
@click.option("--popsize", type=click.IntRange(2), default=None)
@click.option("--strategy", default=None, help="Any evosax algorithm, e.g. Open_ES, SNES, PGPE, CMA_ES.")
@click.option("--seed", type=int, default=None)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None, help="TOML overriding the env preset.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--no-progress", is_flag=True, help="No progress bar (logs only).")
@distributed_options
def run(task, env, dataset, method, size, generations, popsize, strategy, seed, config_file, out, no_progress, **launch):
    with _session(out, **launch) as session:
        enable_compilation_cache()
        cfg = build_config(env, config_file, task=task, dataset=dataset, method=method, size=size,
                           generations=generations, popsize=popsize, strategy=strategy, seed=seed)
        path = run_distillation(cfg, Path(out), progress=not no_progress, command=_recorded_command(), session=session)
    if session.is_main:
        click.echo(done_line(Path(out), path))


@cli.command(help="Continue a killed or stopped run; ends bit-identical to an uninterrupted one.")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--generations", type=click.IntRange(1), default=None,
              help="Extend the run to this many generations in total (the one config change a resume accepts; "
              "never lower: use --stop-after).")
@click.option("--stop-after", type=click.IntRange(1), default=None, help="Stop after this many generations (chunked jobs).")
@click.option("--no-progress", is_flag=True)
@distributed_options
def resume(run_dir, generations, stop_after, no_progress, **launch):
    with _session(run_dir, **launch) as session:
        enable_compilation_cache()
        cfg = load_run_config(Path(run_dir))
        path = run_distillation(cfg, Path(run_dir), resume=True, progress=not no_progress, stop_after=stop_after, session=session,
                    generations=generations)
    if session.is_main:
        click.echo(done_line(Path(run_dir), path))


@cli.command("eval", help="Evaluate the run's final dataset over many seeds; writes the result into its metadata.")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--seeds", type=click.IntRange(1), default=None, help="BC seeds (default: the config's eval_seeds).")
@click.option("--json", "as_json", is_flag=True)
@quiet_option
def eval_cmd(run_dir, seeds, as_json):
    enable_compilation_cache()
    with stdout_to_stderr():
        ds = evaluate_run(Path(run_dir), seeds)
    rec = ds.recorded_return
    click.echo(json.dumps(rec) if as_json else f"{ds.name}: {rec['value']:.2f} ± {rec['std']:.2f} ({rec['seeds']} seeds, {rec['protocol']})")


@cli.command(help="Image tasks' baseline: random real train images per class, one fresh classifier per draw, "
             "accuracy on the real test split.")
@click.option("--dataset", required=True, help="digits, mnist or fashion-mnist.")
@click.option("--size", type=click.IntRange(1), default=1, show_default=True, help="Images per class.")
@click.option("--arch", default=None, help="Classifier architecture (default: the dataset's distillation recipe).")
@click.option("--epochs", default=None, type=click.IntRange(1), help="Training steps (default: the recipe's).")
@click.option("--lr", default=None, type=click.FloatRange(min=0, min_open=True), help="Learning rate (default: the recipe's).")
@click.option("--seeds", type=click.IntRange(1, 4096), default=8, show_default=True,
              help="Draws (draw i: images and init of seed i).")
@click.option("--data-path", default=None, help="Local copy / hub id read with datasets.load_dataset.")
@click.option("--json", "as_json", is_flag=True)
def baseline(dataset, size, arch, epochs, lr, seeds, data_path, as_json):
    enable_compilation_cache()
    accs = []
    for i in range(seeds):
        ds = random_real(dataset, size, seed=i, data_path=data_path)
        trained = hades_zoo.train(ds, arch, seed=i, epochs=epochs, lr=lr, transfer="none")  # the baseline is plain BC
        accs.append(hades_zoo.evaluate(trained).returns[0])
    out = {"dataset": ds.env_id, "per_class": size, "arch": trained.arch, "protocol": "test-accuracy",
           "returns": accs, "mean": float(sum(accs) / len(accs)), "std": float(np.std(accs)),
           "recipe": trained.recipe.to_dict()}
    click.echo(json.dumps(out) if as_json else
               f"random real {size}/class [{out['dataset']}] {out['arch']}: {out['mean']:.4f} ± {out['std']:.4f} ({seeds} draws)")


@cli.command(help="Evaluate a dataset (a .safetensors file, a run directory or a bundled name) over several seeds and "
             "architectures, then publish it to a hub dataset repo: the file, a parquet mirror, metrics.json, figures "
             "and a card, in one commit tagged --revision. Same bytes again: no-op. Token: HF_TOKEN or `hf auth login`.")
@click.argument("source")
@click.option("--repo-id", default=None, help="ORG/NAME (default: $HADES_ZOO_HUB_ORG or hades-zoo, / the dataset's name).")
@click.option("--revision", default=None, help="Version tag, e.g. v1 (default: the next free vN).")
@click.option("--private", is_flag=True, help="Create the repo private.")
@click.option("--force", is_flag=True, help="Move an existing tag that holds different bytes.")
@click.option("--seeds", type=click.IntRange(1), default=8, show_default=True, help="BC seeds per architecture.")
@click.option("--archs", default="own,mlp-2x256-tanh,mlp-4x256-relu", show_default=True,
              help="Comma-separated architectures to evaluate; 'own' is the dataset's (always included).")
@click.option("--which", type=click.Choice(["mean", "best"]), default="mean", show_default=True,
              help="Run directories: the ES mean or the best candidate.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@quiet_option
def publish(source, repo_id, revision, private, force, seeds, archs, which, as_json):
    enable_compilation_cache()
    arch_list = tuple(a.strip() for a in archs.split(",") if a.strip())
    with stdout_to_stderr():
        res = publish_dataset(source, repo_id, revision, private=private, force=force, seeds=seeds, archs=arch_list or ("own",),
                       which=which)
    click.echo(json.dumps(res.to_dict()) if as_json else res.summary())


main = functools.partial(run_cli, cli, "distill")
