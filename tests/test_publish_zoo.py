"""The maintainer's publish-all (tools/publish_zoo.py) against the loopback hub, then a hub-only revision
loaded into a fresh HF cache; zoo names refuse other bytes."""

import sys

import pytest

import hades_zoo
from conftest import SHARED, needs_shared
from hades_zoo import catalogue as cat
from hades_zoo import hub
from hades_zoo.errors import PublishConflictError
from hades_zoo.hub.upload import Source, zoo_revision
from hub_fixtures import HUB_ORG, REPO

sys.path.insert(0, str(REPO / "tools"))
import publish_zoo  # noqa: E402

RELEASE = SHARED / "release"


@needs_shared()
def test_publish_all_is_resumable_then_a_hub_only_revision_loads(on_hub, tmp_path, monkeypatch):
    items = publish_zoo.plan(["hopper-hades-r-64@authors-main", "cartpole-hades-r-4@"])
    default = cat.default_revision("hopper-hades-r-64")
    hop = [i["revision"] for i in items if i["name"] == "hopper-hades-r-64"]
    assert hop[-1] == default and sorted(hop) == ["authors-main-s0", "authors-main-s1", "authors-main-s2"]
    conv = tmp_path / "converted"
    first = publish_zoo.publish_all(items[:2], conv, RELEASE, log=lambda *_: None)  # a run killed after 2 files
    assert [r["status"] for r in first] == ["published", "published"]
    again = publish_zoo.publish_all(items, conv, RELEASE, log=lambda *_: None)  # resumed: only the rest is pushed
    assert [r["status"] for r in again] == ["unchanged"] * 2 + ["published"] * (len(items) - 2)
    assert {r["status"] for r in publish_zoo.publish_all(items, conv, RELEASE, log=lambda *_: None)} == {"unchanged"}

    # the repo's main ends at the default revision; its card has the scale and the limits, and no local path
    card = hub.card("hopper-hades-r-64")
    assert card["hades_zoo"]["sha256"] == cat.revision_entry("hopper-hades-r-64", default)["sha256"]
    from huggingface_hub import hf_hub_download

    readme = hf_hub_download(f"{HUB_ORG}/hopper-hades-r-64", "README.md", repo_type="dataset",
                             revision="authors-main-s0", endpoint=on_hub.url, cache_dir=str(tmp_path / "c"))
    body = open(readme).read()
    for needle in ("### Scale", "random policy, same protocol and dynamics", "paper's figure", "normalised score",
                   "Intended use and limitations", "2023 behaviour", "results/ICLR/brax/no_virtual_batch_norm"):
        assert needle in body, needle
    assert str(tmp_path) not in body and str(RELEASE) not in body

    monkeypatch.setenv("HF_HOME", str(tmp_path / "fresh_home"))  # a fresh HF cache
    ds = hades_zoo.load("hopper-hades-r-64@authors-main-s0")
    assert ds.source.startswith(f"{HUB_ORG}/hopper-hades-r-64@authors-main-s0 (hub, commit ")
    assert ds.provenance["revision"] == "authors-main-s0" and ds.name == "hopper-hades-r-64"
    assert hades_zoo.load("hopper-hades-r-64@authors-main-s0").source.startswith(
        f"{HUB_ORG}/hopper-hades-r-64@authors-main-s0 (cache, commit ")
    assert hades_zoo.load("hopper-hades-r-64").source == f"hopper-hades-r-64@{default} (bundled)"


def test_zoo_names_refuse_other_bytes(tmp_path):
    ours = hades_zoo.load("hopper-hades-r-64@cpu-v1")
    same = Source.read(cat.bundled_path(cat.revision_entry("hopper-hades-r-64", "cpu-v1")))
    assert zoo_revision(same, None) == "cpu-v1"  # the catalogue's bytes go under their own label
    with pytest.raises(PublishConflictError, match="cpu-v1"):
        zoo_revision(same, "v7")
    other = tmp_path / "other.safetensors"
    ours.replace(states=ours.states + 1e-3).save(other)  # same name, other bytes
    with pytest.raises(PublishConflictError, match="--repo-id"):
        zoo_revision(Source.read(other), None)


def test_scrub_cuts_local_paths_and_the_user_name(monkeypatch):
    from hades_zoo import redact

    monkeypatch.setattr(redact, "_user", lambda: "alice")
    cmd = "distill run --config /home/alice/cfg/x.toml --out ~/runs/hop alice-data https://github.com/FLAIROx/b rel/dir"
    assert redact.scrub(cmd) == "distill run --config x.toml --out hop <user>-data https://github.com/FLAIROx/b rel/dir"
    assert redact.scrub({"a": ["/tmp/p/q.parquet", 3]}) == {"a": ["q.parquet", 3]}
