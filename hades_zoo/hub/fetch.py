"""Downloads and listing: datasets on a Hugging Face hub, verified on every load.

A repo written by ``distill publish`` holds ``<name>.safetensors`` (the dataset, format
``hades-zoo/1``), a parquet mirror of the same pairs under ``data/`` (for
``datasets.load_dataset``), ``metrics.json``, ``figures/*.png`` and a ``README.md`` card whose
YAML ``hades_zoo`` block pins the dataset file, its byte size and sha256 (``hub.cards``). Versions
are git tags (``v1``, ``v2``, ...); ``main`` is the latest.

Downloads go through ``hf_hub_download`` into the HF cache (``settings.cache_dir``). Every file is
checked against its content address in the cache (git sha1 or sha256 etag) and the dataset file
against the card; a corrupted copy is removed (and fetched once more when online), never left behind.
``huggingface_hub`` is imported inside the functions (see ``settings``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from pathlib import Path

from hades_zoo._version import __version__
from hades_zoo.dataset import SyntheticDataset
from hades_zoo.errors import (CorruptDatasetError, DatasetNotCachedError, HadesZooError, HubAuthError,
                              HubConnectionError, HubError, HubNotFoundError, close_matches)
from hades_zoo.hub.cards import BLOCK, CARD_FILE, HUB_TAG, listing, read_card
from hades_zoo.hub.settings import REPO_TYPE, cache_dir, endpoint, hub_org, offline, token
from hades_zoo.ids import DatasetId, parse


# -- downloads ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class HubFile:
    """A verified dataset file in the HF cache, with the card that pins it."""

    ref: DatasetId
    commit: str
    path: Path
    card: dict
    cached: bool = False  # the dataset file was already in the HF cache (no bytes downloaded)

    @property
    def entry(self) -> dict:
        return self.card[BLOCK]

    @property
    def source(self) -> str:
        """Which copy: ``ORG/NAME@REV (hub, commit …)`` when downloaded now, ``(cache, commit …)`` when reused."""
        return f"{self.ref.repo_id}@{self.ref.revision} ({'cache' if self.cached else 'hub'}, commit {self.commit[:12]})"


def download(name: str, revision: str | None = None) -> HubFile:
    """Fetch (or reuse from the HF cache) a published dataset and verify it.

    Args:
        name: ``org/name``, a bare name (org from ``HADES_ZOO_HUB_ORG``), optionally ``@revision``.
        revision (*optional*, defaults to ``main``): a tag such as ``v1``, a branch or a commit.

    Returns:
        `HubFile`: path in the HF cache, commit, and the card data.

    Raises:
        HubNotFoundError: no such repo, revision or file, or no access (the hub says 401 or 404).
        HubAuthError: the token was refused.
        HubConnectionError: the hub is unreachable and no copy is cached.
        DatasetNotCachedError: ``HF_HUB_OFFLINE`` is set and no copy is cached.
        CorruptDatasetError: the file fails its sha256 (the bad copy is removed).
        IncompatibleDatasetError: the repo is not a hades-zoo dataset.
    """
    ref = parse(name, revision).on_hub()
    card_path = _fetch_verified(ref, CARD_FILE)
    card = read_card(card_path, ref)
    entry = card[BLOCK]
    cached = _in_cache(ref, entry["file"])
    path = _fetch_verified(ref, entry["file"], sha256=entry["sha256"], size=int(entry["bytes"]))
    return HubFile(ref, _commit_of(path, ref), path, card, cached)


def _in_cache(ref: DatasetId, filename: str) -> bool:
    from huggingface_hub import try_to_load_from_cache  # huggingface_hub (0.6 s to import) loads with the first hub call

    return isinstance(try_to_load_from_cache(ref.repo_id, filename, repo_type=REPO_TYPE, revision=ref.revision,
                                             cache_dir=str(cache_dir())), str)


def load(name: str, revision: str | None = None) -> SyntheticDataset:
    """``download`` then read the file (format, payload sha256, shapes: see ``SyntheticDataset.load``)."""
    got = download(name, revision)
    ds = SyntheticDataset.load(got.path)
    return ds.replace(source=got.source)


def card(name: str, revision: str | None = None) -> dict:
    """The card's YAML data (``hades_zoo`` block included) of a published dataset."""
    ref = parse(name, revision).on_hub()
    return read_card(_fetch_verified(ref, CARD_FILE), ref)


