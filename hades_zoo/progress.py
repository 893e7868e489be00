"""What long work is doing right now, on stderr: loading, compiling, behaviour cloning, evaluating.

``train`` can compile for 10-40 s and ``evaluate`` roll out for as long; silence then reads as a
hang. The library marks its phases with ``with phase("compiling", "behaviour cloning, 8 seeds"):``
and this module decides how they show:

- ``rich``: a live spinner with the phase and its elapsed time, then one ``✓`` line (a terminal);
- ``plain``: one line ``<phase>: <detail>`` when a phase starts (logs, CI, pipes; what tests read);
- ``quiet``: nothing (``--quiet`` on every long command, or ``HADES_ZOO_QUIET=1``).

The default ``auto`` picks ``rich`` when stderr is a terminal, else ``plain``. stdout is never
touched, so ``--json`` output stays one clean object.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

from rich.console import Console

from hades_zoo.errors import ConfigError

MODES = ("auto", "rich", "plain", "quiet")
_mode = "auto"


def configure(mode: str = "auto") -> None:
    """Choose how phases show for this process: ``auto``, ``rich``, ``plain`` or ``quiet``."""
    global _mode
    if mode not in MODES:
        raise ConfigError(f"unknown progress mode {mode!r}; use one of {', '.join(MODES)}")
    _mode = mode


def mode() -> str:
    """The mode in effect now (``auto`` resolved; ``HADES_ZOO_QUIET=1`` wins over ``auto``)."""
    if _mode != "auto":
        return _mode
    if os.environ.get("HADES_ZOO_QUIET", "").strip().lower() in ("1", "true", "yes", "on"):
        return "quiet"
    return "rich" if _isatty(sys.stderr) else "plain"


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


_status = []  # rich's live status of the outermost phase; nested phases retitle it


@contextlib.contextmanager
def phase(name: str, detail: str = ""):
    """Mark a phase of long work (``name``: loading, compiling, behaviour cloning, evaluating)."""
    text = f"{name}: {detail}" if detail else name
    how = mode()
    if how == "plain":
        print(text, file=sys.stderr, flush=True)
    if how != "rich":
        yield
        return
    if _status:  # rich allows one live display: a nested phase retitles the outer spinner
        outer = _status[-1]
        before = outer.status
        outer.update(f"{text} …")
        try:
            yield
        finally:
            outer.update(before)
        return
    console = Console(stderr=True)
    t0 = time.perf_counter()
    with console.status(f"{text} …") as status:
        _status.append(status)
        try:
            yield
        finally:
            _status.pop()
    console.print(f"[green]✓[/green] {text} [dim]({time.perf_counter() - t0:.1f} s)[/dim]", highlight=False)


def note(text: str) -> None:
    """A one-off line in the same channel (``plain``/``rich``; nothing when quiet)."""
    how = mode()
    if how == "plain":
        print(text, file=sys.stderr, flush=True)
    elif how == "rich":
        Console(stderr=True).print(text, highlight=False)
