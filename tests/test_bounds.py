"""Resource bounds (hades_zoo.bounds): what is refused before it reaches XLA, and what real runs still get."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pickle_asm as asm
from conftest import run_cli
from hades_zoo import bounds
from hades_zoo.errors import ConfigError, IncompatibleDatasetError, LegacyFormatError
from hades_zoo.policies import parse_arch

HUMANOID_OBS, HUMANOID_ACT = (244,), 17


@pytest.mark.parametrize("spec,obs_shape,out", [
    ("mlp-2x64-tanh", (4,), 2), ("mlp-0x8-relu", (3,), 1), ("mlp-3x5-relu", (7,), 3), ("resmlp-2x16-relu", (5,), 2),
    ("attn-2x8-gelu", (6,), 3), ("tfm-2x8-gelu", (6,), 3), ("tfm-1x8-relu", (10, 10, 4), 3), ("conv-4-relu", (10, 10, 4), 3), ("cnn-4x16-relu", (28, 28, 1), 10),
])
def test_parameter_count_is_exact(spec, obs_shape, out):
    """The closed form the bound uses equals the parameters ``init`` creates (every arch kind)."""
    net = parse_arch(spec, out, obs_shape)
    shapes = jax.eval_shape(net.init, jax.random.PRNGKey(0), jnp.zeros((math.prod(obs_shape),)))
    kind, rest = spec.split("-", 1)
    nums = [int(x) for x in rest.rsplit("-", 1)[0].split("x")]
    depth, width = (1, nums[0]) if kind == "conv" else nums
    from hades_zoo.policies import n_params

    assert n_params(kind, depth, width, obs_shape, out) == sum(math.prod(x.shape) for x in jax.tree.leaves(shapes))


def test_every_example_architecture_has_a_count():
    from hades_zoo.policies import ARCH_EXAMPLES

    for spec in ARCH_EXAMPLES:  # a new kind without a closed form fails here
        parse_arch(spec, 3, (10, 10, 4) if spec.split("-")[0] in ("conv", "cnn") else (8,))


@pytest.mark.parametrize("spec", ["mlp-2x2147483647-tanh", "resmlp-1x3037000500-tanh", "mlp-65x8-tanh",
                                  "attn-1x16388-gelu", pytest.param("mlp-2x" + "9" * 5000 + "-tanh", id="5000-digits"),
                                  "mlp-2x16384-tanh",
                                  "conv-99999-relu"])
def test_oversized_architectures_are_refused(spec):
    with pytest.raises(ConfigError, match="over the bound") as info:
        parse_arch(spec, HUMANOID_ACT, (10, 10, 4) if spec.startswith("conv") else HUMANOID_OBS)
    assert "\n" not in str(info.value) and len(str(info.value)) < 400


@pytest.mark.parametrize("spec", ["mlp-2x1024-tanh", "mlp-2x512-tanh", "mlp-4x4096-relu", "resmlp-8x1024-relu",
                                  "mlp-64x256-relu"])
def test_real_architectures_are_admitted(spec):
    parse_arch(spec, HUMANOID_ACT, HUMANOID_OBS)


def test_real_distillation_sizes_are_admitted():
    from distill.config import build_config

    cfg = build_config("humanoid", popsize=4096, size=256, generations=5000, recipe={"arch": "mlp-2x1024-tanh"})
    assert (cfg.popsize, cfg.size, cfg.generations) == (4096, 256, 5000)
    build_config(task="image-classification", dataset="mnist", size=100, popsize=1024)


@pytest.mark.parametrize("override,words", [
    ({"popsize": bounds.MAX_POPULATION + 2}, "popsize"), ({"size": 4.5}, "whole number"),
    ({"size": bounds.MAX_DATASET_PAIRS + 1}, "MAX_DATASET_PAIRS"), ({"generations": 10**9}, "MAX_GENERATIONS"),
    ({"seed": 2**70}, "MAX_SEED"), ({"popsize": 65536, "size": 4096}, "MAX_ES_NUMBERS"),
    ({"recipe": {"epochs": 2**31 - 1}}, "MAX_BC_STEPS"),
])
def test_oversized_distillation_configs_are_refused(override, words):
    from distill.config import build_config

    with pytest.raises(ConfigError, match=words):
        build_config("hopper", **override)


def test_train_arguments(cartpole_dataset):
    import hades_zoo

    for kwargs, words in [({"epochs": 1.5}, "whole number"), ({"epochs": 2**31 - 1}, "MAX_BC_STEPS"),
                          ({"seed": 2**70}, "MAX_SEED"), ({"seed": -1}, "MAX_SEED"), ({"num_seeds": 5000}, "MAX_NUM_SEEDS"),
                          ({"epochs": True}, "whole number")]:
        with pytest.raises(ConfigError, match=words):
            hades_zoo.train(cartpole_dataset, **kwargs)
    # plain BC: through the teacher (the default when epochs differ) the student trains 3x the steps
    trained = hades_zoo.train(cartpole_dataset, epochs=np.int64(2), seed=bounds.MAX_SEED, num_seeds=2, transfer="none")
    assert trained.recipe.epochs == 2 and trained.seeds[0] == bounds.MAX_SEED


def test_dataset_sizes_and_recipes_are_checked_on_construction(cartpole_dataset):
    with pytest.raises(IncompatibleDatasetError, match="over the bound"):
        cartpole_dataset.replace(recipe={**cartpole_dataset.recipe.to_dict(), "arch": "mlp-2x2147483647-tanh"})
    with pytest.raises(IncompatibleDatasetError, match="unknown architecture"):
        cartpole_dataset.replace(recipe={**cartpole_dataset.recipe.to_dict(), "arch": "mlp-2x64-tanh-x"})
    big = bounds.MAX_DATASET_PAIRS + 1
    with pytest.raises(IncompatibleDatasetError, match="MAX_DATASET_PAIRS"):
        cartpole_dataset.replace(states=np.zeros((big, 4), np.float32), labels=np.eye(2, dtype=np.float32)[np.arange(big) % 2])
    with pytest.raises(ConfigError, match="MAX_EVAL_STEPS"):
        cartpole_dataset.replace(protocol={**cartpole_dataset.protocol.to_dict(), "n_steps": 2**31 - 1})


@pytest.mark.parametrize("arch", ["mlp-2x2147483647-tanh", "resmlp-1x3037000500-tanh"])
def test_cli_train_refuses_huge_architectures(arch):
    """Today's XLA abort (exit 134) becomes one error line and exit 2, before any compilation."""
    r = run_cli("train", "cartpole-hades-r-4", "--arch", arch, "--seeds", "1", timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "over the bound" in lines[0], r.stderr


def test_cli_train_refuses_a_huge_seed():
    r = run_cli("train", "cartpole-hades-r-4", "--seed", str(2**70), "--seeds", "1", timeout=120)
    assert r.returncode == 2 and r.stderr.strip().startswith("error: seed") and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("config,words", [
    ({"WIDTH": 2**31 - 1}, "over the bound"), ({"ACTIVATION": "tanh-x"}, "unknown architecture"),
    ({"UPDATE_EPOCHS": 2**31 - 1}, "MAX_BC_STEPS"), ({"FFWD_LAYERS": 10**6}, "over the bound"),
    ({"LR": "fast"}, "unusable value"), ({"NUM_STEPS": 2**31 - 1}, "MAX_EVAL_STEPS"),
    ({"OVERFIT": True, "OVERFIT_SEED": [1, 2]}, "unusable value"),
])
def test_legacy_import_refuses_unusable_configs(tmp_path, config, words):
    """Checked when the pickle is imported, not found as a hang or an abort when training it."""
    path = tmp_path / "data_final.pkl"
    path.write_bytes(asm.cartpole_run(**config))
    from hades_zoo.legacy import convert

    method = "f" if config.get("OVERFIT") else "r"
    with pytest.raises(LegacyFormatError, match=words) as info:
        convert(path, "cartpole", method)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_legacy_import_cli_refuses_a_huge_width(tmp_path):
    path = tmp_path / "data_final.pkl"
    path.write_bytes(asm.cartpole_run())
    ok = run_cli("import-legacy", path, "--env", "cartpole", "--method", "r", "-o", tmp_path / "ok.safetensors", timeout=120)
    assert ok.returncode == 0, ok.stderr  # the crafted baseline converts: the refusal below is the width's
    path.write_bytes(asm.cartpole_run(WIDTH=2**31 - 1))
    r = run_cli("import-legacy", path, "--env", "cartpole", "--method", "r", "-o", tmp_path / "x.safetensors", timeout=120)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "over the bound" in r.stderr, r.stderr
    assert not (tmp_path / "x.safetensors").exists()
