"""The engine end to end on tiny CartPole configs: run, eval, kill -9 + resume, sharding."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import run_cli
from hub_fixtures import TINY_CONFIG
from hades_zoo import SyntheticDataset
from hades_zoo.errors import ConfigError




def _config(tmp_path, method="r", generations=2):
    path = tmp_path / f"tiny-{method}-{generations}.toml"
    path.write_text(TINY_CONFIG.format(method=method, size=4, generations=generations))
    return path


def _distill(*args, **kw):
    return run_cli(*args, prog="distill.cli", **kw)


@pytest.mark.parametrize("method", ["r", "f"])
def test_tiny_run_end_to_end(tmp_path, method, monkeypatch):
    out = tmp_path / "run"
    monkeypatch.delenv("HADES_ZOO_QUIET")  # --no-progress still logs a line per chunk
    proc = _distill("run", "--config", _config(tmp_path, method), "--out", out, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "generation 2/2: fitness mean" in proc.stderr
    assert proc.stdout.startswith("done: ") and f"next: distill eval {out}" in proc.stdout and "fitness mean" in proc.stdout
    rows = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["generation"] for r in rows] == [1, 2]
    assert {"fitness_mean", "fitness_max", "wall_s", "env_steps"} <= set(rows[0])
    assert rows[1]["env_steps"] == 2 * 8 * 2 * 2 * 100
    ds = SyntheticDataset.load(out / "mean.safetensors")
    assert ds.size == 4 and ds.method == f"hades-{method}" and ds.obs_norm == "const"
    assert ds.provenance["generations"] == 2 and ds.provenance["config"]["popsize"] == 8
    assert ds.recipe.init.mode == ("fixed" if method == "f" else "random")
    SyntheticDataset.load(out / "best.safetensors")
    proc = _distill("eval", out, "--json")
    assert proc.returncode == 0, proc.stderr
    rec = SyntheticDataset.load(out / "mean.safetensors").recorded_return
    assert rec["seeds"] == 2 and rec["value"] == pytest.approx(json.loads(proc.stdout)["value"])
    # a second `run` into the same directory is refused, pointing at `resume`
    again = _distill("run", "--config", _config(tmp_path, method), "--out", out)
    assert again.returncode == 2 and "distill resume" in again.stderr
    # every run file has the mode of the user's umask, not mkstemp's 0600
    umask = os.umask(0o022)
    os.umask(umask)
    for name in ("config.toml", "command.txt", "metrics.jsonl", "mean.safetensors", "checkpoint.safetensors"):
        assert (out / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
    if method == "r":
        _resume_refuses_changes_and_recovers_damage(out)


def _resume_refuses_changes_and_recovers_damage(out):
    """On a finished 2-generation run: what resume refuses, and what it recovers."""
    config = (out / "config.toml").read_text()
    lower = _distill("resume", out, "--generations", "1")  # a 2-generation run cannot shrink
    assert lower.returncode == 2 and "only extend" in lower.stderr and (out / "config.toml").read_text() == config
    (out / "config.toml").write_text(config.replace("popsize = 8", "popsize = 16"))
    edited = _distill("resume", out)
    assert edited.returncode == 2 and "popsize is 16 but the run was made with 8" in edited.stderr
    (out / "config.toml").write_text(config.replace("generations = 2", "generations = 3"))
    edited = _distill("resume", out)
    assert edited.returncode == 2 and "--generations 3" in edited.stderr  # the flag is the way to extend
    (out / "config.toml").write_text(config)
    # a torn last line (a full disk, a kill mid-append): dropped with a warning, the file rewritten
    rows = (out / "metrics.jsonl").read_text()
    (out / "metrics.jsonl").write_text(rows + '{"generation": 3, "fitn')
    torn = _distill("resume", out, "--no-progress")
    assert torn.returncode == 0 and "dropped line 3" in torn.stderr and (out / "metrics.jsonl").read_text() == rows
    # a flipped bit in the checkpoint is refused, not resumed
    ck = out / "checkpoint.safetensors"
    good = ck.read_bytes()
    ck.write_bytes(good[:-3] + bytes([good[-3] ^ 0x10]) + good[-2:])
    flipped = _distill("resume", out)
    assert flipped.returncode == 2 and "fails its sha256" in flipped.stderr
    ck.write_bytes(good)


def test_second_run_into_a_locked_directory_is_refused(tmp_path):
    from distill import rundir

    out = tmp_path / "run"
    with rundir.lock(out):
        proc = _distill("run", "--config", _config(tmp_path), "--out", out)
        assert proc.returncode == 2 and f"in use by another distill process (pid {os.getpid()})" in proc.stderr
        resume = _distill("resume", out)
        assert resume.returncode == 2 and "in use" in resume.stderr or "not a distill run" in resume.stderr
    # stale-lock policy: a holder killed with -9 leaves the file, and the kernel has released the lock
    code = f"from distill import rundir; import time\nwith rundir.lock({str(out)!r}):\n print('held', flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(ConfigError, match=f"pid {holder.pid}"):
        with rundir.lock(out):
            pass
    holder.kill()
    holder.wait()
    assert (out / rundir.LOCK).exists()
    with rundir.lock(out):
        pass


def test_kill_9_then_resume_is_bit_identical(tmp_path):
    generations = 10
    cfg = _config(tmp_path, generations=generations)
    out, ref = tmp_path / "run", tmp_path / "ref"
    # same --out for both runs: the command line is part of each dataset's provenance
    assert _distill("run", "--config", cfg, "--out", out, "--no-progress").returncode == 0
    out.rename(ref)
    kill_after = random.Random(os.getpid()).randint(1, 4)
    code = "import sys; from distill.cli import main; sys.argv[0] = 'distill'; main()"
    proc = subprocess.Popen([sys.executable, "-c", code, "run", "--config", str(cfg), "--out", str(out), "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = out / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= kill_after:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the child really died mid-run (a child that finished first would make the resume a no-op)
    assert proc.returncode == -signal.SIGKILL
    assert kill_after <= len(metrics.read_text().splitlines()) < generations
    resumed = _distill("resume", out, "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    for name in ("mean.safetensors", "best.safetensors"):
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name
    fit = lambda d: [json.loads(ln)["fitness_mean"] for ln in (d / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    assert fit(out) == fit(ref)


def test_sharded_over_4_devices_matches_1(tmp_path):
    cfg = _config(tmp_path)
    one, four = tmp_path / "one", tmp_path / "four"
    assert _distill("run", "--config", cfg, "--out", one, "--no-progress").returncode == 0
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    code = ("import jax, sys; assert len(jax.devices()) == 4; from distill.cli import main; "
            "sys.argv[0] = 'distill'; main()")
    proc = subprocess.run([sys.executable, "-c", code, "run", "--config", str(cfg), "--out", str(four), "--no-progress"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    a, b = SyntheticDataset.load(one / "mean.safetensors"), SyntheticDataset.load(four / "mean.safetensors")
    np.testing.assert_allclose(a.states, b.states, rtol=1e-4, atol=1e-4)


def test_bad_configs():
    from distill.config import build_config

    with pytest.raises(ConfigError, match="popsize"):
        build_config("CartPole-v1", popsize=7)
    with pytest.raises(ConfigError, match="unknown evosax strategy"):
        from distill.tasks import make_problem

        make_problem(build_config("CartPole-v1", strategy="OpenESS", popsize=8))
    with pytest.raises(ConfigError, match="unknown config keys"):
        build_config("CartPole-v1", popsise=8)
    with pytest.raises(ConfigError, match="rollouts"):
        build_config("CartPole-v1", rollouts=1, method="r")


def test_resume_without_checkpoint(tmp_path):
    proc = _distill("resume", tmp_path)
    assert proc.returncode == 2 and "not a distill run directory" in proc.stderr


def test_unrolled_threefry_keeps_the_random_bits():
    """The engine lowers threefry unrolled on CPU (hades_zoo._runtime): the same hash, so every
    key split and draw, and every dataset, is what JAX's rolled loop gives."""
    import jax
    import jax.numpy as jnp
    from jax._src.random import threefry2x32 as tf

    from hades_zoo._runtime import unrolled_threefry

    k1, k2, x1, x2 = jax.random.bits(jax.random.PRNGKey(3), (4, 257), jnp.uint32)
    rolled = tf._threefry2x32_lowering(k1, k2, x1, x2, use_rolled_loops=True)
    unrolled_threefry()
    straight = tf._threefry2x32_lowering(k1, k2, x1, x2, use_rolled_loops=False)
    assert all(bool(jnp.array_equal(a, b)) for a, b in zip(rolled, straight))


