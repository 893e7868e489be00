"""Where datasets come from: a path, or a catalog name resolved to the bundled zoo.

The catalog (``zoo/registry.json``) pins every name to a file, revision, byte
size and sha256; a bundled file is verified against it on every load.
"""

from __future__ import annotations

import functools
import json
import os
from importlib import resources
from pathlib import Path

from hades_zoo import format as fmt
from hades_zoo import hub
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import CorruptDatasetError, DatasetNotCachedError, HubError, UnknownDatasetError, close_matches
from hades_zoo.ids import match, parse_id

ZOO_DIR = Path(str(resources.files("hades_zoo") / "zoo"))
REGISTRY = ZOO_DIR / "registry.json"


@functools.lru_cache(maxsize=1)
def catalog() -> dict[str, dict]:
    """Name -> entry (file, revision, bytes, sha256, env_id, method, size, recorded_return)."""
    if not REGISTRY.exists():
        return {}
    return json.loads(REGISTRY.read_text())["datasets"]


def list_datasets() -> list[dict]:
    return [{"name": k, **v} for k, v in sorted(catalog().items())]


def _looks_like_path(text: str) -> bool:
    return os.path.sep in text or text.endswith(".safetensors") or os.path.exists(text)


def load(name_or_path: str | os.PathLike, revision: str | None = None) -> SyntheticDataset:
    """Load a dataset by catalog name (``"cartpole-hades-r-4"``) or by path, verified.

    Resolution: a path -> the bundled zoo (name and revision in the catalog) -> the HF cache ->
    the hub (``hades_zoo.hub``: ``<org>/<name>`` with ``HADES_ZOO_HUB_ORG``, or an explicit
    ``org/name[@rev]`` / ``hf://`` id), verified against the card's sha256.

    Raises:
        UnknownDatasetError: not a file, not bundled, and not found on the hub (close names
            suggested); ``HubNotFoundError`` when the hub said so.
        DatasetNotCachedError: not bundled, ``HF_HUB_OFFLINE`` set and no cached copy.
        CorruptDatasetError: truncated file, sha256 or size mismatch.
        IncompatibleDatasetError: invalid content (shapes, NaNs, env, version).
    """
    text = os.fspath(name_or_path)
    if text.startswith("hf://") or (_names_hub_repo(text) and not os.path.exists(text)):
        return _from_hub(text, revision, f"{text}: no such file, and")
    if _looks_like_path(text):
        return SyntheticDataset.load(text)
    ident = parse_id(text)
    rev = revision or ident.revision
    entries = catalog()
    if ident.name not in entries:
        return _from_hub(ident.name, rev, f"no dataset named {ident.name!r} in the bundled catalog "
                         f"(`hades-zoo list`).{close_matches(ident.name, entries)} Hub lookup:")
    entry = entries[ident.name]
    if rev is not None and rev != entry["revision"]:
        return _from_hub(ident.name, rev, f"{ident.name}: revision {rev!r} is not bundled (bundled: "
                         f"{entry['revision']!r}; drop '@{rev}' to use it). Hub lookup:")
    path = ZOO_DIR / entry["file"]
    if not path.is_file():
        raise CorruptDatasetError(f"{ident.name}: bundled file {path} is missing; reinstall hades-zoo")
    size, digest = path.stat().st_size, fmt.file_sha256(path)
    if size != entry["bytes"] or digest != entry["sha256"]:
        raise CorruptDatasetError(
            f"{ident.name}: bundled file {path} fails its catalog check (sha256 {digest[:12]}…, expected "
            f"{entry['sha256'][:12]}…); it is corrupted, reinstall hades-zoo"
        )
    ds = SyntheticDataset.load(path)
    return ds.replace(name=ident.name, source=f"{ident.name}@{entry['revision']} (bundled)")


def _names_hub_repo(text: str) -> bool:
    """``org/name[@rev]`` (one slash, so ``dir/file`` paths of more parts stay paths)."""
    ident = match(text)
    return not text.endswith(".safetensors") and ident is not None and ident.org is not None and not ident.scheme


def _from_hub(name: str, revision: str | None, context: str) -> SyntheticDataset:
    """``hub.load``; a failure keeps its type (an ``UnknownDatasetError`` when the name could not
    be resolved) and its message is prefixed with what the bundled catalog said."""
    try:
        return hub.load(name, revision)
    except (HubError, DatasetNotCachedError) as e:
        cls = type(e) if isinstance(e, (UnknownDatasetError, DatasetNotCachedError)) else UnknownDatasetError
        raise cls(f"{context} {e}") from e
