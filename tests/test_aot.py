"""Exported programs (hades_zoo.aot): a warm process reads the traced evaluation and BC back
from the cache and gets the very same numbers, bit for bit, as the program traced in place."""

from __future__ import annotations

import numpy as np

import hades_zoo
from hades_zoo import aot
from hades_zoo.recipe import Protocol

PROTOCOL = Protocol("tiny", 2, 40, True, "completed_mean")  # sampled actions: the PRNG path is checked too


def _run(ds):
    trained = hades_zoo.train(ds, "mlp-1x16-tanh", num_seeds=2, epochs=20, transfer="none")
    return trained, hades_zoo.evaluate(trained, protocol=PROTOCOL)


def test_exported_programs_match_traced_ones_bit_for_bit(cartpole_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("HADES_ZOO_JAX_CACHE", "off")
    traced, want = _run(cartpole_dataset)
    assert traced.timing["eval_export"] == "off" and traced.timing["bc_export"] == "off"

    monkeypatch.setenv("HADES_ZOO_JAX_CACHE", str(tmp_path))
    aot._LOADED.clear()
    first, written = _run(cartpole_dataset)
    assert first.timing["eval_export"] == "written" and first.timing["bc_export"] == "written"
    files = sorted(p.name.split("-")[0] for p in (tmp_path / aot.SUBDIR).iterdir())
    assert files == ["bc", "eval", "init"]

    aot._LOADED.clear()  # as a fresh process: the programs come from the files
    again, read = _run(cartpole_dataset)
    assert again.timing["eval_export"] == "read" and again.timing["env_s"] == 0.0
    for other in (first, again):
        for a, b in zip(np.asarray(traced.params["net"]["params"]["Dense_0"]["kernel"]),
                        np.asarray(other.params["net"]["params"]["Dense_0"]["kernel"])):
            assert np.array_equal(a, b)
    assert want.returns == written.returns == read.returns


def test_a_damaged_export_is_traced_again(cartpole_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("HADES_ZOO_JAX_CACHE", str(tmp_path))
    aot._LOADED.clear()
    _, want = _run(cartpole_dataset)
    for path in (tmp_path / aot.SUBDIR).iterdir():
        path.write_bytes(b"not an export")
    aot._LOADED.clear()
    trained, got = _run(cartpole_dataset)
    assert trained.timing["eval_export"] == "written" and got.returns == want.returns