def test_search_bc_steps_changes_the_inner_loop_only(tmp_path):
    """``search_bc_steps`` (issue 21's speed lever): the search's BC runs K steps; unset (0) or set to the
    recipe's epochs it is the very same program; the datasets keep the recipe; a run recorded before
    the key existed still resumes (a missing key holds its default)."""
    import dataclasses

    import jax

    from distill.config import build_config
    from distill.engine import make_inner_train
    from distill.runner import _check_resumable
    from distill.tasks import make_problem, to_dataset

    cfg = build_config(config_file=str(_config(tmp_path)))
    assert cfg.search_bc_steps == 0 and cfg.search_recipe == cfg.bc_recipe
    problem = make_problem(cfg)
    key, candidate = jax.random.PRNGKey(1), jax.tree.map(lambda x: x + 0.3, problem.solution)

    def program(**kw):  # the inner loop's jaxpr: the program XLA gets, without compiling it
        p = dataclasses.replace(problem, cfg=dataclasses.replace(cfg, **kw))
        return str(jax.make_jaxpr(make_inner_train(p))(key, candidate))

    default = program()
    assert "length=20" in default and program(search_bc_steps=cfg.bc_recipe.epochs) == default
    short = dataclasses.replace(cfg, search_bc_steps=5)
    assert short.search_recipe.epochs == 5 and short.bc_recipe.epochs == cfg.bc_recipe.epochs == 20
    assert program(search_bc_steps=5) == default.replace("length=20", "length=5")
    ds = to_dataset(problem, problem.solution, short, 1, "test")
    assert ds.recipe.epochs == 20 and ds.provenance["config"]["search_bc_steps"] == 5
    old = {k: v for k, v in cfg.to_dict().items() if k != "search_bc_steps"}
    assert _check_resumable(cfg, old, tmp_path, 1, None) == cfg
    with pytest.raises(ConfigError, match="search_bc_steps is 5 but the run was made with 0"):
        _check_resumable(short, old, tmp_path, 1, None)
    with pytest.raises(ConfigError, match="search_bc_steps"):
        build_config(config_file=str(_config(tmp_path)), search_bc_steps=-1)


