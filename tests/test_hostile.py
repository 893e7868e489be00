"""Issue 16's hostile and careless inputs, one row each: every one ends in one ``error:`` line and
exit 2 (CLI) or one typed ``HadesZooError`` (API), or in correct behaviour; never a traceback.

The CLIs run in this process (``main(argv)``): the error contract is what is under test, and a
fresh interpreter per row would cost seconds of imports each. What needs a run directory or a hub
lives in test_distill.py / test_publish.py / test_schema.py; what needs an unusable pickle is in
test_bounds.py.
"""

import json

import numpy as np
import pytest

import hades_zoo
from hades_zoo import SyntheticDataset
from hades_zoo import format as fmt
from hades_zoo.errors import HadesZooError
from hades_zoo.catalogue import ZOO_DIR
from hades_zoo.sources import catalog

CARTPOLE = ZOO_DIR / catalog()["cartpole-hades-r-4"]["file"]
BIG = 2**70  # what `--seed $((2**70))` means (bash itself wraps it to 0)


def _cli(prog, argv, capfd, out: list | None = None):
    """``(exit code, error lines)`` of one CLI call in this process (progress lines aside; no traceback);
    stdout is appended to ``out`` when given."""
    main = __import__(f"{prog}.cli", fromlist=["main"]).main
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in argv])
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err, captured.err
    if out is not None:
        out.append(captured.out)
    return e.value.code, [ln for ln in captured.err.splitlines() if ln.startswith("error")]


def _hostile_file(tmp_path, **meta_changes):
    tensors, meta = fmt.read(CARTPOLE)
    tensors = {k: fmt._c_array(v) for k, v in tensors.items()}
    meta.update(meta_changes)
    enc = {k: (v if isinstance(v, str) and k not in fmt.JSON_KEYS else json.dumps(v)) for k, v in meta.items()}
    enc.update(format=fmt.FORMAT_VERSION, sha256=fmt.payload_sha256(tensors))
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(fmt.safetensors_bytes(tensors, enc))
    return path


CLI_CASES = [  # (id, prog, argv builder, words in the one error line)
    ("seed-2**70", "hades_zoo", lambda t: ["train", "cartpole-hades-r-4", "--seed", BIG], "MAX_SEED"),
    ("resmlp-huge", "hades_zoo", lambda t: ["train", "cartpole-hades-r-4", "--arch", "resmlp-1x3037000500-tanh"],
     "over the bounds"),
    ("mlp-int32-width", "hades_zoo", lambda t: ["train", "cartpole-hades-r-4", "--arch", "mlp-2x2147483647-tanh"],
     "over the bounds"),
    ("arch-non-ascii-digit", "hades_zoo", lambda t: ["train", "cartpole-hades-r-4", "--arch", "mlp-2x\u0664-tanh"],
     "unknown architecture"),
    ("plot-missing-dir", "hades_zoo", lambda t: ["generalize", "cartpole-hades-r-4", "--archs", "mlp-1x8-tanh",
                                                 "--plot", t / "no" / "such" / "dir.png"], "directory does not exist"),
    ("unreadable-input", "hades_zoo", lambda t: ["info", "/proc/self/mem"], "cannot be read"),
    ("unreadable-pickle", "hades_zoo", lambda t: ["import-legacy", "/proc/self/mem", "--env", "cartpole", "--method",
                                                  "r", "-o", t / "x.safetensors"], "cannot be read"),
    ("meta-recipe-list", "hades_zoo", lambda t: ["info", _hostile_file(t, recipe=[1, 2])], "metadata field 'recipe'"),
    ("meta-obs-norm-list", "hades_zoo", lambda t: ["info", _hostile_file(t, obs_norm=["const"])],
     "metadata field 'obs_norm'"),
    ("meta-recorded-return-str", "hades_zoo", lambda t: ["info", _hostile_file(t, recorded_return="abc")],
     "metadata field 'recorded_return'"),
    ("norm_envs=0", "distill", lambda t: _run(t, "norm_envs = 0"), "'norm_envs'"),
    ("size=4.5", "distill", lambda t: _run(t, "size = 4.5"), "'size'"),
    ("es_lr=inf", "distill", lambda t: _run(t, "es_lr = inf"), "'es_lr'"),
    ("eval_seeds=0", "distill", lambda t: _run(t, "eval_seeds = 0"), "'eval_seeds'"),
    ("popsize-string", "distill", lambda t: _run(t, 'popsize = "64"'), "'popsize'"),
    ("resume-not-a-run", "distill", lambda t: ["resume", t], "not a distill run directory"),
    ("baseline-size-huge", "distill", lambda t: ["baseline", "--dataset", "digits", "--size", 10**8, "--seeds", 1],
     "images per class"),
    ("flag-out-of-range", "distill", lambda t: ["baseline", "--dataset", "digits", "--seeds", 10**8], "'--seeds'"),
    ("unknown-option", "hades_zoo", lambda t: ["train", "--seedz", "3", "x"], "No such option"),
    ("missing-argument", "hades_zoo", lambda t: ["info"], "Missing argument"),
]


