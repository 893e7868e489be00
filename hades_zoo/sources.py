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
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import CorruptDatasetError, UnknownDatasetError, close_matches
from hades_zoo.ids import parse_id

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

    Raises:
        UnknownDatasetError: not a file and not a catalog name (close names suggested).
        CorruptDatasetError: truncated file, sha256 or size mismatch.
        IncompatibleDatasetError: invalid content (shapes, NaNs, env, version).
    """
    text = os.fspath(name_or_path)
    if _looks_like_path(text):
        return SyntheticDataset.load(text)
    ident = parse_id(text)
    rev = revision or ident.revision
    entries = catalog()
    if ident.name not in entries:
        raise UnknownDatasetError(
            f"no dataset named {ident.name!r}.{close_matches(ident.name, entries)} See `hades-zoo list` for the catalog."
        )
    entry = entries[ident.name]
    if rev is not None and rev != entry["revision"]:
        raise UnknownDatasetError(
            f"{ident.name}: revision {rev!r} is not bundled (bundled: {entry['revision']!r}); drop '@{rev}' to use it"
        )
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
