"""The restricted unpickler for the authors' data_final.pkl files (hades_zoo.legacy_pickle)."""

import hashlib
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from hades_zoo import legacy_pickle
from hades_zoo.errors import LegacyFormatError
from hades_zoo.legacy_pickle import LegacyRun, load_legacy_pickle

SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference"
LEGACY, EXPORTS = SHARED / "legacy", SHARED / "exports"
# name -> (ENV_NAME, OVERFIT, strategy, action_dim or None for MinAtar)
RUNS = {
    "hopper-R-D64-seed0": ("hopper", False, "OpenES", 3),
    "hopper-R-D64-seed1": ("hopper", False, "OpenES", 3),
    "hopper-R-D64-seed2": ("hopper", False, "OpenES", 3),
    "hopper-F-D64-seed0": ("hopper", True, "OpenES", 3),
    "Breakout-MinAtar-R-D16-seed0": ("Breakout-MinAtar", False, "SNES", None),
}


def _need_shared():
    if not LEGACY.is_dir() or not EXPORTS.is_dir():
        pytest.skip(f"{LEGACY} is absent (reference files live beside the repo)")


def _pkl(name="hopper-R-D64-seed0") -> Path:
    _need_shared()
    return LEGACY / f"{name}.pkl"


def _refused(path, *words):
    with pytest.raises(LegacyFormatError) as info:
        load_legacy_pickle(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg
    for w in words:
        assert w in msg, msg
    return msg


@pytest.mark.parametrize("name", sorted(RUNS))
def test_real_pickles_match_exports(name):
    path = _pkl(name)
    env_name, overfit, strategy, act = RUNS[name]
    meta = json.loads((EXPORTS / f"{name}.json").read_text())
    with np.load(EXPORTS / f"{name}.npz", allow_pickle=False) as npz:
        ref = {k: npz[k] for k in npz.files}
    run = load_legacy_pickle(path)
    assert isinstance(run, LegacyRun) and run.strategy == strategy
    assert run.sha256 == meta["source"]["pickle_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert run.mean.dtype == np.float32 and run.mean.ndim == 1
    D = meta["D"]
    if act is None:  # MinAtar: only states are learned
        np.testing.assert_array_equal(run.mean.reshape(D, -1), ref["states"])
        np.testing.assert_array_equal(run.config["OBS_MEAN"], ref["obs_mean"])
        np.testing.assert_array_equal(run.config["OBS_VAR"], ref["obs_var"])
        assert isinstance(run.config["OBS_MEAN"], np.ndarray) and run.config["OBS_MEAN"].dtype == np.float32
    else:  # brax: actions first (sorted pytree keys), then states
        np.testing.assert_array_equal(run.mean[:D * act].reshape(D, act), ref["actions"])
        np.testing.assert_array_equal(run.mean[D * act:].reshape(D, -1), ref["states"])
    assert run.fitness_over_gen.dtype == np.float32 and run.fitness_over_gen.ndim == 1
    assert run.fitness_over_gen.size == meta["recorded"]["generations"]
    assert float(run.fitness_over_gen[-1]) == meta["recorded_return"]
    assert float(run.max_fitness_over_gen[-1]) == meta["recorded"]["final_max_fitness"]
    assert run.fitness.shape == (2048,)
    np.testing.assert_allclose(run.fitness.mean(), run.fitness_over_gen[-1], rtol=1e-5)
    assert run.config["ENV_NAME"] == env_name and run.config["OVERFIT"] is overfit
    assert run.es_config["popsize"] == 2048 and run.es_config["dataset_size"] == D


class _System:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


class _Eval:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


@pytest.mark.parametrize("protocol", [2, 4])
def test_os_system_is_refused_and_never_runs(tmp_path, protocol):
    marker = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_System(f"echo pwned > {marker}"), protocol=protocol))
    msg = _refused(path, "refused", "system", "not an authors' HaDES result pickle")
    if protocol == 4:  # STACK_GLOBAL reaches find_class, which names module.name
        assert f"{os.system.__module__}.system" in msg
    assert not marker.exists()


