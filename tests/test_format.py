"""Dataset file format: round trip, self-verification and every kind of bad input."""

import json
import struct

import numpy as np
import pytest
from safetensors.numpy import save

from hades_zoo import SyntheticDataset
from hades_zoo import format as fmt
from hades_zoo.errors import CorruptDatasetError, IncompatibleDatasetError, UnknownDatasetError
from hades_zoo.sources import load


def _hopper(D=8, **kw):
    rng = np.random.default_rng(0)
    return SyntheticDataset(states=rng.normal(size=(D, 11)).astype(np.float32),
                            actions=rng.normal(size=(D, 3)).astype(np.float32), env_id="hopper", **kw)


def test_round_trip_keeps_tensors_and_metadata(tmp_path):
    ds = _hopper(obs_norm="running", recorded_return={"value": 1.5}, provenance={"seed": 3})
    ds.save(tmp_path / "d.safetensors")
    back = SyntheticDataset.load(tmp_path / "d.safetensors")
    np.testing.assert_array_equal(back.states, ds.states)
    np.testing.assert_array_equal(back.actions, ds.actions)
    assert back.metadata == ds.metadata
    assert back.recipe == ds.recipe and back.protocol == ds.protocol
    header = json.loads((tmp_path / "d.safetensors").read_bytes()[8:8 + struct.unpack("<Q", (tmp_path / "d.safetensors").read_bytes()[:8])[0]])
    meta = header["__metadata__"]
    assert meta["format"] == "hades-zoo/1" and meta["env_id"] == "hopper" and meta["size"] == "8"
    assert meta["sha256"] == fmt.payload_sha256(ds.tensors())


def test_discrete_with_const_norm_round_trip(tmp_path, cartpole_dataset):
    ds = cartpole_dataset.replace(obs_norm="const", obs_mean=np.zeros(4, np.float32), obs_var=np.ones(4, np.float32))
    ds.save(tmp_path / "c.safetensors")
    back = SyntheticDataset.load(tmp_path / "c.safetensors")
    np.testing.assert_array_equal(back.labels, ds.labels)
    np.testing.assert_array_equal(back.obs_var, ds.obs_var)


def test_truncated_file_is_reported(tmp_path):
    path = tmp_path / "d.safetensors"
    _hopper().save(path)
    data = path.read_bytes()
    for cut in (4, 100, len(data) - 10):
        path.write_bytes(data[:cut])
        with pytest.raises(CorruptDatasetError, match="truncated|not a readable"):
            SyntheticDataset.load(path)


def test_flipped_byte_fails_sha256(tmp_path):
    path = tmp_path / "d.safetensors"
    _hopper().save(path)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptDatasetError, match="sha256 mismatch"):
        SyntheticDataset.load(path)


def _write_raw(path, tensors, **meta):
    """A file with a *valid* checksum but bad content, as a buggy writer would make."""
    base = {"format": "hades-zoo/1", "env_id": "hopper", "method": "hades-r", "recipe": "{}", "protocol": '"paper"',
            "obs_norm": '{"kind": "none"}', "sha256": fmt.payload_sha256(tensors)}
    base.update(meta)
    path.write_bytes(save(tensors, metadata=base))


def test_nan_wrong_shape_wrong_dtype_unknown_env(tmp_path):
    good = {"states": np.zeros((4, 11), np.float32), "actions": np.zeros((4, 3), np.float32)}
    nan = dict(good, states=np.full((4, 11), np.nan, np.float32))
    cases = [
        (nan, {}, "NaN"),
        (dict(good, states=np.zeros((4, 12), np.float32)), {}, "shape"),
        (dict(good, actions=np.zeros((4, 3), np.float64)), {}, "float32"),
        (good, {"env_id": "hoppr"}, "unknown environment 'hoppr'.*hopper"),
        (dict(good, labels=np.zeros((4, 3), np.float32)), {}, "continuous actions"),
        (good, {"format": "hades-zoo/99"}, "format version"),
    ]
    for i, (tensors, meta, msg) in enumerate(cases):
        path = tmp_path / f"bad{i}.safetensors"
        _write_raw(path, tensors, **meta)
        with pytest.raises(IncompatibleDatasetError, match=msg):
            SyntheticDataset.load(path)


def test_invalid_labels_are_refused(cartpole_dataset):
    with pytest.raises(IncompatibleDatasetError, match="labels"):
        cartpole_dataset.replace(labels=cartpole_dataset.labels * 2)


def test_unknown_name_suggests_close_match():
    from hades_zoo.sources import catalog

    names = list(catalog())
    if not names:
        pytest.skip("empty catalog")
    typo = names[0].replace("hades", "hadez", 1) if "hadez" not in names[0] else names[0] + "x"
    with pytest.raises(UnknownDatasetError, match="Did you mean"):
        load(names[0][:-1] + "9")
    with pytest.raises(UnknownDatasetError):
        load(typo)


def test_not_a_name_nor_a_file():
    with pytest.raises(UnknownDatasetError, match="neither a dataset file nor a dataset name"):
        load("hopper")
