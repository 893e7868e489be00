"""``distill publish`` against the test hub on 127.0.0.1: the card, the files, idempotence,
conflicts and ``--force``, and the errors (one typed error, one CLI line, no token leaked)."""

import hashlib
import json
import re
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from hades_zoo.redact import scrub
from huggingface_hub import DatasetCard, DatasetCardData, HfApi, hf_hub_download
from huggingface_hub.repocard import metadata_load

from distill.publish import publish
from hades_zoo import hub
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import ConfigError, HubAuthError, HubError, PublishConflictError
from hub_fixtures import HUB_ORG, HUB_TOKEN


def _get(hub_server, repo_id, filename, revision="v1") -> Path:
    return Path(hf_hub_download(repo_id, filename, repo_type="dataset", revision=revision, endpoint=hub_server.url,
                                cache_dir=str(hub.cache_dir())))


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_card_yaml_and_generated_body(on_hub, published):
    path = _get(on_hub, published.repo_id, "README.md")
    card = DatasetCard.load(path)
    data = card.data.to_dict()
    assert metadata_load(path) == data  # huggingface_hub's own YAML parser agrees
    DatasetCardData(**data)  # and its typed card data accepts it
    assert data["license"] == "apache-2.0" and data["task_categories"] == ["reinforcement-learning"]
    assert {"hades-zoo", "behaviour-distillation", "CartPole-v1", "hades-r"} <= set(data["tags"])
    assert data["size_categories"] == ["n<1K"]
    assert data["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*.parquet"}]}]
    block = data["hades_zoo"]
    run_file = published.dataset_file
    assert block["sha256"] == _sha(run_file) and block["bytes"] == run_file.stat().st_size
    assert (block["format"], block["env_id"], block["method"], block["size"]) == ("hades-zoo/1", "CartPole-v1", "hades-r", 3)
    assert block["generations"] == 2 and block["population"] == 8

    body = card.text
    metrics = json.loads(_get(on_hub, published.repo_id, "metrics.json").read_text())
    rows = metrics["evaluation"]["archs"]
    assert [r["arch"] for r in rows] == ["mlp-1x16-tanh", "mlp-1x8-relu"] and rows == published.result["evaluation"]
    assert rows[0]["relative"] == 1.0 and rows[1]["relative"] == pytest.approx(
        rows[1]["mean"] / rows[0]["mean"] if rows[0]["score"] == "ratio" else rows[1]["relative"])
    for r in rows:  # the table is generated from the evaluation, one line per architecture
        line = next(ln for ln in body.splitlines() if ln.startswith(f"| `{r['arch']}`"))
        assert f"{r['mean']:.2f} ± {r['std']:.2f} | {r['relative']:.2f} |" in line
        assert ", ".join(f"{x:.1f}" for x in r["returns"]) in line
        assert block["evaluation"]["returns"][r["arch"]]["mean"] == pytest.approx(r["mean"], abs=1e-4)
    command = (published.run_dir / "command.txt").read_text().strip()
    assert f"| command | `{scrub(command)}` |" in body  # the run's command, its local paths cut to their last part
    assert "| command | `distill run --config tiny.toml --out run` |" in body and str(published.run_dir) not in body
    assert 'popsize = 8' in body and "@inproceedings{lupu2024behaviour" in body
    assert f'hades_zoo.load("{published.repo_id}@v1")' in body and "figures/fitness.png" in body