def _run(tmp_path, line: str) -> list:
    (tmp_path / "bad.toml").write_text(f'env = "CartPole-v1"\n{line}\n')
    return ["run", "--config", tmp_path / "bad.toml", "--out", tmp_path / "out", "--no-progress"]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_case_is_one_error_line(case, tmp_path, capfd):
    _, prog, argv, words = case
    code, err = _cli(prog, argv(tmp_path), capfd)
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and words in err[0], err
    assert not (tmp_path / "out").exists()  # a refused run leaves nothing behind (no config.toml)


def test_directory_named_like_a_catalog_entry_does_not_shadow_it(tmp_path, monkeypatch, capfd):
    (tmp_path / "cartpole-hades-r-4").mkdir()
    monkeypatch.chdir(tmp_path)
    code, _ = _cli("hades_zoo", ["info", "cartpole-hades-r-4"], capfd)
    assert code == 0


def _cartpole():
    return SyntheticDataset(states=np.zeros((2, 4), np.float32), labels=np.eye(2, dtype=np.float32),
                            env_id="CartPole-v1")


API_CASES = [
    ("load-bytes", lambda: hades_zoo.load(b"cartpole-hades-r-4"), "decode bytes"),
    ("load-int", lambda: hades_zoo.load(5), "name or a path"),
    ("env_id=None", lambda: SyntheticDataset(states=np.zeros((2, 4), np.float32), labels=np.eye(2, dtype=np.float32),
                                             env_id=None), "env_id must be str"),
    ("recipe='x'", lambda: SyntheticDataset(states=np.zeros((2, 4), np.float32), labels=np.eye(2, dtype=np.float32),
                                            env_id="CartPole-v1", recipe="x"), "recipe must be"),
    ("train-epochs-1.5", lambda: hades_zoo.train(_cartpole(), epochs=1.5), "whole number"),
    ("train-lr-string", lambda: hades_zoo.train(_cartpole(), lr="x"), "finite number"),
    ("train-lr-inf", lambda: hades_zoo.train(_cartpole(), lr=float("inf")), "finite number"),
    ("from_parts-obs_norm-int", lambda: SyntheticDataset.from_parts(*_parts(obs_norm=5)), "obs_norm"),
    ("from_parts-meta-str", lambda: SyntheticDataset.from_parts({}, "meta"), "dict of metadata"),
    ("evaluate-repeats-0", lambda: hades_zoo.evaluate(hades_zoo.train(_cartpole(), epochs=1), repeats=0), "repeats must be between 1"),
    ("evaluate-repeats-past-seed", lambda: hades_zoo.evaluate(hades_zoo.train(_cartpole(), epochs=1), seed=2**32 - 1, repeats=2),
     "seed + repeats - 1"),
    ("multitask-steps-factor-0", lambda: _multitask_config(steps_factor=0), "steps_factor must be"),
    ("multitask-epochs-1.5", lambda: _multitask(epochs=1.5), "whole number"),
    ("multitask-epochs-str", lambda: _multitask(epochs="9"), "whole number"),
]


def _parts(**changes):
    tensors, meta = fmt.read(CARTPOLE)
    return tensors, {**meta, **changes}


def _multitask_config(**kw):
    from hades_zoo.multitask import MultiTaskConfig

    return MultiTaskConfig(**kw)


def _multitask(**kw):
    from hades_zoo.multitask import train_multitask

    return train_multitask(hades_zoo.merge(["cartpole-hades-r-4", "acrobot-hades-r-4"]), **kw)


@pytest.mark.parametrize("case", API_CASES, ids=[c[0] for c in API_CASES])
def test_api_case_is_one_typed_error(case):
    _, call, words = case
    with pytest.raises(HadesZooError) as e:
        call()
    assert words in str(e.value) and "\n" not in str(e.value)


