"""Loading from a hub: the test hub server and olah on 127.0.0.1, real huggingface_hub and
datasets calls, a fresh HF cache per test (conftest sets HF_HOME and a dummy HF_TOKEN)."""

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download

import hades_zoo
from hades_zoo import hub
from hades_zoo.cli import cli
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import (CorruptDatasetError, DatasetNotCachedError, HubAuthError, HubConnectionError, HubError,
                              HubNotFoundError, UnknownDatasetError)
from hub_fixtures import HUB_ORG, HUB_TOKEN, cli_env, free_port, start_hub_server, stop


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_server_stores_git_repos_and_answers_like_the_hub(on_hub, published):
    repo = on_hub.root / "datasets" / published.repo_id
    tags = subprocess.run(["git", "--git-dir", str(repo), "tag"], capture_output=True, text=True, check=True).stdout.split()
    assert tags == ["v1"]
    api = HfApi(endpoint=on_hub.url)
    files = set(api.list_repo_files(published.repo_id, repo_type="dataset", revision="v1"))
    assert {"README.md", "metrics.json", "cartpole-hades-r-3.safetensors", "data/train-00000-of-00001.parquet",
            "figures/fitness.png", "figures/dataset.png", "figures/returns.png"} <= files
    # hub-style errors: 404 + X-Error-Code for a missing repo; a wrong token is refused on writes
    with pytest.raises(Exception) as e:
        api.dataset_info(f"{HUB_ORG}/missing")
    assert type(e.value).__name__ == "RepositoryNotFoundError" and e.value.response.status_code == 404
    with pytest.raises(Exception) as e:
        HfApi(endpoint=on_hub.url, token="hf_wrong").create_repo(f"{HUB_ORG}/x", repo_type="dataset")
    assert e.value.response.status_code == 401
    # the token is written nowhere: not in any commit of the repo, not in the publisher's HF_HOME
    revs = subprocess.run(["git", "--git-dir", str(repo), "rev-list", "--all"], capture_output=True, text=True).stdout.split()
    grep = subprocess.run(["git", "--git-dir", str(repo), "grep", "-I", "-c", HUB_TOKEN, *revs], capture_output=True, text=True)
    assert grep.returncode == 1 and not grep.stdout
    for p in published.home.rglob("*"):
        assert not p.is_file() or HUB_TOKEN.encode() not in p.read_bytes(), p


