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

Budgets (named constants below) keep a crafted file from becoming a memory or CPU bomb:
the opcode pass counts opcodes and array rebuilds before anything is built; the arrays
rebuilt may hold no more bytes than the file does (each array's bytes are in it once); and
the configs are copied within a node and depth budget, so memo references fanned out
(a 1 KB file naming 10^10 nodes) fail fast. Every stand-in a stream can reach is created
per load and refuses ``BUILD``, so no stream changes anything for the next one.
"""

from __future__ import annotations

import hashlib
import io
import math
import pickle
import pickletools
import reprlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from hades_zoo.errors import LegacyFormatError

# Bounds, each well above what the authors' 234 released files need (largest file 1.27 MB,
# 310,581 opcodes, 10,011 arrays, configs of 28 nodes nested 2 deep).
MAX_BYTES = 16 * 1024 * 1024  # file size
MAX_OPCODES = 1_000_000  # opcodes in the stream
MAX_ARRAYS = 50_000  # REDUCE opcodes (one per jax array)
MAX_CONFIG_NODES = 10_000  # values in config + es_config together, counted as a tree
MAX_CONFIG_DEPTH = 16  # nesting of config values
_NOT_OURS = ("not an authors' HaDES result pickle; only data_final.pkl files from FLAIROx/behaviour-distillation "
             "can be imported (re-download it if it was altered)")
_DTYPES = {"f4": np.dtype("<f4"), "i4": np.dtype("<i4")}
_DTYPE_STATE = (3, "<", None, None, None, -1, -1, 0)
_OPCODES = frozenset(
    "PROTO FRAME STOP MARK EMPTY_DICT EMPTY_LIST EMPTY_TUPLE TUPLE TUPLE1 TUPLE2 TUPLE3 SETITEMS APPENDS "
    "MEMOIZE BINGET LONG_BINGET SHORT_BINUNICODE SHORT_BINBYTES BINBYTES BININT BININT1 BININT2 BINFLOAT "
    "NEWTRUE NEWFALSE NONE STACK_GLOBAL REDUCE NEWOBJ BUILD".split())  # README section 1
_BY_CODE = {ord(op.code): op for op in pickletools.opcodes}
# opcode byte -> argument bytes, or -k for a k-byte length prefix; None: refused.
_PREFIX = {pickletools.TAKEN_FROM_ARGUMENT1: -1, pickletools.TAKEN_FROM_ARGUMENT4U: -4}
_SCAN_TABLE = [None] * 256
for _op in _BY_CODE.values():
    if _op.name in _OPCODES:
        _SCAN_TABLE[ord(_op.code)] = 0 if _op.arg is None else _PREFIX.get(_op.arg.n, _op.arg.n)
_STOP, _REDUCE = ord("."), ord("R")


def _bad(what: str):
    raise LegacyFormatError(f"{what}; {_NOT_OURS}")


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxtuple, _REPR.maxlist, _REPR.maxdict = 3, 4, 4, 4
_REPR.maxstring = _REPR.maxother = 60


def _short(x) -> str:
    """A bounded repr: a fanned-out structure would make ``repr`` itself a bomb."""
    r = _REPR.repr(x)
    return r if len(r) <= 80 else r[:77] + "..."


def _one_line(path: Path, msg: str) -> LegacyFormatError:
    return LegacyFormatError(f"{path}: {' '.join(msg.splitlines())}")


class _Sentinel:
    """Stand-in for a global that may only appear as an argument, never be called or built."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __call__(self, *args, **kwargs):
        _bad(f"the stream calls {self.name} directly")

    def __setstate__(self, state):
        _bad(f"the stream modifies the global {self.name} (BUILD)")


class _Function(_Sentinel):
    """Stand-in for a global the stream may call (``REDUCE``), but never modify."""

    __slots__ = ("fn",)

    def __init__(self, name: str, fn):
        super().__init__(name)
        self.fn = fn

    def __call__(self, *args, **kwargs):
        if kwargs:
            _bad(f"the stream calls {self.name} with keyword arguments")
        return self.fn(*args)


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


class _SafeUnpickler(pickle.Unpickler):
    """One load: its own stand-ins (``find_class`` never returns module state a stream could
    change) and its array byte budget (no more than the file holds)."""

    def __init__(self, data: bytes):
        super().__init__(io.BytesIO(data))
        self._bytes_left = len(data)
        self._reconstruct = _Sentinel("numpy.core.multiarray._reconstruct")
        self._ndarray = _Sentinel("numpy.ndarray")
        self._globals = {
            ("jax._src.array", "_reconstruct_array"): _Function("jax._src.array._reconstruct_array",
                                                                self._reconstruct_array),
            ("numpy.core.multiarray", "_reconstruct"): self._reconstruct,
            ("numpy", "ndarray"): self._ndarray,
            ("numpy", "dtype"): _Function("numpy.dtype", _dtype),
            # Classes: BUILD on a class calls its unbound __setstate__, which fails (tested).
            ("evosax.strategies.open_es", "EvoState"): _OpenESState,
            ("evosax.utils.optimizer", "OptState"): _OptState,
            ("evosax.strategies.snes", "EvoState"): _SNESState,
        }

    def find_class(self, module, name):
        try:
            return self._globals[(module, name)]
        except (KeyError, TypeError):
            raise LegacyFormatError(f"refused global {_short(module)[1:-1]}.{_short(name)[1:-1]}: "
                                   f"the file is {_NOT_OURS}") from None

    def persistent_load(self, pid):
        _bad("the stream uses persistent ids")

    def _reconstruct_array(self, *args):
        """Stand-in for ``jax._src.array._reconstruct_array(fun, args, arr_state, aval_state)``."""
        if len(args) != 4:
            _bad(f"jax array with {len(args)} reconstruct arguments instead of 4")
        fun, nd_args, state, aval = args
        if fun is not self._reconstruct:
            _bad("jax array not rebuilt with numpy.core.multiarray._reconstruct")
        if not (type(nd_args) is tuple and len(nd_args) == 3 and nd_args[0] is self._ndarray
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
            _bad(f"jax array of shape {_short(shape)} holds {len(raw)} bytes")
        self._bytes_left -= len(raw)
        if self._bytes_left < 0:  # the same bytes rebuilt again and again
            _bad("its arrays would hold more bytes than the file does")
        return np.frombuffer(raw, token.dtype).reshape(shape).copy()


class _Nodes:
    """The node budget shared by the copies of ``config`` and ``es_config``."""

    def __init__(self):
        self.left = MAX_CONFIG_NODES

    def take(self, where: str, depth: int) -> None:
        self.left -= 1
        if self.left < 0:
            _bad(f"the configs hold more than {MAX_CONFIG_NODES} values (shared references fanned out?)")
        if depth > MAX_CONFIG_DEPTH:
            _bad(f"{where} is nested more than {MAX_CONFIG_DEPTH} deep")


def _plain(value, where: str, nodes: _Nodes, depth: int = 0):
    """Copy a config value as a tree of plain data (str/number/bool/None/array/list/dict;
    tuples -> lists) within the node budget: shared references are copied, not shared."""
    nodes.take(where, depth)
    if value is None or isinstance(value, (str, bool, int, float, np.ndarray)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]", nodes, depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _plain(v, f"{where}[{_short(k)}]", nodes, depth + 1) for k, v in value.items()}
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
    """Opcode allow-list pass first: pure Python, never reads or allocates past the file's end,
    and stops at the first opcode over the budgets (``MAX_OPCODES``, ``MAX_ARRAYS``)."""
    pos, ops, arrays, n, table, code = 0, 0, 0, len(data), _SCAN_TABLE, None
    while pos < n:
        code = data[pos]
        size = table[code]
        if size is None:
            op = _BY_CODE.get(code)
            if op is None:
                raise pickle.UnpicklingError(f"byte {code:#04x} at {pos} is not a pickle opcode")
            _bad(f"refused opcode {op.name} at byte {pos}")
        ops += 1
        arrays += code == _REDUCE
        if ops > MAX_OPCODES or arrays > MAX_ARRAYS:
            _bad(f"the stream has over {MAX_OPCODES} opcodes or {MAX_ARRAYS} arrays")
        pos += 1
        if size < 0:  # a length prefix of -size bytes (unsigned), then that many bytes
            size = -size + int.from_bytes(data[pos:pos - size], "little")
        pos += size
        if code == _STOP:
            break
    if code != _STOP:  # ran out of bytes, or an argument reads past the end
        raise pickle.UnpicklingError("the stream ends before its STOP opcode (truncated)")
    if pos != n:
        _bad(f"{n - pos} trailing bytes after the pickle's STOP")


def _load(data: bytes):
    _scan(data)
    obj = _SafeUnpickler(data).load()
    if not isinstance(obj, dict) or not {"state", "fitness_over_gen", "fitness", "config", "es_config"} <= obj.keys():
        kind = f"dict with keys {sorted(_short(k) for k in list(obj)[:8])}" if isinstance(obj, dict) else type(obj).__name__
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
    nodes = _Nodes()
    return LegacyRun(
        mean=mean, strategy=state.strategy,
        fitness_over_gen=_vector(obj["fitness_over_gen"], "'fitness_over_gen'"),
        max_fitness_over_gen=None if max_fit is None else _vector(max_fit, "'max_fitness_over_gen'"),
        fitness=fitness, config=_plain(obj["config"], "'config'", nodes),
        es_config=_plain(obj["es_config"], "'es_config'", nodes), sha256="")


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
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)  # a /proc file says size 0 and may not end
    except OSError as e:
        raise LegacyFormatError(f"{path}: cannot be read ({e.strerror or type(e).__name__}); check the file and its "
                                "permissions") from None
    if len(data) > MAX_BYTES:
        raise LegacyFormatError(f"{path}: over the {MAX_BYTES >> 20} MiB limit; {_NOT_OURS}")
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
