"""Session fixtures of the hub tests (imported by conftest.py): real servers on 127.0.0.1.

- ``hub_server``: ``tests/hub_server.py`` started as its own process (reads and writes, the
  ``huggingface_hub`` + ``datasets`` API subset), repos as git repos under a temp dir.
- ``olah``: the ``olah`` hub mirror (PyPI) serving those same git repos read-only from its
  ``mirrors-path``. It pins dependencies that clash with ours, so it lives in its own venv,
  created on first use under ``~/.cache/hades-zoo-tests/olah-venv`` (``HADES_ZOO_OLAH_VENV``)
  and reused; the olah tests skip, saying why, only if pip cannot install it.
- ``published``: a real tiny distillation run (CartPole, 3 pairs, in this process) published
  with the real ``distill publish`` CLI to the test hub: the repo the round-trip tests read.
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HUB_TOKEN = "hf_dummy_token_for_tests"  # the token conftest's autouse fixture sets
HUB_ORG = "testorg"
OLAH_SPEC = "olah>=0.5.4,<0.6"
OLAH_VENV = Path(os.environ.get("HADES_ZOO_OLAH_VENV") or Path.home() / ".cache" / "hades-zoo-tests" / "olah-venv")
JAX_CACHE = Path(os.environ.get("PYTEST_JAX_CACHE", REPO / ".pytest_cache" / "jax"))

# a CartPole distillation that runs in seconds (test_distill formats method/generations/size)
TINY_CONFIG = """
env = "CartPole-v1"
method = "{method}"
size = {size}
generations = {generations}
popsize = 8
sigma = 0.5
rollouts = 2
chunk = 1
norm_envs = 2
norm_steps = 20
eval_seeds = 2

[recipe]
arch = "mlp-1x16-tanh"
epochs = 20

[fitness_protocol]
n_envs = 2
n_steps = 100
"""
TINY_RUN = TINY_CONFIG.format(method="r", size=3, generations=2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclasses.dataclass(frozen=True)
class HubServer:
    url: str
    root: Path  # ROOT/datasets/{org}/{name} bare git repos
    log: Path


def start_hub_server(root: Path, log: Path, tokens=(HUB_TOKEN,), *extra: str) -> tuple[subprocess.Popen, str]:
    """``python tests/hub_server.py --root ROOT --port 0 [EXTRA]``; returns (process, url) once it serves."""
    args = [sys.executable, str(REPO / "tests" / "hub_server.py"), "--root", str(root), "--port", "0", *extra]
    for t in tokens:
        args += ["--token", t]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(log, "ab"), text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("serving "):
        stop(proc)
        raise RuntimeError(f"tests/hub_server.py did not start: {line!r}; see {log}")
    return proc, line.split()[1]


@pytest.fixture(scope="session")
def hub_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("hub")
    proc, url = start_hub_server(base / "repos", base / "server.log")
    try:
        yield HubServer(url, base / "repos", base / "server.log")
    finally:
        stop(proc)


def olah_executable() -> Path:
    """olah-cli from its own venv, created once (lock: concurrent sessions wait) and reused."""
    from filelock import FileLock

    exe = OLAH_VENV / "bin" / "olah-cli"
    OLAH_VENV.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(OLAH_VENV) + ".lock", timeout=900):
        probe = [str(OLAH_VENV / "bin" / "python"), "-c", "import olah.server"]
        if exe.is_file() and subprocess.run(probe, capture_output=True).returncode == 0:
            return exe
        steps = [("python -m venv", [sys.executable, "-m", "venv", "--clear", str(OLAH_VENV)]),
                 (f"pip install '{OLAH_SPEC}'", [str(OLAH_VENV / "bin" / "python"), "-m", "pip", "install", "-q",
                                                 "--disable-pip-version-check", OLAH_SPEC])]
        for what, cmd in steps:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
                pytest.skip(f"olah could not be installed into {OLAH_VENV} ({what}: {tail[0]})")
    return exe


@pytest.fixture(scope="session")
def olah(hub_server, tmp_path_factory):
    """URL of an olah mirror (offline mode) serving the test hub's git repos read-only."""
    exe = olah_executable()
    base = tmp_path_factory.mktemp("olah")
    port = free_port()
    (base / "olah.toml").write_text(
        f'[basic]\nhost = "127.0.0.1"\nport = {port}\nrepos-path = "{base / "cache"}"\n'
        f'mirrors-path = ["{hub_server.root}"]\nmirror-scheme = "http"\nmirror-netloc = "127.0.0.1:{port}"\n'
        f'mirror-lfs-netloc = "127.0.0.1:{port}"\n\n[accessibility]\noffline = true\n')
    log = open(base / "olah.out", "ab")
    proc = subprocess.Popen([str(exe), "-c", str(base / "olah.toml"), "--log-path", str(base / "logs")], cwd=base,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:  # any HTTP answer means it serves (olah 0.5.4's own index page answers 500)
                urllib.request.urlopen(url + "/api/whoami-v2", timeout=2).read()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"olah did not start; see {base / 'olah.out'}") from None
                time.sleep(0.3)
        yield url
    finally:
        stop(proc)


