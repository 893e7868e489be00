"""Behaviour cloning and evaluation on tiny configs (seconds)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hades_zoo
from hades_zoo.errors import ConfigError, IncompatibleDatasetError
from hades_zoo.policies import make_policy
from hades_zoo.recipe import InitSpec, Recipe
from hades_zoo.bc import bc_loss, init_params, make_bc


def test_bc_lowers_the_loss_and_fits_the_labels(cartpole_dataset):
    trained = hades_zoo.train(cartpole_dataset, "mlp-1x32-relu", num_seeds=3)
    assert jax.tree.leaves(trained.params)[0].shape[0] == 3
    logits = jax.vmap(trained.policy, in_axes=(0, None))(trained.params, jnp.asarray(cartpole_dataset.states))
    np.testing.assert_array_equal(np.asarray(logits.argmax(-1)), np.tile(cartpole_dataset.labels.argmax(-1), (3, 1)))
    p0 = init_params(trained.policy, InitSpec(), [jax.random.PRNGKey(0)])
    before = bc_loss(trained.policy, jax.tree.map(lambda x: x[0], p0), cartpole_dataset.states, cartpole_dataset.labels)
    after = bc_loss(trained.policy, trained.params_of(0), cartpole_dataset.states, cartpole_dataset.labels)
    assert after < 0.5 * before


def test_seeds_differ_for_random_init_and_match_for_fixed():
    pol = make_policy("mlp-2x16-tanh", (11,), 3, False)
    keys = [jax.random.PRNGKey(i) for i in range(2)]
    rand = init_params(pol, InitSpec(), keys)
    fixed = init_params(pol, InitSpec("fixed", 420, False), keys)
    k = rand["net"]["params"]["Dense_0"]["kernel"]
    assert not np.allclose(k[0], k[1])
    f = fixed["net"]["params"]["Dense_0"]["kernel"]
    np.testing.assert_array_equal(f[0], f[1])


def test_same_seed_same_result(cartpole_dataset):
    a = hades_zoo.evaluate(hades_zoo.train(cartpole_dataset, "mlp-1x16-tanh", num_seeds=2, seed=5), seed=1)
    b = hades_zoo.evaluate(hades_zoo.train(cartpole_dataset, "mlp-1x16-tanh", num_seeds=2, seed=5), seed=1)
    assert a.returns == b.returns


def test_evaluate_repeats_is_the_mean_over_evaluation_seeds(cartpole_dataset):
    """``repeats=3``: the protocol under evaluation seeds 4, 5 and 6, each trained seed scored by the mean."""
    trained = hades_zoo.train(cartpole_dataset, "mlp-1x16-tanh", num_seeds=2, seed=5)
    runs = [hades_zoo.evaluate(trained, seed=s) for s in (4, 5, 6)]
    pooled = hades_zoo.evaluate(trained, seed=4, repeats=3)
    assert pooled.by_key == [r.returns for r in runs] and runs[0].by_key is None
    assert pooled.returns == pytest.approx(np.mean([r.returns for r in runs], axis=0).tolist())
    assert "mean of 3 evaluation seeds" in pooled.protocol
    assert hades_zoo.evaluate(trained, seed=4, repeats=1) == runs[0]


def test_hand_made_cartpole_dataset_balances(cartpole_dataset):
    res = hades_zoo.evaluate(hades_zoo.train(cartpole_dataset, "mlp-1x32-tanh", num_seeds=2, transfer="none"))
    assert len(res.returns) == 2 and res.protocol == "tiny"
    assert res.mean >= 150, res  # "push where the pole leans" balances far beyond random (~20)


class TinyResidual(nn.Module):
    """A user-supplied flax module: anything mapping obs -> logits works."""

    @nn.compact
    def __call__(self, x):
        h = nn.Dense(16)(x)
        return nn.Dense(2)(h + nn.tanh(nn.Dense(16)(h)))


def test_user_module_trains(cartpole_dataset):
    trained = hades_zoo.train(cartpole_dataset, TinyResidual(), num_seeds=2)
    assert trained.arch == "TinyResidual"
    assert np.isfinite(hades_zoo.evaluate(trained).mean)


@pytest.mark.parametrize("arch", ["resmlp-1x16-relu", "attn-1x8-gelu", "tfm-1x8-gelu", "mlp-3x8-elu"])
def test_arch_strings_build_and_train(arch, cartpole_dataset):
    trained = hades_zoo.train(cartpole_dataset, arch, epochs=5)
    out = trained.act(np.zeros(4, np.float32))
    assert out.shape == ()


def test_transformer_tokens_at_shape():
    """tfm: one token per observation dim (or per image cell) with a learned dimension
    embedding, plus one observation token (a projection of the whole observation), pre-norm
    blocks, a pooled head: outputs at shape for any batch, on CPU init (no LAPACK QR), the
    same outputs for the same key, and permuting the dims changes the output (the embedding
    tells them apart)."""
    from hades_zoo.policies import ObsTransformer, parse_arch

    net = parse_arch("tfm-2x16-gelu", 3, (5,))
    assert isinstance(net, ObsTransformer)
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((5,)))
    p = params["params"]
    assert p["embed"].shape == (5, 16) and p["value"].shape == (5, 16) and p["obs"]["kernel"].shape == (5, 16)
    x = jax.random.normal(jax.random.PRNGKey(1), (7, 5))
    out, seen = net.apply(params, x, capture_intermediates=lambda m, _: isinstance(m, nn.MultiHeadDotProductAttention))
    assert out.shape == (7, 3) and net.apply(params, x[0]).shape == (3,)
    attn = seen["intermediates"]["MultiHeadDotProductAttention_0"]["__call__"][0]
    assert attn.shape == (7, 6, 16)  # 5 dim tokens and the observation token
    again = net.init(jax.random.PRNGKey(0), jnp.zeros((5,)))
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), params, again))
    np.testing.assert_array_equal(net.apply(again, x), out)
    assert not np.allclose(out, net.apply(params, x[:, ::-1]))
    img = parse_arch("tfm-1x8-relu", 4, (6, 5, 2))  # MinAtar-like: one token per cell
    p_img = img.init(jax.random.PRNGKey(0), jnp.zeros((60,)))
    assert p_img["params"]["embed"].shape == (30, 8) and img.apply(p_img, jnp.ones((3, 60))).shape == (3, 4)


def test_tfm_variants_default_is_the_grid_transformer():
    """tools/tfm_variants.py screens variants of the transformer: its default ``Variant`` is
    the same network as ``tfm-{layers}x{width}-{act}`` (same parameters from the same key, same
    outputs), so its screen figures are the architecture string's."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "tools" / "tfm_variants.py"
    spec = importlib.util.spec_from_file_location("tfm_variants", path)
    tools = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tools)
    from hades_zoo.policies import parse_arch

    net, var = parse_arch("tfm-2x16-gelu", 3, (5,)), tools.Variant(16, 3, layers=2)
    a, b = net.init(jax.random.PRNGKey(0), jnp.zeros((5,))), var.init(jax.random.PRNGKey(0), jnp.zeros((5,)))
    assert jax.tree.structure(a) == jax.tree.structure(b)
    assert jax.tree.all(jax.tree.map(lambda u, v: bool(jnp.array_equal(u, v)), a, b))
    x = jax.random.normal(jax.random.PRNGKey(1), (7, 5))
    np.testing.assert_allclose(net.apply(a, x), var.apply(b, x), rtol=1e-6, atol=1e-6)
    assert not np.allclose(net.apply(a, x), tools.Variant(16, 3, layers=2, obs="none").apply(
        tools.Variant(16, 3, layers=2, obs="none").init(jax.random.PRNGKey(0), jnp.zeros((5,))), x))


