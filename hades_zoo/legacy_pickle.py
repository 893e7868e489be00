"""Restricted unpickler for the authors' HaDES result pickles (``data_final.pkl``).

Why not ``pickle.load``: unpickling runs whatever callables the stream names, so a
downloaded ``.pkl`` could execute arbitrary code; and with today's packages it fails
anyway (the pickles reference ``evosax.strategies.*`` modules and a jax
``_reconstruct_array`` that no longer exist/work). A pure-Python opcode pass first
refuses truncated streams and any opcode these files never use; then ``find_class``
allows exactly the seven globals these files use (shared/reference/legacy/README.md
section 1) and maps them to inert local stand-ins: jax arrays become NumPy arrays after
their exact argument layout is checked, evosax states become plain records. Any other
global, persistent id or layout deviation raises ``LegacyFormatError``. Neither jax
nor evosax is imported.
"""

from __future__ import annotations

import hashlib
import io
import math
import pickle
import pickletools
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from hades_zoo.errors import LegacyFormatError

MAX_BYTES = 512 * 1024 * 1024
_NOT_OURS = ("not an authors' HaDES result pickle; only data_final.pkl files from FLAIROx/behaviour-distillation "
             "can be imported (re-download it if it was altered)")
_DTYPES = {"f4": np.dtype("<f4"), "i4": np.dtype("<i4")}
_DTYPE_STATE = (3, "<", None, None, None, -1, -1, 0)
_OPCODES = frozenset(
    "PROTO FRAME STOP MARK EMPTY_DICT EMPTY_LIST EMPTY_TUPLE TUPLE TUPLE1 TUPLE2 TUPLE3 SETITEMS APPENDS "
    "MEMOIZE BINGET LONG_BINGET SHORT_BINUNICODE SHORT_BINBYTES BINBYTES BININT BININT1 BININT2 BINFLOAT "
    "NEWTRUE NEWFALSE NONE STACK_GLOBAL REDUCE NEWOBJ BUILD".split())  # README section 1


def _bad(what: str):
    raise LegacyFormatError(f"{what}; {_NOT_OURS}")


def _short(x) -> str:
    r = repr(x)
    return r if len(r) <= 80 else r[:77] + "..."


def _one_line(path: Path, msg: str) -> LegacyFormatError:
    return LegacyFormatError(f"{path}: {' '.join(msg.splitlines())}")


class _Sentinel:
    """Stand-in for a global that may only appear as an argument, never be called."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, *args, **kwargs):
        _bad(f"the stream calls {self.name} directly")


_RECONSTRUCT = _Sentinel("numpy.core.multiarray._reconstruct")
_NDARRAY = _Sentinel("numpy.ndarray")


class _DtypeToken:
    """Result of ``numpy.dtype('f4'|'i4', False, True)``; BUILD must give the little-endian state."""

    def __init__(self, code: str):
        self.dtype, self.built = _DTYPES[code], False

    def __setstate__(self, state):
        if self.built or type(state) is not tuple or state != _DTYPE_STATE:
            _bad(f"unexpected numpy.dtype state {_short(state)}")
        self.built = True


def _dtype(*args):
    if len(args) != 3 or args[0] not in _DTYPES or args[1] is not False or args[2] is not True:
        _bad(f"unexpected numpy.dtype arguments {_short(args)}")
    return _DtypeToken(args[0])


def _is_shape(x) -> bool:
    return type(x) is tuple and all(type(d) is int and d >= 0 for d in x)


def _reconstruct_array(*args):
    """Stand-in for ``jax._src.array._reconstruct_array(fun, args, arr_state, aval_state)``."""
    if len(args) != 4:
        _bad(f"jax array with {len(args)} reconstruct arguments instead of 4")
    fun, nd_args, state, aval = args
    if fun is not _RECONSTRUCT:
        _bad("jax array not rebuilt with numpy.core.multiarray._reconstruct")
    if not (type(nd_args) is tuple and len(nd_args) == 3 and nd_args[0] is _NDARRAY
            and _is_shape(nd_args[1]) and nd_args[1] == (0,) and nd_args[2] == b"b"):
        _bad("jax array with unexpected ndarray arguments (expected (ndarray, (0,), b'b'))")
    if not (type(state) is tuple and len(state) == 5 and type(state[0]) is int and state[0] == 1
            and _is_shape(state[1]) and isinstance(state[2], _DtypeToken) and state[2].built
            and state[3] is False and type(state[4]) is bytes):
        _bad("jax array state is not (1, shape, float32|int32 dtype, False, bytes)")
    if not isinstance(aval, dict):
        _bad("jax array aval state is not a dict")
    _, shape, token, _, raw = state
    if len(raw) != math.prod(shape) * token.dtype.itemsize:
        _bad(f"jax array of shape {shape} holds {len(raw)} bytes")
    return np.frombuffer(raw, token.dtype).reshape(shape).copy()


class _Record:
    """Plain stand-in for an evosax dataclass: ``NEWOBJ(cls, ())`` then one ``BUILD(dict)``."""

    strategy: str | None = None

    def __new__(cls, *args, **kwargs):
        if args or kwargs:
            _bad(f"{cls.__name__} created with arguments")
        obj = super().__new__(cls)
        obj.fields = None
        return obj

    def __setstate__(self, state):
        if self.fields is not None or type(state) is not dict or not all(type(k) is str for k in state):
            _bad(f"{type(self).__name__} state is not a single dict of named fields")
        self.fields = state


class _OpenESState(_Record):
    strategy = "OpenES"


class _SNESState(_Record):
    strategy = "SNES"


class _OptState(_Record):
    pass


_ALLOWED = {
    ("jax._src.array", "_reconstruct_array"): _reconstruct_array,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _dtype,
    ("evosax.strategies.open_es", "EvoState"): _OpenESState,
    ("evosax.utils.optimizer", "OptState"): _OptState,
    ("evosax.strategies.snes", "EvoState"): _SNESState,
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise LegacyFormatError(f"refused global {_short(module)[1:-1]}.{_short(name)[1:-1]}: "
                                   f"the file is {_NOT_OURS}") from None

    def persistent_load(self, pid):
        _bad("the stream uses persistent ids")


def _plain(value, where: str):
    """Check a config value is plain data (str/number/bool/None/array/list/dict); tuples -> lists."""
    if value is None or isinstance(value, (str, bool, int, float, np.ndarray)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    _bad(f"{where} holds a {type(value).__name__}")


def _vector(value, where: str) -> np.ndarray:
    """A list of 0-d arrays/numbers (or a 1-D array) as a float32 1-D array."""
    if isinstance(value, (list, tuple)) and all(isinstance(v, (np.ndarray, int, float)) and np.ndim(v) == 0
                                                 for v in value):
        value = np.asarray([np.asarray(v).item() for v in value], np.float32)
    if not isinstance(value, np.ndarray) or value.ndim != 1 or value.size == 0:
        _bad(f"{where} is not a non-empty list of scalars")
    return value.astype(np.float32)


@dataclass(frozen=True, eq=False)
class LegacyRun:
    """What an authors' ``data_final.pkl`` holds (arrays as NumPy, configs as plain dicts)."""

    mean: np.ndarray  # float32 (N,): the ES mean = the distilled dataset vector
    strategy: str  # "OpenES" or "SNES"
    fitness_over_gen: np.ndarray  # float32 (generations,): population-mean fitness
    max_fitness_over_gen: np.ndarray | None  # float32 (generations,) or None (MNIST runs)
    fitness: np.ndarray  # fitness of every member of the last generation
    config: dict  # inner-loop (BC) config
    es_config: dict  # outer-loop (ES) config
    sha256: str  # hex sha256 of the file bytes


