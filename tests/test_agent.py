"""``TrainedPolicy.act`` driven by hand reproduces ``evaluate`` (const, running and no normalisation).

The authors' hopper file (running normalisation, paper-brax) is checked by ``python tools/check_act.py``."""

import importlib.util
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hades_zoo
from hades_zoo import SyntheticDataset, envs
from hades_zoo.errors import StatefulPolicyError

from conftest import REPO


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hand_loop = _tool("check_act").hand_loop  # the user's loop, shared with the hopper check

TINY_SAMPLED = {"name": "tiny-sampled", "n_envs": 2, "n_steps": None, "sample_actions": True, "metric": "first_episode"}
TINY_GREEDY = {"name": "tiny", "n_envs": 2, "n_steps": 150, "sample_actions": False, "metric": "completed_mean"}


def _pendulum(obs_norm: str) -> SyntheticDataset:
    rng = np.random.default_rng(0)
    states = rng.normal(size=(8, 3)).astype(np.float32)
    actions = np.tanh(-2.0 * states[:, 2:3]).astype(np.float32)  # push against the angular velocity
    stats = {"obs_mean": np.array([0.5, 0.0, 0.1], np.float32), "obs_var": np.array([0.3, 0.5, 4.0], np.float32)}
    return SyntheticDataset(states=states, actions=actions, env_id="Pendulum-v1", obs_norm=obs_norm,
                            protocol=TINY_SAMPLED, recipe={"arch": "mlp-1x16-tanh", "lr": 0.01, "epochs": 20},
                            name=f"pendulum-{obs_norm}", **(stats if obs_norm == "const" else {}))


@pytest.mark.parametrize("make", [lambda: _pendulum("running"), lambda: _pendulum("const"), "cartpole"],
                         ids=["running", "const", "none"])
def test_hand_loop_matches_evaluate(make, cartpole_dataset):
    ds = cartpole_dataset.replace(protocol=TINY_GREEDY) if make == "cartpole" else make()
    assert ds.obs_norm == ("none" if make == "cartpole" else ds.name.split("-")[1])
    trained = hades_zoo.train(ds, num_seeds=2)
    result = hades_zoo.evaluate(trained, seed=3)
    keys = jax.random.split(jax.random.PRNGKey(3), 2)
    by_hand = [hand_loop(trained, i, keys[i], ds.protocol) for i in range(2)]
    np.testing.assert_allclose(by_hand, result.returns, rtol=1e-3, atol=1e-2)


def test_running_policy_needs_its_state_and_freezes():
    trained = hades_zoo.train(_pendulum("running"), num_seeds=2)
    obs = np.array([1.0, 0.0, 0.5], np.float32)
    with pytest.raises(StatefulPolicyError, match=r"reset_state\(\).*freeze\(\)") as err:
        trained.act(obs)
    assert "\n" not in str(err.value)
    # single observation and batch: the state follows what it was given
    state = trained.reset_state()
    a1, s1 = trained.act(obs, state)
    a2, s2 = trained.act(np.stack([obs, -obs]), state)
    assert a1.shape == (1,) and a2.shape == (2, 1)
    assert float(s1.count) == pytest.approx(1 + 1e-4) and float(s2.count) == pytest.approx(2 + 1e-4)
    np.testing.assert_allclose(s2.mean, 0.0, atol=1e-6)
    # under jit, equal to the eager call
    a3, s3 = jax.jit(lambda o, s: trained.act(o, s))(obs, state)
    np.testing.assert_allclose(a3, a1, rtol=1e-6)
    # frozen: the statistics of each seed's evaluation, stateless, and as plain numpy
    frozen = trained.freeze(seed=0)
    assert frozen.frozen == {"protocol": "tiny-sampled", "seed": 0} and frozen.norm.kind == "const"
    assert frozen.norm_state.mean.shape == (2, 3) and np.all(frozen.norm_state.count > 100)
    a4 = frozen.act(obs, index=1)
    np.testing.assert_allclose(frozen.as_numpy(1)(obs), np.clip(a4, -1, 1) * 2.0, rtol=1e-5, atol=1e-6)
    assert abs(hades_zoo.evaluate(frozen).mean - hades_zoo.evaluate(trained).mean) < 400  # Pendulum: ~-1000 scale