def test_builtins_eval_is_refused(tmp_path):
    path = tmp_path / "eval.pkl"
    path.write_bytes(pickle.dumps(_Eval(), protocol=4))
    _refused(path, "refused global builtins.eval", "not an authors' HaDES result pickle")


def test_numpy_scalar_is_refused(tmp_path):
    path = tmp_path / "scalar.pkl"
    path.write_bytes(pickle.dumps(np.float32(1.0), protocol=4))  # numpy scalars never occur in these files
    _refused(path, "refused global", "multiarray.scalar")


def test_truncated_pickle(tmp_path):
    path = tmp_path / "truncated.pkl"
    path.write_bytes(_pkl().read_bytes()[:1000])
    _refused(path, "truncated or not a pickle")


def test_random_bytes(tmp_path):
    path = tmp_path / "random.pkl"
    path.write_bytes(b"\xff" + np.random.default_rng(0).bytes(4095))  # 0xff is no opcode
    _refused(path, "truncated or not a pickle")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pkl"
    path.write_bytes(b"")
    _refused(path, "truncated or not a pickle")


def test_wrong_top_level(tmp_path):
    path = tmp_path / "list.pkl"
    path.write_bytes(pickle.dumps([1, 2.0, "three"], protocol=4))
    _refused(path, "top level is a list", "not an authors' HaDES result pickle")
    path.write_bytes(pickle.dumps({"state": None, "config": {}}, protocol=4))
    _refused(path, "top level is a dict")


def test_missing_and_oversized_files(tmp_path, monkeypatch):
    _refused(tmp_path / "nope.pkl", "no such file")
    path = tmp_path / "big.pkl"
    path.write_bytes(b"\x00" * 2000)
    monkeypatch.setattr(legacy_pickle, "MAX_BYTES", 1000)
    _refused(path, "over the", "MiB limit")


@pytest.mark.parametrize("old,new,words", [
    (b"\x8c\x02f4", b"\x8c\x02f8", ("numpy.dtype arguments",)),  # float64 is not a dtype these files use
    (b"open_es", b"open_ex", ("refused global evosax.strategies.open_ex.EvoState",)),
    (b"\x8c\x05numpy", b"\x8c\x05nump_", ("refused global nump_.ndarray",)),
    (b"C\x01b", b"C\x01c", ("unexpected ndarray arguments",)),
    (b"_reconstruct_array", b"_reconstruct_arrax", ("refused global jax._src.array._reconstruct_arrax",)),
])
def test_layout_violations_in_a_real_pickle(tmp_path, old, new, words):
    data = _pkl().read_bytes()
    assert old in data
    path = tmp_path / "mutated.pkl"
    path.write_bytes(data.replace(old, new, 1))
    _refused(path, *words)


def test_trailing_bytes_and_foreign_opcodes(tmp_path):
    data = _pkl().read_bytes()
    path = tmp_path / "trailing.pkl"
    path.write_bytes(data + b"\x00")
    _refused(path, "trailing bytes")
    path.write_bytes(pickle.dumps({1, 2}, protocol=4))  # EMPTY_SET never occurs in these files
    _refused(path, "refused opcode EMPTY_SET")


# -- crafted streams (tests/pickle_asm.py): budgets and stand-ins that BUILD cannot change ----------

import time  # noqa: E402

import pickle_asm as asm  # noqa: E402


def _write(tmp_path, data: bytes, name="crafted.pkl") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_assembled_stream_loads(tmp_path):
    """The assembler's baseline stream is accepted, so each refusal below is the crafted part's."""
    run = load_legacy_pickle(_write(tmp_path, asm.run()))
    assert run.strategy == "OpenES" and run.mean.tolist() == [0, 1, 2, 3]
    assert run.config == {"ENV_NAME": "hopper", "WIDTH": 512} and run.fitness_over_gen.tolist() == [1, 2]


@pytest.mark.parametrize("where,as_dict", [("config", False), ("es_config", True)])
def test_fanned_out_memo_references_fail_fast(tmp_path, where, as_dict):
    """~1 KB naming 10^10 nodes (10 x 10 fan-out, 10 levels): refused within the node budget."""
    bomb = asm.dct((asm.s("x"), asm.fan_out(10, as_dict=as_dict)))
    data = asm.run(**{where: bomb})
    assert len(data) < 2048
    t0 = time.perf_counter()
    _refused(_write(tmp_path, data), f"more than {legacy_pickle.MAX_CONFIG_NODES} values")
    assert time.perf_counter() - t0 < 5


