"""``hades-zoo``: list, inspect, train and import datasets from the shell.

Every command exits 0 on success; on a ``HadesZooError`` it prints one line
``error: ...`` and exits 2 (any other failure: one line and exit 1), with the
traceback only under ``--debug``.
"""

from __future__ import annotations

import time

_IMPORT_T0 = time.perf_counter()  # `train --json` reports the CLI's own imports in its timing

import functools
import json
import math
import os

import click
from rich.console import Console
from rich.table import Table

import hades_zoo
from hades_zoo import format as fmt
from hades_zoo import hub, progress
from hades_zoo._runtime import enable_compilation_cache, quiet_option, run_cli, stdout_to_stderr
from hades_zoo._version import __version__
from hades_zoo.cli_list import list_cmd
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import ConfigError
from hades_zoo.legacy import convert
from hades_zoo.multitask.cli import COMMANDS as MULTITASK_COMMANDS
from hades_zoo.multitask.cli import merged_info
from hades_zoo.multitask.merging import load_merged
from hades_zoo.sources import copy_of, load


@click.group(help="Behaviour-distillation datasets: list, inspect, train agents, import the authors' files. "
             "Add --debug anywhere for tracebacks.")
@click.version_option(__version__, "--version", prog_name="hades-zoo", message="%(prog)s %(version)s")
def cli():
    pass


@cli.command(help="Download a published dataset from the hub into the HF cache and verify it (NAME, ORG/NAME, @REV).")
@click.argument("name")
@click.option("--revision", default=None, help="Tag, branch or commit (default: main, or the @REV in NAME).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def download(name, revision, as_json):
    got = hub.download(name, revision)
    ds = SyntheticDataset.load(got.path)
    out = {"repo_id": got.ref.repo_id, "revision": got.ref.revision, "commit": got.commit, "path": str(got.path),
           "sha256": got.entry["sha256"], "bytes": got.entry["bytes"], "name": ds.name, "env_id": ds.env_id,
           "method": ds.method, "size": ds.size}
    if as_json:
        click.echo(json.dumps(out))
    else:
        click.echo(f"{got.ref.repo_id}@{got.ref.revision} (commit {got.commit[:12]}): {got.path}, sha256 "
                   f"{out['sha256'][:12]}… verified, {ds.size} pairs for {ds.env_id}")


@cli.command(help="Show a dataset's metadata (name or path): a table, or --json for scripts.")
@click.argument("name_or_path")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (numbers typed) instead of a table.")
def info(name_or_path, as_json):
    if fmt.file_kind(name_or_path) == "policy":  # a saved policy (hades-zoo train --out): its metadata, verified
        tensors, meta = fmt.read(name_or_path)
        meta["tensors"] = len(tensors)
        meta["bytes"] = sum(int(v.nbytes) for v in tensors.values())
        return click.echo(json.dumps(meta, indent=1, default=str)) if as_json else _print_info(meta)
    if fmt.file_kind(name_or_path) == "multitask":  # a merged file: its tasks and sources, verified
        meta = merged_info(load_merged(name_or_path))
        return click.echo(json.dumps(meta, indent=1, default=str)) if as_json else _print_info(meta)
    ds = load(name_or_path)
    meta = ds.metadata
    meta["size"] = ds.size  # the file stores strings; scripts get a number
    meta["shapes"] = {k: list(v.shape) for k, v in ds.tensors().items()}
    meta["source"] = ds.source
    meta["copy"] = copy_of(ds)
    if " commit " in (ds.source or "") and ("(hub," in ds.source or "(cache," in ds.source):  # from the hub: its card too
        meta["card"] = hub.card(ds.source.split(" ")[0])
    if as_json:
        click.echo(json.dumps(meta, indent=1, default=str))
    else:
        _print_info(meta)


def _print_info(meta: dict) -> None:
    """``info`` for people: one row per field, structured values in short ``k=v`` form."""
    def short(v, depth=0):
        if isinstance(v, dict):
            if depth:  # nested settings (a run's whole config): --json has them
                return f"{{{len(v)} fields, see --json}}"
            return ", ".join(f"{k}={short(x, 1)}" for k, x in v.items() if x not in (None, "", {}))
        if isinstance(v, (list, tuple)) and v and all(isinstance(x, float) for x in v):
            return "[" + ", ".join(f"{x:.1f}" for x in v) + "]"
        if isinstance(v, float):
            return f"{v:.6g}"
        return str(v)

    table = Table("field", "value", show_header=False, box=None)
    for key, value in meta.items():
        if value is None or value == {} or key == "card":
            continue
        table.add_row(key, short(value))
    Console(width=max(100, Console().width)).print(table)


@cli.command(help="Behaviour-clone policies on a dataset and evaluate them in the real env "
             "(image datasets: train classifiers, report their accuracy on the real test split).")
@click.argument("name_or_path")
@click.option("--arch", default=None, help="Architecture, e.g. mlp-2x512-tanh, mlp-4x256-relu, resmlp-2x256-relu, "
              "attn-1x64-gelu, conv-16-relu (default: the dataset's own).")
@click.option("--seeds", default=8, show_default=True, type=click.IntRange(1, 4096), help="Policies trained at once (vmap).")
@click.option("--seed", default=0, show_default=True, type=int, help="Base seed for init and evaluation.")
@click.option("--epochs", default=None, type=click.IntRange(1), help="BC steps (default: the dataset's recipe).")
@click.option("--lr", default=None, type=click.FloatRange(min=0, min_open=True), help="BC learning rate (default: recipe).")
@click.option("--init", "init", default="dataset", type=click.Choice(["dataset", "random"]), show_default=True,
              help="'dataset' uses a HaDES-F dataset's fixed init for its own architecture.")
@click.option("--transfer", default="auto", show_default=True, type=click.Choice(["auto", "teacher", "teacher-fixed", "teacher-env", "teacher-fresh", "none"]),
              help="teacher: train the dataset's own recipe first, then ARCH on the pairs plus anchor states around them "
              "labelled by it, new ones every step (mixup and noise anchors, 3x the steps, cosine lr decay); teacher-fixed: one "
              "set of 2048 noise anchors; teacher-env: anchors from the teacher's env rollouts; teacher-fresh: new noise anchors "
              "every step, the given steps; none: plain BC; auto: teacher "
              "when --arch/--epochs/--lr/--init differ from the dataset's recipe.")
@click.option("--anchors", default=None, type=click.IntRange(0), help="Teacher-labelled anchor states (default 512 per step; 2048 for teacher-fixed, teacher-env).")
@click.option("--select", default="none", show_default=True, type=click.Choice(["none", "agreement", "agreement-lr"]),
              help="agreement (with a teacher): try lr x 1/2/4 and the student's steps x 1/3 (teacher-fixed, teacher-env: "
              "lr x 0.5/1/2, steps x 1/2/4), keep the student that agrees best with the teacher on held-out anchors (no "
              "env return is looked at); agreement-lr: the lr candidates only, at the student's steps (a third of the runs).")
@click.option("--protocol", default=None, help="Evaluation protocol: paper, paper-brax, paper-minatar, paper-classic, "
              "episodes (default: the dataset's own; image datasets: test or val).")
@click.option("--dynamics", default=None, type=click.Choice(["current", "2023"]),
              help="Env behaviour: 2023 (brax 0.9.x / gymnax 0.0.6, what the authors' datasets were made on) or "
              "current (today's simulator). Default: the dataset's own.")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False),
              help="Save the trained policies (all seeds, with their normalisation and measured return) to this "
              ".safetensors file: hades-zoo rollout FILE, hades_zoo.load_policy(FILE).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@quiet_option