def test_from_parts_reads_a_bare_obs_norm_kind():
    assert SyntheticDataset.from_parts(*_parts(obs_norm="const")).obs_norm == "const"  # the default eps


HOSTILE_CARD = """---
license: apache-2.0
tags: [hades-zoo]
hades_zoo: {block}
---
# a card someone else wrote
"""


def test_hostile_cards_on_the_hub(on_hub, capfd):
    """`hades_zoo: [1, 2]` in one repo's card must not break `list --remote` for everyone; a sha256
    that YAML reads as an int, or `bytes: abc`, makes `download` fail with one line."""
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(endpoint=on_hub.url)
    blocks = {"list-block": "[1, 2]",
              "int-sha": "{format: hades-zoo/1, file: x.safetensors, bytes: 10, sha256: " + "0" * 64 + "}",
              "text-bytes": "{format: hades-zoo/1, file: x.safetensors, bytes: abc, sha256: '" + "0" * 64 + "'}"}
    for name, block in blocks.items():
        repo = f"testorg/hostile-{name}"
        api.create_repo(repo, repo_type="dataset", exist_ok=True)
        api.create_commit(repo, [CommitOperationAdd("README.md", HOSTILE_CARD.format(block=block).encode()),
                                 CommitOperationAdd("x.safetensors", b"0123456789")],
                          commit_message="hostile", repo_type="dataset")
    out = []
    code, err = _cli("hades_zoo", ["list", "--remote", "--json"], capfd, out)
    rows = {r["repo_id"]: r for r in json.loads(out[0])}
    assert code == 0 and not err and "hades_zoo" in rows["testorg/hostile-list-block"]["invalid"]
    code, err = _cli("hades_zoo", ["list", "--remote"], capfd)  # the table too
    assert code == 0 and not err
    for name, field in (("int-sha", "sha256"), ("text-bytes", "bytes")):
        code, err = _cli("hades_zoo", ["download", f"testorg/hostile-{name}"], capfd)
        assert code == 2 and len(err) == 1 and f"hades_zoo.{field}" in err[0], err


def test_publish_refuses_a_run_directory_still_being_written(tmp_path):
    import shutil

    from distill import rundir
    from distill.publish import resolve_source
    from hades_zoo.errors import ConfigError

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(CARTPOLE, run / "mean.safetensors")
    with rundir.lock(run):
        with pytest.raises(ConfigError, match="still being written"):
            resolve_source(run)
    assert resolve_source(run).dataset.env_id == "CartPole-v1"


def test_metrics_rows_that_do_not_parse_are_dropped_never_fatal(tmp_path, capsys):
    from distill.rundir import read_metrics

    path = tmp_path / "metrics.jsonl"
    good = '{"generation": %d, "fitness_mean": 1.0, "fitness_max": 2.0, "fitness_min": 0.0}\n'
    path.write_bytes((good % 1 + '{"fitness_mean": 1.0}\n' + good % 2 + "\xff\n" + good % 2 + good % 3).encode()
                     + b"\xff\xfe{\n" + b'{"generation": 4, "fitn')
    rows = read_metrics(path, upto=3)
    assert [r["generation"] for r in rows] == [1, 2, 3]  # no generation, bad bytes, torn tail: dropped
    assert "dropped 4 lines (first: 2)" in capsys.readouterr().err


def test_an_oversized_dataset_is_refused_on_load_before_any_evaluation(tmp_path):
    """The issue's 2M-pair dataset failed in the figure code after publish had evaluated it; the size
    bound now refuses it when it is read (70,000 pairs: just over bounds.MAX_DATASET_PAIRS)."""
    from distill.publish import resolve_source
    from hades_zoo import bounds

    n = bounds.MAX_DATASET_PAIRS + 4464
    tensors = {"states": np.zeros((n, 4), np.float32), "labels": np.tile(np.eye(2, dtype=np.float32), (n // 2, 1))}
    _, meta = fmt.read(CARTPOLE)
    path = tmp_path / "big.safetensors"
    fmt.write(path, tensors, {**meta, "size": str(n)})
    with pytest.raises(HadesZooError, match="MAX_DATASET_PAIRS"):
        resolve_source(path)


@pytest.mark.parametrize("prog", ["hades_zoo", "distill"])
def test_no_command_shows_the_help(prog, capfd):
    main = __import__(f"{prog}.cli", fromlist=["main"]).main
    with pytest.raises(SystemExit):
        main([])
    assert "Usage:" in capfd.readouterr().err
