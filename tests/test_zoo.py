"""The bundled zoo: every catalog entry loads verified and reproduces its recorded return."""

import shutil

import pytest

import hades_zoo
from hades_zoo import sources
from hades_zoo.errors import CorruptDatasetError, UnknownDatasetError

ENTRIES = sorted(sources.catalog())


def test_catalog_is_not_empty_and_pins_files():
    assert ENTRIES, "the bundled zoo is empty"
    for name, entry in sources.catalog().items():
        path = sources.ZOO_DIR / entry["file"]
        assert path.stat().st_size == entry["bytes"]
        ds = hades_zoo.load(name)
        assert ds.name == name and ds.method == entry["method"] and ds.size == entry["size"]
        assert ds.provenance["command"].startswith(("python tools/build_zoo.py", "python -m distill.zoo"))  # before the move


@pytest.mark.parametrize("name", ENTRIES)
def test_recorded_return_reproduces_within_5_percent(name):
    ds = hades_zoo.load(name)
    rec = ds.recorded_return
    res = hades_zoo.evaluate(hades_zoo.train(ds, num_seeds=rec["seeds"]))
    assert abs(res.mean - rec["value"]) <= 0.05 * abs(rec["value"]) + 1e-6, (res, rec["value"])


def test_corrupted_bundled_file_is_detected(tmp_path, monkeypatch):
    zoo = tmp_path / "zoo"
    shutil.copytree(sources.ZOO_DIR, zoo)
    name = ENTRIES[0]
    f = zoo / sources.catalog()[name]["file"]
    data = bytearray(f.read_bytes())
    data[-1] ^= 1
    f.write_bytes(bytes(data))
    monkeypatch.setattr(sources, "ZOO_DIR", zoo)
    with pytest.raises(CorruptDatasetError, match="reinstall"):
        hades_zoo.load(name)


def test_unknown_revision():
    with pytest.raises(UnknownDatasetError, match="revision"):
        hades_zoo.load(ENTRIES[0] + "@v99")
