"""HaDES-R datasets train other architectures: four of them, one non-MLP, on the
authors' hopper dataset, each reaching >= 90 % of the dataset's own recipe (the README measures
95-100 %: mlp-3x256-tanh 1697 is the lowest, against 1782 for the own mlp-2x512-tanh)."""

import numpy as np
import pytest

import hades_zoo
from conftest import LEGACY, needs_shared

pytestmark = [needs_shared()]

ARCHS = ["mlp-2x256-tanh", "mlp-3x256-tanh", "resmlp-1x512-tanh", "mlp-2x1024-tanh"]


@pytest.fixture(scope="module")
def hopper_r():
    from hades_zoo.legacy import convert

    return convert(LEGACY / "hopper-R-D64-seed0.pkl", "hopper", "r")


@pytest.fixture(scope="module")
def default_return(hopper_r):
    return hades_zoo.evaluate(hades_zoo.train(hopper_r, num_seeds=4)).mean


@pytest.mark.parametrize("arch", ARCHS)
def test_architecture_reaches_90_percent(hopper_r, default_return, arch):
    res = hades_zoo.evaluate(hades_zoo.train(hopper_r, arch, num_seeds=4, transfer="none"))
    assert np.isfinite(res.mean)
    assert res.mean >= 0.9 * default_return, (arch, res, default_return)
