"""The authors' whole release: manifest, conversion of all 229 files (no evaluation), tampering."""

import csv
import json
import shutil

import numpy as np
import pytest

from conftest import SHARED
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import LegacyFormatError
from hades_zoo.legacy_release import (check_file, convert_release_file, git_blob_id, manifest, release_files,
                                      variant_label)

RELEASE = SHARED / "release"
needs_release = pytest.mark.skipif(not (RELEASE / "results").is_dir(), reason="../shared/reference/release is absent")
HOPPER_R = "results/ICLR/brax/no_virtual_batch_norm/distill/hopper/D64/seed0/data_final.pkl"


def test_manifest_covers_the_release_groups():
    files = release_files()
    assert len(files) == 229 and len({(f.path) for f in files}) == 229
    labels = {f.variant for f in files}
    assert labels == {"main", "sweep", "const", "5k", "5k-half", "2k", "2k-greedy"}
    assert all(len(f.git_blob) == 40 and len(f.sha256) == 64 for f in files)
    assert variant_label(HOPPER_R) == "main" and manifest()[HOPPER_R]["authors"]["fitness_last10_gens"] == pytest.approx(1743.43, abs=0.01)


def test_git_blob_id_is_git_hash_object():
    assert git_blob_id(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # printf '' | git hash-object --stdin
    assert git_blob_id(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


@needs_release
def test_manifest_matches_the_csv():
    with open(SHARED / "original_results.csv", newline="") as f:
        rows = {r["path"]: r for r in csv.DictReader(f) if (RELEASE / r["path"]).is_file()}
    assert set(rows) == set(manifest())
    assert all(manifest()[p]["git_blob"] == r["git_blob"] for p, r in rows.items())


@needs_release
def test_whole_release_converts(tmp_path):
    seen = set()
    for rf in release_files():
        ds, _ = convert_release_file(RELEASE, rf.path)
        key = (ds.name, rf.revision)
        assert key not in seen
        seen.add(key)
        prov, a = ds.provenance, rf.authors
        assert prov["release_path"] == rf.path and prov["pickle_sha256"] == rf.sha256
        assert prov["fitness_last10_gens"] == a["fitness_last10_gens"] and prov["credit"]["licence"].startswith("Apache-2.0")
        assert ds.recorded_return["last10"] == pytest.approx(a["fitness_last10_gens"], rel=1e-3, abs=1e-3)
        text = json.dumps(ds.metadata)
        assert "/private/" not in text and "alupu" not in text and str(SHARED) not in text
        assert ds.dynamics == ("current" if ds.task != "rl" else "2023")
        if ds.task == "rl":
            assert ds.recipe.arch.endswith(f"x{a['width']}-{'tanh' if a['family'] == 'brax' else 'relu'}")
            assert ds.protocol.sample_actions == (not a["greedy_act"])
            assert ds.obs_norm == {"running": "running", "const": "const", "none": "none"}[a["obs_norm"]]
    assert len(seen) == 229
    # spot checks: the const D4 runs, half width, Pong, MNIST
    names = {n for n, _ in seen}
    assert {"hopper-hades-r-4", "walker2d-hades-r-4", "pong-misc-hades-f-3", "mnist-hades-r-1ipc",
            "fashion-mnist-hades-r-1ipc", "humanoid-hades-r-256"} <= names
    ds, rf = convert_release_file(RELEASE, "results/ICLR/brax/distill/walker2d/D4/seed1/data_final.pkl")
    assert rf.revision == "authors-const-s1" and ds.obs_norm == "const" and ds.obs_mean.shape == (17,)
    path = tmp_path / "w.safetensors"
    ds.save(path)
    back = SyntheticDataset.load(path)
    assert back.dynamics == "2023" and back.provenance["revision"] == "authors-const-s1"
    np.testing.assert_array_equal(back.states, ds.states)


@needs_release
def test_tampered_file_is_refused(tmp_path):
    dest = tmp_path / HOPPER_R
    dest.parent.mkdir(parents=True)
    data = bytearray((RELEASE / HOPPER_R).read_bytes())
    shutil.copy(RELEASE / HOPPER_R, dest)
    assert check_file(tmp_path, HOPPER_R).revision == "authors-main-s0"
    data[-100] ^= 1  # one bit inside the ES mean: still a valid pickle
    dest.write_bytes(bytes(data))
    with pytest.raises(LegacyFormatError, match="altered"):
        convert_release_file(tmp_path, HOPPER_R)
    with pytest.raises(LegacyFormatError, match="not in the release manifest"):
        convert_release_file(tmp_path, "results/ICLR/brax/elsewhere/data_final.pkl")


@needs_release
def test_mnist_takes_the_authors_cnn_and_sgd():
    import jax

    import hades_zoo
    from hades_zoo.recipe import Recipe

    ds, rf = convert_release_file(RELEASE, "results/ICLR/mnist/MNIST/D10/seed0/data_final.pkl")
    assert ds.name == "mnist-hades-r-1ipc" and rf.revision == "authors-main-s0" and ds.obs_norm == "none"
    assert ds.recipe.arch == "cnn-16x128-relu" and ds.recipe.optimizer == "sgd" and ds.recipe.epochs == 1000
    assert ds.recipe.to_dict()["optimizer"] == "sgd" and "optimizer" not in Recipe().to_dict()  # adam stays unwritten
    trained = hades_zoo.train(ds, num_seeds=1, epochs=3)
    shapes = jax.tree.map(lambda x: x.shape[1:], trained.params)["net"]["params"]
    assert shapes["Conv_0"]["kernel"] == (3, 3, 1, 16) and shapes["Dense_0"]["kernel"] == (28 * 28 * 16, 128)
    assert shapes["Dense_1"]["kernel"] == (128, 10)
