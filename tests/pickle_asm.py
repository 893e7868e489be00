"""A tiny protocol-4 pickle assembler for crafted legacy streams (tests only).

Writing opcodes by hand gives streams no Python object could pickle into: memo references
fanned out, ``BUILD`` on an allowed global, the same array bytes rebuilt many times. Each
helper returns the bytes of opcodes that push one value.
"""

from __future__ import annotations

import struct

import numpy as np

PROTO4, STOP, MARK, MEMOIZE = b"\x80\x04", b".", b"(", b"\x94"
EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE = b"}", b"]", b")"
TUPLE, SETITEMS, APPENDS, REDUCE, NEWOBJ, BUILD = b"t", b"u", b"e", b"R", b"\x81", b"b"
NONE, TRUE, FALSE = b"N", b"\x88", b"\x89"
DTYPE_STATE = (3, "<", None, None, None, -1, -1, 0)


def s(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw  # SHORT_BINUNICODE


def i(n: int) -> bytes:
    return b"J" + struct.pack("<i", n)  # BININT


def f(x: float) -> bytes:
    return b"G" + struct.pack(">d", x)  # BINFLOAT


def b(raw: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(raw)) + raw  # BINBYTES


def get(index: int) -> bytes:
    return b"h" + bytes([index]) if index < 256 else b"j" + struct.pack("<I", index)


def glob(module: str, name: str) -> bytes:
    return s(module) + s(name) + b"\x93"  # STACK_GLOBAL


def tup(*items: bytes) -> bytes:
    return MARK + b"".join(items) + TUPLE


def lst(*items: bytes) -> bytes:
    return EMPTY_LIST + MARK + b"".join(items) + APPENDS


def dct(*pairs: tuple[bytes, bytes]) -> bytes:
    return EMPTY_DICT + MARK + b"".join(k + v for k, v in pairs) + SETITEMS


def value(x) -> bytes:
    """Plain Python data (None/bool/int/float/str/list/tuple/dict) as opcodes."""
    if x is None:
        return NONE
    if isinstance(x, bool):
        return TRUE if x else FALSE
    if isinstance(x, int):
        return i(x)
    if isinstance(x, float):
        return f(x)
    if isinstance(x, str):
        return s(x)
    if isinstance(x, list):
        return lst(*map(value, x))
    if isinstance(x, tuple):
        return tup(*map(value, x))
    return dct(*((value(k), value(v)) for k, v in x.items()))


def array_args(values, code: str = "f4") -> bytes:
    """The argument tuple of ``_reconstruct_array`` for a float32/int32 array."""
    arr = np.asarray(values, np.dtype(code).newbyteorder("<"))
    dtype = glob("numpy", "dtype") + tup(s(code), FALSE, TRUE) + REDUCE + value(DTYPE_STATE) + BUILD
    nd_args = tup(glob("numpy", "ndarray"), tup(i(0)), b"C\x01b")
    state = tup(i(1), tup(*map(i, arr.shape)), dtype, FALSE, b(arr.tobytes()))
    return tup(glob("numpy.core.multiarray", "_reconstruct"), nd_args, state, dct())


def array(values, code: str = "f4") -> bytes:
    return glob("jax._src.array", "_reconstruct_array") + array_args(values, code) + REDUCE


def record(module: str, fields: dict[str, bytes]) -> bytes:
    """An evosax state: ``NEWOBJ(cls, ())`` then ``BUILD`` with a dict of named fields."""
    return glob(module, "EvoState") + EMPTY_TUPLE + NEWOBJ + dct(*((s(k), v) for k, v in fields.items())) + BUILD


def run(config: bytes | None = None, es_config: bytes | None = None, extra: bytes = b"", mean=np.arange(4.0)) -> bytes:
    """A whole stream shaped like an authors' OpenES run, with the given config opcodes."""
    state = record("evosax.strategies.open_es", {"mean": array(mean)})
    top = dct(
        (s("state"), state),
        (s("fitness_over_gen"), lst(f(1.0), f(2.0))),
        (s("fitness"), array([2.0, 2.0])),
        (s("config"), config if config is not None else value({"ENV_NAME": "hopper", "WIDTH": 512})),
        (s("es_config"), es_config if es_config is not None else value({"popsize": 2, "dataset_size": 1})),
    )
    return PROTO4 + extra + top + STOP


def fan_out(levels: int, width: int = 10, as_dict: bool = False) -> bytes:
    """A ``width**levels``-leaf tree in ~``levels * width * 3`` bytes: each level holds ``width``
    memo references to the level below (the first one defines it). Uses memo slots
    0..levels-1: memoize nothing before it."""
    out = lst(*[i(1)] * width) + MEMOIZE
    for level in range(1, levels):
        items = [out] + [get(level - 1)] * (width - 1)
        out = (dct(*((s(str(k)), v) for k, v in enumerate(items))) if as_dict else lst(*items)) + MEMOIZE
    return out


CARTPOLE_CONFIG = {"ENV_NAME": "CartPole-v1", "OVERFIT": False, "LR": 0.01, "UPDATE_EPOCHS": 100, "WIDTH": 64,
                   "FFWD_LAYERS": 2, "ACTIVATION": "tanh", "SEED": 0}


def cartpole_run(**config) -> bytes:
    """A convertible HaDES-R CartPole run (4 states), with ``config`` entries replaced."""
    cfg = {**CARTPOLE_CONFIG, **config}
    return run(value(cfg), value({"popsize": 2, "dataset_size": 4}), mean=np.linspace(-0.1, 0.1, 16))