def test_as_numpy_and_env_action(cartpole_dataset):
    trained = hades_zoo.train(cartpole_dataset, num_seeds=1)
    obs = np.array([[0, 0, 0.1, 0.5], [0, 0, -0.1, -0.5]], np.float32)
    np.testing.assert_array_equal(trained.as_numpy()(obs), np.asarray(trained.act(obs)))
    assert trained.to_env_action(jnp.array([1.0, 0.0])).dtype == jnp.int32
    assert repr(trained).startswith("TrainedPolicy(") and "\n" not in repr(trained)
    assert envs.to_env_action(trained.spec, jnp.array([1])).dtype == jnp.int32


SAVED_ACTIONS = """
import sys, numpy as np, hades_zoo
trained = hades_zoo.load_policy(sys.argv[1])
obs = np.load(sys.argv[2])
state = trained.reset_state(1)
action, state = trained.act(obs, state, index=1)
np.save(sys.argv[3], np.asarray(action))
"""


def test_saved_policy_acts_bit_identically_in_a_fresh_process(tmp_path):
    import subprocess
    import sys

    ds = _pendulum("running")
    trained = hades_zoo.train(ds, num_seeds=2)
    result = hades_zoo.evaluate(trained)
    path = tmp_path / "policy.safetensors"
    trained.save(path)
    obs = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    np.save(tmp_path / "obs.npy", obs)
    proc = subprocess.run([sys.executable, "-c", SAVED_ACTIONS, str(path), str(tmp_path / "obs.npy"), str(tmp_path / "a.npy")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    action, _ = trained.act(obs, trained.reset_state(1), index=1)
    assert np.load(tmp_path / "a.npy").tobytes() == np.asarray(action).tobytes()

    loaded = hades_zoo.load_policy(path)
    assert loaded.dataset is None and loaded.norm.kind == "running" and loaded.seeds == trained.seeds
    assert loaded.info["returns"]["returns"] == result.returns and loaded.info["dataset"]["name"] == "pendulum-running"
    assert len(loaded.info["dataset"]["sha256"]) == 64
    assert hades_zoo.evaluate(loaded).returns == result.returns  # acts without the dataset, same rollout
    # frozen statistics travel with the file; a dataset reader refuses a policy file with the fix
    frozen = trained.freeze()
    frozen.save(tmp_path / "frozen.safetensors")
    again = hades_zoo.load_policy(tmp_path / "frozen.safetensors")
    np.testing.assert_array_equal(again.act(obs, index=1), frozen.act(obs, index=1))
    with pytest.raises(hades_zoo.HadesZooError, match="load_policy"):
        hades_zoo.load(str(path))


def test_policy_file_integrity(tmp_path, cartpole_dataset):
    from hades_zoo.errors import CorruptDatasetError, IncompatibleDatasetError

    path = tmp_path / "p.safetensors"
    hades_zoo.train(cartpole_dataset).save(path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x55
    (tmp_path / "flipped.safetensors").write_bytes(bytes(data))
    with pytest.raises(CorruptDatasetError, match="sha256 mismatch"):
        hades_zoo.load_policy(tmp_path / "flipped.safetensors")
    cartpole_dataset.save(tmp_path / "ds.safetensors")
    with pytest.raises(IncompatibleDatasetError, match="not a policy file"):
        hades_zoo.load_policy(tmp_path / "ds.safetensors")


def _breakout(tmp_path):
    rng = np.random.default_rng(0)
    states = (rng.random((6, 10, 10, 4)) < 0.1).astype(np.float32)
    labels = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 6)]
    ds = SyntheticDataset(states=states, labels=labels, env_id="Breakout-MinAtar", name="breakout-tiny",
                          protocol={"name": "t", "n_envs": 1, "n_steps": 20, "sample_actions": True, "metric": "completed_mean"},
                          recipe={"arch": "mlp-1x16-relu", "lr": 0.01, "epochs": 10, "grad_clip": None, "loss": "xent"})
    path = tmp_path / "breakout.safetensors"
    ds.save(path)
    return path


def test_rollout_renders_a_gif_from_a_policy_file(tmp_path):
    from click.testing import CliRunner

    from hades_zoo.cli import cli

    policy = tmp_path / "policy.safetensors"
    runner = CliRunner()
    trained = runner.invoke(cli, ["train", str(_breakout(tmp_path)), "--seeds", 2, "--out", str(policy), "--quiet"])
    assert trained.exit_code == 0, trained.output
    gif = tmp_path / "run.gif"
    shown = runner.invoke(cli, ["rollout", str(policy), "--episodes", 1, "--render", str(gif), "--frames", 30,
                                "--index", 1, "--json", "--quiet"])
    assert shown.exit_code == 0, shown.output
    out = json.loads(shown.output)
    assert len(out["returns"]) == 1 and out["env"] == "Breakout-MinAtar"
    assert gif.stat().st_size > 1000 and gif.read_bytes()[:6] == b"GIF89a"
    bad = runner.invoke(cli, ["rollout", str(policy), "--index", 5])
    assert bad.exit_code != 0
    info = runner.invoke(cli, ["info", str(policy), "--json"])
    assert info.exit_code == 0, info.output
    meta = json.loads(info.output)
    assert meta["kind"] == "policy" and meta["policy"]["seeds"] == [0, 1] and meta["policy"]["dataset"]["name"] == "breakout-tiny"


def test_publish_puts_a_rollout_gif_on_the_card(tmp_path):
    from hades_zoo.hub import upload

    src = upload.Source.read(_breakout(tmp_path))
    evaluation = upload.evaluate_archs(src.dataset, ("own",), seeds=1)
    files = upload.build_files(src, evaluation, "testorg/breakout-tiny", "v1")
    assert files["figures/rollout.gif"][:6] == b"GIF89a"
    assert "(figures/rollout.gif)" in files["README.md"].decode()


@pytest.mark.slow
def test_authors_hopper_by_hand_matches_evaluate_and_deploys(capsys):
    """Issue 17's acceptance on the bundled authors' hopper HaDES-R D64 file (running normalisation,
    paper-brax): the hand loop within 5 % of evaluate, a single-env greedy episode >= 1500."""
    # 8 seeds: the hand loop's floats differ from the vmapped rollout's in the last bits, and hopper
    # is chaotic, so now and then one seed falls in one and not the other (2 seeds: 7 % apart once)
    assert _tool("check_act").main(["hopper-hades-r-64", "--seeds", "8", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["obs_norm"] == "running" and out["protocol"] == "paper-brax"
    assert out["hand_rel_diff"] < 0.05, out
    assert out["greedy_mean"] >= 1500, out


@pytest.mark.parametrize("make", [lambda: _pendulum("running"), "cartpole"], ids=["pendulum", "cartpole"])
def test_classic_control_renders_with_gymnasiums_renderer(make, cartpole_dataset, tmp_path):
    """Classic control draws through Gymnasium's own renderer from the gymnax state: the frames
    move with the env (the pendulum swings, the cart drifts) and the GIF decodes to them."""
    pytest.importorskip("pygame")
    import imageio.v3 as iio

    from hades_zoo import render

    ds = cartpole_dataset if make == "cartpole" else make()
    trained = hades_zoo.train(ds, seed=0, transfer="none")
    returns, kept = render.episodes(trained, 1, keep=40)
    assert len(returns) == 1 and len(kept) == 40
    assert render.can_gif(trained.spec)
    gif = render.write(trained, tmp_path / "run.gif", kept)
    frames = iio.imread(gif)
    assert frames.ndim == 4 and frames.shape[-1] == 3 and frames.shape[1] >= 300
    assert len({f.tobytes() for f in frames}) > 5, "the drawn frames do not follow the env"
    with pytest.raises(hades_zoo.errors.ConfigError, match="renders to .gif or .mp4"):
        render.write(trained, tmp_path / "run.html", kept)