def _fetch_verified(ref: DatasetId, filename: str, sha256: str | None = None, size: int | None = None) -> Path:
    """A cached copy that matches its content address (and ``sha256``/``size``); a bad copy is
    removed and, when online, fetched once more."""
    local_only = offline()
    for attempt in range(1 if local_only else 2):
        path = _fetch(ref, filename, local_only, force=attempt > 0)
        problem = _check(path, sha256, size)
        if problem is None:
            return path
        _discard(path)
        if local_only:
            raise CorruptDatasetError(
                f"{ref}: the cached {filename} is corrupted ({problem}) and was removed; "
                f"unset HF_HUB_OFFLINE and run `hades-zoo download {ref}` to fetch it again")
    raise CorruptDatasetError(
        f"{ref}: {filename} from the hub at {endpoint()} fails its check twice ({problem}); the download was removed. "
        "The repo itself is inconsistent: republish it with `distill publish --force`")


def _fetch(ref: DatasetId, filename: str, local_only: bool, force: bool = False) -> Path:
    from huggingface_hub import hf_hub_download, try_to_load_from_cache  # huggingface_hub (0.6 s to import) loads with the first hub call

    kw = dict(repo_type=REPO_TYPE, revision=ref.revision, cache_dir=str(cache_dir()))
    try:
        if not local_only and not force and not isinstance(try_to_load_from_cache(ref.repo_id, filename, **kw), str):
            _probe(ref, filename)  # one request, no retries: a missing name or a dead hub fails at once
        return Path(hf_hub_download(ref.repo_id, filename, **kw, endpoint=endpoint(), local_files_only=local_only,
                                    force_download=force, library_name="hades-zoo", library_version=__version__))
    except HubError:
        raise
    except Exception as e:  # noqa: BLE001 - translated into one typed error below
        raise translate(e, ref, filename, local_only) from e


def _probe(ref: DatasetId, filename: str) -> None:
    from huggingface_hub import get_hf_file_metadata, hf_hub_url  # huggingface_hub (0.6 s to import) loads with the first hub call

    url = hf_hub_url(ref.repo_id, filename, repo_type=REPO_TYPE, revision=ref.revision, endpoint=endpoint())
    get_hf_file_metadata(url, token=token(), timeout=10, endpoint=endpoint(), retry_on_errors=False)


def translate(e: Exception, ref: DatasetId | str, filename: str | None = None, local_only: bool = False) -> HadesZooError:
    """One typed hades-zoo error, whose message says what to check, for a ``huggingface_hub`` error."""
    from huggingface_hub import errors as hf  # huggingface_hub (0.6 s to import) loads with the first hub call

    where = f"the hub at {endpoint()}"
    if isinstance(e, (hf.LocalEntryNotFoundError, hf.OfflineModeIsEnabled)) and (local_only or offline()):
        return DatasetNotCachedError(
            f"{ref}: not in the HF cache ({cache_dir()}) and HF_HUB_OFFLINE is set; unset HF_HUB_OFFLINE and run "
            f"`hades-zoo download {ref}` once while online")
    if isinstance(e, hf.RevisionNotFoundError):
        return HubNotFoundError(f"{ref}: revision {getattr(ref, 'revision', '?')!r} not found on {where}"
                                f"{_versions(ref)}; drop the revision for the latest (main)")
    if isinstance(e, hf.RemoteEntryNotFoundError):
        what = ("it has no README.md card, so it is not a hades-zoo dataset" if filename == CARD_FILE
                else f"its card names {filename} but the repo lacks it; republish with `distill publish --force`")
        return HubNotFoundError(f"{ref}: {what} ({where})")
    if isinstance(e, hf.RepositoryNotFoundError):  # 404, or 401 from the hub (private) and from mirrors such as olah
        return HubNotFoundError(f"{ref}: not found on {where}, or no access (no such repo, revision or file, or a "
                                f"private repo: check the name, `hades-zoo list --remote`, and HF_TOKEN){_suggest(ref)}")
    if isinstance(e, hf.HfHubHTTPError) and e.response is not None and e.response.status_code in (401, 403):
        return auth_error(e.response.status_code)
    if isinstance(e, hf.HfHubHTTPError) and e.response is not None:
        return HubError(f"{ref}: {where} answered HTTP {e.response.status_code} ({_first_line(e)}); retry later "
                        "or check HF_ENDPOINT")
    cause = e.__cause__ or e
    if type(e).__module__.startswith("httpx") and not any(k in type(e).__name__ for k in ("Connect", "Proxy")):
        return HubConnectionError(f"{ref}: the download from {where} broke off ({type(e).__name__}: {_first_line(e)}); "
                                  "no partial file was kept, run it again")
    if isinstance(e, (hf.LocalEntryNotFoundError, OSError)) or type(e).__module__.startswith("httpx"):
        return HubConnectionError(f"{ref}: {where} could not be reached ({type(cause).__name__}: {_first_line(cause)}) "
                                  "and no copy is cached; check the connection and HF_ENDPOINT")
    return HubError(f"{ref}: unexpected {type(e).__name__} from {where}: {_first_line(e)}")



