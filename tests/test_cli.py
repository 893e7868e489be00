"""The `hades-zoo` CLI: help everywhere, one clear line and a non-zero exit on bad input."""

import json
import pickle

import numpy as np
import pytest

from conftest import LEGACY, needs_shared, run_cli


def _assert_one_line_error(proc, *needles):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and "warp" not in ln and "Warning" not in ln]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.mark.parametrize("cmd", [[], ["list"], ["info"], ["train"], ["import-legacy"]])
def test_help(cmd):
    proc = run_cli(*cmd, "--help")
    assert proc.returncode == 0 and "Usage" in proc.stdout


@pytest.fixture
def saved(tmp_path, cartpole_dataset):
    path = tmp_path / "cp.safetensors"
    cartpole_dataset.save(path)
    return path


def test_train_json_contract(saved):
    proc = run_cli("train", saved, "--arch", "mlp-1x16-tanh", "--seeds", 2, "--epochs", 50, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["env"] == "CartPole-v1" and out["arch"] == "mlp-1x16-tanh" and len(out["returns"]) == 2
    assert out["mean"] == pytest.approx(np.mean(out["returns"]))
    assert {"total_s", "bc_s", "eval_s", "load_s", "jax_import_s", "eval_trace_s", "eval_compile_s", "eval_cache"} <= set(out["timing"])


def test_train_says_its_phases_on_stderr(saved, monkeypatch):
    monkeypatch.delenv("HADES_ZOO_QUIET")
    args = ("train", saved, "--arch", "mlp-1x16-tanh", "--seeds", 2, "--epochs", 20, "--transfer", "none", "--json")
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    phases = [ln.split(":")[0] for ln in proc.stderr.splitlines() if ":" in ln]
    want = ["loading", "initialising", "compiling", "behaviour cloning", "compiling", "evaluating"]
    assert [p for p in phases if p in want] == want, proc.stderr
    assert json.loads(proc.stdout)["env"] == "CartPole-v1"  # stdout stays one JSON object
    quiet = run_cli(*args, "--quiet")
    assert quiet.returncode == 0 and not [ln for ln in quiet.stderr.splitlines() if ln.split(":")[0] in want]


def test_info_shows_metadata(saved):
    proc = run_cli("info", saved, "--json")
    assert proc.returncode == 0, proc.stderr
    meta = json.loads(proc.stdout)
    assert meta["env_id"] == "CartPole-v1" and meta["shapes"]["labels"] == [4, 2]
    assert meta["size"] == 4  # typed, though the file stores strings


def test_info_table_and_version(saved):
    from click.testing import CliRunner

    from hades_zoo import SyntheticDataset, __version__
    from hades_zoo.cli import cli

    shown = CliRunner().invoke(cli, ["info", str(saved)])
    assert shown.exit_code == 0, shown.output
    rows = dict(line.split(None, 1) for line in shown.output.splitlines() if line.strip() and line[:2] != "  ")
    assert rows["env_id"].strip() == "CartPole-v1" and rows["size"].strip() == "4"
    assert "labels=[4, 2]" in rows["shapes"]
    version = CliRunner().invoke(cli, ["--version"])
    assert version.exit_code == 0 and version.output.strip() == f"hades-zoo {__version__}"
    ds = SyntheticDataset.load(saved)
    assert len(repr(ds).splitlines()) == 1 and "CartPole-v1" in repr(ds) and "pairs=4" in repr(ds)


def test_truncated_file(saved):
    saved.write_bytes(saved.read_bytes()[:60])
    _assert_one_line_error(run_cli("train", saved), "truncated")


def test_flipped_bytes(saved):
    data = bytearray(saved.read_bytes())
    data[-3] ^= 0x55
    saved.write_bytes(bytes(data))
    _assert_one_line_error(run_cli("info", saved), "sha256 mismatch")


def test_nan_and_wrong_shape(tmp_path):
    from safetensors.numpy import save

    from hades_zoo import format as fmt

    for i, (states, needle) in enumerate([(np.full((4, 4), np.nan, np.float32), "NaN"), (np.zeros((4, 5), np.float32), "shape")]):
        tensors = {"states": states, "labels": np.eye(2, dtype=np.float32)[[0, 1, 0, 1]]}
        meta = {"format": "hades-zoo/1", "env_id": "CartPole-v1", "recipe": "{}", "protocol": '"episodes"',
                "obs_norm": '{"kind": "none"}', "sha256": fmt.payload_sha256(tensors)}
        path = tmp_path / f"bad{i}.safetensors"
        path.write_bytes(save(tensors, metadata=meta))
        _assert_one_line_error(run_cli("train", path), needle)


def test_unknown_env_in_file(tmp_path):
    from safetensors.numpy import save

    from hades_zoo import format as fmt

    tensors = {"states": np.zeros((4, 4), np.float32), "labels": np.eye(2, dtype=np.float32)[[0, 1, 0, 1]]}
    meta = {"format": "hades-zoo/1", "env_id": "CartPole-v9", "recipe": "{}", "protocol": '"episodes"',
            "obs_norm": '{"kind": "none"}', "sha256": fmt.payload_sha256(tensors)}
    (tmp_path / "e.safetensors").write_bytes(save(tensors, metadata=meta))
    _assert_one_line_error(run_cli("info", tmp_path / "e.safetensors"), "unknown environment", "CartPole-v1")


def test_unknown_name_suggests():
    from hades_zoo.sources import catalog

    if not catalog():
        pytest.skip("empty catalog")
    name = sorted(catalog())[0]
    _assert_one_line_error(run_cli("info", name[:-1] + "7"), "Did you mean", name)


def test_bad_arch_and_protocol(saved):
    _assert_one_line_error(run_cli("train", saved, "--arch", "transformer-xl"), "unknown architecture")
    _assert_one_line_error(run_cli("train", saved, "--protocol", "nope"), "unknown protocol")


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


@pytest.mark.parametrize("payload,needle", [(_Evil(), "refused global posix.system"), ({"state": _Evil()}, "refused")])
def test_import_legacy_refuses_forbidden_global(tmp_path, payload, needle):
    bad = tmp_path / "evil.pkl"
    bad.write_bytes(pickle.dumps(payload, protocol=4))
    proc = run_cli("import-legacy", bad, "--env", "hopper", "--method", "r", "-o", tmp_path / "o.safetensors")
    _assert_one_line_error(proc, needle)
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "o.safetensors").exists()


@needs_shared()
@pytest.mark.parametrize("env,method,needle", [("walker2d", "r", "--env hopper"), ("hopper", "f", "--method r")])
def test_import_legacy_checks_env_and_method(tmp_path, env, method, needle):
    proc = run_cli("import-legacy", LEGACY / "hopper-R-D64-seed0.pkl", "--env", env, "--method", method,
                   "-o", tmp_path / "o.safetensors")
    _assert_one_line_error(proc, needle)


def test_our_warnings_print_as_one_line(capsys):
    from hades_zoo import _runtime
    from hades_zoo.errors import HadesZooWarning

    msg = "hopper-hades-r-64 was made with brax 0.9.4 (now 0.14.2); returns may differ"
    _runtime._one_line_warning(HadesZooWarning(msg), HadesZooWarning, "api.py", 154)
    assert capsys.readouterr().err == f"warning: {msg}\n"