def test_round_trip_list_download_train(on_hub, published, tmp_path, monkeypatch):
    """publish (fixture) -> list --remote -> download into an empty HF cache -> sha256 -> train -> same return."""
    runner = CliRunner()
    listed = runner.invoke(cli, ["list", "--remote", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {r["repo_id"]: r for r in json.loads(listed.output)}
    row = rows[published.repo_id]
    assert published.repo_id == f"{HUB_ORG}/{published.name}"  # default repo id: $HADES_ZOO_HUB_ORG/<name>
    assert row["sha256"] == _sha(published.dataset_file) == published.result["sha256"]
    assert "hades-zoo" in row["tags"] and row["env_id"] == "CartPole-v1" and row["size"] == 3

    assert not (Path(os.environ["HF_HOME"]) / "hub").exists()  # empty cache
    got = runner.invoke(cli, ["download", f"{published.name}@v1", "--json"])  # bare name -> testorg/<name>
    assert got.exit_code == 0, got.output
    info = json.loads(got.output)
    assert Path(info["path"]).is_relative_to(Path(os.environ["HF_HOME"]) / "hub")
    assert _sha(info["path"]) == info["sha256"] == _sha(published.dataset_file)
    assert (info["repo_id"], info["revision"], info["size"]) == (published.repo_id, "v1", 3)
    shown = runner.invoke(cli, ["info", f"{published.repo_id}@v1", "--json"])  # `info` adds the card's data
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["card"]["hades_zoo"]["sha256"] == info["sha256"]

    # load by bare name from another empty cache, train: the returns measured before upload
    monkeypatch.setenv("HF_HOME", str(tmp_path / "other_home"))
    ds = hades_zoo.load(f"{published.name}@v1")
    assert ds.source.startswith(f"{published.repo_id}@v1 (hub, commit ")
    result = hades_zoo.evaluate(hades_zoo.train(ds, num_seeds=2), seed=0)
    own = published.result["evaluation"][0]
    assert own["own"] and result.protocol == own["protocol"]
    np.testing.assert_allclose(result.returns, own["returns"], rtol=1e-6)


def test_datasets_load_dataset_reads_the_parquet_mirror(on_hub, published, tmp_path):
    code = ("import json, datasets; d = datasets.load_dataset(%r, revision='v1', split='train'); "
            "print(json.dumps({'n': d.num_rows, 'cols': d.column_names, 'rows': d[:]}))" % published.repo_id)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=cli_env(on_hub, tmp_path / "home"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    ds = SyntheticDataset.load(published.dataset_file)
    assert out["n"] == 3 and out["cols"] == ["index", "state", "label"]
    np.testing.assert_array_equal(np.array(out["rows"]["state"], np.float32), ds.states)
    np.testing.assert_array_equal(np.array(out["rows"]["label"], np.float32), ds.labels)


def test_offline_after_caching(on_hub, published, monkeypatch):
    ref = f"{published.repo_id}@v1"
    online = hades_zoo.load(ref)
    assert "(hub, commit" in online.source
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    t0 = time.perf_counter()
    cached = hades_zoo.load(ref)  # hub unreachable: the cached, verified copy, without retries
    assert time.perf_counter() - t0 < 10  # (huggingface_hub's own retries take ~24 s)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = hades_zoo.load(f"{published.name}@v1")  # bare name, offline
    np.testing.assert_array_equal(offline.states, online.states)
    np.testing.assert_array_equal(cached.labels, online.labels)
    with pytest.raises(DatasetNotCachedError, match="HF_HUB_OFFLINE"):
        hades_zoo.load(f"{published.repo_id}@v2")
    with pytest.raises(DatasetNotCachedError, match="Did you mean: cartpole-hades-r-4"):
        hades_zoo.load("cartpole-hades-r-5")  # not bundled, not cached: the catalog still suggests


def test_unreachable_hub_fails_fast(on_hub, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    t0 = time.perf_counter()
    with pytest.raises(HubConnectionError, match="could not be reached"):
        hub.load(f"{HUB_ORG}/cartpole-hades-r-3")
    assert time.perf_counter() - t0 < 10  # one request, no retry back-off (~24 s)


def test_corrupted_blob_in_cache_is_detected_and_removed(on_hub, published, monkeypatch):
    ref = f"{published.repo_id}@v1"
    got = hub.download(ref)
    blob = Path(os.path.realpath(got.path))
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CorruptDatasetError, match="corrupted .* removed"):
        hades_zoo.load(ref)
    assert not blob.exists() and not got.path.exists()
    monkeypatch.delenv("HF_HUB_OFFLINE")
    again = hub.download(ref)  # online: fetched again, verified
    assert _sha(again.path) == got.entry["sha256"]


def test_inconsistent_hub_copy_is_refused_and_not_kept(on_hub, published, monkeypatch):
    """A repo whose file does not match its card: the download fails twice and leaves nothing."""
    api = HfApi(endpoint=on_hub.url)
    card = hf_hub_download(published.repo_id, "README.md", repo_type="dataset", revision="v1",
                           endpoint=on_hub.url, cache_dir=os.environ["HF_HOME"] + "/setup")
    data = bytearray(published.dataset_file.read_bytes())
    data[-1] ^= 0xFF
    broken = f"{HUB_ORG}/broken-copy"
    api.create_repo(broken, repo_type="dataset", exist_ok=True)
    api.create_commit(broken, [CommitOperationAdd("README.md", card),
                               CommitOperationAdd("cartpole-hades-r-3.safetensors", bytes(data))],
                      commit_message="inconsistent", repo_type="dataset")
    with pytest.raises(CorruptDatasetError, match="fails its check twice"):
        hub.download(broken)
    left = list((hub.cache_dir() / "datasets--testorg--broken-copy" / "blobs").iterdir())
    assert all(hashlib.sha1(b"blob %d\0" % p.stat().st_size + p.read_bytes()).hexdigest() == p.name for p in left)
    assert len(left) == 1  # the card only: no dataset bytes, no partial file


def test_broken_off_download_leaves_no_partial_file(on_hub, published, tmp_path, monkeypatch):
    """A server that hangs up mid-file (hub_server.py --truncate-downloads): one clear error, no blob kept."""
    card = hf_hub_download(published.repo_id, "README.md", repo_type="dataset", revision="v1",
                           endpoint=on_hub.url, cache_dir=str(tmp_path / "setup"))
    proc, url = start_hub_server(tmp_path / "repos", tmp_path / "server.log", (HUB_TOKEN,), "--truncate-downloads")
    try:
        repo = f"{HUB_ORG}/cut-short"
        api = HfApi(endpoint=url)
        api.create_repo(repo, repo_type="dataset")
        api.create_commit(repo, [CommitOperationAdd("README.md", card),
                                 CommitOperationAdd("cartpole-hades-r-3.safetensors", published.dataset_file.read_bytes())],
                          commit_message="for a broken transfer", repo_type="dataset")
        monkeypatch.setenv("HF_ENDPOINT", url)
        with pytest.raises(HubConnectionError, match="broke off .*no partial file was kept"):
            hub.download(repo)
    finally:
        stop(proc)
    blobs = hub.cache_dir() / "datasets--testorg--cut-short" / "blobs"
    assert not blobs.exists() or not list(blobs.iterdir())


def test_not_found_revision_and_auth_errors(on_hub, published, monkeypatch):
    with pytest.raises(HubNotFoundError, match=r"not found .*or no access.*Did you mean: testorg/cartpole-hades-r-3"):
        hub.load(f"{HUB_ORG}/cartpole-hades-r-33")
    with pytest.raises(HubNotFoundError, match=r"revision 'v9' not found on .* \(it has: main, v1\)"):
        hub.load(f"{published.repo_id}@v9")
    with pytest.raises(UnknownDatasetError, match="revision 'v9' is not in the catalogue"):  # zoo name, other revision
        hades_zoo.load("cartpole-hades-r-4@v9")
    api = HfApi(endpoint=on_hub.url)
    secret = f"{HUB_ORG}/secret-set"
    api.create_repo(secret, repo_type="dataset", private=True, exist_ok=True)
    api.create_commit(secret, [CommitOperationAdd("README.md", b"---\ntags: [hades-zoo]\n---\n")],
                      commit_message="private", repo_type="dataset")
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_token_123")
    with pytest.raises(HubAuthError, match="refused the token") as e:
        hub.load(secret)
    assert "hf_wrong_token_123" not in str(e.value)
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(HubNotFoundError, match="or no access"):  # private, no token: hidden like the hub does
        hub.load(secret)


def _main_error(capsys, *argv) -> str:
    """``hades-zoo ARGV`` in this process through the CLI's error contract; returns its one line."""
    from hades_zoo.cli import main

    with pytest.raises(SystemExit) as e:
        main(list(argv))
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and err[0].startswith("error: "), err
    assert HUB_TOKEN not in err[0]
    return err[0]


def test_cli_errors_are_one_line(on_hub, published, capsys, monkeypatch):
    line = _main_error(capsys, "download", f"{HUB_ORG}/cartpole-hades-r-33")
    assert "not found" in line and "or no access" in line and f"Did you mean: {published.repo_id}" in line
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    line = _main_error(capsys, "download", published.repo_id)
    assert "HF_HUB_OFFLINE" in line and "hades-zoo download" in line
    line = _main_error(capsys, "list", "--remote")
    assert "HF_HUB_OFFLINE" in line


def test_reads_through_olah(olah, published, monkeypatch, capsys):
    """olah serves the same git repos read-only; it answers 401 where the hub answers 404."""
    monkeypatch.setenv("HF_ENDPOINT", olah)
    monkeypatch.setenv("HADES_ZOO_HUB_ORG", HUB_ORG)
    ds = hades_zoo.load(f"{published.name}@v1")
    got = hub.download(f"{published.repo_id}@v1")
    assert _sha(got.path) == published.result["sha256"] and ds.size == 3
    assert hub.card(published.repo_id)["hades_zoo"]["sha256"] == published.result["sha256"]
    with pytest.raises(HubNotFoundError, match="not found on the hub at .*, or no access"):
        hub.load(f"{HUB_ORG}/no-such-set")
    with pytest.raises(HubError, match="does not answer dataset listings"):
        hub.list_remote()
    line = _main_error(capsys, "download", f"{HUB_ORG}/no-such-set")
    assert "not found on the hub at" in line and "or no access" in line