def test_deep_nesting_is_refused(tmp_path):
    deep = asm.value({"x": 0})
    for _ in range(legacy_pickle.MAX_CONFIG_DEPTH + 2):
        deep = asm.lst(deep)
    _refused(_write(tmp_path, asm.run(config=asm.dct((asm.s("x"), deep)))), "nested more than")


def test_rebuilding_the_same_bytes_is_refused(tmp_path):
    """Memoised array arguments REDUCEd again and again: the arrays may not outgrow the file."""
    fn = asm.glob("jax._src.array", "_reconstruct_array") + asm.MEMOIZE  # memo 0
    args = asm.array_args(np.zeros(25_000, np.float32)) + asm.MEMOIZE  # memo 1 (100 kB of bytes)
    copies = asm.lst(*[asm.get(0) + asm.get(1) + asm.REDUCE] * 50)  # 5 MB of arrays from a 100 kB file
    data = asm.run(config=asm.dct((asm.s("fn"), fn), (asm.s("args"), args), (asm.s("copies"), copies)))
    _refused(_write(tmp_path, data), "more bytes than the file")


def test_opcode_budget(tmp_path):
    n = legacy_pickle.MAX_OPCODES + 10
    data = asm.PROTO4 + asm.EMPTY_LIST + asm.MARK + asm.NONE * n + asm.APPENDS + asm.STOP
    t0 = time.perf_counter()
    _refused(_write(tmp_path, data), f"over {legacy_pickle.MAX_OPCODES} opcodes")
    assert time.perf_counter() - t0 < 10


def test_array_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(legacy_pickle, "MAX_ARRAYS", 2)
    _refused(_write(tmp_path, asm.run()), "arrays")  # the baseline stream rebuilds 2 arrays, plus the dtype's REDUCEs


_GLOBALS = [("jax._src.array", "_reconstruct_array"), ("numpy.core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("evosax.strategies.open_es", "EvoState"),
            ("evosax.utils.optimizer", "OptState"), ("evosax.strategies.snes", "EvoState")]


def _module_state():
    """Every module-level object of legacy_pickle, with the attribute dicts a BUILD could change."""
    out = {}
    for name, obj in vars(legacy_pickle).items():
        attrs = getattr(obj, "__dict__", None)
        out[name] = (id(obj), dict(attrs) if attrs is not None else None,
                     tuple(getattr(obj, s, None) for s in getattr(type(obj), "__slots__", ())))
    return out


@pytest.mark.parametrize("module,name", _GLOBALS)
@pytest.mark.parametrize("state", [{"name": "pwned", "fn": None, "strategy": "x"},
                                   ({}, {"name": "pwned", "__class__": None, "strategy": "x"})])
def test_build_on_an_allowed_global_changes_nothing(tmp_path, module, name, state):
    """BUILD on a stand-in (dict state, or (dict, slot state) for setattr) is refused, and no
    module-level object of the unpickler changes: the next load sees the same stand-ins."""
    before = _module_state()
    data = asm.PROTO4 + asm.glob(module, name) + asm.value(state) + asm.BUILD + asm.STOP
    with pytest.raises(LegacyFormatError) as info:
        load_legacy_pickle(_write(tmp_path, data))
    assert "\n" not in str(info.value)
    assert _module_state() == before
    assert load_legacy_pickle(_write(tmp_path, asm.run(), "ok.pkl")).strategy == "OpenES"


def test_scan_table_covers_the_allowed_opcodes():
    """Every allowed opcode has an argument size the scanner understands (fixed or a 1/4-byte prefix)."""
    import pickletools

    for op in pickletools.opcodes:
        size = legacy_pickle._SCAN_TABLE[ord(op.code)]
        assert (size is not None) == (op.name in legacy_pickle._OPCODES), op.name
        if size is not None and op.arg is not None:
            assert op.arg.n >= 0 and size == op.arg.n or size in (-1, -4), op.name
