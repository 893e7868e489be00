"""Several JAX processes on 127.0.0.1 (gloo collectives): the same result as one process,
faults that end in one line within a bound, and resume across the same processes.

Each process forces 2 CPU devices, so 2 processes make the 4-device mesh that one process
gets with 4 forced devices. The tiny CartPole config has popsize 8: 2 candidates per device.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from safetensors.numpy import load_file

from hub_fixtures import TINY_CONFIG, free_port

CODE = "import sys; from distill.cli import main; sys.argv[0] = 'distill'; main()"
GENERATIONS = 3
PEER_TIMEOUT = 10  # seconds a silent peer is tolerated (the CLI's default is 60)


def _env(devices: int) -> dict:
    return dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")


def _launch(args, n=2, port=None, extra=()):
    """Start ``n`` processes of ``distill ARGS`` joined at 127.0.0.1:port, 2 devices each."""
    port = port or free_port()
    return [subprocess.Popen([sys.executable, "-c", CODE, *map(str, args), "--coordinator", f"127.0.0.1:{port}",
                              "--num-processes", str(n), "--process-id", str(i), "--peer-timeout", str(PEER_TIMEOUT),
                              *extra], env=_env(2), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(n)]


def _wait(procs, timeout=300):
    out = []
    for p in procs:
        try:
            so, se = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        out.append((p.returncode, so, se))
    return out


def _errors(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("error:")]


def _metrics(run_dir):
    """metrics.jsonl without wall_s (wall-clock time is the one field that may differ)."""
    rows = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


def _header(path):
    data = path.read_bytes()
    return json.loads(data[8:8 + int.from_bytes(data[:8], "little")])["__metadata__"]


def _wait_for_rows(run_dir, rows, procs, timeout=300):
    deadline = time.time() + timeout
    metrics = run_dir / "metrics.jsonl"
    while time.time() < deadline and all(p.poll() is None for p in procs):
        if metrics.exists() and len(metrics.read_text().splitlines()) >= rows:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {rows} metrics rows: {[p.poll() for p in procs]}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same tiny run, into the same --out (its path is part of the provenance), by one
    process with 4 devices (``one``) and by 2 processes with 2 devices each (``two``)."""
    base = tmp_path_factory.mktemp("distributed")
    cfg = base / "tiny.toml"
    cfg.write_text(TINY_CONFIG.format(method="r", size=4, generations=GENERATIONS))
    out = base / "out"
    one = subprocess.run([sys.executable, "-c", CODE, "run", "--config", str(cfg), "--out", str(out), "--no-progress"],
                         env=_env(4), capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr
    out.rename(base / "one")
    t0 = time.time()
    results = _wait(_launch(["run", "--config", cfg, "--out", out, "--no-progress"]))
    for rc, _, se in results:
        assert rc == 0, se
    (rc0, so0, _), (rc1, so1, _) = results
    assert "done:" in so0 and so1 == ""  # process 0 reports; the other writes nothing
    out.rename(base / "two")
    return {"base": base, "config": cfg, "out": out, "two_s": time.time() - t0}


def test_two_processes_match_one_process_with_as_many_devices(runs):
    """Bit-identical metrics and headers; the ES tensors within 1e-6 (measured: 1 ulp).

    Why not bit-identical: the ES update (``tell``'s population-weighted noise sum) and the
    fitness mean are partial sums per device joined by an all-reduce. In one process XLA's
    CPU all-reduce adds the 4 partials in its own order, across processes gloo adds them in
    another; float addition is not associative, so the last bit may differ. The fitnesses are
    all-gathered (no arithmetic) and come out identical.
    """
    one, two = runs["base"] / "one", runs["base"] / "two"
    assert _metrics(two) == _metrics(one)
    assert len(_metrics(two)) == GENERATIONS
    for name in ("mean.safetensors", "best.safetensors", "checkpoint.safetensors"):
        a, b = load_file(one / name), load_file(two / name)
        assert a.keys() == b.keys()
        for k in a:
            assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape
            np.testing.assert_allclose(b[k], a[k], rtol=0, atol=1e-6, err_msg=f"{name}:{k}")
    # the recorded command drops the per-process launch options, so the provenance is the same
    ha, hb = _header(one / "mean.safetensors"), _header(two / "mean.safetensors")
    assert {k: v for k, v in ha.items() if k != "sha256"} == {k: v for k, v in hb.items() if k != "sha256"}
    assert "--coordinator" not in (two / "command.txt").read_text()


def test_killed_process_ends_the_others_then_resume_reproduces_the_run(runs):
    """kill -9 process 1 after generation 1: process 0 ends within 60 s with one error line
    naming the fix; resume; kill -9 process 0 (the coordinator) after generation 2: process 1
    ends within 60 s; resume again: the run ends bit-identical to the uninterrupted one."""
    cfg, out, ref = runs["config"], runs["out"], runs["base"] / "two"
    procs = _launch(["run", "--config", cfg, "--out", out, "--no-progress"])
    _wait_for_rows(out, 1, procs)
    procs[1].send_signal(signal.SIGKILL)
    t = time.time()
    (rc, _, err), _ = _wait(procs, timeout=60)
    assert time.time() - t < 60
    assert rc == 1 and len(_errors(err)) == 1, err
    line = _errors(err)[0]
    assert "killed or crashed" in line and f"distill resume {out}" in line, line

    procs = _launch(["resume", out, "--no-progress"])
    _wait_for_rows(out, 2, procs)
    procs[0].send_signal(signal.SIGKILL)
    t = time.time()
    _, (rc, _, err) = _wait(procs, timeout=60)
    assert time.time() - t < 60
    # When the coordinator dies, JAX's own client may abort the survivor first (its C++ check
    # "another task died", exit 134), racing our line; either way it ends, and says why.
    assert rc != 0 and (_errors(err) or "another task died" in err), err

    results = _wait(_launch(["resume", out, "--no-progress"]))
    for rc, _, se in results:
        assert rc == 0, se
    assert _metrics(out) == _metrics(ref)
    for name in ("mean.safetensors", "best.safetensors"):
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name
    a, b = load_file(out / "checkpoint.safetensors"), load_file(ref / "checkpoint.safetensors")
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_bad_launches_end_in_one_line(tmp_path):
    """A coordinator nobody serves, a population the global mesh cannot split, missing options:
    one ``error:`` line each, exit 2, within a bound."""
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY_CONFIG.format(method="r", size=4, generations=1))
    run = ["run", "--config", cfg, "--no-progress"]
    t = time.time()
    lone = subprocess.Popen([sys.executable, "-c", CODE, *map(str, run), "--out", str(tmp_path / "lone"),
                             "--coordinator", f"127.0.0.1:{free_port()}", "--num-processes", "2", "--process-id", "1",
                             "--join-timeout", "5"], env=_env(2), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    odd = _launch([*run, "--out", tmp_path / "odd", "--popsize", "6"])
    missing = subprocess.run([sys.executable, "-c", CODE, *map(str, run), "--out", str(tmp_path / "m"),
                              "--coordinator", "127.0.0.1:1234"], env=_env(2), capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and _errors(missing.stderr) == missing.stderr.strip().splitlines(), missing.stderr
    assert "--num-processes" in missing.stderr and "--process-id" in missing.stderr

    (rc, _, err), = _wait([lone], timeout=120)
    assert time.time() - t < 120
    assert rc == 2 and len(_errors(err)) == 1, err
    assert "nothing answered at the coordinator 127.0.0.1:" in err and "within 5 s" in err
    assert not (tmp_path / "lone").exists()

    for rc, _, err in _wait(odd, timeout=300):
        assert rc == 2 and len(_errors(err)) == 1, err
        assert "popsize 6 must be a multiple of the 4 devices of the 2 processes" in err
    assert not (tmp_path / "odd").exists()


def test_local_processes_start_and_join_their_own(runs, tmp_path):
    """``--local-processes 2`` is the 2-process launch above, started by process 0 itself on
    127.0.0.1: the very same metrics and tensors, one ``done:`` line, the same recorded command.
    With a bad config every process fails and one line is printed; with explicit launch options
    nothing starts."""
    out = runs["out"]
    if out.exists():  # the kill-and-resume test's run: the same --out keeps the provenance comparable
        out.rename(tmp_path / "resumed")
    done = subprocess.run([sys.executable, "-c", CODE, "run", "--config", str(runs["config"]), "--out", str(out),
                           "--no-progress", "--local-processes", "2", "--peer-timeout", str(PEER_TIMEOUT)],
                          env=_env(2), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("done:") == 1
    local, two = tmp_path / "local", runs["base"] / "two"
    out.rename(local)
    assert _metrics(local) == _metrics(two)
    for name in ("mean.safetensors", "best.safetensors", "checkpoint.safetensors"):
        a, b = load_file(two / name), load_file(local / name)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a), name
    assert (local / "command.txt").read_text() == (two / "command.txt").read_text()
    assert "--local-processes" not in (local / "command.txt").read_text()

    odd = subprocess.run([sys.executable, "-c", CODE, "run", "--config", str(runs["config"]), "--out",
                          str(tmp_path / "odd"), "--no-progress", "--local-processes", "2", "--popsize", "6"],
                         env=_env(2), capture_output=True, text=True, timeout=300)
    assert odd.returncode == 2 and _errors(odd.stderr) == [ln for ln in odd.stderr.splitlines() if ln.strip()
                                                             and not ln.startswith("[Gloo]")][-1:], odd.stderr
    assert len(_errors(odd.stderr)) == 1 and "popsize 6 must be a multiple of the 4 devices" in odd.stderr
    assert not (tmp_path / "odd").exists()

    both = subprocess.run([sys.executable, "-c", CODE, "run", "--config", str(runs["config"]), "--out",
                           str(tmp_path / "both"), "--local-processes", "2", "--coordinator", "127.0.0.1:1234"],
                          env=_env(2), capture_output=True, text=True, timeout=120)
    assert both.returncode == 2 and _errors(both.stderr) == both.stderr.strip().splitlines(), both.stderr
    assert "--local-processes starts and joins its own processes" in both.stderr
    assert not (tmp_path / "both").exists()


BRAX_MODEL_PROBE = """
import sys
import jax
from distill.distributed import join
session = join(sys.argv[1], 2, int(sys.argv[2]))
from hades_zoo import envs
env = envs.make("hopper")
leaves = [x for x in jax.tree.leaves(env.upstream.unwrapped.sys) if isinstance(x, jax.Array)]
print(len(leaves), sum(not x.is_fully_addressable for x in leaves), flush=True)
session.finish()
"""


def test_brax_model_lives_on_each_process_own_device():
    """MJX puts brax's model on ``jax.devices()[0]``, process 0's device: process 1 could not
    trace a brax env at all (a hopper run over 2 processes failed). Each process builds it on
    its own device: no leaf of the model may be out of reach."""
    port = free_port()
    procs = [subprocess.Popen([sys.executable, "-c", BRAX_MODEL_PROBE, f"127.0.0.1:{port}", str(i)], env=_env(1),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    for rc, out, err in _wait(procs, timeout=300):
        assert rc == 0, err[-2000:]
        leaves, unreachable = map(int, out.split())
        assert leaves > 10 and unreachable == 0