def train(name_or_path, arch, seeds, seed, epochs, lr, init, transfer, anchors, select, protocol, dynamics, out_path, as_json):
    t0 = time.perf_counter()
    enable_compilation_cache()  # imports jax
    t_jax = time.perf_counter()
    from hades_zoo import api, tasks  # noqa: F401 (the training stack: flax, optax; timed as an import)

    t_imports = time.perf_counter()
    with stdout_to_stderr():
        with progress.phase("loading", name_or_path):
            ds = load(name_or_path)
        t_load = time.perf_counter() - t_imports
        trained = hades_zoo.train(ds, arch, seed=seed, num_seeds=seeds, epochs=epochs, lr=lr, init=init,
                                  transfer=transfer, anchors=anchors, select=select)
        result = hades_zoo.evaluate(trained, protocol=protocol, seed=seed, dynamics=dynamics)
        teacher = None
        if trained.teacher is not None:
            t_eval = time.perf_counter()
            teacher = hades_zoo.evaluate(trained.teacher, protocol=protocol, seed=seed, dynamics=dynamics)
            trained.timing["teacher_eval_s"] = time.perf_counter() - t_eval
    dynamics = dynamics or ds.dynamics
    timing = {"cli_import_s": t0 - _IMPORT_T0, "jax_import_s": t_jax - t0, "train_import_s": t_imports - t_jax,
              "load_s": t_load, **{k: v for k, v in trained.timing.items() if k != "load_s"}}
    timing["total_s"] = time.perf_counter() - _IMPORT_T0  # from the CLI module's first line
    out = {
        "dataset": ds.name or ds.source, "source": ds.source, "copy": copy_of(ds), "env": ds.env_id, "task": ds.task, "arch": trained.arch, "protocol": result.protocol,
        "dynamics": dynamics,
        "seeds": trained.seeds, "returns": result.returns, "mean": result.mean, "std": result.std,
        "recorded_return": (ds.recorded_return or {}).get("value"),
        "recipe": trained.recipe.to_dict(), "timing": {k: round(v, 3) if isinstance(v, float) else v for k, v in timing.items()},
        "transfer": (trained.info.get("transfer") or {}).get("mode", "none"),
    }
    if teacher is not None:
        out["anchors"] = trained.info["transfer"]["anchors"]
        if "anchor_batch" in trained.info["transfer"]:  # teacher-env's MinAtar pool: anchors per BC step
            out["anchor_batch"] = trained.info["transfer"]["anchor_batch"]
        out["teacher"] = {"arch": trained.teacher.arch, "recipe": trained.teacher.recipe.to_dict(),
                          "returns": teacher.returns, "mean": teacher.mean, "std": teacher.std}
        out["student_over_teacher"] = result.mean / teacher.mean if teacher.mean else None
        if "selection" in trained.info["transfer"]:
            out["selection"] = trained.info["transfer"]["selection"]
    if out_path is not None:
        out["policy"] = {"path": out_path, "sha256": trained.save(out_path)}
    if as_json:
        click.echo(json.dumps(out))
    else:
        rec = out["recorded_return"]
        dyn = f", {dynamics} dynamics" if dynamics != "current" else ""
        click.echo(f"{ds.source or ds.name} [{ds.env_id}{dyn}] {trained.arch}: {result}"
                   + (f"  (recorded: {rec:.2f})" if rec is not None else "")
                   + f"  in {timing['total_s']:.1f} s")
        if teacher is not None:
            click.echo(f"  through the teacher ({out['transfer']}, {out['anchors']} anchors): "
                       f"teacher {trained.teacher.arch}: {teacher}")
        if out_path is not None:
            click.echo(f"saved {trained.num_seeds} policies to {out_path}; watch one: hades-zoo rollout {out_path} --render run.gif")


