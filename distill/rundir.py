"""A run directory's safety: one writer at a time, files that are whole, rows that are checked.

- ``lock(out)``: an exclusive ``fcntl.flock`` on ``<out>/.lock``, held for the whole run. The
  stale-lock policy is the kernel's: a lock dies with its process (exit, crash, kill -9), so a
  left-over ``.lock`` file never blocks a later run; only a live process does, and the second
  run is refused at once with one line naming the holder's pid.
- ``write_text``: every run file (``config.toml``, ``command.txt``, ``metrics.jsonl``) is written
  whole, through ``hades_zoo.format.atomic_write`` (temp file, fsync, rename; the user's umask).
- ``read_metrics``: ``metrics.jsonl`` rows checked with ``hades_zoo.schema.MetricsRow``; a torn
  or damaged line (a full disk, an editor, a kill mid-write of an older version) is dropped with
  a warning, never fatal: resume rewrites the file from the rows up to the checkpoint and the
  generations after it are run again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from hades_zoo import schema
from hades_zoo.errors import ConfigError
from hades_zoo.format import atomic_write

LOCK = ".lock"


@contextlib.contextmanager
def lock(out: Path, enabled: bool = True):
    """Hold ``<out>/.lock`` exclusively (creating ``out``); ``ConfigError`` if another process holds it."""
    if not enabled:
        yield
        return
    out = Path(out)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        raise ConfigError(f"{out}: cannot create the run directory or its lock ({e.strerror}); "
                          "pick an --out you can write to") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise ConfigError(f"{out}: cannot lock {LOCK} ({e.strerror}); use a local directory for --out") from None
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise ConfigError(f"{out} is in use by another distill process (pid {holder}); wait for it to end "
                              "(a new run: use another --out)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        except BaseException:
            if created and [p.name for p in out.iterdir()] == [LOCK]:  # a run refused before it wrote anything
                (out / LOCK).unlink()
                out.rmdir()
            raise
    finally:
        os.close(fd)  # releases the lock (the kernel does the same if we die)


def held_by(out: Path) -> str | None:
    """The pid (as written) of a live process holding ``<out>/.lock``, or None when no one does."""
    try:
        fd = os.open(Path(out) / LOCK, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None
    except OSError:
        return os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
    finally:
        os.close(fd)


def write_text(path: Path, text: str) -> None:
    atomic_write(path, text.encode())


def read_metrics(path: Path, upto: int | None = None, warn: bool = True) -> list[dict]:
    """The valid rows of ``metrics.jsonl`` (``generation <= upto``), in generation order, one per
    generation; damaged lines are dropped with one warning on stderr."""
    if not path.is_file():
        return []
    rows, bad = {}, []
    for i, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = schema.MetricsRow.model_validate(json.loads(line)).model_dump(exclude_none=True)
        except (ValueError, ValidationError):  # JSONDecodeError, UnicodeDecodeError, a bad row
            bad.append(i)
            continue
        if upto is None or row["generation"] <= upto:
            rows[row["generation"]] = row
    if bad and warn:
        what = f"line {bad[0]}" if len(bad) == 1 else f"{len(bad)} lines (first: {bad[0]})"
        print(f"warning: {path}: dropped {what} that did not parse as a metrics row (a torn write?); "
              "resume rewrites the file", file=sys.stderr)
    return [rows[g] for g in sorted(rows)]


def metrics_text(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


__all__ = ["lock", "held_by", "write_text", "read_metrics", "metrics_text", "LOCK"]
