"""The zoo's catalogue: names and revisions resolve, bundled files verify, our own datasets reproduce."""

import json
import shutil

import pytest

import hades_zoo
from hades_zoo import catalogue as cat
from hades_zoo import sources
from hades_zoo.errors import CorruptDatasetError, DatasetNotCachedError, UnknownDatasetError
from hades_zoo.ids import parse_id

ENTRIES = sorted(sources.catalog())
OURS = sorted((n, r) for n, g in cat.catalogue().items() for r, e in g["revisions"].items() if e["source"] == "ours")
BRAX8 = ("ant", "halfcheetah", "hopper", "humanoid", "humanoidstandup", "inverted-double-pendulum", "reacher", "walker2d")
MINATAR4 = ("asterix-minatar", "breakout-minatar", "freeway-minatar", "spaceinvaders-minatar")


def test_catalogue_names_every_file_once_with_one_bundled_default():
    groups = cat.catalogue()
    files = [(n, r) for n, g in groups.items() for r in g["revisions"]]
    assert len(files) == 229 + len(OURS)  # every authors' file and our own
    for name, g in groups.items():
        ident = parse_id(name)
        assert ident.name == name and ident.method == g["method"]
        assert g["default"] in g["revisions"] and g["revisions"][g["default"]]["where"] == "bundled"
        for rev, e in g["revisions"].items():
            assert rev.startswith(("authors-", "cpu-v")) and e["where"] in ("bundled", "hub")
            assert len(e["sha256"]) == 64 and e["bytes"] > 0
            if e["source"] == "authors":
                assert rev == f"authors-{e['variant']}-s{e['seed']}"
            if e["where"] == "bundled":
                path = cat.bundled_path(e)
                assert path.stat().st_size == e["bytes"]
    for slug in BRAX8:  # at least every brax env x R/F at D64 and MinAtar x R/F at D16 are bundled defaults
        for m in "rf":
            assert groups[f"{slug}-hades-{m}-64"]["default"].startswith("authors-main-")
    for slug in MINATAR4:
        for m in "rf":
            assert groups[f"{slug}-hades-{m}-16"]["default"].startswith("authors-5k-s")
    assert groups["walker2d-hades-r-4"]["default"].startswith("authors-const-")
    assert groups["hopper-hades-r-4"]["default"].startswith("authors-sweep-")
    assert groups["hopper-hades-r-16"]["default"].startswith("authors-sweep-")


def test_default_is_the_best_verified_headline_seed():
    for name, g in cat.catalogue().items():
        if g.get("headline") is None:
            continue
        head = {r: e for r, e in g["revisions"].items() if e.get("variant") == g["headline"] and e["verified"]}
        if head:
            assert g["revisions"][g["default"]]["verified"]["value"] == max(e["verified"]["value"] for e in head.values())


def test_names_and_revisions_resolve():
    ds = hades_zoo.load("hopper-hades-r-64")
    default = cat.default_revision("hopper-hades-r-64")
    assert ds.source == f"hopper-hades-r-64@{default} (bundled)" and ds.dynamics == "2023"
    assert ds.provenance["revision"] == default
    ours = hades_zoo.load("hopper-hades-r-64@cpu-v1")  # our engine's CPU dataset, kept under its revision
    assert ours.source == "hopper-hades-r-64@cpu-v1 (bundled)" and ours.recorded_return["value"] == pytest.approx(1027.5, abs=0.1)
    assert sources.copy_of(ours) == {"where": "bundled", "ref": "hopper-hades-r-64", "revision": "cpu-v1", "commit": None}
    assert hades_zoo.load("hopper-hades-r-64", revision=default).source == ds.source


def test_hub_only_revision_needs_the_hub(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DatasetNotCachedError, match="catalogued but not bundled"):
        hades_zoo.load("hopper-hades-r-64@authors-main-s0")


@pytest.mark.parametrize("name,rev", OURS)
def test_our_recorded_return_reproduces_within_5_percent(name, rev):
    ds = hades_zoo.load(f"{name}@{rev}")
    rec = ds.recorded_return
    res = hades_zoo.evaluate(hades_zoo.train(ds, num_seeds=rec["seeds"]))
    assert abs(res.mean - rec["value"]) <= 0.05 * abs(rec["value"]) + 1e-6, (res, rec["value"])