def test_metrics_figures_and_parquet(on_hub, published):
    metrics = json.loads(_get(on_hub, published.repo_id, "metrics.json").read_text())
    curve = [json.loads(ln) for ln in (published.run_dir / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    assert metrics["fitness"]["curve"] == curve and metrics["fitness"]["generations"] == 2
    assert metrics["sha256"] == published.result["sha256"] and metrics["evaluation"]["seeds"] == 2
    for name in ("fitness", "dataset", "returns"):
        png = _get(on_hub, published.repo_id, f"figures/{name}.png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        img = matplotlib.image.imread(png)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    import pyarrow.parquet as pq

    table = pq.read_table(_get(on_hub, published.repo_id, "data/train-00000-of-00001.parquet"))
    ds = SyntheticDataset.load(published.dataset_file)
    np.testing.assert_array_equal(np.stack(table["state"].to_numpy(zero_copy_only=False)), ds.states)
    np.testing.assert_array_equal(np.stack(table["label"].to_numpy(zero_copy_only=False)), ds.labels)


def test_same_bytes_again_is_a_noop(on_hub, published):
    api = HfApi(endpoint=on_hub.url)
    before = api.list_repo_refs(published.repo_id, repo_type="dataset")
    commits = len(api.list_repo_commits(published.repo_id, repo_type="dataset"))
    for revision in (None, "v1"):  # next-version mode sees v1 holds these bytes; explicit v1 too
        res = publish(published.run_dir, revision=revision, seeds=2)
        assert (res.status, res.revision, res.commit, res.repo_id) == ("unchanged", "v1", published.result["commit"],
                                                                     published.repo_id)
        assert res.evaluation == ()  # nothing was evaluated
    assert api.list_repo_refs(published.repo_id, repo_type="dataset") == before
    assert len(api.list_repo_commits(published.repo_id, repo_type="dataset")) == commits


def _variant(published, tmp_path, shift, name=None) -> Path:
    ds = SyntheticDataset.load(published.dataset_file)
    out = tmp_path / f"variant-{shift}.safetensors"
    ds.replace(states=ds.states + np.float32(shift), name=name or ds.name).save(out)
    return out


def test_conflict_force_and_next_version(on_hub, published, tmp_path):
    repo = f"{HUB_ORG}/conflict-set"
    a = _variant(published, tmp_path, 0.25)
    b = _variant(published, tmp_path, -0.25, name="cartpole-hades-r-5")
    first = publish(a, repo, seeds=2, archs=("own",), private=True)
    assert (first.status, first.revision) == ("published", "v1")
    assert HfApi(endpoint=on_hub.url).dataset_info(repo).private is True
    assert "figures/fitness.png" not in first.files  # a lone file: no fitness curve
    with pytest.raises(PublishConflictError, match=r"already holds different bytes.*--revision v2.*--force"):
        publish(b, repo, "v1", seeds=2, archs=("own",))
    second = publish(b, repo, seeds=2, archs=("own",))  # next free version
    assert (second.status, second.revision) == ("published", "v2")
    api = HfApi(endpoint=on_hub.url)
    files = api.list_repo_files(repo, repo_type="dataset", revision="v2")
    assert [f for f in files if f.endswith(".safetensors")] == ["cartpole-hades-r-5.safetensors"]  # old file removed
    forced = publish(a, repo, "v2", force=True, seeds=2, archs=("own",))
    assert (forced.status, forced.revision) == ("replaced", "v2")
    assert hub.download(f"{repo}@v2").entry["sha256"] == _sha(a) == hub.download(f"{repo}@v1").entry["sha256"]
    tags = {t.name: t.target_commit for t in api.list_repo_refs(repo, repo_type="dataset").tags}
    assert tags == {"v1": first.commit, "v2": forced.commit} and len(set(tags.values())) == 2
    # --force never moves main back: replacing an older version than the latest is refused, before evaluating
    with pytest.raises(PublishConflictError, match="not the latest publish"):
        publish(b, repo, "v1", force=True, seeds=2, archs=("own",))
    main = next(b_.target_commit for b_ in api.list_repo_refs(repo, repo_type="dataset").branches if b_.name == "main")
    assert main == forced.commit


def test_publish_errors_fail_before_evaluating(on_hub, published, monkeypatch, tmp_path, capsys):
    with pytest.raises(ConfigError, match="not ORG/NAME"):
        publish(published.run_dir, "no-slash")
    with pytest.raises(ConfigError, match="not a tag name"):
        publish(published.run_dir, revision="main")
    with pytest.raises(ConfigError, match="no such file, run directory or bundled dataset name"):
        publish(tmp_path / "missing.safetensors")
    # a hostile name in the metadata is refused before anything reaches the hub (no empty repo left)
    hostile = tmp_path / "hostile.safetensors"
    SyntheticDataset.load(published.dataset_file).replace(name="../../etc/passwd").save(hostile)
    with pytest.raises(ConfigError, match="cannot name a file"):
        publish(hostile, f"{HUB_ORG}/hostile")
    with pytest.raises(Exception, match="404|not found|Not Found"):
        HfApi(endpoint=on_hub.url).dataset_info(f"{HUB_ORG}/hostile")
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_token_456")
    with pytest.raises(HubAuthError, match="refused the token") as e:
        publish(published.run_dir, f"{HUB_ORG}/never-made")
    assert "hf_wrong_token_456" not in str(e.value)
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(HubAuthError, match="none is set; set HF_TOKEN or run `hf auth login`"):
        publish(published.run_dir, f"{HUB_ORG}/never-made")
    assert f"{HUB_ORG}/never-made" not in [r["repo_id"] for r in hub.list_remote()]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubError, match="unset HF_HUB_OFFLINE"):
        publish(published.run_dir)

    from distill.cli import main

    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with pytest.raises(SystemExit) as e:
        main(["publish", str(published.run_dir), "--repo-id", "bad id"])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and re.match(r"error: .*--repo-id 'bad id' is not ORG/NAME", err[0])
