"""What both CLIs (``hades-zoo`` and ``distill``) share: the error contract, JAX's compilation
cache (and ``compiled``: compile ahead, shown as a phase) and stdout routing. The client owns it; the engine's CLI imports it from here.

Every command exits 0 on success; on a ``HadesZooError`` it prints one line ``error: ...`` and
exits 2 (any other failure: one line and exit 1), with the traceback only under ``--debug``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from pathlib import Path

import click

from hades_zoo import progress
from hades_zoo.errors import HadesZooError, HadesZooWarning


def compilation_cache_dir() -> str | None:
    """Where JAX's persistent compilation cache lives: ``$HADES_ZOO_JAX_CACHE``, else
    ``$XDG_CACHE_HOME/hades-zoo/jax`` (``~/.cache/hades-zoo/jax``); ``None`` when that
    variable is ``off``/``0``/``none``. Read at call time: tests set it per test."""
    path = os.environ.get("HADES_ZOO_JAX_CACHE")
    if path is None:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = str(Path(base) / "hades-zoo" / "jax")
    return None if path.strip().lower() in ("", "0", "off", "none", "false") else path


def enable_compilation_cache() -> None:
    """JAX's persistent compilation cache: a second `train` of the same shapes skips XLA.

    The CLIs call it first thing, the Python API at the start of ``train``/``evaluate``
    (JAX reads the setting at its first compile with a cache dir set, so late is fine).
    A cache dir the user configured in JAX themselves is left alone."""
    import jax  # here, not at import: `hades-zoo list` and `info` need no jax

    path = compilation_cache_dir()
    current = jax.config.jax_compilation_cache_dir
    if path is None or (current is not None and current != _OURS.get("dir")):
        return
    _OURS["dir"] = path
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


_OURS: dict = {}
_COMPILED: dict = {}


def unrolled_threefry() -> None:
    """Lower JAX's threefry PRNG on CPU as one straight-line fusion instead of a 5-trip while loop.

    JAX rolls it on CPU to save compile time; inside a rollout's ``lax.scan`` that loop runs for
    every random draw of every step (action noise, key splits, the env's own resets), one XLA
    thunk per op per trip: on CartPole half a generation's time. The hash is integer arithmetic,
    so the random bits, and every dataset, stay bit-identical (tests/test_distill.py). A JAX
    without these internals keeps its own lowering."""
    if _OURS.get("threefry"):
        return
    try:
        from jax._src.interpreters import mlir  # jax internals: loaded by the engine's first chunk only
        from jax._src.random import threefry2x32 as tf  # as above

        mlir.register_lowering(tf.threefry2x32_p, tf._threefry2x32_lowering_rule, platform="cpu")
    except (ImportError, AttributeError):  # pragma: no cover - a JAX that moved its internals
        return
    _OURS["threefry"] = True


def compiled(fn, what: str | None, *args, timing: dict | None = None, name: str = ""):
    """``fn`` (a jitted function) compiled for ``args``: ahead of the call, so that compiling
    shows as its own phase; kept per argument types (the jit cache does not see AOT compiles).

    ``timing`` (a ``--json`` timing dict) gets ``{name}_trace_s`` (tracing and lowering to
    StableHLO), ``{name}_compile_s`` (XLA, or reading the persistent cache) and ``{name}_cache``:
    ``hit``/``miss`` in the persistent compilation cache, ``off`` without one, ``process``
    when this process compiled it already. ``what=None``: no phase line (a step inside another phase)."""
    import jax  # jax loads with the first compile, not with `hades-zoo list`

    key = (fn, jax.tree.structure(args), tuple(jax.typeof(x) for x in jax.tree.leaves(args)))
    record = timing if timing is not None else {}
    if key in _COMPILED:
        record.update({f"{name}_trace_s": 0.0, f"{name}_compile_s": 0.0, f"{name}_cache": "process"})
        return _COMPILED[key]
    _count_cache_events()
    with progress.phase("compiling", what) if what is not None else contextlib.nullcontext():
        if len(_COMPILED) >= 128:
            _COMPILED.pop(next(iter(_COMPILED)))
        t0, hits = time.perf_counter(), _CACHE_EVENTS["hits"]
        lowered = fn.lower(*args)
        t1 = time.perf_counter()
        _COMPILED[key] = lowered.compile()
        t2 = time.perf_counter()
    cache = "off" if jax.config.jax_compilation_cache_dir is None else "hit" if _CACHE_EVENTS["hits"] > hits else "miss"
    record.update({f"{name}_trace_s": t1 - t0, f"{name}_compile_s": t2 - t1, f"{name}_cache": cache})
    return _COMPILED[key]


_CACHE_EVENTS = {"hits": 0, "listening": False}


def _count_cache_events() -> None:
    """Count JAX's persistent-cache hits (its monitoring events), for ``compiled``'s ``_cache``."""
    if _CACHE_EVENTS["listening"]:
        return
    import jax  # as above: jax is not imported by this module

    def listener(event: str, **kwargs) -> None:
        if event == "/jax/compilation_cache/cache_hits":
            _CACHE_EVENTS["hits"] += 1

    jax.monitoring.register_event_listener(listener)
    _CACHE_EVENTS["listening"] = True


def quiet_option(command):
    """``--quiet``/``-q`` for a long command: no phase lines on stderr (``hades_zoo.progress``);
    results and errors still print."""

    def _set(ctx, param, value):
        if value:
            progress.configure("quiet")

    return click.option("--quiet", "-q", is_flag=True, expose_value=False, is_eager=True, callback=_set,
                        help="Print no phase lines (loading, compiling, ...) on stderr.")(command)


@contextlib.contextmanager
def stdout_to_stderr():
    """Route fd 1 to stderr while simulators load: mujoco prints C-level warnings on
    stdout, which would corrupt the one JSON object that ``--json`` promises."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """Our warnings as one ``warning: ...`` line on stderr; anyone else's as Python shows them."""
    if issubclass(category, HadesZooWarning):
        print(f"warning: {message}", file=sys.stderr if file is None else file, flush=True)
    else:
        _show_warning(message, category, filename, lineno, file, line)


_show_warning = warnings.showwarning


def run_cli(group: click.Group, prog: str, argv=None) -> None:
    """Run a click group with the error contract above."""
    warnings.showwarning = _one_line_warning
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        group.main(args=argv, prog_name=prog, standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.UsageError as e:  # a bad flag or value: the same one line as every other error
        if type(e).__name__ == "NoArgsIsHelpError":  # no command at all: click shows the help
            e.show()
            sys.exit(e.exit_code)
        hint = f"; see `{e.ctx.command_path} --help`" if e.ctx is not None else ""
        click.echo(f"error: {e.format_message().rstrip('.')}{hint}", err=True)
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(1)
    except HadesZooError as e:
        if debug:
            raise
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except Exception as e:  # noqa: BLE001 - the contract is one line unless --debug
        if debug:
            raise
        click.echo(f"error: unexpected {type(e).__name__}: {e} (rerun with --debug for the traceback)", err=True)
        sys.exit(1)
    sys.exit(0)


__all__ = ["compilation_cache_dir", "enable_compilation_cache", "quiet_option", "stdout_to_stderr", "run_cli"]