@dataclasses.dataclass(frozen=True)
class Published:
    repo_id: str
    revision: str
    name: str
    run_dir: Path
    result: dict  # `distill publish --json`
    home: Path  # HF_HOME of the publishing process

    @property
    def dataset_file(self) -> Path:
        return self.run_dir / "mean.safetensors"


def cli_env(hub: HubServer, home: Path, **extra) -> dict:
    env = {**os.environ, "HF_HOME": str(home), "HF_ENDPOINT": hub.url, "HF_TOKEN": HUB_TOKEN,
           "HADES_ZOO_HUB_ORG": HUB_ORG, "HF_HUB_DISABLE_TELEMETRY": "1", "HADES_ZOO_JAX_CACHE": str(JAX_CACHE)}
    env.pop("HF_HUB_OFFLINE", None)
    return {**env, **extra}


def run_module(module: str, *args, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    code = f"import sys; from {module} import main; sys.argv[0] = {module.split('.')[0]!r}; main()"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=timeout)


@pytest.fixture(scope="session")
def published(hub_server, tmp_path_factory):
    """A tiny real distillation run, published by `distill publish RUN_DIR` with the default
    repo id ($HADES_ZOO_HUB_ORG/<name>) as v1, 2 seeds, its own arch plus mlp-1x8-relu."""
    from hades_zoo._runtime import enable_compilation_cache

    with pytest.MonkeyPatch.context() as mp:  # in-process evaluations reuse the CLI's compiles
        mp.setenv("HADES_ZOO_JAX_CACHE", str(JAX_CACHE))
        enable_compilation_cache()
    base = tmp_path_factory.mktemp("published")
    env = cli_env(hub_server, base / "hf_home")
    (base / "tiny.toml").write_text(TINY_RUN)
    from distill.config import build_config
    from distill.runner import run

    run(build_config(None, str(base / "tiny.toml")), base / "run", progress=False,
        command=f"distill run --config {base / 'tiny.toml'} --out {base / 'run'}")
    proc = run_module("distill.cli", "publish", base / "run", "--revision", "v1", "--seeds", 2,
                      "--archs", "own,mlp-1x8-relu", "--json", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert HUB_TOKEN not in proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    return Published(result["repo_id"], result["revision"], "cartpole-hades-r-3", base / "run", result, base / "hf_home")


__all__ = ["hub_server", "olah", "published", "HubServer", "Published", "start_hub_server", "cli_env", "run_module",
           "free_port", "stop", "HUB_TOKEN", "HUB_ORG"]


@pytest.fixture
def on_hub(hub_server, monkeypatch):
    """The client pointed at the session's write server, with our test org."""
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    monkeypatch.setenv("HADES_ZOO_HUB_ORG", HUB_ORG)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return hub_server
