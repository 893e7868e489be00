"""Converting the authors' pickles: layout, recipe, init, normalisation stats."""

import shutil

import numpy as np
import pytest

from conftest import LEGACY, SHARED, needs_shared
from hades_zoo.errors import LegacyFormatError
from hades_zoo.legacy import convert

pytestmark = [needs_shared()]


def test_hopper_r_matches_export():
    ds = convert(LEGACY / "hopper-R-D64-seed0.pkl", "hopper", "r")
    ref = np.load(SHARED / "exports" / "hopper-R-D64-seed0.npz", allow_pickle=False)
    np.testing.assert_array_equal(ds.states, ref["states"])
    np.testing.assert_array_equal(ds.actions, ref["actions"])
    assert ds.obs_norm == "running" and ds.recipe.epochs == 200 and ds.recipe.grad_clip == 0.5
    assert ds.recipe.arch == "mlp-2x512-tanh" and ds.recipe.init.mode == "random"
    assert ds.protocol.name == "paper-brax" and ds.name == "hopper-hades-r-64-local"  # an import never takes a zoo name
    assert ds.recorded_return["value"] == pytest.approx(1747.2749, abs=1e-3)
    assert ds.versions == {"brax": "0.9.x"}


def test_hopper_f_carries_fixed_init():
    ds = convert(LEGACY / "hopper-F-D64-seed0.pkl", "hopper", "f")
    assert ds.method == "hades-f"
    assert ds.recipe.init.to_dict() == {"mode": "fixed", "seed": 420, "threefry_partitionable": False}


def test_breakout_layout_and_const_norm():
    ds = convert(LEGACY / "Breakout-MinAtar-R-D16-seed0.pkl", "breakout-minatar", "r")
    ref = np.load(SHARED / "exports" / "Breakout-MinAtar-R-D16-seed0.npz", allow_pickle=False)
    assert ds.states.shape == (16, 10, 10, 4)
    np.testing.assert_array_equal(ds.states.reshape(16, -1), ref["states"])
    np.testing.assert_array_equal(ds.labels[:15].argmax(1), ref["labels"])
    assert ds.labels[15].sum() == 0  # the unlabelled 16th state
    assert ds.obs_norm == "const"
    np.testing.assert_array_equal(ds.obs_mean.reshape(-1), ref["obs_mean"])
    assert ds.recipe.grad_clip is None and ds.recipe.epochs == 64 and ds.protocol.name == "paper-minatar"


def test_normalize_params_mismatch_is_an_error(tmp_path):
    shutil.copy(LEGACY / "Breakout-MinAtar-R-D16-seed0.pkl", tmp_path / "b.pkl")
    (tmp_path / "normalize_params").mkdir()
    mean = np.load(LEGACY / "normalize_params" / "mean_Breakout-MinAtar.npy")
    np.save(tmp_path / "normalize_params" / "mean_Breakout-MinAtar.npy", mean + 1)
    shutil.copy(LEGACY / "normalize_params" / "var_Breakout-MinAtar.npy", tmp_path / "normalize_params")
    with pytest.raises(LegacyFormatError, match="differ from normalize_params"):
        convert(tmp_path / "b.pkl", "Breakout-MinAtar", "r")


def test_wrong_env_and_method():
    with pytest.raises(LegacyFormatError, match="distilled for hopper"):
        convert(LEGACY / "hopper-R-D64-seed0.pkl", "ant", "r")
    with pytest.raises(LegacyFormatError, match="HaDES-F run"):
        convert(LEGACY / "hopper-F-D64-seed0.pkl", "hopper", "r")
