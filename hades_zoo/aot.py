"""Exported programs (``jax.export``) kept in the user cache, so that a warm run skips tracing.

A warm ``hades-zoo train`` used to rebuild the env (importing brax) and trace the whole
vmapped rollout before JAX's persistent cache could even be asked for the compiled
program: on the paper-level hopper about 10 of its CPU-seconds. ``program`` keeps the
traced program instead: the first run exports it (StableHLO, serialised by JAX) next to
the compilation cache; later processes read it back, skip the env and the tracing, and
compile it from the persistent cache. The results are bit for bit those of the traced
program (tests/test_aot.py).

The file name is a hash of everything the program depends on: the program's own key (env,
dynamics, network, protocol, ...), the argument shapes, the JAX settings that change a trace
(x64, the PRNG), the backend, the versions of jax, jaxlib and the simulators, and the source
of this package. The files are as trusted
as JAX's own compilation cache beside them (same directory, same user); a file that does
not read back is removed and the program traced again. Off with the compilation cache
(``HADES_ZOO_JAX_CACHE=off``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import jax

from hades_zoo import progress
from hades_zoo._runtime import compilation_cache_dir, compiled

SUBDIR = "hades-zoo-exported"
_LOADED: dict = {}  # path -> jitted call of the exported program, per process
_TRACE_FLAGS = ("jax_enable_x64", "jax_threefry_partitionable", "jax_default_prng_impl", "jax_default_matmul_precision")


@functools.lru_cache(maxsize=1)
def _environment() -> str:
    """Versions and this package's source: a change to either is another program."""
    parts = [jax.default_backend()]
    for name in ("jax", "jaxlib", "brax", "mujoco", "gymnax", "flax", "optax"):
        try:
            parts.append(f"{name}={version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name}=none")
    src = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        src.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    parts.append(src.hexdigest())
    return "|".join(parts)


def _path(key: tuple, args) -> Path | None:
    base = compilation_cache_dir()
    if base is None:
        return None
    shapes = (str(jax.tree.structure(args)), tuple(str(jax.typeof(x)) for x in jax.tree.leaves(args)))
    flags = tuple(getattr(jax.config, f) for f in _TRACE_FLAGS)  # settings that change what a trace computes
    digest = hashlib.sha256(repr((key, shapes, flags, _environment())).encode()).hexdigest()[:32]
    return Path(base) / SUBDIR / f"{key[0]}-{digest}.jaxexport"


def _read(path: Path):
    try:
        return jax.export.deserialize(bytearray(path.read_bytes()))
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - a damaged or foreign file: trace again and replace it
        path.unlink(missing_ok=True)
        return None


def _write(path: Path, exported) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(exported.serialize())
        os.replace(tmp, path)
    except OSError:  # a read-only cache: this process still runs the program
        pass


def program(build, key: tuple, args: tuple, what: str | None, *, timing: dict, name: str):
    """``build()`` (a jitted function, e.g. one that builds an env first) compiled for ``args``,
    through its exported copy in the cache when there is one (``key``: a hashable tuple,
    ``key[0]`` a short label for the file name, that with ``args``' shapes determines the
    program; ``what``: its phase text, ``None`` for no phase line). ``timing`` gets ``env_s`` (building, 0 when the export was read),
    ``{name}_export`` (``read``, ``written``, ``off``) and ``compiled``'s figures."""
    path = _path(key, args)
    fn = _LOADED.get(path) if path is not None else None
    if fn is None:
        t0 = time.perf_counter()
        exported = _read(path) if path is not None else None
        timing["env_s"], state = 0.0, "read"
        if exported is None:
            built = build()
            timing["env_s"] = time.perf_counter() - t0
            try:
                if path is None:
                    raise NotImplementedError("no cache")
                with progress.phase("tracing", what) if what is not None else contextlib.nullcontext():
                    exported, state = jax.export.export(built)(*args), "written"
            except Exception:  # noqa: BLE001 - no cache, or a program jax.export cannot keep: run it as traced
                timing[f"{name}_export"] = "off"
                return compiled(built, what, *args, timing=timing, name=name)
            _write(path, exported)
        timing[f"{name}_export"] = state
        timing[f"{name}_export_s"] = time.perf_counter() - t0 - timing["env_s"]
        fn = _LOADED[path] = jax.jit(exported.call)
    else:
        timing.update({"env_s": 0.0, f"{name}_export": "process", f"{name}_export_s": 0.0})
    return compiled(fn, what, *args, timing=timing, name=name)
