"""The validation layer (hades_zoo.schema): dataset metadata, card blocks, metrics rows, distill
configs. Each malformed input is one typed error naming the file and the field; valid ones pass."""

import json

import numpy as np
import pytest

from hades_zoo import format as fmt
from hades_zoo import schema
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import ConfigError, CorruptDatasetError, IncompatibleDatasetError
from hades_zoo.hub import cards
from hades_zoo.catalogue import ZOO_DIR
from hades_zoo.sources import catalog

CARTPOLE = ZOO_DIR / catalog()["cartpole-hades-r-4"]["file"]


def write_raw(path, tensors, meta: dict) -> None:
    """A dataset file whose metadata is exactly ``meta`` (JSON-encoded where the format says so):
    what a hand-edited or hostile file holds."""
    tensors = {k: fmt._c_array(v) for k, v in tensors.items()}
    enc = {k: (v if isinstance(v, str) and k not in fmt.JSON_KEYS else json.dumps(v)) for k, v in meta.items()}
    enc.update(format=fmt.FORMAT_VERSION, sha256=fmt.payload_sha256(tensors))
    path.write_bytes(fmt.safetensors_bytes(tensors, enc))


@pytest.mark.parametrize("field,value,named", [
    ("recipe", [1, 2], "'recipe'"),
    ("obs_norm", 5, "'obs_norm'"),
    ("obs_norm", {"kind": "const", "eps": "x"}, "'obs_norm.eps'"),
    ("recorded_return", "abc", "'recorded_return'"),
    ("recipe", {"arch": "mlp-2x64-tanh", "lr": "x", "epochs": 100, "loss": "xent"}, "'recipe.lr'"),
    ("recipe", {"arch": "mlp-2x64-tanh", "lr": 0.01, "epochs": 1.5, "loss": "xent"}, "'recipe.epochs'"),
    ("recipe", {"arch": "mlp-2x64-tanh", "lr": 0.01, "epochs": True, "loss": "xent"}, "'recipe.epochs'"),
    ("protocol", 5, "'protocol'"),
    ("size", "\u0664", "'size'"),  # an Arabic-Indic digit: str.isdigit() says yes, we say no
    ("provenance", [1], "'provenance'"),
    ("versions", ["x"], "'versions'"),
])
def test_malformed_metadata_is_one_typed_error(tmp_path, field, value, named):
    tensors, meta = fmt.read(CARTPOLE)
    meta[field] = value
    path = tmp_path / "bad.safetensors"
    write_raw(path, tensors, meta)
    with pytest.raises(IncompatibleDatasetError) as e:
        SyntheticDataset.load(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and f"metadata field {named}" in msg and "export or download" in msg


def test_valid_metadata_of_every_bundled_file_passes():
    paths = sorted(ZOO_DIR.rglob("*.safetensors"))
    assert paths
    for path in paths:
        _, meta = fmt.read(path)
        if meta.get("kind") != "multitask":
            schema.DatasetMeta.model_validate(meta)


def test_from_parts_with_wrong_types():
    tensors, meta = fmt.read(CARTPOLE)
    with pytest.raises(IncompatibleDatasetError, match="obs_norm"):
        SyntheticDataset.from_parts(tensors, {**meta, "obs_norm": ["const"]})
    assert SyntheticDataset.from_parts(tensors, {**meta, "obs_norm": "const"}).obs_norm == "const"  # a bare kind
    with pytest.raises(IncompatibleDatasetError, match="dict of metadata"):
        SyntheticDataset.from_parts(tensors, "meta")


CARD = """---
license: apache-2.0
tags: [hades-zoo]
hades_zoo:
{block}
---
# card
"""
GOOD_BLOCK = {"format": "hades-zoo/1", "file": "x.safetensors", "bytes": 10, "sha256": "ab" * 32,
              "name": "x", "env_id": "CartPole-v1", "method": "hades-r", "size": 4, "arch": "mlp-2x64-tanh",
              "evaluation": {"returns": {"mlp-2x64-tanh": {"mean": 1.0, "std": 0.5}}}}


def _card(tmp_path, block_yaml: str):
    path = tmp_path / "README.md"
    path.write_text(CARD.format(block=block_yaml))
    return path


def _yaml_block(block: dict) -> str:
    import yaml

    return "\n".join("  " + ln for ln in yaml.safe_dump(block, sort_keys=False).splitlines())


@pytest.mark.parametrize("edit,named", [
    ({"sha256": "0" * 64}, None),  # YAML reads an unquoted 000...0 as an int: see the raw test below
    ({"bytes": "abc"}, "hades_zoo.bytes"),
    ({"bytes": -1}, "hades_zoo.bytes"),
    ({"sha256": "xyz"}, "hades_zoo.sha256"),
    ({"file": "../../etc/passwd"}, "invalid dataset file"),
    ({"file": "/etc/passwd"}, "hades_zoo.file"),
    ({"file": "a/../b.safetensors"}, "invalid dataset file"),
    ({"size": [1, 2]}, "hades_zoo.size"),
])
def test_hostile_card_fields(tmp_path, edit, named):
    path = _card(tmp_path, _yaml_block({**GOOD_BLOCK, **edit}))
    if named is None:
        assert cards.read_card(path, "org/x")["hades_zoo"]["sha256"] == "0" * 64  # quoted by safe_dump: a string
        return
    with pytest.raises(IncompatibleDatasetError) as e:
        cards.read_card(path, "org/x")
    assert named in str(e.value) and "\n" not in str(e.value)


def test_unquoted_zero_sha256_read_as_int_is_refused(tmp_path):
    path = _card(tmp_path, "  format: hades-zoo/1\n  file: x.safetensors\n  bytes: 10\n  sha256: " + "0" * 64)
    with pytest.raises(IncompatibleDatasetError, match="hades_zoo.sha256"):
        cards.read_card(path, "org/x")


def test_oversized_card_is_refused_before_parsing(tmp_path):
    from hades_zoo import bounds

    path = _card(tmp_path, _yaml_block(GOOD_BLOCK))
    path.write_text(path.read_text() + "x" * bounds.MAX_CARD_BYTES)
    with pytest.raises(CorruptDatasetError, match="MAX_CARD_BYTES"):
        cards.read_card(path, "org/x")


@pytest.mark.parametrize("data", [{"hades_zoo": [1, 2]}, {"hades_zoo": None}, {}, {"hades_zoo": {"sha256": 0}},
                                  {"hades_zoo": {**GOOD_BLOCK, "evaluation": "x"}}, [1]])
def test_listing_survives_any_card(data):
    row = cards.listing(data, "repo")
    assert row["name"] == "repo" and "invalid" in row


def test_listing_of_a_good_card():
    row = cards.listing({"hades_zoo": GOOD_BLOCK}, "repo")
    assert row["name"] == "x" and row["return"] == {"mean": 1.0, "std": 0.5} and "invalid" not in row


@pytest.mark.parametrize("row,ok", [
    ({"generation": 1, "fitness_mean": 1.0, "fitness_max": 2, "fitness_min": 0.0}, True),
    ({"generation": 1, "fitness_mean": float("nan"), "fitness_max": 2, "fitness_min": 0.0}, True),
    ({"fitness_mean": 1.0, "fitness_max": 2, "fitness_min": 0.0}, False),
    ({"generation": "1", "fitness_mean": 1.0, "fitness_max": 2, "fitness_min": 0.0}, False),
    ({"generation": 0, "fitness_mean": 1.0, "fitness_max": 2, "fitness_min": 0.0}, False),
    ([1, 2], False),
])
def test_metrics_rows(row, ok):
    if ok:
        schema.MetricsRow.model_validate(row)
    else:
        with pytest.raises(ConfigError, match="metrics.jsonl"):
            schema.validate(schema.MetricsRow, row, "run/metrics.jsonl line 3", "fix", error=ConfigError)


@pytest.mark.parametrize("field,value", [("es_lr", float("inf")), ("sigma", float("nan")), ("eval_seeds", 0),
                                         ("norm_envs", 0), ("size", 4.5), ("popsize", "64"), ("antithetic", 1),
                                         ("recipe", "x"), ("chunk", 0), ("norm_steps", -1)])
def test_config_types_and_ranges(tmp_path, field, value):
    from distill.config import DistillConfig, build_config

    with pytest.raises(ConfigError) as e:
        DistillConfig(env="CartPole-v1", **{field: value})
    assert f"'{field}'" in str(e.value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and abs(value) != float("inf"):
        toml = tmp_path / "c.toml"
        toml.write_text(f"{field} = {value!r}\n")
        with pytest.raises(ConfigError, match=str(toml)):
            build_config("CartPole-v1", str(toml))


def test_describe_names_one_field_and_counts_the_rest():
    try:
        schema.RecipeMeta.model_validate({"arch": 1, "lr": "x", "epochs": 1, "loss": "xent"})
    except Exception as e:  # noqa: BLE001
        text = schema.describe(e)
    assert text.startswith("field 'arch'") and "(and 1 more field)" in text
    assert np.isfinite(1.0)


@pytest.mark.parametrize("table,value,named", [
    ("recipe", {"lr": "x"}, "recipe.lr"), ("recipe", {"grad_clip": "x"}, "recipe.grad_clip"),
    ("recipe", {"init": "x"}, "recipe.init"), ("recipe", {"init": {"mode": "fixed", "seed": "x"}}, "recipe.init.seed"),
    ("recipe", {"arch": 5}, "recipe.arch"), ("fitness_protocol", {"sample_actions": "yes"}, "protocol.sample_actions"),
])
def test_config_tables_are_typed(tmp_path, table, value, named):
    """The nested [recipe] / [fitness_protocol] tables go through the same schema (Recipe.from_dict,
    Protocol.from_dict), named in the error with the config file."""
    from distill.config import build_config

    toml = tmp_path / "c.toml"
    toml.write_text(f"[{table}]\n" + "".join(f"{k} = {json.dumps(v) if not isinstance(v, dict) else '{' + ', '.join(f'{a} = {json.dumps(b)}' for a, b in v.items()) + '}'}\n" for k, v in value.items()))
    with pytest.raises(ConfigError) as e:
        build_config("CartPole-v1", str(toml))
    assert f"'{named}'" in str(e.value) and str(toml) in str(e.value)
