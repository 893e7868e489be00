"""Where the hub is and how to reach it, read from the environment at every call.

``huggingface_hub`` reads ``HF_ENDPOINT``, ``HF_HUB_OFFLINE`` and ``HF_HOME`` once, into its
``constants`` module, when it is first imported. A process that switches hubs, and the tests,
which set ``HF_HOME`` and ``HF_ENDPOINT`` per test, would then keep talking to the first hub and
cache; so hades-zoo reads them here, at call time, and passes them to every ``huggingface_hub``
call explicitly (``endpoint=``, ``cache_dir=``, ``local_files_only=``). ``huggingface_hub`` is
imported inside the functions here and in ``fetch`` and ``cards``: it costs about a second, which
loading a bundled dataset never needs to pay.
"""

from __future__ import annotations

import os
from pathlib import Path

from hades_zoo.ids import DEFAULT_ORG, hub_org

REPO_TYPE = "dataset"
_TRUE = {"1", "on", "yes", "true"}


def endpoint() -> str:
    """``$HF_ENDPOINT`` (a hub or a mirror), else ``huggingface_hub``'s default, without a trailing slash."""
    from huggingface_hub import constants  # huggingface_hub (0.6 s to import) loads with the first hub call

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def offline() -> bool:
    """``$HF_HUB_OFFLINE``: use cached copies only."""
    from huggingface_hub import constants  # huggingface_hub (0.6 s to import) loads with the first hub call

    value = os.environ.get("HF_HUB_OFFLINE")
    return value.strip().lower() in _TRUE if value is not None else bool(constants.HF_HUB_OFFLINE)


def cache_dir() -> Path:
    """The HF hub cache: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``$XDG_CACHE_HOME/huggingface/hub``.

    The one place the cache is located. It is resolved at call time, not taken from
    ``huggingface_hub.constants.HF_HUB_CACHE``, because those constants are fixed when
    ``huggingface_hub`` is imported, while the tests set ``HF_HOME`` per test (and a long-lived
    process may change it); every download and cache lookup passes this as ``cache_dir=``.
    """
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(home).expanduser() / "hub"


def token() -> str | None:
    """``HF_TOKEN`` or the saved ``hf auth login``, as ``huggingface_hub`` finds it; never printed or stored."""
    from huggingface_hub import get_token  # huggingface_hub (0.6 s to import) loads with the first hub call

    return get_token()


def has_token() -> bool:
    """Whether ``huggingface_hub`` finds a token (``HF_TOKEN`` or a saved login)."""
    return token() is not None


__all__ = ["endpoint", "offline", "cache_dir", "token", "has_token", "hub_org", "DEFAULT_ORG", "REPO_TYPE"]