def test_fitness_without_reset_scores_the_same_first_episodes():
    """``fitness_reset = false`` (issue 21): first-episode rollouts step without the auto-reset, so the
    reset draw leaves the program; the same arithmetic until each env's first done (XLA may round it
    differently in the other program, so the scores are compared to a tolerance, not bit for bit)."""
    import jax
    import jax.numpy as jnp

    from distill.config import build_config
    from hades_zoo import envs, rollout
    from hades_zoo.policies import make_policy
    from hades_zoo.recipe import Protocol

    env = envs.make("CartPole-v1")
    obs, state = env.reset(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(3)
    a, b = env.step(key, state, jnp.int32(1)), env.step_no_reset(key, state, jnp.int32(1))
    assert all(bool(jnp.allclose(x, y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    policy = make_policy("mlp-1x8-tanh", (4,), 2, True)
    params = jax.vmap(policy.init)(jax.random.split(jax.random.PRNGKey(0), 6))
    params["net"]["params"]["Dense_1"]["kernel"] *= jnp.arange(6.0)[:, None, None] * 40  # short to long episodes
    keys, mean, var = jax.random.split(jax.random.PRNGKey(1), 6), jnp.zeros(4), jnp.ones(4)
    protocol = Protocol("t", 3, 60, False, "first_episode")
    scores, programs = {}, {}
    for reset in (True, False):
        evaluate = jax.vmap(rollout.make_evaluate("CartPole-v1", policy, protocol, "const", reset=reset),
                            in_axes=(0, 0, None, None))
        programs[reset] = jax.jit(evaluate).lower(keys, params, mean, var).as_text()
        scores[reset] = jax.jit(evaluate)(keys, params, mean, var)
    uniform = {reset: p.count("call @_uniform") for reset, p in programs.items()}
    assert uniform[False] == uniform[True] - 1, uniform  # the first reset draws, the per-step one is gone
    assert float(jnp.max(jnp.abs(scores[True] - scores[False]))) <= 1.0, (scores[True], scores[False])
    assert float(scores[False].min()) < 60 and float(scores[False].max()) == 60  # early ends and a full window
    with pytest.raises(ConfigError, match="first_episode"):
        rollout.make_evaluate("CartPole-v1", policy, Protocol("t", 3, 60, False, "completed_mean"), "const", reset=False)
    assert build_config("CartPole-v1").fitness_reset is True
    with pytest.raises(ConfigError, match="fitness_reset = false needs"):
        build_config("CartPole-v1", fitness_reset=False, obs_norm="running")


def test_early_exit_keeps_every_first_episode_score(monkeypatch):
    """A score-only ``first_episode`` rollout stops once every env's first episode has ended
    (hades_zoo.rollout.EARLY_EXIT, issue 21): the same scores, bit for bit, as running every step,
    vmapped as the engine does (envs ending at different steps, one never ending in the window)."""
    import jax
    import jax.numpy as jnp

    from hades_zoo import rollout
    from hades_zoo.policies import make_policy
    from hades_zoo.recipe import Protocol

    policy = make_policy("mlp-1x8-tanh", (4,), 2, True)
    params = jax.vmap(policy.init)(jax.random.split(jax.random.PRNGKey(0), 6))
    params["net"]["params"]["Dense_1"]["kernel"] *= jnp.arange(6.0)[:, None, None] * 40  # short to long episodes
    keys = jax.random.split(jax.random.PRNGKey(1), 6)
    mean, var = jnp.zeros(4), jnp.ones(4)
    scores, programs = {}, {}
    for early in (False, True):
        monkeypatch.setattr(rollout, "EARLY_EXIT", early)
        evaluate = jax.vmap(rollout.make_evaluate("CartPole-v1", policy, Protocol("t", 3, 60, False, "first_episode"),
                                                  "const"), in_axes=(0, 0, None, None))
        programs[early] = str(jax.make_jaxpr(evaluate)(keys, params, mean, var))
        scores[early] = jax.jit(evaluate)(keys, params, mean, var)
    assert "reduce_and" in programs[True] and "reduce_and" not in programs[False]
    assert bool(jnp.array_equal(scores[True], scores[False])), (scores[True], scores[False])
    assert float(scores[True].min()) < 60 and float(scores[True].max()) == 60  # early ends and a full window


def test_recorded_command_drops_only_the_launch_options(monkeypatch):
    """Provenance leaves out how the processes met (a flag takes no value: the argument after
    ``--distributed`` stays), and --local-processes' children get every other argument."""
    from distill import cli

    monkeypatch.setattr(sys, "argv", ["distill", "run", "--distributed", "--env", "hopper", "--coordinator", "h:1",
                                      "--process-id=1", "--local-processes", "2", "--size", "4"])
    assert cli._recorded_command() == "distill run --env hopper --size 4"
    assert cli._without(sys.argv[1:], ("--local-processes",)) == [
        "run", "--distributed", "--env", "hopper", "--coordinator", "h:1", "--process-id=1", "--size", "4"]