def auth_error(status: int) -> HubAuthError:
    if token() is None:
        return HubAuthError(f"the hub at {endpoint()} needs a token (HTTP {status}) and none is set; "
                            "set HF_TOKEN or run `hf auth login`")
    return HubAuthError(f"the hub at {endpoint()} refused the token (HTTP {status}): it is invalid or lacks write "
                        "access to this org; set HF_TOKEN to a valid write token or run `hf auth login`")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), type(e).__name__)[:200]


def _versions(ref) -> str:
    """' (it has: main, v1, v2)' from the repo's refs (best effort, one request)."""
    from huggingface_hub import HfApi  # huggingface_hub (0.6 s to import) loads with the first hub call

    try:
        refs = HfApi(endpoint=endpoint(), token=token()).list_repo_refs(ref.repo_id, repo_type=REPO_TYPE)
    except Exception:  # noqa: BLE001 - only decorates an error message
        return ""
    names = [b.name for b in refs.branches] + sorted(t.name for t in refs.tags)
    return f" (it has: {', '.join(names)})" if names else ""


def _suggest(ref) -> str:
    """' Did you mean: ...?' from the remote listing of the org (best effort, one request)."""
    if not isinstance(ref, DatasetId) or offline():
        return ""
    try:
        names = [r["repo_id"] for r in list_remote(ref.repo_id.split("/")[0])]
    except HubError:
        return ""
    return close_matches(ref.repo_id, [n for n in names if n != ref.repo_id])


# -- cache integrity ----------------------------------------------------------------------
def _check(path: Path, sha256: str | None, size: int | None) -> str | None:
    """None if the file matches its content address in the cache and the expected sha256/size."""
    data = path.read_bytes()
    blob = Path(os.path.realpath(path)).name
    if re.fullmatch(r"[0-9a-f]{40}", blob) and hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() != blob:
        return f"git sha1 is not its etag {blob[:12]}…"
    if re.fullmatch(r"[0-9a-f]{64}", blob) and hashlib.sha256(data).hexdigest() != blob:
        return f"sha256 is not its etag {blob[:12]}…"
    if size is not None and len(data) != size:
        return f"{len(data)} bytes, the card says {size}"
    if sha256 is not None and (actual := hashlib.sha256(data).hexdigest()) != sha256:
        return f"sha256 {actual[:12]}…, the card says {sha256[:12]}…"
    return None


def _discard(path: Path) -> None:
    blob = Path(os.path.realpath(path))
    for p in {blob, Path(path)}:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def _commit_of(path: Path, ref: DatasetId) -> str:
    parts = Path(path).parts
    return parts[parts.index("snapshots") + 1] if "snapshots" in parts else ref.revision


# -- listing ------------------------------------------------------------------------------
def list_remote(org: str | None = None) -> list[dict]:
    """Dataset repos tagged ``hades-zoo`` on the hub (of ``org``; ``"*"`` for every org).

    Raises:
        HubConnectionError: offline or unreachable. HubError: the endpoint cannot list (e.g. a read-only mirror).
    """
    from huggingface_hub import HfApi  # huggingface_hub (0.6 s to import) loads with the first hub call

    if offline():
        raise HubConnectionError("listing the hub needs the network and HF_HUB_OFFLINE is set; unset it, or use "
                                 "`hades-zoo list` for the bundled catalog")
    org = hub_org() if org is None else org
    api = HfApi(endpoint=endpoint(), token=token())
    try:
        infos = list(api.list_datasets(filter=HUB_TAG, author=None if org == "*" else org, full=True))
    except ValueError as e:  # a server that answers HTML or nothing: not a hub API
        raise HubError(f"the hub at {endpoint()} does not answer dataset listings ({type(e).__name__}); `list --remote` "
                       "needs a hub API (read-only mirrors such as olah cannot list)") from None
    except Exception as e:  # noqa: BLE001
        raise translate(e, f"{org}/*") from e
    rows = []
    for info in infos:
        data = info.card_data.to_dict() if info.card_data is not None else {}
        rows.append({"repo_id": info.id, **listing(data, info.id.split("/", 1)[1]), "commit": info.sha,
                     "private": info.private, "tags": info.tags or [],
                     "last_modified": info.last_modified.isoformat() if info.last_modified else None})
    return sorted(rows, key=lambda r: r["repo_id"])


__all__ = ["HubFile", "download", "load", "card", "list_remote", "translate", "auth_error"]
