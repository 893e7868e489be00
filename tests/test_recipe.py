"""hades_zoo.recipe: the one home of recipes, protocols and observation normalisation."""

import ast
import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hades_zoo import envs
from hades_zoo.errors import ConfigError, IncompatibleDatasetError
from hades_zoo.recipe import (PROTOCOLS, ObsNorm, Recipe, default_recipe, get_protocol, joint_recipe, paper_protocol,
                              resets_unneeded)


def test_recipe_module_imports_no_jax():
    """recipe.py and the modules it imports stay free of jax (the package's __init__ does not)."""
    todo, seen = ["hades_zoo.recipe"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        tree = ast.parse(Path(importlib.util.find_spec(name).origin).read_text())
        for node in ast.walk(tree):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [f"hades_zoo.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom) and node.module == "hades_zoo" \
                else [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            for m in mods:
                assert m.split(".")[0] not in ("jax", "flax", "optax"), f"{name} imports {m}"
                if m.startswith("hades_zoo.") and m != "hades_zoo":
                    todo.append(m)
    assert seen >= {"hades_zoo.recipe", "hades_zoo.bounds", "hades_zoo.errors"}


def test_paper_protocol_per_family():
    assert paper_protocol(envs.get_spec("hopper")).name == "paper-brax"
    assert paper_protocol(envs.get_spec("Breakout-MinAtar")).name == "paper-minatar"
    assert paper_protocol(envs.get_spec("Pong-misc")).name == "paper-minatar"
    assert paper_protocol(envs.get_spec("CartPole-v1")).name == "paper-classic"
    assert get_protocol("paper", envs.get_spec("hopper")) is paper_protocol(envs.get_spec("hopper"))
    with pytest.raises(ConfigError, match="unknown protocol"):
        get_protocol("nope", envs.get_spec("hopper"))


def test_resets_unneeded_only_for_first_episode_scores_without_running_norm():
    """The one rule behind ``make_evaluate(..., reset=False)`` and ``fitness_reset = false``."""
    table = {(p.metric, kind): resets_unneeded(p, kind) for p in PROTOCOLS.values() for kind in ("running", "const", "none")}
    assert {k for k, ok in table.items() if ok} == {("first_episode", "const"), ("first_episode", "none")}


def test_default_and_joint_recipe():
    assert default_recipe(envs.get_spec("hopper")).epochs == 200
    assert default_recipe(envs.get_spec("walker2d")).epochs == 400
    assert default_recipe(envs.get_spec("CartPole-v1")).loss == "xent"
    joint = joint_recipe([Recipe("mlp-2x64-tanh", 0.01, 100, 1.0), Recipe("mlp-2x512-tanh", 0.005, 400, 0.5)])
    assert (joint.arch, joint.lr, joint.epochs, joint.grad_clip) == ("mlp-2x512-tanh", 0.005, 400, 0.5)


def _reference_running(batches):
    """The running statistics over every observation seen so far, with the prior (0, 1, 1e-4)."""
    count, mean, m2 = 1e-4, np.zeros(batches[0].shape[1]), np.ones(batches[0].shape[1]) * 1e-4
    for b in batches:
        for x in b:  # one at a time (Welford): the batch merge must agree
            count += 1
            delta = x - mean
            mean = mean + delta / count
            m2 = m2 + delta * (x - mean)
    return mean, m2 / count


def test_running_update_merges_whole_batches_numpy_and_jit():
    rng = np.random.default_rng(0)
    batches = [rng.normal(2.0, 3.0, size=(8, 3)).astype(np.float32) for _ in range(5)]
    norm = ObsNorm("running")
    state = norm.init_state(3)
    for b in batches:
        state = norm.update(state, b)
    mean, var = _reference_running(batches)
    np.testing.assert_allclose(state.mean, mean, rtol=1e-4)
    np.testing.assert_allclose(state.var, var, rtol=1e-3)
    assert float(state.count) == pytest.approx(40 + 1e-4)

    @jax.jit
    def run(xs):
        def _step(s, b):
            s = norm.update(s, b)
            return s, norm.normalize(b, s)
        return jax.lax.scan(_step, norm.init_state(3), xs)

    jstate, normed = run(jnp.asarray(np.stack(batches)))
    np.testing.assert_allclose(np.asarray(jstate.mean), state.mean, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(normed[-1]), norm.normalize(batches[-1], state), rtol=1e-5, atol=1e-6)


def test_const_and_none_and_inverse():
    mean, var = np.full((2, 2), 1.0, np.float32), np.full((2, 2), 4.0, np.float32)
    x = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    const = ObsNorm("const")
    s = const.init_state((2, 2), mean, var)
    np.testing.assert_allclose(const.normalize(x, s), (x - 1.0) / np.sqrt(4.0 + 1e-8), rtol=1e-6)
    np.testing.assert_allclose(const.denormalize(const.normalize(x, s), s), x, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(jax.jit(const.normalize)(x, s)), const.normalize(x, s))
    assert ObsNorm("none").normalize(x, ObsNorm("none").init_state(2)) is x
    with pytest.raises(ConfigError, match="unknown observation normalisation"):
        ObsNorm("sometimes")
    with pytest.raises(ConfigError, match="needs obs_mean"):
        const.init_state(4)


def test_dataset_reads_back_stored_eps(tmp_path, cartpole_dataset):
    ds = cartpole_dataset.replace(obs_norm=ObsNorm("const", 1e-3), obs_mean=np.zeros(4, np.float32),
                                  obs_var=np.ones(4, np.float32))
    assert ds.obs_norm == "const" and ds.norm == ObsNorm("const", 1e-3)
    ds.save(tmp_path / "d.safetensors")
    again = type(ds).load(tmp_path / "d.safetensors")
    assert again.norm.eps == 1e-3 and again.metadata["obs_norm"] == {"kind": "const", "eps": 1e-3}
    np.testing.assert_allclose(again.norm.normalize(np.ones(4, np.float32), again.norm_state()), 1 / np.sqrt(1 + 1e-3))
    with pytest.raises(IncompatibleDatasetError, match="unknown observation normalisation"):
        cartpole_dataset.replace(obs_norm="sometimes")


def test_schema_id_keys_match_the_task_registry():
    from hades_zoo import schema
    from hades_zoo.tasks import TASKS

    assert schema.ID_KEYS == {kind: task.id_key for kind, task in TASKS.items()}