@cli.command(help="Run a policy in its env and print the return of each episode: a policy file "
             "(hades-zoo train ... --out FILE), or a dataset name/path (one policy is trained first). "
             "--render draws it: .html for brax envs (brax's viewer), .gif for MinAtar envs, .gif for "
             "classic control (Gymnasium's renderer; pip install \"hades-zoo[render]\").")
@click.argument("name_or_policy")
@click.option("--episodes", default=3, show_default=True, type=click.IntRange(1, 1000), help="Episodes to run, one env.")
@click.option("--render", "render_path", default=None, type=click.Path(dir_okay=False), help="Write a picture: FILE.html or FILE.gif.")
@click.option("--frames", default=1000, show_default=True, type=click.IntRange(1, 100_000), help="Steps drawn by --render.")
@click.option("--index", default=0, show_default=True, type=click.IntRange(0), help="Which trained seed of a policy file acts.")
@click.option("--sample", is_flag=True, help="Sample actions (default: greedy, how a policy is deployed).")
@click.option("--seed", default=0, show_default=True, type=int, help="Env seed (and BC seed for a dataset).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@quiet_option
def rollout(name_or_policy, episodes, render_path, frames, index, sample, seed, as_json):
    from hades_zoo import render  # jax and the simulator load with the commands that act

    enable_compilation_cache()
    with stdout_to_stderr():
        if fmt.file_kind(name_or_policy) == "policy":
            with progress.phase("loading", name_or_policy):
                trained = hades_zoo.load_policy(name_or_policy)
        else:
            trained = hades_zoo.train(name_or_policy, seed=seed)
        if index >= trained.num_seeds:
            raise ConfigError(f"--index {index}: {name_or_policy} holds {trained.num_seeds} seeds (0..{trained.num_seeds - 1})")
        with progress.phase("rolling out", f"{episodes} episode{'s' * (episodes > 1)} of {trained.env_id}, seed {index}"):
            returns, kept = render.episodes(trained, episodes, seed=seed, index=index, sample=sample,
                                            keep=frames if render_path else 0)
        if render_path:
            with progress.phase("rendering", f"{len(kept)} frames to {render_path}"):
                render.write(trained, render_path, kept)
    out = {"policy": name_or_policy, "env": trained.env_id, "dynamics": trained.dynamics, "index": index,
           "greedy": not sample, "returns": returns, "mean": float(sum(returns) / max(len(returns), 1)),
           "render": render_path}
    if as_json:
        click.echo(json.dumps(out))
        return
    for k, r in enumerate(returns, 1):
        click.echo(f"episode {k}: return {r:.1f}")
    if len(returns) < episodes:
        click.echo(f"({episodes - len(returns)} episode(s) did not finish)")
    if render_path:
        click.echo(f"wrote {render_path}")


@cli.command("import-legacy", help="Convert an authors' data_final.pkl (restricted unpickler) to .safetensors.")
@click.argument("pickle_file", type=click.Path(dir_okay=False))
@click.option("--env", required=True, help="Env (or image dataset: mnist, fashion-mnist) the pickle was distilled on (checked against its config).")
@click.option("--method", required=True, type=click.Choice(["r", "f"], case_sensitive=False), help="HaDES-R or HaDES-F (checked).")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Output .safetensors file.")
def import_legacy(pickle_file, env, method, out):
    ds = convert(pickle_file, env, method)
    digest = ds.save(out)
    click.echo(f"wrote {out} ({ds.name}, {ds.size} pairs, recorded return {ds.recorded_return['value']:.2f}, sha256 {digest[:12]}…)")


def _two(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


def _split(text: str | None, cast, what: str):
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ConfigError(f"--{what} is empty; give a comma-separated list, e.g. --{what} {'mlp-2x64-tanh,mlp-4x256-relu' if what == 'archs' else '0.01,0.003' if what == 'lrs' else 'none,teacher' if what == 'transfer' else '100,200'}")
    try:
        return [cast(t) for t in items]
    except ValueError:
        raise ConfigError(f"--{what} {text!r}: not a comma-separated list of {cast.__name__} values") from None


@cli.command("generalize", help="Train a grid of architectures and recipes on one dataset; return relative to its own recipe.")
@click.argument("name_or_path")
@click.option("--archs", default=None, help="Comma-separated architectures (default: a grid of widths 64-1024, depths 1-4, "
              "relu/tanh/gelu, residual and attention).")
@click.option("--lrs", default=None, help="Comma-separated learning rates (default: the dataset's own).")
@click.option("--epochs", default=None, help="Comma-separated BC step counts (default: the dataset's own).")
@click.option("--seeds", default=4, show_default=True, type=click.IntRange(1, 4096), help="Seeds per cell (one vmap).")
@click.option("--seed", default=0, show_default=True, type=int, help="Base seed for init and evaluation.")
@click.option("--protocol", default=None, help="Evaluation protocol (default: the dataset's own).")
@click.option("--transfer", "transfers", default="none,teacher", show_default=True,
              help="Comma-separated: how each cell trains, side by side: none (plain BC), teacher (through the "
              "dataset's own recipe, new anchors around the pairs every step), teacher-fixed (one anchor set), "
              "teacher-env (anchors from its env rollouts), teacher-fresh.")
@click.option("--anchors", default=None, type=click.IntRange(0), help="Teacher-labelled anchor states (default 512 per step; 2048 for teacher-fixed, teacher-env).")
@click.option("--select", default="none", show_default=True, type=click.Choice(["none", "agreement", "agreement-lr"]),
              help="agreement: each teacher cell's student lr and steps chosen by held-out agreement with the teacher "
              "(as `train --select`; no env return is looked at); agreement-lr: its lr only, at the student's steps.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--plot", "plot_path", default=None, type=click.Path(dir_okay=False), help="Write a heatmap PNG here.")
@quiet_option
def generalize_cmd(name_or_path, archs, lrs, epochs, seeds, seed, protocol, transfers, anchors, select, as_json, plot_path):
    from hades_zoo.grid import generalize  # jax and flax load with the command

    enable_compilation_cache()
    archs, lrs, epochs = _split(archs, str, "archs"), _split(lrs, float, "lrs"), _split(epochs, int, "epochs")
    transfers = _split(transfers, str, "transfer")
    if plot_path is not None and not str(plot_path).lower().endswith(".png"):
        raise ConfigError(f"--plot {plot_path}: the heatmap is written as PNG; give a file name ending in .png")
    if plot_path is not None and not os.path.isdir(os.path.dirname(os.path.abspath(plot_path))):
        raise ConfigError(f"--plot {plot_path}: its directory does not exist; create it first (checked before training)")
    def report(row):
        if not as_json:
            click.echo(f"  {row.arch:<20} lr {row.lr:<8g} {row.epochs:>5} steps, {row.transfer:<11}: "
                       f"{row.mean:9.2f} ± {row.result.std:<7.2f} "
                       f"relative {_two(row.relative)}  ({row.seconds:.1f} s)", err=True)

    with stdout_to_stderr():
        with progress.phase("loading", name_or_path):
            ds = load(name_or_path)
        result = generalize(ds, archs, lrs, epochs, num_seeds=seeds, seed=seed, protocol=protocol,
                            transfer=transfers, anchors=anchors, select=select, progress=report)
    if plot_path is not None:
        result.plot(plot_path)
    if as_json:
        click.echo(json.dumps(result.to_json()))
    else:
        click.echo(result.to_markdown("matrix"))
        if plot_path is not None:
            click.echo(f"heatmap: {plot_path}")


for _command in (list_cmd, *MULTITASK_COMMANDS):
    cli.add_command(_command)

main = functools.partial(run_cli, cli, "hades-zoo")
