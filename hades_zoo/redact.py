"""Keep local absolute paths and the user's name out of what is recorded or published.

Why: a dataset's provenance travels (in the file, in ``metrics.json``, in the card on a public
hub). ``distill run --out /home/alice/runs/x`` must reach it as ``x``: the recipe is what
reproduces a dataset, not where a machine kept it. ``scrub`` rewrites strings (recursively in
dicts and lists): an absolute (or ``~/``) path becomes its last part and the user name
``<user>``; URLs are left alone.
"""

from __future__ import annotations

import getpass
import re

_ABS = re.compile(r"(?<![\w.:/~-])(?:[A-Za-z]:\\|~?/)[^\s'\"=,;]*")


def _user() -> str | None:
    try:
        name = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database (containers): nothing to hide
        return None
    # a 1-2 letter name would mangle ordinary words; system accounts are nobody's name
    return name if len(name) >= 3 and name not in ("root", "runner", "user", "nobody") else None


def _last_part(m: re.Match) -> str:
    text = m.group(0).rstrip("/\\")
    return re.split(r"[/\\]", text)[-1] or "/"


def scrub(value):
    """``value`` with every absolute or ``~/`` path cut to its last part and the user's name as ``<user>``."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(scrub(v) for v in value)
    if not isinstance(value, str):
        return value
    text = _ABS.sub(_last_part, value)
    user = _user()
    if user:
        text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(user)}(?![A-Za-z0-9])", "<user>", text)
    return text


__all__ = ["scrub"]
