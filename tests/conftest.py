import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hub_fixtures import hub_server, olah, on_hub, published  # noqa: F401  (fixtures of the hub tests)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "reference"
LEGACY = SHARED / "legacy"

# One JAX compilation cache for the whole test session: CLI subprocesses reuse compiles.
_JAX_CACHE = Path(os.environ.get("PYTEST_JAX_CACHE", REPO / ".pytest_cache" / "jax"))


def needs_shared():
    return pytest.mark.skipif(not LEGACY.is_dir(), reason="../shared/reference/legacy is absent")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_TOKEN", "hf_dummy_token_for_tests")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HADES_ZOO_JAX_CACHE", str(_JAX_CACHE))
    monkeypatch.setenv("HADES_ZOO_QUIET", "1")  # no phase lines: error tests read stderr's one line (test_cli checks phases)


def run_cli(*args, prog="hades_zoo.cli", timeout=600):
    """Run a CLI in a fresh process; returns CompletedProcess (text)."""
    code = f"import sys; from {prog} import main; sys.argv[0] = {prog.split('.')[0]!r}; main()"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=os.environ.copy())


@pytest.fixture
def cartpole_dataset():
    """A tiny hand-made CartPole dataset: push towards the side the pole leans to."""
    from hades_zoo import SyntheticDataset

    states = np.array([[0, 0, 0.1, 0.5], [0, 0, -0.1, -0.5], [0, 0, 0.05, 1.0], [0, 0, -0.05, -1.0]], np.float32)
    labels = np.array([[0, 1], [1, 0], [0, 1], [1, 0]], np.float32)
    return SyntheticDataset(states=states, labels=labels, env_id="CartPole-v1", method="hades-r",
                            protocol={"name": "tiny", "n_envs": 2, "n_steps": 200, "sample_actions": False,
                                      "metric": "first_episode"})


def pytest_addoption(parser):
    parser.addoption("--all", action="store_true", default=False, help="widen env matrices to every env")
