"""Where datasets come from: a path, or a zoo name resolved through the catalogue.

``hades_zoo.catalogue`` lists every name's revisions; a bare name means its default revision. A
bundled revision is read from the package and checked against the catalogue's byte size and
sha256; any other is fetched from the hub (``<org>/<name>``, git tag = the revision) and checked
against the same sha256, so a hub copy can never differ silently from what the catalogue names.
``ds.source`` says which copy was used: ``NAME@REV (bundled)``, ``ORG/NAME@REV (hub, commit …)``
or ``(cache, commit …)``, or the path.
"""

from __future__ import annotations

import os
import re

from hades_zoo import catalogue as cat
from hades_zoo import format as fmt
from hades_zoo import hub
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import ConfigError, CorruptDatasetError, DatasetNotCachedError, HubError, UnknownDatasetError, close_matches
from hades_zoo.ids import match, parse_id

REGISTRY = cat.REGISTRY


def catalog() -> dict[str, dict]:
    """Name -> its default revision as a flat entry (file, revision, bytes, sha256, env_id, method, size, ...)."""
    return {name: cat.flat(name) for name in cat.catalogue()}


def list_datasets() -> list[dict]:
    """One row per zoo name (its default revision; ``revisions_count`` counts the others)."""
    return cat.rows()


def _looks_like_path(text: str) -> bool:
    """A path: has a separator, ends in .safetensors, or is a file here (a *directory* named like a
    catalog entry does not shadow the catalog)."""
    return os.path.sep in text or text.endswith(".safetensors") or os.path.isfile(text)


def load(name_or_path: str | os.PathLike, revision: str | None = None) -> SyntheticDataset:
    """Load a dataset by zoo name (``"hopper-hades-r-64"``, ``"hopper-hades-r-64@authors-main-s1"``) or path, verified.

    Resolution: a path -> the catalogue (a bare name is its default revision; a bundled revision is
    read from the package, any other from the HF cache or the hub, checked against the catalogue's
    sha256) -> the hub for names and revisions the catalogue does not know (``<org>/<name>`` with
    ``HADES_ZOO_HUB_ORG``, or an explicit ``org/name[@rev]`` / ``hf://`` id), verified against the card.

    Raises:
        UnknownDatasetError: not a file, not catalogued, and not found on the hub (close names
            suggested); ``HubNotFoundError`` when the hub said so.
        DatasetNotCachedError: not bundled, ``HF_HUB_OFFLINE`` set and no cached copy.
        CorruptDatasetError: truncated file, sha256 or size mismatch (a hub copy that is not the
            catalogue's bytes included).
        IncompatibleDatasetError: invalid content (shapes, NaNs, env, version).
    """
    text = os.fspath(name_or_path) if isinstance(name_or_path, (str, os.PathLike)) else None
    if not isinstance(text, str):
        raise ConfigError(f"load() takes a dataset name or a path (str or pathlib.Path), got {type(name_or_path).__name__}"
                          + ("; decode bytes first, or write them to a file" if isinstance(name_or_path, bytes) else ""))
    if text.startswith("hf://") or (_names_hub_repo(text) and not os.path.exists(text)):
        return _from_hub(text, revision, f"{text}: no such file, and")
    if _looks_like_path(text):
        return SyntheticDataset.load(text)
    ident = parse_id(text)
    if revision and ident.revision and revision != ident.revision:
        raise UnknownDatasetError(f"{text!r} names revision {ident.revision!r} but revision={revision!r} was passed; give one")
    rev = revision or ident.revision
    group = cat.catalogue().get(ident.name)
    if group is None:
        return _from_hub(ident.name, rev, f"no dataset named {ident.name!r} in the catalogue "
                         f"(`hades-zoo list`).{close_matches(ident.name, cat.catalogue())} Hub lookup:")
    rev = rev or group["default"]
    entry = group["revisions"].get(rev)
    if entry is None:
        known = ", ".join(sorted(group["revisions"]))
        return _from_hub(ident.name, rev, f"{ident.name}: revision {rev!r} is not in the catalogue (it has: {known}; "
                         f"without '@' the default {group['default']!r}). Hub lookup:")
    if entry["where"] == "bundled":
        return _bundled(ident.name, rev, entry)
    got = _download(ident.name, rev)
    if got.entry["sha256"] != entry["sha256"]:
        raise CorruptDatasetError(
            f"{ident.name}@{rev}: the hub copy ({got.ref.repo_id}, sha256 {got.entry['sha256'][:12]}…) is not the file the "
            f"catalogue names (sha256 {entry['sha256'][:12]}…); ask its maintainer to republish it, or load "
            f"{got.ref.repo_id}@{rev} explicitly to use the hub's bytes")
    return SyntheticDataset.load(got.path).replace(name=ident.name, source=got.source)


def _bundled(name: str, rev: str, entry: dict) -> SyntheticDataset:
    path = cat.bundled_path(entry)
    if not path.is_file():
        raise CorruptDatasetError(f"{name}@{rev}: bundled file {path} is missing; reinstall hades-zoo")
    size, digest = path.stat().st_size, fmt.file_sha256(path)
    if size != entry["bytes"] or digest != entry["sha256"]:
        raise CorruptDatasetError(
            f"{name}@{rev}: bundled file {path} fails its catalogue check (sha256 {digest[:12]}…, expected "
            f"{entry['sha256'][:12]}…); it is corrupted, reinstall hades-zoo"
        )
    return SyntheticDataset.load(path).replace(name=name, source=f"{name}@{rev} (bundled)")


_SOURCE_RE = re.compile(r"^(?P<ref>\S+?)@(?P<rev>[\w.-]+) \((?P<where>bundled|hub|cache)(?:, commit (?P<commit>\w+))?\)$")


def copy_of(ds: SyntheticDataset) -> dict:
    """Which copy ``ds`` is: ``{where: bundled|hub|cache|file, ref, revision, commit}`` (from ``ds.source``)."""
    m = _SOURCE_RE.match(ds.source or "")
    if m is None:
        return {"where": "file", "ref": ds.source, "revision": None, "commit": None}
    return {"where": m["where"], "ref": m["ref"], "revision": m["rev"], "commit": m["commit"]}


def bundled_origin(ds: SyntheticDataset) -> tuple[str, str, dict] | None:
    """(name, revision, catalogue entry) of a dataset loaded from the package, else None."""
    c = copy_of(ds)
    entry = cat.revision_entry(c["ref"], c["revision"]) if c["where"] == "bundled" else None
    return (c["ref"], c["revision"], entry) if entry else None


def bundled_file(text: str):
    """The package's file for a bundled ``name[@rev]`` (a bare name: its default), else None."""
    ident = match(str(text))
    if ident is None or ident.org or ident.scheme or ident.name not in cat.catalogue():
        return None
    entry = cat.revision_entry(ident.name, ident.revision or cat.default_revision(ident.name))
    return cat.bundled_path(entry) if entry and entry["where"] == "bundled" else None


def _download(name: str, rev: str):
    try:
        return hub.download(name, rev)
    except (HubError, DatasetNotCachedError) as e:
        cls = type(e) if isinstance(e, (UnknownDatasetError, DatasetNotCachedError)) else UnknownDatasetError
        raise cls(f"{name}@{rev} is catalogued but not bundled: it lives on the hub. {e}") from e


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