@pytest.mark.parametrize("bad", ["mlp-2x", "cnn-3x3", "mlp-2x64-sigmoidx", 42])
def test_bad_arch_specs(bad, cartpole_dataset):
    with pytest.raises(ConfigError, match="architecture|model must be"):
        hades_zoo.train(cartpole_dataset, bad)


def test_bad_recipe_values():
    with pytest.raises(ConfigError):
        Recipe(lr=-1)
    with pytest.raises(ConfigError):
        Recipe(loss="mse")
    with pytest.raises(ConfigError, match="unknown recipe keys"):
        Recipe.from_dict({"lr": 0.1, "momentum": 0.9})


def test_wrong_environment_is_refused(cartpole_dataset):
    trained = hades_zoo.train(cartpole_dataset, "mlp-1x8-relu", epochs=2)
    with pytest.raises(IncompatibleDatasetError, match="cannot drive"):
        hades_zoo.evaluate(trained, "Acrobot-v1")


def test_bc_is_vmappable_over_a_population(cartpole_dataset):
    """The engine's use: one jit, vmapped over datasets *and* initialisations."""
    pol = make_policy("mlp-1x8-tanh", (4,), 2, True)
    bc = make_bc(pol, Recipe("mlp-1x8-tanh", 0.01, 10, None, "xent"))
    params = init_params(pol, InitSpec(), [jax.random.PRNGKey(i) for i in range(3)])
    states = jnp.stack([jnp.asarray(cartpole_dataset.states)] * 3)
    out = jax.jit(jax.vmap(bc))(params, states, jnp.stack([jnp.asarray(cartpole_dataset.labels)] * 3))
    assert jax.tree.leaves(out)[0].shape[0] == 3


@pytest.mark.parametrize("shape", [(11, 512), (64, 64), (64, 3)])
def test_orthogonal_init_matches_flax(shape):
    """Our LAPACK-free orthogonal init draws the same matrix as flax's (up to rounding),
    which is what keeps the authors' HaDES-F initialisation exact."""
    from hades_zoo.policies import orthogonal

    key = jax.random.PRNGKey(420)
    ours = orthogonal(2.0)(key, shape)
    np.testing.assert_allclose(ours, nn.initializers.orthogonal(2.0)(key, shape), atol=1e-5)
    q = np.asarray(ours) / 2.0
    small = min(shape)
    gram = q.T @ q if shape[0] >= shape[1] else q @ q.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-5)