def _scan(data: bytes) -> None:
    """Opcode allow-list pass first: pure Python, never reads or allocates past the file's end."""
    end = -1
    try:
        for op, arg, end in pickletools.genops(data):
            if op.name not in _OPCODES:
                _bad(f"refused opcode {op.name}{'' if arg is None else ' ' + _short(arg)} at byte {end}")
    except LegacyFormatError:
        raise
    except Exception as e:  # noqa: BLE001 - genops raises ValueError & co. on a bad stream
        raise pickle.UnpicklingError(str(e)) from None
    if end + 1 != len(data):
        _bad(f"{len(data) - end - 1} trailing bytes after the pickle's STOP")


def _load(data: bytes):
    _scan(data)
    obj = _SafeUnpickler(io.BytesIO(data)).load()
    if not isinstance(obj, dict) or not {"state", "fitness_over_gen", "fitness", "config", "es_config"} <= obj.keys():
        kind = f"dict with keys {sorted(map(str, obj))}" if isinstance(obj, dict) else type(obj).__name__
        _bad(f"top level is a {kind}, not a dict with state/fitness_over_gen/fitness/config/es_config")
    state = obj["state"]
    if not isinstance(state, (_OpenESState, _SNESState)) or state.fields is None:
        _bad("'state' is not an evosax OpenES/SNES EvoState")
    mean = state.fields.get("mean")
    if not isinstance(mean, np.ndarray) or mean.dtype != np.float32 or mean.ndim != 1:
        _bad("'state.mean' is not a float32 vector")
    fitness = obj["fitness"]
    if not isinstance(fitness, np.ndarray):
        _bad("'fitness' is not an array")
    if not isinstance(obj["config"], dict) or not isinstance(obj["es_config"], dict):
        _bad("'config'/'es_config' is not a dict")
    max_fit = obj.get("max_fitness_over_gen")
    return LegacyRun(
        mean=mean, strategy=state.strategy,
        fitness_over_gen=_vector(obj["fitness_over_gen"], "'fitness_over_gen'"),
        max_fitness_over_gen=None if max_fit is None else _vector(max_fit, "'max_fitness_over_gen'"),
        fitness=fitness, config=_plain(obj["config"], "'config'"),
        es_config=_plain(obj["es_config"], "'es_config'"), sha256="")


def load_legacy_pickle(path: str | Path) -> LegacyRun:
    """Read an authors' ``data_final.pkl`` with the restricted unpickler (never ``pickle.load``).

    Raises ``LegacyFormatError`` (one line: path, problem, what to do) for a missing,
    oversized, truncated or foreign file, and for any global outside the allow-list.
    """
    path = Path(path)
    if not path.is_file():
        raise LegacyFormatError(f"{path}: no such file; check the path to the authors' data_final.pkl")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise LegacyFormatError(f"{path}: {size} bytes is over the {MAX_BYTES >> 20} MiB limit; {_NOT_OURS}")
    data = path.read_bytes()
    try:
        run = _load(data)
    except LegacyFormatError as e:
        raise _one_line(path, str(e)) from None
    except (pickle.UnpicklingError, EOFError) as e:
        raise _one_line(path, f"the file is truncated or not a pickle ({type(e).__name__}: {_short(str(e))[1:-1]}); "
                        "re-download the authors' data_final.pkl") from None
    except Exception as e:  # noqa: BLE001 - any other failure means a malformed stream
        raise _one_line(path, f"malformed pickle stream ({type(e).__name__}: {_short(str(e))[1:-1]}); {_NOT_OURS}") from None
    return replace(run, sha256=hashlib.sha256(data).hexdigest())