def test_corrupted_bundled_file_is_detected(tmp_path, monkeypatch):
    zoo = tmp_path / "zoo"
    shutil.copytree(cat.ZOO_DIR, zoo)
    name = ENTRIES[0]
    f = zoo / sources.catalog()[name]["file"]
    data = bytearray(f.read_bytes())
    data[-1] ^= 1
    f.write_bytes(bytes(data))
    monkeypatch.setattr(cat, "ZOO_DIR", zoo)
    with pytest.raises(CorruptDatasetError, match="reinstall"):
        hades_zoo.load(name)


def test_unknown_revision(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises((UnknownDatasetError, DatasetNotCachedError), match="not in the catalogue"):
        hades_zoo.load(ENTRIES[0] + "@v99")


def test_catalogue_is_what_the_tool_generates():
    """registry.json is generated (tools/build_catalogue.py), never typed: its verified figures are the
    verification results' rows, its authors' figures the manifest's."""
    from hades_zoo.legacy_release import manifest

    rows = {}
    for line in (cat.ZOO_DIR.parents[1] / "benchmark-results" / "release-verification.jsonl").read_text().splitlines():
        r = json.loads(line)
        rows[r["release_path"]] = r
    for name, g in cat.catalogue().items():
        for rev, e in g["revisions"].items():
            if e["source"] != "authors":
                continue
            assert e["authors"]["value"] == manifest()[e["release_path"]]["authors"]["fitness_last10_gens"]
            r = rows[e["release_path"]]
            assert (e["verified"] or {}).get("value") == (r["mean"] if r["status"] == "ok" else None)


@pytest.mark.slow
@pytest.mark.parametrize("name,floor", [("hopper-hades-r-64", 1700.0), ("hopper-hades-f-64", 1780.0)])
def test_headline_hopper_hops(name, floor):
    """The README's first command: the default hopper datasets train hopping policies (paper protocol, 8 seeds)."""
    ds = hades_zoo.load(name)
    res = hades_zoo.evaluate(hades_zoo.train(ds, num_seeds=8), protocol="paper")
    assert res.mean >= floor, res


def test_list_fits_80_columns_with_full_names_and_filters():
    from click.testing import CliRunner

    from hades_zoo.cli import cli

    runner = CliRunner()
    out = runner.invoke(cli, ["list"], env={"COLUMNS": "80"})
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert max(map(len, lines)) <= 80
    assert any(ln.startswith("inverted-double-pendulum-hades-r-64 ") for ln in lines)  # never truncated
    hop = next(ln for ln in lines if ln.startswith("hopper-hades-r-64 "))
    assert "authors+ours" in hop and hop.split()[4] == str(len(cat.catalogue()["hopper-hades-r-64"]["revisions"]))
    assert "acc 0.873" in next(ln for ln in lines if ln.startswith("digits-hades-r-1ipc"))  # accuracy, not "return"
    rows = json.loads(runner.invoke(cli, ["list", "--json", "--env", "hopper", "--method", "f", "--source", "ours"]).output)
    assert [r["name"] for r in rows] == ["hopper-hades-f-64"] and rows[0]["revision"] == cat.default_revision("hopper-hades-f-64")
    revs = runner.invoke(cli, ["list", "--revisions", "--env", "walker2d"]).output
    assert "@authors-const-s2" in revs and max(map(len, revs.splitlines())) <= 80
    assert "no dataset matches" in runner.invoke(cli, ["list", "--env", "nope"]).output


def test_train_and_info_say_which_copy():
    from conftest import run_cli

    out = run_cli("train", "cartpole-hades-r-4", "--seeds", "1", timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("cartpole-hades-r-4@cpu-v1 (bundled) [CartPole-v1]"), out.stdout
    info = json.loads(run_cli("info", "hopper-hades-r-64", "--json").stdout)
    assert info["copy"] == {"where": "bundled", "ref": "hopper-hades-r-64",
                            "revision": cat.default_revision("hopper-hades-r-64"), "commit": None}
